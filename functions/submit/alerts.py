"""Alert routes (SPEC §3 Alerts): rules and incidents. Evaluation runs in the poller."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from functions.submit.deps import alert_store, inverter_store, settings
from shared.alerts.models import AlertRule, AlertRuleCreate, AlertRuleList, IncidentList, IncidentState
from shared.alerts.rules import create_rule

router = APIGatewayHttpRouter()


@router.post("/v1/alert-rules", responses={201: {"description": "Created"}})
def create_alert_rule(spec: Annotated[AlertRuleCreate, Body()]) -> Response[AlertRule]:
    rule = create_rule(alert_store(), inverter_store(), tenant_of(router), spec,
                       allow_private_targets=settings().allow_private_targets)
    return Response(status_code=201, content_type="application/json", body=rule,
                    headers={"Location": f"/v1/alert-rules/{rule.id}"})


@router.get("/v1/alert-rules")
def list_alert_rules() -> AlertRuleList:
    return AlertRuleList(items=alert_store().rules(tenant_of(router)))


@router.delete("/v1/alert-rules/<rule_id>")
def delete_alert_rule(rule_id: str) -> Response[None]:
    alert_store().delete_rule(tenant_of(router), rule_id)
    return Response(status_code=204)


@router.get("/v1/incidents")
def list_incidents(
    state: Annotated[IncidentState | None, Query(description="open or resolved; default both")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> IncidentList:
    items, next_cursor = alert_store().incidents(tenant_of(router), state, limit, cursor)
    return IncidentList(items=items, next_cursor=next_cursor)
