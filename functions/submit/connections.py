"""Connection routes (SPEC §3): a tenant's own vendor credentials, checked by listing its devices."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import connection_store, onboarding
from shared.telemetry.connections import Connection, ConnectionCreate, ConnectionPage, DeviceList

router = APIGatewayHttpRouter()


@router.post("/v1/connections", responses={201: {"description": "Checked with the vendor and stored"}})
def create_connection(spec: Annotated[ConnectionCreate, Body()]) -> Response[Connection]:
    record = onboarding().create_connection(tenant_of(router), spec)
    return Response(status_code=201, content_type="application/json", body=record.public(),
                    headers={"Location": f"/v1/connections/{record.id}"})


@router.get("/v1/connections")
def list_connections(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ConnectionPage:
    records, next_cursor = connection_store().list_for_tenant(tenant_of(router), limit, cursor)
    return ConnectionPage(items=[r.public() for r in records], next_cursor=next_cursor)


@router.get("/v1/connections/<connection_id>")
def get_connection(connection_id: str) -> Connection:
    return connection_store().get(tenant_of(router), connection_id).public()


@router.get("/v1/connections/<connection_id>/devices")
def connection_devices(connection_id: str) -> DeviceList:
    return DeviceList(items=onboarding().devices_now(tenant_of(router), connection_id))


@router.delete("/v1/connections/<connection_id>", responses={204: {"description": "Deleted"}})
def delete_connection(connection_id: str) -> Response[None]:
    connection_store().delete(tenant_of(router), connection_id)
    return Response(status_code=204, body=None)
