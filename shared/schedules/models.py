"""Pydantic models of the schedules API (SPEC §3 "Schedules"): what a caller sends and reads back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from shared.jobs.models import JobSpec, Strict
from shared.schedules import cron
from shared.timestamps import Timestamp

# Labels every fired job carries; a schedule's job spec may not set them itself.
SCHEDULE_LABELS = ("schedule_id", "scheduled_for")
Name = Annotated[str, Field(min_length=1, max_length=128)]
Cron = Annotated[str, Field(min_length=1, max_length=cron.MAX_CRON_LENGTH)]
Zone = Annotated[str, Field(min_length=1, max_length=64)]


class Overlap(StrEnum):
    allow = "allow"
    skip = "skip"


def _check_job(spec: JobSpec) -> JobSpec:
    if spec.not_before is not None:
        raise ValueError("a schedule's job cannot have a fixed not_before; use delay_s")
    taken = [k for k in SCHEDULE_LABELS if k in spec.labels]
    if taken:
        raise ValueError(f"label {taken[0]!r} is set by the schedule on every job it creates")
    if len(spec.labels) > 20 - len(SCHEDULE_LABELS):
        raise ValueError(f"a schedule's job takes at most {20 - len(SCHEDULE_LABELS)} labels "
                         f"({', '.join(SCHEDULE_LABELS)} are added to each)")
    return spec


# Field validators, each on its own field, so that a problem points at /cron or at /timezone.
def _check_cron(v: str) -> str:
    try:
        cron.check(v, "UTC")  # whether an expression fires at all does not depend on the zone
    except cron.CronError as exc:
        raise ValueError(str(exc)) from exc
    return v


def _check_zone(v: str) -> str:
    try:
        cron.zone(v)
    except cron.CronError as exc:
        raise ValueError(str(exc)) from exc
    return v


class ScheduleSpec(Strict):
    """`POST /v1/schedules`."""

    cron: Cron
    timezone: Zone = "UTC"
    job: JobSpec
    name: Name | None = None
    overlap: Overlap = Field(default=Overlap.allow, strict=False)
    paused: bool = False

    _job = field_validator("job")(_check_job)
    _cron = field_validator("cron")(_check_cron)
    _zone = field_validator("timezone")(_check_zone)


class SchedulePatch(Strict):
    """`PATCH /v1/schedules/{id}`: any of the fields; absent ones stay as they are (null is not allowed)."""

    cron: Cron | None = None
    timezone: Zone | None = None
    job: JobSpec | None = None
    name: Name | None = None
    overlap: Overlap | None = Field(default=None, strict=False)
    paused: bool | None = None

    @field_validator("job")
    @classmethod
    def _job(cls, v: JobSpec | None) -> JobSpec | None:
        return None if v is None else _check_job(v)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return None if v is None else _check_cron(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return None if v is None else _check_zone(v)

    @field_validator("cron", "timezone", "job", "overlap", "paused", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return v


class Schedule(BaseModel):
    """A schedule as the API returns it. `next_runs`: the next five fire times (UTC; none while paused)."""

    id: str
    name: str | None
    cron: str
    timezone: str
    job: JobSpec
    overlap: Overlap
    paused: bool
    next_runs: list[datetime]
    last_run_at: Timestamp | None
    last_job_id: str | None
    created_at: Timestamp
    updated_at: Timestamp


class SchedulePage(BaseModel):
    items: list[Schedule]
    next_cursor: str | None
