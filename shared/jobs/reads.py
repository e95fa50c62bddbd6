"""The job reads that two HTTP surfaces serve: the API's `GET /v1/jobs` and `GET /v1/jobs/{id}/attempts`, and
the dashboard's copies on the stream app (`/v1/dashboard/jobs…`, same origin for the browser). One
implementation of each, with one validation of its query, so that neither surface is laxer than the other.
Also a workflow's graph (`GET /v1/workflows/{id}`) and a job's parents and children, read the same way by
both; the write side (`shared.jobs.workflows`) is not imported here: the stream function ships without it."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from shared.errors import BadRequest
from shared.jobs.links import Links
from shared.jobs.models import ORDERING_KEY_PATTERN, Attempt, Job, Status
from shared.jobs.record import GROUPS, JobRecord
from shared.jobs.views import AttemptList, JobPage
from shared.pages import PageQuery
from shared.timestamps import Timestamp


class JobListQuery(PageQuery):
    """`?status=&limit=&cursor=` and at most one group filter (`workflow_id`, `schedule_id`, `source_id`) or an
    `ordering_key`."""

    status: Status | None = None
    workflow_id: str | None = Field(None, min_length=1, max_length=256)
    schedule_id: str | None = Field(None, min_length=1, max_length=256)
    source_id: str | None = Field(None, min_length=1, max_length=256)
    ordering_key: str | None = Field(None, min_length=1, max_length=128, pattern=ORDERING_KEY_PATTERN)

    def group(self) -> tuple[str, str] | None:
        groups = [(name, value) for name in GROUPS if (value := getattr(self, name)) is not None]
        if len(groups) + (self.ordering_key is not None) > 1:
            raise BadRequest("filter by one of workflow_id, schedule_id, source_id, ordering_key at a time")
        return groups[0] if groups else None


class JobPages(Protocol):
    def page(self, tenant: str, status: Status | None, limit: int, cursor: str | None,
             group: tuple[str, str] | None = None) -> tuple[list[JobRecord], str | None]: ...

    def attempts(self, tenant: str, job_id: str) -> list[Attempt]: ...


class OrderedPages(Protocol):
    """An ordering key's jobs (`shared.jobs.ordering.Sequences`)."""

    def page(self, tenant: str, key: str, status: Status | None, limit: int,
             cursor: str | None) -> tuple[list[JobRecord], str | None]: ...


def list_jobs(store: JobPages, tenant: str, query: JobListQuery, ordered: OrderedPages | None = None) -> JobPage:
    group = query.group()
    if query.ordering_key is not None:  # the key's own partition, newest place first
        if ordered is None:
            raise BadRequest("the ordering_key filter is served by the API (GET /v1/jobs)")
        records, next_cursor = ordered.page(tenant, query.ordering_key, query.status, query.limit, query.cursor)
    else:
        records, next_cursor = store.page(tenant, query.status, query.limit, query.cursor, group)
    return JobPage(items=[r.public() for r in records], next_cursor=next_cursor)


def list_attempts(store: JobPages, tenant: str, job_id: str) -> AttemptList:
    return AttemptList(items=store.attempts(tenant, job_id))


FAILED = frozenset({Status.failed, Status.dead, Status.cancelled})


class WorkflowJob(BaseModel):
    ref: str
    job: Job


class Workflow(BaseModel):
    id: str
    status: str  # running | completed | failed
    created_at: Timestamp
    labels: dict[str, str]
    jobs: list[WorkflowJob]


def status_of(jobs: list[JobRecord]) -> str:
    if any(j.status in FAILED for j in jobs):
        return "failed"
    return "completed" if jobs and all(j.status is Status.completed for j in jobs) else "running"


def read_workflow(links: Links, tenant: str, wf_id: str) -> Workflow:
    """`GET /v1/workflows/{id}`: the graph's jobs in submit order, with the workflow's one status."""
    wf, jobs = links.workflow(tenant, wf_id)
    by_id = {j.id: j for j in jobs}
    items = [WorkflowJob(ref=ref, job=by_id[job_id].public()) for ref, job_id in wf.refs if job_id in by_id]
    return Workflow(id=wf.id, status=status_of(jobs), created_at=wf.created_at, labels=wf.labels, jobs=items)


class Relations(BaseModel):
    """A job's parents (its `depends_on`) and children (the jobs that depend on it), for the dashboard."""

    parents: list[Job]
    children: list[Job]


def read_relations(links: Links, tenant: str, job_id: str) -> Relations:
    job = links.store.get(tenant, job_id)  # NotFound for another tenant's job, as for a missing one
    parents = links.parents(tenant, job.spec.depends_on)
    children = links.parents(tenant, links.dependents_of(job.id))
    return Relations(parents=[parents[i].public() for i in job.spec.depends_on if i in parents],
                     children=sorted((c.public() for c in children.values()), key=lambda j: j.created_at))
