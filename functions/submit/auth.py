"""The caller's tenant, from its API key, within the tenant's request rate (429 beyond it).

The handler authenticates before the resolver runs, so that a request without a valid key is a 401 whatever
its body (Powertools validates the body before any route code); routes then read the tenant found."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.deps import rate_limit, tenants
from shared.tenant_limits import Decision
from shared.tenants import bearer

# The rate-limit decision of the request being handled; the handler adds its headers to the answer.
decision: ContextVar[Decision | None] = ContextVar("rate_limit_decision", default=None)
# The tenant of the request being handled, once its key was checked.
tenant: ContextVar[str | None] = ContextVar("request_tenant", default=None)


def reset() -> None:
    decision.set(None)
    tenant.set(None)


def authenticate(headers: Mapping[str, str]) -> str:
    """The tenant of the request's API key, counted against its rate (Unauthorized, RateLimited)."""
    found = tenants().tenant_for(bearer(headers.get("authorization")))
    tenant.set(found)
    decision.set(rate_limit().check(found))
    return found


def tenant_of(app: APIGatewayHttpResolver | APIGatewayHttpRouter) -> str:
    return tenant.get() or authenticate(app.current_event.headers)
