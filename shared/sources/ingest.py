"""The public ingest path: verify a provider's request, store the event with its delivery jobs, wake the
worker, answer. The provider is answered only after the store's transaction returned, and before any
destination is called: a destination that is down costs the provider nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger

from shared.errors import BadRequest, NotFound, PayloadTooLarge, Unavailable
from shared.jobs.models import utcnow
from shared.jobs.queue import JobQueue
from shared.jobs.record import JobRecord
from shared.sources.destinations import MAX_EVENT_BYTES, IngestResult
from shared.sources.fanout import forwarded_headers, job_spec, plan
from shared.sources.records import EventRecord, SourceRecord, new_event_id
from shared.sources.store import SourceStore
from shared.sources.verify import SignatureRejected, Verified, body_hash, verify

logger = Logger(child=True)
# A warm function reads a source (and opens its secret) at most this often; a PATCH or DELETE reaches the
# ingest route within it.
SOURCE_CACHE_S = 5.0
# A refused signature re-reads a source cached for longer than this (once): a secret rotated by PATCH is taken
# at the provider's first request signed with it, and a flood of bad signatures costs one read a second at most.
REREAD_ON_REFUSAL_S = 1.0


class Opener(Protocol):
    def open(self, sealed: str, context: Mapping[str, str]) -> str: ...


def secret_context(tenant: str, source_id: str) -> dict[str, str]:
    """What a source's sealed secret is bound to: it opens for this source of this tenant only."""
    return {"purpose": "source-secret", "tenant": tenant, "source_id": source_id}


@dataclass
class Ingestor:
    store: SourceStore
    queue: JobQueue
    secrets: Opener
    retention: timedelta = timedelta(days=30)
    _cache: dict[str, tuple[SourceRecord, str | None, float]] = field(default_factory=dict)  # …, read at

    def _source(self, source_id: str, max_age_s: float = SOURCE_CACHE_S) -> tuple[SourceRecord, str | None]:
        """The source and its opened secret, as read at most `max_age_s` ago."""
        hit = self._cache.get(source_id)
        if hit and time.monotonic() - hit[2] < max_age_s:
            return hit[0], hit[1]
        record = self.store.find(source_id)
        if record is None:
            raise NotFound(f"no source {source_id!r}")
        secret = (self.secrets.open(record.sealed_secret, secret_context(record.tenant, record.id))
                  if record.sealed_secret else None)
        self._cache[source_id] = (record, secret, time.monotonic())
        return record, secret

    def ingest(self, source_id: str, headers: Mapping[str, str], body: bytes,
               now: datetime | None = None) -> IngestResult:
        """`headers` with lower-case names. Raises NotFound, SignatureRejected (401), PayloadTooLarge,
        BadRequest (a body that is not UTF-8 text) or Unavailable; stores nothing unless it returns."""
        if len(body) > MAX_EVENT_BYTES:
            raise PayloadTooLarge(f"an event body is at most {MAX_EVENT_BYTES} bytes")
        now = now or utcnow()
        source, secret = self._source(source_id)

        def check(src: SourceRecord, key: str | None) -> Verified:
            return verify(src.scheme, key, headers, body, now=now.timestamp(), tolerance_s=src.tolerance_s,
                          header=src.header)

        try:
            try:
                verified = check(source, secret)
            except SignatureRejected:
                fresh = self._source(source_id, REREAD_ON_REFUSAL_S)
                if fresh[0] is source:
                    raise  # read within the last REREAD_ON_REFUSAL_S: nothing newer to try
                source, secret = fresh
                verified = check(source, secret)
        except SignatureRejected as exc:
            logger.info("ingest refused", extra={"source_id": source.id, "tenant": source.tenant,
                                                 "reason": exc.detail})
            raise
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            raise BadRequest("the event body is not UTF-8 text") from exc
        event_id = new_event_id(now)
        deliveries = plan(source, event_id, verified.event_type)
        event = EventRecord(
            id=event_id, source_id=source.id, tenant=source.tenant, received_at=now,
            provider_event_id=verified.provider_event_id, dedup_key=verified.provider_event_id or body_hash(body),
            event_type=verified.event_type, content_type=headers.get("content-type"),
            headers=forwarded_headers(source.scheme, headers), body=body, job_ids=[d.job_id for d in deliveries])
        jobs = [JobRecord.submitted(d.job_id, source.tenant, job_spec(event, d), now) for d in deliveries]
        window = timedelta(seconds=source.dedup_window_s)
        stored = self.store.store_event(event, jobs, dedup_until=now + window if window else None,
                                        expires_at=now + max(self.retention, window))
        log = {"source_id": source.id, "tenant": source.tenant, "event_id": stored.event_id,
               "event_type": event.event_type, "provider_event_id": event.provider_event_id}
        if stored.duplicate:
            logger.info("duplicate event", extra=log)
            return IngestResult(event_id=stored.event_id, duplicate=True)
        for job in jobs:
            try:
                self.queue.send(job.id, job.tenant, 0, job.spec.priority)
            except Unavailable:
                # The job is stored pending: the sweeper sends it once it is overdue.
                logger.warning("enqueue failed; left to the sweeper", extra={**log, "job_id": job.id})
        logger.info("event stored", extra={**log, "job_ids": event.job_ids})
        return IngestResult(event_id=stored.event_id, duplicate=False)
