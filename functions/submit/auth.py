"""The caller's tenant, from its API key, within the tenant's request rate (429 beyond it)."""

from __future__ import annotations

from contextvars import ContextVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.deps import rate_limit, tenants
from shared.tenant_limits import Decision
from shared.tenants import bearer

# The rate-limit decision of the request being handled; the handler adds its headers to the answer.
decision: ContextVar[Decision | None] = ContextVar("rate_limit_decision", default=None)


def tenant_of(app: APIGatewayHttpResolver | APIGatewayHttpRouter) -> str:
    tenant = tenants().tenant_for(bearer(app.current_event.headers.get("authorization")))
    decision.set(rate_limit().check(tenant))
    return tenant
