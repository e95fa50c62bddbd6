"""What the jobs API does, independent of HTTP: accept, read, cancel, restart and redrive jobs."""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from shared import netguard
from shared.errors import BadRequest, Conflict, Unavailable, Unprocessable
from shared.jobs.continuations import Continuation, Continuations
from shared.jobs.events import JobEvents, NoEvents
from shared.jobs.features import default_continuations
from shared.jobs.links import Links
from shared.jobs.models import JobSpec, OnDependencyFailure, Status, utcnow
from shared.jobs.ordering import Sequences
from shared.jobs.queue import MAX_DELAY_SECONDS, JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.store import Created, JobStore, ParentsMoved

logger = Logger(child=True)
MAX_IDEMPOTENCY_KEY = 255
# A caller-chosen id (e.g. derived from a schedule id and a fire time) looks like a generated one.
JOB_ID = re.compile(r"^job_[A-Za-z0-9_-]{1,60}$")
# A parent that ends while its child is being accepted makes the create fail; it is read again this often.
PARENT_READS = 5
# Submits to one ordering key race for its sequence (one conditional write each): they try again this often.
KEY_READS = 25


def new_job_id() -> str:
    # Millisecond time first, like a UUIDv7: ids sort by creation, which keeps logs readable.
    return f"job_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def fingerprint(canonical_spec: str) -> str:
    return hashlib.sha256(canonical_spec.encode()).hexdigest()


# Fields added after idempotency keys were first taken; at their defaults they are left out of the fingerprint.
_LATER_FIELDS = ("flow_control", "depends_on", "on_dependency_failure", "ordering_key", "priority")


def canonical(spec: JobSpec) -> str:
    """The spec as the idempotency fingerprint reads it. Fields added later are left out while at their
    defaults, so keys taken before they existed still match their bodies."""
    defaults = JobSpec.model_fields
    unset = {f for f in _LATER_FIELDS if getattr(spec, f) == defaults[f].get_default(call_default_factory=True)}
    return spec.model_dump_json(exclude=unset or None)


def check_targets(spec: JobSpec) -> None:
    """Refuse literal private, loopback and metadata addresses at submit (DNS is checked at connect)."""
    netguard.check_urls([spec.request.url, *(f.url for f in spec.fallbacks), spec.callback_url,
                         spec.failure_callback_url])


@dataclass
class JobService:
    store: JobStore
    queue: JobQueue
    events: JobEvents = field(default_factory=NoEvents)
    allow_private_targets: bool = False
    rng: random.Random = field(default_factory=random.Random)
    continuations: Sequence[Continuation] = field(default_factory=default_continuations)

    def __post_init__(self) -> None:
        self.terminals = Continuations(self.store, self.queue, self.events, self.continuations)

    def submit(self, tenant: str, spec: JobSpec, idempotency_key: str | None = None,
               now: datetime | None = None, *, job_id: str | None = None,
               labels: Mapping[str, str] | None = None) -> Created:
        """Accept a job. Other subsystems submit through here too: `job_id` is a caller-chosen,
        deterministic id (a second submit with it returns the first job as replayed, so a tick delivered
        twice creates one job), `labels` are set by the system on top of the caller's (schedule_id,
        scheduled_for; source_id, event_id, event_type; …) and win over them."""
        now = now or utcnow()
        if not self.allow_private_targets:
            check_targets(spec)
        if job_id is not None and not JOB_ID.match(job_id):
            raise Unprocessable(f"job id {job_id[:80]!r} is not of the form job_<1-60 of A-Z a-z 0-9 _ ->")
        idem = None
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
                raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
            idem = (idempotency_key, fingerprint(canonical(spec)))
        if labels:
            spec = spec.model_copy(update={"labels": {**spec.labels, **labels}})
        job_id = job_id or new_job_id()
        reads = KEY_READS if spec.ordering_key else PARENT_READS
        for attempt in range(reads):
            record, links = self._related(tenant, job_id, spec, now, idem is not None)
            try:
                created = self.store.create(record, idem, links)
                break
            except ParentsMoved:
                if attempt == reads - 1:
                    raise
                if attempt:  # a contended ordering key: let the others' writes land
                    time.sleep(self.rng.uniform(0, 0.005 * attempt))
        if created.replayed:
            return created
        first = record.next_attempt_at or now
        delay = (first - now).total_seconds()
        # Beyond SQS's 15-minute delay the sweeper enqueues the job when it falls due; a crash between
        # the put above and this send is healed the same way.
        if record.status is Status.pending and delay <= MAX_DELAY_SECONDS:
            self.queue.send(record.id, tenant, delay, spec.priority)
        logger.info("job accepted", extra={"job_id": record.id, "tenant": tenant, "delay_s": delay,
                                           "labels": spec.labels})
        self.events.publish(tenant, record.public())
        return created

    def _related(self, tenant: str, job_id: str, spec: JobSpec, now: datetime, idempotent: bool
                 ) -> tuple[JobRecord, list[dict[str, Any]]]:
        """The new job given its parents and its ordering key as they are now, and the items of its create
        transaction that register it with them (`shared.jobs.links`, `shared.jobs.ordering`)."""
        key = spec.ordering_key
        record, links = self._with_parents(tenant, job_id, spec, now, idempotent, 2 if key else 0)
        if key is None:
            return record, links
        sequences = Sequences(self.store)
        state = sequences.state(tenant, key)
        placed, done = sequences.place(record, state)
        return placed, [*sequences.items(tenant, key, state, [placed], done), *links]

    def _with_parents(self, tenant: str, job_id: str, spec: JobSpec, now: datetime, idempotent: bool,
                      others: int) -> tuple[JobRecord, list[dict[str, Any]]]:
        """The new job given its parents: waiting on the live ones (and the transaction items that register
        it with them), or cancelled at once when one has already failed."""
        if not spec.depends_on:
            return JobRecord.submitted(job_id, tenant, spec, now), []
        links = Links(self.store)
        parents = links.parents(tenant, spec.depends_on)
        _refuse_unknown(spec.depends_on, parents, "")
        failed = [p for p in parents.values() if p.terminal and p.status is not Status.completed]
        live = [p for p in spec.depends_on if not parents[p].terminal]
        if failed and spec.on_dependency_failure is OnDependencyFailure.cancel:
            first = failed[0]
            return JobRecord.submitted(job_id, tenant, spec, now).cancelled(
                now, f"dependency {first.id} ended {first.status.value}"), []
        record = JobRecord.submitted(job_id, tenant, spec, now, waiting_on=frozenset(live))
        return record, links.registration(tenant, job_id, live, idempotent=idempotent, others=others)

    def check_parents(self, tenant: str, depends_on: Sequence[str], pointer: str = "") -> None:
        """422 for ids in `depends_on` that are none of this tenant's jobs, as `submit` refuses them (a
        schedule checks its job's parents so when it is written, not first at a fire); `pointer` is where the
        job spec sits in the request body."""
        if depends_on:
            _refuse_unknown(depends_on, Links(self.store).parents(tenant, depends_on), pointer)

    def cancel(self, tenant: str, job_id: str) -> JobRecord:
        record = self.store.get(tenant, job_id)
        if record.terminal:
            raise Conflict(f"job {job_id} is already {record.status.value}")
        updated = record.cancelled(utcnow())
        self.terminals.terminal(updated, lambda r, owes: self.store.transition(r, {record.status}, what="cancel",
                                                                              owes=owes))
        logger.info("job cancelled", extra={"job_id": job_id, "tenant": tenant})
        self.events.publish(tenant, updated.public())
        return updated

    def restart(self, tenant: str, job_id: str, delay_s: float = 0, drain: bool = True) -> JobRecord:
        """A failed or dead job starts again on its first target with a fresh attempt budget, as a new run
        (which owes its own callback when it ends; see shared.jobs.callbacks)."""
        record = self.store.get(tenant, job_id)
        updated = record.restarted(utcnow(), delay_s)
        self.store.transition(updated, {record.status}, what="retry")
        if delay_s <= MAX_DELAY_SECONDS:
            self.queue.send(job_id, tenant, delay_s, record.spec.priority)
        logger.info("job restarted", extra={"job_id": job_id, "tenant": tenant, "delay_s": delay_s})
        self.events.publish(tenant, updated.public())
        if drain and record.status == Status.dead:
            self._drain(tenant, {job_id})
        return updated

    def redrive(self, tenant: str, window_s: int, limit: int) -> int:
        """Send dead jobs back, each at a random moment in the window: a fixed endpoint is not met by
        the whole backlog in one second. The DLQ messages of the jobs sent back are deleted."""
        count, cursor = 0, None
        redriven: set[str] = set()
        while count < limit:
            records, cursor = self.store.page(tenant, Status.dead, min(100, limit - count), cursor)
            for record in records:
                try:
                    self.restart(tenant, record.id, self.rng.uniform(0, window_s), drain=False)
                except Conflict:
                    continue
                redriven.add(record.id)
                count += 1
            if cursor is None:
                break
        drained = self._drain(tenant, redriven)
        logger.info("dead letters redriven", extra={"tenant": tenant, "count": count, "window_s": window_s,
                                                    "dlq_messages_deleted": drained})
        return count

    def _drain(self, tenant: str, job_ids: set[str]) -> int:
        if not job_ids:
            return 0
        try:
            return self.queue.drain_dead_letters(tenant, job_ids)
        except Unavailable:
            # The jobs are restarted (the store is the truth); only their stale DLQ messages stay behind.
            logger.warning("DLQ messages of redriven jobs not deleted", extra={"tenant": tenant, "count": len(job_ids)})
            return 0


def _refuse_unknown(depends_on: Sequence[str], parents: Mapping[str, Any], pointer: str) -> None:
    unknown = [p for p in depends_on if p not in parents]
    if unknown:
        raise Unprocessable(f"depends_on names jobs that do not exist: {', '.join(unknown)}",
                            errors=[{"pointer": f"{pointer}/depends_on/{depends_on.index(u)}",
                                     "detail": f"no job {u}"} for u in unknown])
