"""What runs around one attempt's call, plugged into the worker without editing its loop.

A hook is entered after the job was claimed and admitted, right before the outbound call, and exited
when the call has returned or raised, before its outcome is recorded. A lease-renewing heartbeat for long
calls is one (it starts a task on enter and stops it on exit); so is anything that must hold a resource
exactly as long as a call does. Hooks nest in list order; an exception in one ends the attempt like a
crashed worker would (the lease expires, the sweeper re-enqueues the job).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from shared.jobs.models import Priority
from shared.jobs.record import JobRecord


@dataclass(frozen=True)
class AttemptContext:
    record: JobRecord  # the job as claimed (status running)
    owner: str         # the lease owner token of this worker
    attempt: int       # the attempt number about to be made
    lease: timedelta   # the lease the claim took
    receipt_handle: str | None = None  # the SQS message being worked on (its visibility is the queue's lease)
    lane: Priority = Priority.normal   # the queue that message is on (shared.jobs.queue)


class AttemptHook(Protocol):
    def around(self, ctx: AttemptContext) -> AbstractAsyncContextManager[None]: ...
