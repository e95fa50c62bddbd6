"""Schedule routes (SPEC §3 "Schedules")."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import schedule_store, schedules
from shared.jobs.models import Job, utcnow
from shared.schedules.models import Schedule, SchedulePage, SchedulePatch, ScheduleSpec

router = APIGatewayHttpRouter()


@router.post("/v1/schedules", responses={201: {"description": "Created"}})
def create_schedule(spec: Annotated[ScheduleSpec, Body()]) -> Response[Schedule]:
    record = schedules().create(tenant_of(router), spec)
    return Response(status_code=201, content_type="application/json", body=record.public(utcnow()),
                    headers={"Location": f"/v1/schedules/{record.id}"})


@router.get("/v1/schedules")
def list_schedules(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> SchedulePage:
    records, next_cursor = schedule_store().page(tenant_of(router), limit, cursor)
    now = utcnow()
    return SchedulePage(items=[r.public(now) for r in records], next_cursor=next_cursor)


@router.get("/v1/schedules/<schedule_id>")
def get_schedule(schedule_id: str) -> Schedule:
    return schedule_store().get(tenant_of(router), schedule_id).public(utcnow())


@router.patch("/v1/schedules/<schedule_id>")
def patch_schedule(schedule_id: str, patch: Annotated[SchedulePatch, Body()]) -> Schedule:
    return schedules().patch(tenant_of(router), schedule_id, patch).public(utcnow())


@router.delete("/v1/schedules/<schedule_id>", responses={204: {"description": "Deleted"}})
def delete_schedule(schedule_id: str) -> Response[str]:
    schedules().delete(tenant_of(router), schedule_id)
    return Response(status_code=204, body="")


@router.post("/v1/schedules/<schedule_id>/trigger", responses={202: {"description": "Accepted"}})
def trigger_schedule(schedule_id: str) -> Response[Job]:
    created = schedules().trigger(tenant_of(router), schedule_id)
    return Response(status_code=202, content_type="application/json", body=created.job.public(),
                    headers={"Location": f"/v1/jobs/{created.job.id}"})
