"""The worker's logic for one delivered message: claim, call, record, then ack or schedule the retry.

Visibility timeout is the lease: while a job runs its message stays invisible; a retry hides the
message for the jittered delay and reports it as a batch failure, so SQS hands it back when due.
Per-job max_attempts is enforced here; the queue's maxReceiveCount only catches poison messages.

Between claim and call, target protection (`shared.jobs.protection`: circuit breaker, retry budget,
flow control) may say "not now": the job is then put back unattempted, pending or retrying with
`next_attempt_at` set, and its message hidden for the wait. Around the call run the attempt hooks
(`shared.jobs.hooks`, e.g. a heartbeat). A terminal state is written together with what it owes
(`shared.jobs.continuations`: callbacks, dependents, …), delivered right after; the sweeper covers a
crash in between. The worker names no feature: state changes are `JobRecord`'s transitions.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from shared.errors import Unavailable
from shared.faults import Faults
from shared.jobs import backoff, delivery
from shared.jobs.continuations import Continuation, Continuations
from shared.jobs.events import JobEvents, NoEvents
from shared.jobs.features import default_continuations
from shared.jobs.hooks import AttemptContext, AttemptHook
from shared.jobs.models import Attempt, Outcome, Priority, Status, utcnow
from shared.jobs.protection import Admission, Protection
from shared.jobs.queue import EARLY_CLAIM_S, MAX_DELAY_SECONDS, MAX_WAIT_ON_VISIBILITY_S, JobMessage, JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.store import JobStore
from shared.tenants import TenantStore

if TYPE_CHECKING:
    import httpx

logger = Logger(child=True)
metrics = Metrics()
# boto3 is blocking: its calls run on threads. asyncio's default pool (cores + 4) would serialize a
# batch of ten jobs' store calls on a small Lambda; a batch needs about three calls per job at once.
T = TypeVar("T")
P = ParamSpec("P")
_IO = ThreadPoolExecutor(max_workers=32, thread_name_prefix="aws")


async def _io(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await asyncio.get_running_loop().run_in_executor(_IO, functools.partial(fn, *args, **kwargs))


@dataclass(frozen=True)
class Disposition:
    """ack: delete the message. Otherwise it stays and reappears after `retry_in_s` (already set)."""

    ack: bool
    retry_in_s: float = 0.0


ACK = Disposition(ack=True)


@dataclass
class Worker:
    store: JobStore
    queue: JobQueue
    tenants: TenantStore
    events: JobEvents = field(default_factory=NoEvents)
    lease: timedelta = timedelta(seconds=90)
    max_receive_count: int = 5
    faults: Faults = field(default_factory=lambda: Faults(""))
    rng: random.Random = field(default_factory=random.Random)
    protection: Protection = field(default_factory=Protection)
    continuations: Sequence[Continuation] = field(default_factory=default_continuations)
    hooks: Sequence[AttemptHook] = ()

    def __post_init__(self) -> None:
        self.terminals = Continuations(self.store, self.queue, self.events, self.continuations)

    async def handle(self, body: str, receipt_handle: str, receive_count: int,
                     client: httpx.AsyncClient) -> Disposition:
        try:
            msg = JobMessage.model_validate_json(body)
        except ValidationError:
            # Poison: no retry can make it readable. Quarantine it now rather than after N receives.
            await _io(self.queue.dead_letter, body, "unreadable message")
            metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
            logger.error("unreadable message quarantined", extra={"body": body[:200]})
            return ACK
        owner = secrets.token_hex(8)
        now = utcnow()
        record = await _io(self.store.claim, msg.job_id, msg.tenant, now, self.lease, owner)
        if record is None:
            return await self._unclaimed(msg, receipt_handle, receive_count, now)
        if record.claims - 1 > record.attempts:
            # An earlier claim ended without a recorded attempt: note the call it was in, if it was in one.
            record = await _io(self.store.note_abandoned, record, owner, now)
        # Every claim is a change a watcher sees (`running`, with this claim's attempts so far), not only the
        # first: a retry's second run shows `retrying` → `running` → its outcome.
        await _io(self.events.publish, record.tenant, record.public())
        self.faults.point("after_claim")
        if record.next_attempt_at and (early := (record.next_attempt_at - utcnow()).total_seconds()) > 0:
            await asyncio.sleep(min(early, EARLY_CLAIM_S))  # SQS rounds to whole seconds; keep the jitter
        admission = await _io(self.protection.admit, record, owner, self.lease.total_seconds())
        await self._wake(record, admission.woken)
        if admission.go:
            disposition = await self._attempt(record, owner, client, admission, receipt_handle, msg.lane)
        else:
            disposition = await self._defer(record, owner, admission)
        if not disposition.ack:
            disposition = await self._keep(msg, receipt_handle, receive_count, disposition.retry_in_s)
        self.faults.point("before_ack")
        return disposition

    async def _unclaimed(self, msg: JobMessage, receipt_handle: str, receive_count: int,
                         now: datetime) -> Disposition:
        """A message whose job cannot be claimed now: stale, a duplicate under lease, or early."""
        record = await _io(self.store.get_record, msg.job_id)
        if record is None or record.tenant != msg.tenant or record.terminal:
            logger.info("stale delivery acknowledged", extra={"job_id": msg.job_id})
            return ACK
        if record.status == Status.running and record.lease_until and record.lease_until > now:
            wait = (record.lease_until - now).total_seconds() + 1
            logger.info("duplicate delivery deferred to lease end", extra={"job_id": msg.job_id})
        elif record.next_attempt_at and record.next_attempt_at > now:
            wait = (record.next_attempt_at - now).total_seconds()
        else:
            wait = 1.0
        return await self._keep(msg, receipt_handle, receive_count, wait)

    async def _keep(self, msg: JobMessage, receipt_handle: str, receive_count: int, wait_s: float) -> Disposition:
        """Bring the message back after `wait_s`. A message that came back often is replaced by a fresh
        one, so that legitimate retries never reach the queue's maxReceiveCount."""
        log = {"job_id": msg.job_id, "wait_s": round(wait_s, 3)}
        if wait_s > MAX_WAIT_ON_VISIBILITY_S:
            logger.info("wait longer than SQS can hold; the sweeper enqueues the job when it is due", extra=log)
            return ACK
        if receive_count >= self.max_receive_count - 1:
            await _io(self.queue.send, msg.job_id, msg.tenant, min(wait_s, MAX_DELAY_SECONDS), msg.lane)
            return ACK
        try:
            await _io(self.queue.retry_in, receipt_handle, wait_s, msg.lane)
        except (ClientError, BotoCoreError) as exc:
            # The job is in the store with its next_attempt_at: the sweeper enqueues it (late, never lost).
            logger.warning("SQS refused the visibility change; the sweeper takes the job over",
                           extra=log | {"error": str(exc)})
            return ACK
        return Disposition(ack=False, retry_in_s=wait_s)

    async def _defer(self, record: JobRecord, owner: str, admission: Admission) -> Disposition:
        """Put the claimed job back unattempted for `admission.wait_s` (whole seconds: SQS visibility)."""
        wait = max(1, math.ceil(admission.wait_s))
        # A job in a flow-control key's line stays due: the wake-up sent when its slot frees claims it at once.
        waiting = record.deferred(utcnow(), 0 if admission.queued else wait)
        log = {"job_id": record.id, "destination": admission.destination, "reason": admission.reason,
               "wait_s": wait}
        if not await _io(self.store.defer, waiting, owner):
            logger.warning("lease lost before deferring; state left to its new holder", extra=log)
            return ACK
        logger.info("job deferred by target protection", extra=log)
        await _io(self.events.publish, record.tenant, waiting.public())
        return Disposition(ack=False, retry_in_s=wait)

    async def _attempt(self, record: JobRecord, owner: str, client: httpx.AsyncClient, admission: Admission,
                       receipt_handle: str | None = None, lane: Priority = Priority.normal) -> Disposition:
        n = record.attempts + 1
        started = utcnow()
        lease_s = self.lease.total_seconds()
        try:
            secret = await _io(self.tenants.signing_secret, record.tenant)
            async with AsyncExitStack() as stack:
                ctx = AttemptContext(record=record, owner=owner, attempt=n, lease=self.lease,
                                     receipt_handle=receipt_handle, lane=lane)
                for hook in self.hooks:
                    await stack.enter_async_context(hook.around(ctx))
                call = await delivery.call(client, record, n, secret, started)
        except BaseException:
            await self._wake(record, await _io(self.protection.settle, record, owner, admission, None, lease_s))
            raise
        await self._wake(record, await _io(self.protection.settle, record, owner, admission, call.outcome, lease_s))
        self.faults.point("after_call")
        metrics.add_metric(name="Attempts", unit=MetricUnit.Count, value=1)
        updated, attempt, disposition = self.decide(record, n, started, call)
        owed = await _io(self.store.finish_attempt, updated, attempt, owner, self.terminals.owed)
        log = {"job_id": record.id, "attempt": n, "target_index": record.target_index,
               "outcome": call.outcome.value, "status_code": call.status_code, "job_status": updated.status.value}
        if owed is None:
            logger.warning("lease lost during attempt; state left to its new holder", extra=log)
            return ACK
        logger.info("attempt recorded", extra=log | {"next_delay_s": attempt.next_delay_s})
        self._count(updated)
        await _io(self.terminals.deliver, updated, owed)
        if updated.status == Status.dead:
            await _io(self.queue.dead_letter, JobMessage(job_id=record.id, tenant=record.tenant)
                                    .model_dump_json(), updated.last_error or "retries exhausted")
        await _io(self.events.publish, record.tenant, updated.public())
        return disposition

    async def _wake(self, record: JobRecord, job_ids: Sequence[str]) -> None:
        """Send a fresh message to each waiting job a freed flow-control slot now belongs to. It goes on the
        high lane: the job already won its key's line and must not queue again behind a backlog. A lost
        wake-up costs only time: the job asks again within `shared.jobs.flow.MAX_POLL_S`."""
        if not job_ids:
            return
        try:
            await _io(self.queue.send_many, [(j, record.tenant, 0.0) for j in job_ids], Priority.high)
        except Unavailable as exc:
            logger.warning("waking the next jobs of a flow-control key failed; they ask again soon",
                           extra={"job_id": record.id, "woken": list(job_ids), "error": str(exc)})
            return
        metrics.add_metric(name="FlowControlWakeups", unit=MetricUnit.Count, value=len(job_ids))

    def decide(self, record: JobRecord, n: int, started: datetime, call: delivery.CallOutcome
               ) -> tuple[JobRecord, Attempt, Disposition]:
        """The job's next state after an attempt. Pure: no I/O, randomness from `self.rng`."""
        now = utcnow()
        spec = record.spec
        attempt = Attempt(n=n, target_index=record.target_index, started_at=started, duration_ms=call.duration_ms,
                          outcome=call.outcome, status_code=call.status_code, error=call.error, run=record.run)
        if call.outcome is Outcome.success:
            return record.finished(Status.completed, now, None, call.result), attempt, ACK
        exhausted = record.target_attempts + 1 >= spec.retry.max_attempts
        if call.outcome is Outcome.permanent or exhausted:
            if exhausted and call.outcome is Outcome.retryable and record.target_index + 1 < spec.target_count:
                attempt = attempt.model_copy(update={"next_delay_s": 0.0})
                return (record.failed_over(now, call.error, call.result), attempt,
                        Disposition(ack=False, retry_in_s=0))
            status = Status.failed if call.outcome is Outcome.permanent else Status.dead
            return record.finished(status, now, call.error, call.result), attempt, ACK
        previous = record.last_delay_ms / 1000 if record.last_delay_ms is not None else None
        delay = backoff.next_delay(backoff.for_retry(spec.retry, self.rng), record.target_attempts + 1, previous,
                                   call.retry_after_s, spec.retry.max_delay_s)
        attempt = attempt.model_copy(update={"next_delay_s": round(delay, 3)})
        return (record.attempted(now, delay, call.error, call.result), attempt,
                Disposition(ack=False, retry_in_s=delay))

    @staticmethod
    def _count(record: JobRecord) -> None:
        name = {Status.completed: "Completed", Status.failed: "Failed", Status.dead: "DeadLetters",
                Status.retrying: "Retries"}.get(record.status)
        if name:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if record.status == Status.dead:
            logger.warning("job dead-lettered", extra={"job_id": record.id, "last_error": record.last_error})
