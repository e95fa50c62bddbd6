"""Inverter routes (SPEC §3): register, list, read with the latest reading, history, stream tokens."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import inverter_store, onboarding, reading_store, rollup_store
from shared import stage_secret, stream_tokens
from shared.config import env
from shared.pages import CURSOR_MAX, LIMIT_MAX, PageQuery
from shared.telemetry import history
from shared.telemetry.models import Inverter, InverterCreate, InverterPage, ReadingList, StreamToken
from shared.telemetry.rollups import Series, Step
from shared.timestamps import Rfc3339

router = APIGatewayHttpRouter()


@router.post("/v1/inverters", responses={201: {"description": "Registered"}})
def create_inverter(spec: Annotated[InverterCreate, Body()]) -> Response[Inverter]:
    record = onboarding().register_inverter(tenant_of(router), spec)
    return Response(status_code=201, content_type="application/json", body=record.public(),
                    headers={"Location": f"/v1/inverters/{record.id}"})


@router.get("/v1/inverters")
def list_inverters(
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX)] = None,
) -> InverterPage:
    return inverter_store().page(tenant_of(router), PageQuery(limit=limit, cursor=cursor))


@router.get("/v1/inverters/<inverter_id>")
def get_inverter(inverter_id: str) -> Inverter:
    return inverter_store().get(tenant_of(router), inverter_id).public()


@router.get("/v1/inverters/<inverter_id>/readings")
def get_readings(
    inverter_id: str,
    since: Annotated[Rfc3339 | None, Query(description="RFC 3339; oldest first from then on")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReadingList:
    inverter = inverter_store().get(tenant_of(router), inverter_id)
    return ReadingList(items=reading_store().history(inverter.id, since, limit))


@router.get("/v1/inverters/<inverter_id>/series")
def get_series(
    inverter_id: str,
    step: Annotated[Step, Query(description="bucket size: 5m, 1h or 1d")] = Step.hour,
    start: Annotated[Rfc3339 | None, Query(alias="from", description="RFC 3339; default: 24 h, 7 d or 30 d "
                                                                      "before `to` for 5m, 1h, 1d")] = None,
    end: Annotated[Rfc3339 | None, Query(alias="to", description="RFC 3339, exclusive; default: now")] = None,
) -> Series:
    inverter = inverter_store().get(tenant_of(router), inverter_id)
    return history.series(rollup_store(), inverter, step, start, end)


@router.post("/v1/inverters/<inverter_id>/stream-token")
def create_stream_token(inverter_id: str) -> StreamToken:
    tenant = tenant_of(router)
    found = inverter_store().find(inverter_id)
    return stream_tokens.for_inverter(stage_secret.stream_token_key(env()), tenant, inverter_id,
                                      found.tenant if found else None)
