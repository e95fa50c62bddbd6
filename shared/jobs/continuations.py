"""Continuations: what a job's terminal state owes others, and how that debt is paid exactly once.

A *continuation* is a small plugin (`Continuation`) that, given a job in its terminal state, says what
it owes as *effects*, purely, without I/O:

- `SpawnJob`: a new job (a callback) written in the same DynamoDB transaction as the terminal state,
  conditioned on its absence, and enqueued after the commit. If the worker dies in between, the sweeper
  finds a pending job that was never sent (overdue) and sends it.
- `Followup`: a durable note written in that same transaction, for debts too big for one transaction
  (DynamoDB takes at most 100 items: a parent with 1,000 dependents) or that touch other jobs. After the
  commit the plugin's `work` pays it — idempotently, since it may run twice — and the note is deleted; a
  note older than the sweeper's grace is worked by the sweeper. A note is never lost with its worker.

Every writer of a terminal state (the worker's attempt, a cancel, the sweeper's crash-loop verdict, a
dependency's cascade) asks `Continuations.owed` before its write and calls `deliver` after it, so a
feature that makes jobs depend on each other adds a plugin to `shared.jobs.features`, not a branch in the
engine. Dramatiq's middleware hooks every message event and leaves durability to the broker; here the
debts are part of the state write itself, so "the worker died right after" cannot lose or double them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.errors import SteadfastError, Unavailable
from shared.jobs.events import JobEvents, NoEvents
from shared.jobs.queue import MAX_DELAY_SECONDS, JobQueue
from shared.jobs.record import JobRecord

if TYPE_CHECKING:
    from shared.jobs.store import JobStore

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True)
class SpawnJob:
    """A job created with the terminal state (if absent) and enqueued after it."""

    job: JobRecord


@dataclass(frozen=True)
class Followup:
    """A durable debt of `job_id`'s run `run`, of `kind`, worked off after the commit (or by the sweeper)."""

    kind: str
    job_id: str
    tenant: str
    run: int
    created_at: datetime
    data: dict[str, str] = field(default_factory=dict)


Effect = SpawnJob | Followup


class Continuation(Protocol):
    """One kind of debt. `owed` is pure; `work` pays one of its followups and must be idempotent."""

    kind: str

    def owed(self, record: JobRecord) -> Sequence[Effect]: ...

    def work(self, followup: Followup, ctx: Continuations) -> None: ...


@dataclass
class Continuations:
    """Runs the plugins around every terminal write: `owed` before it, `deliver` after it, `heal` later."""

    store: JobStore
    queue: JobQueue
    events: JobEvents = field(default_factory=NoEvents)
    plugins: Sequence[Continuation] = ()

    def owed(self, record: JobRecord) -> list[Effect]:
        if not record.terminal:
            return []
        return [effect for plugin in self.plugins for effect in plugin.owed(record)]

    def deliver(self, record: JobRecord, effects: Sequence[Effect]) -> None:
        """After the terminal write committed: send what it spawned, pay its followups. Never raises for a
        failed dependency: what is not done now is healed by the sweeper."""
        for effect in effects:
            if isinstance(effect, SpawnJob):
                self.enqueue(effect.job, reason=f"spawned by {record.id}")
            else:
                self.work(effect)

    def enqueue(self, job: JobRecord, *, reason: str) -> None:
        """Send a job that was just written, if it is due within SQS's delay; else the sweeper will."""
        log = {"job_id": job.id, "tenant": job.tenant, "reason": reason}
        if job.next_attempt_at is not None:
            delay = max(0.0, (job.next_attempt_at - job.updated_at).total_seconds())
            try:
                if delay <= MAX_DELAY_SECONDS:
                    self.queue.send(job.id, job.tenant, delay, job.spec.priority)
            except Unavailable:
                logger.warning("job written but not enqueued; the sweeper will send it", extra=log)
                return
        logger.info("continuation job enqueued", extra=log)
        metrics.add_metric(name="ContinuationJobs", unit=MetricUnit.Count, value=1)
        self.events.publish(job.tenant, job.public())

    def work(self, followup: Followup) -> bool:
        """Pay one followup and delete its note; False (note kept, for the sweeper) when it failed."""
        plugin = next((p for p in self.plugins if p.kind == followup.kind), None)
        log = {"job_id": followup.job_id, "kind": followup.kind, "run": followup.run}
        if plugin is None:
            logger.error("followup of an unknown kind left in place", extra=log)
            return False
        try:
            plugin.work(followup, self)
            self.store.followup_done(followup)
        except SteadfastError as exc:
            logger.warning("followup not finished; the sweeper will resume it", extra=log | {"error": str(exc)})
            return False
        metrics.add_metric(name=f"Followups_{followup.kind}", unit=MetricUnit.Count, value=1)
        return True

    def heal(self, before: datetime, limit: int) -> int:
        """The sweeper's part: resume every followup written before `before` (its worker died)."""
        return sum(self.work(f) for f in self.store.followups_due(before, limit))

    def terminal(self, record: JobRecord, write: WriteTerminal) -> JobRecord:
        """Write a terminal state with what it owes (`write(record, owes)` returns what was owed), then
        deliver it."""
        self.deliver(record, write(record, self.owed))
        return record


class WriteTerminal(Protocol):
    def __call__(self, record: JobRecord, owes: Callable[[JobRecord], Sequence[Effect]], /) -> Sequence[Effect]: ...
