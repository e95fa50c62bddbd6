"""`POST /v1/jobs/batch` (SPEC §3): up to 100 job specs in one request, each accepted or refused on its own,
answered in input order — `{"status": 202, "job": …}` (200 for an idempotent replay) or
`{"status": 4xx, "problem": …}`.

An item is validated like `POST /v1/jobs` would validate it (the same model, the same SSRF check and
parent lookup); one bad item never refuses the others. Items without an idempotency key or parents are
plain new jobs: they are written with BatchWriteItem (25 a call; their ids are fresh, so nothing needs a
condition) and enqueued with SendMessageBatch (10 a call). Items with an `idempotency_key`, `depends_on` or
an `ordering_key` need their own conditional transaction and go through `JobService.submit` one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, ValidationError, WithJsonSchema, model_serializer

from shared import problems
from shared.errors import SteadfastError, Unavailable
from shared.jobs.models import Job, JobSpec, Strict, utcnow
from shared.jobs.queue import MAX_DELAY_SECONDS
from shared.jobs.record import JobRecord
from shared.jobs.service import MAX_IDEMPOTENCY_KEY, JobService, check_targets, new_job_id

logger = Logger(child=True)
MAX_BATCH = 100


class BatchItemSpec(JobSpec):
    """A job spec with its own optional idempotency key."""

    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)


class BatchRequest(Strict):
    # Items are validated one by one below, so that one bad item (even one that is not an object: a number, null)
    # is its own 422 and not the request's.
    jobs: list[Annotated[Any, WithJsonSchema({"type": "object", "description": "a job spec, and optionally its "
                                                                            "idempotency_key"})]] = Field(
        min_length=1, max_length=MAX_BATCH)


class BatchItem(BaseModel):
    """One item's outcome: `{"status", "job"}` when accepted, `{"status", "problem"}` when refused (never both,
    never a null one of them)."""

    status: int
    job: Job | None = None
    problem: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _either(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k == "status" or v is not None}


class BatchResult(BaseModel):
    items: list[BatchItem]


@dataclass
class BatchService:
    jobs: JobService

    def submit(self, tenant: str, request: BatchRequest, now: datetime | None = None) -> BatchResult:
        now = now or utcnow()
        results: list[BatchItem | None] = [None] * len(request.jobs)
        plain: list[tuple[int, JobRecord]] = []
        for i, raw in enumerate(request.jobs):
            try:
                item = BatchItemSpec.model_validate(raw)
                spec = JobSpec.model_validate(item.model_dump(exclude={"idempotency_key"}, exclude_unset=True))
                if item.idempotency_key is not None or spec.depends_on or spec.ordering_key:
                    created = self.jobs.submit(tenant, spec, item.idempotency_key, now)
                    results[i] = BatchItem(status=200 if created.replayed else 202, job=created.job.public())
                    continue
                if not self.jobs.allow_private_targets:
                    check_targets(spec)
                plain.append((i, JobRecord.submitted(new_job_id(), tenant, spec, now)))
            except ValidationError as exc:
                results[i] = _problem(422, "Validation failed", "the job has invalid fields", "validation",
                                      problems.field_errors(list(exc.errors()), raw), i)
            except SteadfastError as exc:
                if exc.status >= 500:
                    raise
                results[i] = BatchItem(status=exc.status, problem=problems.from_error(exc, instance=f"/jobs/{i}"))
        if plain:
            self.jobs.store.create_many([r for _, r in plain])
            sends = [(r.id, tenant, max(0.0, ((r.next_attempt_at or now) - now).total_seconds()), r.spec.priority)
                     for _, r in plain]
            try:
                self.jobs.queue.send_many([s for s in sends if s[2] <= MAX_DELAY_SECONDS])
            except Unavailable:
                logger.warning("batch written but not all enqueued; the sweeper will send the rest")
            for i, record in plain:
                results[i] = BatchItem(status=202, job=record.public())
                self.jobs.events.publish(tenant, record.public())
        logger.info("batch accepted", extra={"tenant": tenant, "items": len(results),
                                             "accepted": sum(1 for r in results if r and r.status < 300)})
        return BatchResult(items=[r for r in results if r is not None])


def _problem(status: int, title: str, detail: str, slug: str, errors: list[dict[str, Any]], i: int) -> BatchItem:
    return BatchItem(status=status, problem=problems.problem(status, title, detail, slug=slug, errors=errors,
                                                             instance=f"/jobs/{i}"))
