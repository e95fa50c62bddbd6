"""Inbound webhook source routes (SPEC §3 "Inbound webhooks"): sources, their event log, replays."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import source_service, source_store
from shared.sources.models import (
    EventDetail,
    EventPage,
    RangeReplay,
    RangeReplayResult,
    ReplayedEvent,
    Source,
    SourcePage,
    SourcePatch,
    SourceSpec,
)

router = APIGatewayHttpRouter()


def _public_base() -> str:
    """Where this API is reached from outside, for the ingest URL a provider is given."""
    event = router.current_event
    proto = event.headers.get("x-forwarded-proto", "http")
    stage = event.request_context.stage
    base = f"{proto}://{event.request_context.domain_name}"
    return base if stage in ("$default", "") else f"{base}/{stage}"


@router.post("/v1/sources", responses={201: {"description": "Created"}})
def create_source(spec: Annotated[SourceSpec, Body()]) -> Response[Source]:
    record = source_service().create(tenant_of(router), spec)
    return Response(status_code=201, content_type="application/json", body=record.public(_public_base()),
                    headers={"Location": f"/v1/sources/{record.id}"})


@router.get("/v1/sources")
def list_sources(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> SourcePage:
    records, next_cursor = source_store().page(tenant_of(router), limit, cursor)
    return SourcePage(items=[r.public(_public_base()) for r in records], next_cursor=next_cursor)


@router.get("/v1/sources/<source_id>")
def get_source(source_id: str) -> Source:
    return source_store().get(tenant_of(router), source_id).public(_public_base())


@router.patch("/v1/sources/<source_id>")
def update_source(source_id: str, patch: Annotated[SourcePatch, Body()]) -> Source:
    return source_service().update(tenant_of(router), source_id, patch).public(_public_base())


@router.delete("/v1/sources/<source_id>", responses={204: {"description": "Deleted"}})
def delete_source(source_id: str) -> Response[str]:
    source_service().delete(tenant_of(router), source_id)
    return Response(status_code=204, body="")


@router.get("/v1/sources/<source_id>/events")
def list_events(
    source_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> EventPage:
    store = source_store()
    source = store.get(tenant_of(router), source_id)
    events, next_cursor = store.events(source, limit, cursor)
    return EventPage(items=[e.summary() for e in events], next_cursor=next_cursor)


@router.get("/v1/sources/<source_id>/events/<event_id>")
def get_event(source_id: str, event_id: str) -> EventDetail:
    store = source_store()
    return store.event(store.get(tenant_of(router), source_id), event_id).detail()


@router.post("/v1/sources/<source_id>/events/<event_id>/replay", responses={202: {"description": "Accepted"}})
def replay_event(source_id: str, event_id: str) -> Response[ReplayedEvent]:
    job_ids = source_service().replay(tenant_of(router), source_id, event_id)
    return Response(status_code=202, content_type="application/json", body=ReplayedEvent(job_ids=job_ids))


@router.post("/v1/sources/<source_id>/replay", responses={202: {"description": "Accepted"}})
def replay_range(source_id: str, request: Annotated[RangeReplay, Body()]) -> Response[RangeReplayResult]:
    count = source_service().replay_range(tenant_of(router), source_id, request.since, request.until,
                                          request.window_s)
    return Response(status_code=202, content_type="application/json", body=RangeReplayResult(replayed=count))
