"""The sweeper: what SQS alone cannot guarantee, healed from timestamps in the job store.

- overdue: a pending or retrying job whose next attempt is `GRACE` past due has no live message (a crash
  between put and send, or a lost message): enqueue it again, and mark it sent (`updated_at`). A job still
  overdue after that is usually behind a backlog, not lost: it is sent again only after it has waited as
  long again as it had been overdue at the last send (doubling, up to `RESEND_MAX`). Sending at every sweep
  added a duplicate per overdue job per sweep to the very backlog that made it overdue (the chaos run:
  1,216 sends for 131 jobs, accept → first call p95 115 s).
- long waits: a wait longer than SQS can hold (DelaySeconds ≤ 15 min at submit) is enqueued when it
  comes within 15 minutes; `updated_at` is then moved up so the next sweep does not send it twice.
- expired leases: a running job whose worker died is enqueued again; after too many claims without a
  recorded attempt (a job that kills its worker) it is dead-lettered instead of looping forever.
- followups: a terminal state's durable debts (`shared.jobs.continuations`) whose worker died before
  paying them are worked off here, idempotently.
Duplicates are harmless: the worker claims before it calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.errors import Conflict
from shared.jobs.continuations import Continuation, Continuations
from shared.jobs.events import JobEvents, NoEvents
from shared.jobs.features import default_continuations
from shared.jobs.models import Status, utcnow
from shared.jobs.priority import DEFAULT_AGING_S, effective_priority
from shared.jobs.queue import MAX_DELAY_SECONDS, JobMessage, JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.store import JobStore

logger = Logger(child=True)
metrics = Metrics()
GRACE = timedelta(seconds=60)
RESEND_MAX = timedelta(minutes=5)
EXTRA_CLAIMS = 3


@dataclass
class Sweeper:
    store: JobStore
    queue: JobQueue
    events: JobEvents = field(default_factory=NoEvents)
    grace: timedelta = GRACE
    batch: int = 500
    continuations: Sequence[Continuation] = field(default_factory=default_continuations)
    aging_s: float = DEFAULT_AGING_S

    def __post_init__(self) -> None:
        self.terminals = Continuations(self.store, self.queue, self.events, self.continuations)

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utcnow()
        counts = {"overdue": 0, "long_wait": 0, "expired_lease": 0, "crash_looped": 0,
                  "followups": self.terminals.heal(now - self.grace, self.batch)}
        for record in self.store.due(now + timedelta(seconds=MAX_DELAY_SECONDS), self.batch):
            kind = self._classify(record, now)
            if kind is None:
                continue
            try:
                self._heal(record, kind, now)
            except Conflict:
                continue  # it moved on while we looked
            counts[kind] += 1
        if any(counts.values()):
            logger.info("sweep healed jobs", extra=counts)
            for kind, n in counts.items():
                metrics.add_metric(name=f"Swept_{kind}", unit=MetricUnit.Count, value=n)
        return counts

    def _classify(self, r: JobRecord, now: datetime) -> str | None:
        if r.status == Status.running:
            if r.lease_until and r.lease_until < now - self.grace:
                return "crash_looped" if r.claims >= r.spec.retry.max_attempts + EXTRA_CLAIMS else "expired_lease"
            return None
        if r.next_attempt_at is None:
            return None
        if r.next_attempt_at < now - self.grace:
            return "overdue" if self._resend_due(r, now) else None
        if (r.next_attempt_at - r.updated_at).total_seconds() > MAX_DELAY_SECONDS:
            return "long_wait"
        return None

    def _resend_due(self, r: JobRecord, now: datetime) -> bool:
        """An overdue job this sweeper sent before (`updated_at` after its due time) waits as long again as it
        had then been overdue, at least the grace and at most `RESEND_MAX`, before it is sent once more."""
        assert r.next_attempt_at is not None
        overdue_at_last_send = r.updated_at - r.next_attempt_at
        if overdue_at_last_send <= timedelta(0):
            return True  # never sent by a sweep since it became due
        return now - r.updated_at >= min(max(self.grace, overdue_at_last_send), RESEND_MAX)

    def _heal(self, r: JobRecord, kind: str, now: datetime) -> None:
        if kind == "crash_looped":
            dead = r.dead_lettered(now, "the worker crashed on every try of this job")
            self.terminals.terminal(dead, lambda d, owes: self.store.transition(d, {Status.running},
                                                                                what="dead-letter", owes=owes))
            self.queue.dead_letter(JobMessage(job_id=r.id, tenant=r.tenant).model_dump_json(), dead.last_error or "")
            metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
            logger.warning("job dead-lettered after repeated worker crashes", extra={"job_id": r.id})
            self.events.publish(r.tenant, dead.public())
            return
        if kind in ("long_wait", "overdue"):
            self.store.transition(r.rearmed(now), {r.status}, what="sweep")
        delay = max(0.0, (r.next_attempt_at - now).total_seconds()) if r.next_attempt_at else 0.0
        # Its lane ages with the wait: a job overdue by a while goes back on a higher lane.
        waited = (now - r.next_attempt_at).total_seconds() if r.next_attempt_at else 0.0
        self.queue.send(r.id, r.tenant, delay, effective_priority(r.spec.priority, waited, self.aging_s))
        logger.info("job re-enqueued by the sweeper", extra={"job_id": r.id, "reason": kind})
