"""The stored form of a job: the public Job plus the engine's bookkeeping (lease, per-target counts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.jobs.models import TERMINAL, Job, JobSpec, Result, Status, iso

# Jobs are spread over a few due-index partitions so that the sweeper's queries stay under a hot key's
# throughput limit at scale; the sweeper reads every shard.
DUE_SHARDS = 4


class JobRecord(BaseModel):
    id: str
    tenant: str
    spec: JobSpec
    status: Status
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    attempts: int = 0
    target_index: int = 0
    target_attempts: int = 0
    claims: int = 0
    lease_until: datetime | None = None
    lease_owner: str | None = None
    last_error: str | None = None
    last_delay_ms: int | None = None
    result: Result | None = None
    # Runs of the job: 0 at submit, +1 on every manual retry or redrive. Each run that ends owes its own
    # callback (see shared.jobs.callbacks), so the run is part of the callback job's id.
    run: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> Job:
        return Job(
            id=self.id, status=self.status, attempts=self.attempts, max_attempts=self.spec.retry.max_attempts,
            created_at=self.created_at, updated_at=self.updated_at, next_attempt_at=self.next_attempt_at,
            request=self.spec.request, retry=self.spec.retry, labels=self.spec.labels,
            target_index=self.target_index, last_error=self.last_error, result=self.result,
            fallbacks=self.spec.fallbacks, callback_url=self.spec.callback_url,
            failure_callback_url=self.spec.failure_callback_url, flow_control=self.spec.flow_control,
        )


def due_shard(job_id: str) -> str:
    return f"DUE#{sum(job_id.encode()) % DUE_SHARDS}"


def index_keys(tenant: str, job_id: str, status: Status, created_at: datetime, updated_at: datetime,
               due_at: datetime | None) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "tenant_pk": f"T#{tenant}",
        "created_sk": f"{iso(created_at)}#{job_id}",
        "tenant_status_pk": f"T#{tenant}#{status.value}",
        "updated_sk": f"{iso(updated_at)}#{job_id}",
    }
    if status not in TERMINAL and due_at is not None:
        keys["due_pk"] = due_shard(job_id)
        keys["due_at"] = iso(due_at)
    return keys


def to_attributes(r: JobRecord) -> dict[str, Any]:
    due = r.lease_until if r.status == Status.running else r.next_attempt_at
    return {
        "pk": f"JOB#{r.id}", "sk": "JOB", "id": r.id, "tenant": r.tenant,
        "spec": r.spec.model_dump_json(exclude_none=True), "status": r.status.value,
        "created_at": iso(r.created_at), "updated_at": iso(r.updated_at),
        "next_attempt_at": iso(r.next_attempt_at) if r.next_attempt_at else None,
        "attempts": r.attempts, "target_index": r.target_index, "target_attempts": r.target_attempts,
        "claims": r.claims, "lease_until": iso(r.lease_until) if r.lease_until else None,
        "lease_owner": r.lease_owner, "last_error": r.last_error, "last_delay_ms": r.last_delay_ms,
        "result": r.result.model_dump_json() if r.result else None, "run": r.run,
        **index_keys(r.tenant, r.id, r.status, r.created_at, r.updated_at, due),
    }


def _dt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v).astimezone(UTC) if v else None


def from_attributes(a: dict[str, Any]) -> JobRecord:
    return JobRecord(
        id=a["id"], tenant=a["tenant"], spec=JobSpec.model_validate_json(a["spec"]), status=Status(a["status"]),
        created_at=_dt(a["created_at"]), updated_at=_dt(a["updated_at"]),
        next_attempt_at=_dt(a.get("next_attempt_at")), attempts=int(a.get("attempts", 0)),
        target_index=int(a.get("target_index", 0)), target_attempts=int(a.get("target_attempts", 0)),
        claims=int(a.get("claims", 0)), lease_until=_dt(a.get("lease_until")), lease_owner=a.get("lease_owner"),
        last_error=a.get("last_error"),
        last_delay_ms=int(a["last_delay_ms"]) if a.get("last_delay_ms") is not None else None,
        result=Result.model_validate(json.loads(a["result"])) if a.get("result") else None,
        run=int(a.get("run", 0)),
    )
