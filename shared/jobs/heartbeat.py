"""Heartbeats for long calls: an attempt hook that renews the worker's short lease while its call runs.

A call may take up to 900 s (`request.timeout_s`), but the lease stays short (`STEADFAST_LEASE_S`,
default 60): every third of a lease the worker extends it in DynamoDB (`JobStore.renew_lease`, which also
notes the call it is in) and keeps the SQS message hidden for one more lease. A worker that dies mid-call
stops beating: its message reappears within a lease and the sweeper re-enqueues the job within lease +
grace, never only after the call's own timeout. The next holder records the abandoned call as an attempt
of unknown outcome (`JobStore.note_abandoned`), so the history shows it.

Calls whose timeout fits well inside the lease need no heartbeat and get none: no extra AWS call for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.errors import Unavailable
from shared.jobs.hooks import AttemptContext
from shared.jobs.models import utcnow
from shared.jobs.queue import JobQueue
from shared.jobs.store import JobStore

logger = Logger(child=True)
metrics = Metrics()
# Beats per lease: two may be missed (a slow DynamoDB call, a GC pause) before the lease runs out.
BEATS_PER_LEASE = 3


@dataclass
class Heartbeat:
    store: JobStore
    queue: JobQueue

    def needed(self, ctx: AttemptContext) -> bool:
        """A call that may outlast half a lease is beaten for; shorter ones are covered by the claim."""
        return ctx.record.spec.request.timeout_s > ctx.lease.total_seconds() / 2

    @contextlib.asynccontextmanager
    async def around(self, ctx: AttemptContext) -> AsyncIterator[None]:
        if not self.needed(ctx):
            yield
            return
        started = utcnow()
        # The first beat at once: it notes the call (for an honest history should this worker die) and
        # brings the message's visibility down from the queue's long default to one lease.
        await self._beat(ctx, started)
        task = asyncio.create_task(self._beat_every(ctx, started, ctx.lease.total_seconds() / BEATS_PER_LEASE))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _beat_every(self, ctx: AttemptContext, started: datetime, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            if not await self._beat(ctx, started):
                return

    async def _beat(self, ctx: AttemptContext, started: datetime) -> bool:
        log = {"job_id": ctx.record.id, "attempt": ctx.attempt}
        lease_s = ctx.lease.total_seconds()
        try:
            kept = await asyncio.to_thread(self.store.renew_lease, ctx.record.id, ctx.owner, utcnow(), ctx.lease,
                                           ctx.attempt, started)
            if kept and ctx.receipt_handle:
                await asyncio.to_thread(self.queue.retry_in, ctx.receipt_handle, lease_s, ctx.lane)
        except Unavailable:
            logger.warning("heartbeat failed; retrying at the next beat", extra=log)
            return True
        except Exception:  # an SQS error (the receipt handle expired): the DynamoDB lease still holds
            logger.warning("heartbeat could not extend the message's visibility", extra=log, exc_info=True)
            return True
        metrics.add_metric(name="Heartbeats", unit=MetricUnit.Count, value=1)
        if not kept:
            logger.warning("lease lost during a long call (cancelled or taken over); heartbeat stops", extra=log)
        return kept
