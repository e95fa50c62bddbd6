"""The job API's page, list and redrive bodies, for the HTTP surfaces only (submit's routes, the stream app's
dashboard reads): the functions that run jobs (worker, sweeper, scheduler, ingest) never build them, so their
cold start does not either (`shared.jobs.models` holds what they do use)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.jobs.models import MAX_DELAY_S, Attempt, Job, Strict


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None


class AttemptList(BaseModel):
    items: list[Attempt]


class RedriveRequest(Strict):
    window_s: int = Field(default=60, ge=0, le=MAX_DELAY_S)
    limit: int = Field(default=1000, ge=1, le=10_000)


class RedriveResult(BaseModel):
    redriven: int
