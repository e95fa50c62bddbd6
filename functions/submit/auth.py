"""The caller's tenant, from its API key."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.deps import tenants
from shared.tenants import bearer


def tenant_of(app: APIGatewayHttpResolver | APIGatewayHttpRouter) -> str:
    return tenants().tenant_for(bearer(app.current_event.headers.get("authorization")))
