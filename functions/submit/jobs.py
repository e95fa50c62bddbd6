"""Jobs and dead-letter routes (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import batch, job_store, jobs, sequences, workflows
from shared.jobs import reads
from shared.jobs.batch import BatchRequest, BatchResult
from shared.jobs.models import ORDERING_KEY_PATTERN, Job, JobSpec, Status
from shared.jobs.reads import JobListQuery, Workflow
from shared.jobs.views import AttemptList, JobPage, RedriveRequest, RedriveResult
from shared.jobs.workflows import WorkflowSpec
from shared.pages import CURSOR_MAX, LIMIT_MAX

router = APIGatewayHttpRouter()


@router.post("/v1/jobs", responses={202: {"description": "Accepted"}, 200: {"description": "Idempotent replay"}})
def submit_job(
    spec: Annotated[JobSpec, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", min_length=1, max_length=255)] = None,
) -> Response[Job]:
    tenant = tenant_of(router)
    created = jobs().submit(tenant, spec, idempotency_key)
    headers = {"Location": f"/v1/jobs/{created.job.id}"}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=200 if created.replayed else 202, content_type="application/json",
                    body=created.job.public(), headers=headers)


@router.post("/v1/jobs/batch", responses={202: {"description": "Accepted; per-item results in input order"}})
def submit_batch(request: Annotated[BatchRequest, Body()]) -> Response[BatchResult]:
    result = batch().submit(tenant_of(router), request)
    return Response(status_code=202, content_type="application/json", body=result)


@router.get("/v1/jobs")
def list_jobs(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX)] = None,
    workflow_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    schedule_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    source_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    ordering_key: Annotated[str | None, Query(min_length=1, max_length=128, pattern=ORDERING_KEY_PATTERN)] = None,
) -> JobPage:
    query = JobListQuery(status=status, limit=limit, cursor=cursor, workflow_id=workflow_id,
                         schedule_id=schedule_id, source_id=source_id, ordering_key=ordering_key)
    return reads.list_jobs(job_store(), tenant_of(router), query, sequences())


@router.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Job:
    return job_store().get(tenant_of(router), job_id).public()


@router.get("/v1/jobs/<job_id>/attempts")
def get_attempts(job_id: str) -> AttemptList:
    return reads.list_attempts(job_store(), tenant_of(router), job_id)


@router.post("/v1/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> Job:
    return jobs().cancel(tenant_of(router), job_id).public()


@router.post("/v1/jobs/<job_id>/retry")
def retry_job(job_id: str) -> Job:
    return jobs().restart(tenant_of(router), job_id).public()


@router.post("/v1/dlq/redrive")
def redrive(request: Annotated[RedriveRequest | None, Body()] = None) -> RedriveResult:
    # Every field has a default, so no body (`curl -X POST …/redrive`) is the defaults, as `{}` is.
    request = request or RedriveRequest()
    return RedriveResult(redriven=jobs().redrive(tenant_of(router), request.window_s, request.limit))


@router.post("/v1/workflows", responses={202: {"description": "Accepted"}})
def submit_workflow(spec: Annotated[WorkflowSpec, Body()]) -> Response[Workflow]:
    workflow = workflows().submit(tenant_of(router), spec)
    return Response(status_code=202, content_type="application/json", body=workflow,
                    headers={"Location": f"/v1/workflows/{workflow.id}"})


@router.get("/v1/workflows/<workflow_id>")
def get_workflow(workflow_id: str) -> Workflow:
    return workflows().get(tenant_of(router), workflow_id)
