"""What the sources API does, independent of HTTP: create, read, change and delete sources (the secret
sealed on the way in, never shown on the way out), read the event log, replay one event or a time range."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from shared import netguard
from shared.jobs.models import utcnow
from shared.jobs.service import JobService
from shared.sources.fanout import job_spec, plan
from shared.sources.ingest import secret_context
from shared.sources.models import Destination, SourcePatch, SourceSpec, VerifySpec
from shared.sources.records import EventRecord, SourceRecord, new_source_id, replay_job_id
from shared.sources.store import SourceStore

logger = Logger(child=True)
MAX_RANGE_REPLAY = 10_000


def _now() -> datetime:
    """Now, at the millisecond precision the store keeps, so that a create's answer equals a later read."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Sealer(Protocol):
    def seal(self, plaintext: str, context: Mapping[str, str]) -> str: ...


@dataclass
class SourceService:
    store: SourceStore
    jobs: JobService
    sealer: Sealer
    allow_private_targets: bool = False
    rng: random.Random = field(default_factory=random.Random)

    def _check(self, destinations: list[Destination]) -> None:
        """Literal private, loopback and metadata addresses are refused here; DNS is checked at connect."""
        if not self.allow_private_targets:
            netguard.check_urls([d.url for d in destinations])

    def _sealed(self, tenant: str, source_id: str, verify: VerifySpec) -> str | None:
        return None if verify.secret is None else self.sealer.seal(verify.secret, secret_context(tenant, source_id))

    def create(self, tenant: str, spec: SourceSpec) -> SourceRecord:
        self._check(spec.destinations)
        now, source_id = _now(), new_source_id()
        record = SourceRecord(
            id=source_id, tenant=tenant, name=spec.name, scheme=spec.verify.scheme,
            tolerance_s=spec.verify.tolerance_s, header=spec.verify.header,
            sealed_secret=self._sealed(tenant, source_id, spec.verify), destinations=spec.destinations,
            dedup_window_s=spec.dedup_window_s, created_at=now, updated_at=now)
        self.store.put(record, new=True)
        logger.info("source created", extra={"source_id": source_id, "tenant": tenant, "scheme": record.scheme.value})
        return record

    def update(self, tenant: str, source_id: str, patch: SourcePatch) -> SourceRecord:
        record = self.store.get(tenant, source_id)
        changes: dict[str, object] = {"updated_at": _now()}
        if patch.name is not None:
            changes["name"] = patch.name
        if patch.destinations is not None:
            self._check(patch.destinations)
            changes["destinations"] = patch.destinations
        if patch.dedup_window_s is not None:
            changes["dedup_window_s"] = patch.dedup_window_s
        if patch.verify is not None:
            changes |= {"scheme": patch.verify.scheme, "tolerance_s": patch.verify.tolerance_s,
                        "header": patch.verify.header,
                        "sealed_secret": self._sealed(tenant, source_id, patch.verify)}
        updated = SourceRecord.model_validate({**record.model_dump(), **changes})
        self.store.put(updated, new=False)
        logger.info("source updated", extra={"source_id": source_id, "tenant": tenant,
                                             "fields": sorted(patch.model_fields_set)})
        return updated

    def delete(self, tenant: str, source_id: str) -> None:
        self.store.delete(tenant, source_id)
        logger.info("source deleted", extra={"source_id": source_id, "tenant": tenant})

    def replay(self, tenant: str, source_id: str, event_id: str, delay_s: float = 0) -> list[str]:
        """Deliver a stored event again, as new jobs, to the destinations that match it now."""
        source = self.store.get(tenant, source_id)
        return self._replay(source, self.store.event(source, event_id), delay_s)

    def _replay(self, source: SourceRecord, event: EventRecord, delay_s: float) -> list[str]:
        job_ids = []
        for delivery in plan(source, event.id, event.event_type, job_id=replay_job_id):
            created = self.jobs.submit(source.tenant, job_spec(event, delivery, delay_s))
            job_ids.append(created.job.id)
        self.store.add_jobs(event, job_ids)
        logger.info("event replayed", extra={"source_id": source.id, "tenant": source.tenant, "event_id": event.id,
                                             "job_ids": job_ids, "delay_s": delay_s})
        return job_ids

    def replay_range(self, tenant: str, source_id: str, since: datetime, until: datetime | None,
                     window_s: int) -> int:
        """Replay every event received in [since, until], each at a random moment within the window, so
        that a destination coming back is not met by the whole backlog in one second."""
        source = self.store.get(tenant, source_id)
        events = self.store.events_between(source, since, until or utcnow())[:MAX_RANGE_REPLAY]
        for event in events:
            self._replay(source, event, self.rng.uniform(0, window_s))
        return len(events)
