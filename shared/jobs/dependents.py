"""Dependents: the continuation that releases or cancels the jobs waiting on a job (`depends_on`).

A job with dependents carries their count (`dependents`, raised by each child's submit in the child's own
transaction, which also writes an edge item under the parent). Its terminal state therefore owes one
followup note, written in the same transaction; paying it walks the edges, which may be 1,000 (beyond
DynamoDB's 100 items a transaction): each child is changed by its own conditional write, so a worker that
dies half-way leaves the note, and the sweeper walks the edges again — children already released or
cancelled are skipped by their conditions, none is released twice or forgotten.

- parent completed (or the child said `on_dependency_failure: "run"`): the parent leaves the child's
  `waiting_on`; the child whose set became empty is released (`waiting` → `pending`) and enqueued at once.
- parent failed, dead or cancelled: the child is cancelled with a `last_error` naming the parent; that
  cancellation is a terminal state, which owes its own followup, so the cascade runs down the subtree.

A workflow's roots wait on the workflow itself (`shared.jobs.workflows`): the workflow's creation commits
with a followup of this kind under the workflow id, so nothing of a half-written workflow ever runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools import Logger

from shared.errors import Conflict
from shared.jobs.continuations import Continuations, Effect, Followup
from shared.jobs.links import Links
from shared.jobs.models import OnDependencyFailure, Status, utcnow
from shared.jobs.record import JobRecord

logger = Logger(child=True)


def dependents_followup(owner_id: str, tenant: str, run: int, status: Status, at: datetime) -> Followup:
    return Followup(kind=Dependents.kind, job_id=owner_id, tenant=tenant, run=run, created_at=at,
                    data={"status": status.value})


class Dependents:
    kind = "dependents"

    def owed(self, record: JobRecord) -> Sequence[Effect]:
        if record.dependents <= 0:
            return []
        return [dependents_followup(record.id, record.tenant, record.run, record.status, record.updated_at)]

    def work(self, followup: Followup, ctx: Continuations) -> None:
        status = Status(followup.data["status"])
        parent = followup.job_id
        links = Links(ctx.store)
        for child_id in links.dependents_of(parent):
            now = utcnow()
            if status is Status.completed:
                released = links.dependency_done(child_id, parent, now)
            else:
                child = ctx.store.get_record(child_id)
                if child is None or child.status is not Status.waiting or parent not in child.waiting_on:
                    continue
                if child.spec.on_dependency_failure is OnDependencyFailure.run:
                    released = links.dependency_done(child_id, parent, now)
                else:
                    self._cancel(child, f"dependency {parent} ended {status.value}", ctx)
                    continue
            if released is not None:
                logger.info("dependent released", extra={"job_id": child_id, "parent_id": parent})
                ctx.enqueue(released, reason=f"released by {parent}")

    @staticmethod
    def _cancel(child: JobRecord, reason: str, ctx: Continuations) -> None:
        cancelled = child.cancelled(utcnow(), reason)
        try:
            ctx.terminal(cancelled, lambda r, owes: ctx.store.transition(r, {Status.waiting}, what="cancel", owes=owes))
        except Conflict:
            return  # it moved on meanwhile (released by another path, or cancelled already)
        logger.info("dependent cancelled", extra={"job_id": child.id, "reason": reason})
        ctx.events.publish(child.tenant, cancelled.public())
