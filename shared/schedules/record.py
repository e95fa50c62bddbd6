"""The stored form of a schedule: the public fields plus the due-index keys the scheduler reads.

`due_at` is the next fire time (UTC, ISO 8601, milliseconds). Only an active schedule with a future
fire time carries `due_pk`, so the sparse `by_due` index lists exactly what may fire. `version` grows
with every write, so that an edit and a fire never overwrite each other's fields.

The job spec's credential headers are sealed at this boundary (`shared.jobs.credentials`, bound to the
tenant, the schedule and the header): a record read back holds them sealed, `public` shows `[redacted]`,
and only a fire or a trigger opens them (`opened_schedule_spec`) to build the job.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.jobs.credentials import sealed_schedule_spec
from shared.jobs.models import STORED, JobSpec, iso
from shared.redaction import redact_headers
from shared.schedules import cron
from shared.schedules.models import Overlap, Schedule

DUE_SHARDS = 4


def new_schedule_id() -> str:
    return f"sch_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def fire_job_id(schedule_id: str, fire_time: datetime) -> str:
    """The one job id a fire time of a schedule can have: creating it twice is refused by the store."""
    digest = hashlib.sha256(f"{schedule_id}|{iso(fire_time)}".encode()).hexdigest()
    return f"job_{int(fire_time.timestamp() * 1000):012x}{digest[:20]}"


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScheduleRecord(BaseModel):
    id: str
    tenant: str
    name: str | None = None
    cron: str
    timezone: str
    job: JobSpec
    overlap: Overlap = Overlap.allow
    paused: bool = False
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None = None
    last_run_at: datetime | None = None
    last_job_id: str | None = None
    version: int = 0

    def public(self, now: datetime) -> Schedule:
        """The schedule as every read shows it: credential-like headers of its job `[redacted]`."""
        runs = [] if self.paused else cron.next_runs(self.cron, self.timezone, now)
        if self.next_fire_at is not None and not self.paused and self.next_fire_at <= now:
            runs = [self.next_fire_at, *runs][:5]  # due, about to be fired
        return Schedule(id=self.id, name=self.name, cron=self.cron, timezone=self.timezone, job=redacted(self.job),
                        overlap=self.overlap, paused=self.paused, next_runs=runs, last_run_at=self.last_run_at,
                        last_job_id=self.last_job_id, created_at=self.created_at, updated_at=self.updated_at)

    def rescheduled(self, now: datetime) -> ScheduleRecord:
        """Next fire time counted from `now` (after create, resume or a new cron or zone)."""
        nxt = None if self.paused else cron.next_fire(self.cron, self.timezone, now)
        return self.model_copy(update={"next_fire_at": nxt})


def redacted(spec: JobSpec) -> JobSpec:
    request = spec.request.model_copy(update={"headers": redact_headers(spec.request.headers)})
    fallbacks = [f if f.headers is None else f.model_copy(update={"headers": redact_headers(f.headers)})
                 for f in spec.fallbacks]
    return spec.model_copy(update={"request": request, "fallbacks": fallbacks})


def due_shard(schedule_id: str) -> str:
    return f"DUE#{sum(schedule_id.encode()) % DUE_SHARDS}"


def to_attributes(r: ScheduleRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "pk": f"SCH#{r.id}", "sk": "SCH", "id": r.id, "tenant": r.tenant, "name": r.name, "cron": r.cron,
        "timezone": r.timezone, "job": sealed_schedule_spec(r.tenant, r.id, r.job).model_dump_json(exclude_none=True),
        "overlap": r.overlap.value,
        "paused": r.paused, "created_at": iso(r.created_at), "updated_at": iso(r.updated_at),
        "last_run_at": iso(r.last_run_at) if r.last_run_at else None, "last_job_id": r.last_job_id,
        "version": r.version, "tenant_pk": f"T#{r.tenant}", "created_sk": f"{iso(r.created_at)}#{r.id}",
    }
    if r.next_fire_at is not None:
        attrs["due_at"] = iso(r.next_fire_at)
        if not r.paused:
            attrs["due_pk"] = due_shard(r.id)
    return attrs


def _dt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v).astimezone(UTC) if v else None


def from_attributes(a: dict[str, Any]) -> ScheduleRecord:
    return ScheduleRecord(
        id=a["id"], tenant=a["tenant"], name=a.get("name"), cron=a["cron"], timezone=a["timezone"],
        job=JobSpec.model_validate_json(a["job"], context=STORED), overlap=Overlap(a.get("overlap", "allow")),
        paused=bool(a.get("paused", False)), created_at=_dt(a["created_at"]), updated_at=_dt(a["updated_at"]),
        next_fire_at=_dt(a.get("due_at")), last_run_at=_dt(a.get("last_run_at")), last_job_id=a.get("last_job_id"),
        version=int(a.get("version", 0)),
    )
