"""Submit function: the HTTP API (API Gateway HTTP API, payload 2.0) for jobs and inverters."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.submit import alerts, auth, connections, inverters, jobs, openapi, schedules, sources, tokens
from shared import http_input, problems
from shared.config import metrics_namespace
from shared.errors import SteadfastError
from shared.tenant_limits import RateLimited
from shared.topology import API_ROUTES, INGEST_ROUTES

logger = Logger()
metrics = Metrics(namespace=metrics_namespace())
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(jobs.router)
app.include_router(inverters.router)
app.include_router(schedules.router)
app.include_router(sources.router)
app.include_router(tokens.router)
app.include_router(alerts.router)
app.include_router(connections.router)


def refuse_unknown_input(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """A query parameter the route does not take is a 422, as an unknown body field is; so is a field of a body
    sent to a route that reads none."""
    route = resolver.context.get("_route")
    declared = [p.alias for p in route.dependant.query_params] if route is not None else []
    given = (resolver.current_event.query_string_parameters or {}).keys()
    errors = http_input.unknown_query_parameters(given, declared)
    if route is not None and not route.dependant.body_params:
        errors += http_input.unexpected_body((_body() or (None,))[0])
    if errors:
        raise RequestValidationError(errors)
    return next_middleware(resolver)


app.use(middlewares=[refuse_unknown_input])


def _problem(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    # Powertools serializes only application/json bodies itself.
    return Response(status_code=body["status"], content_type=problems.PROBLEM_CONTENT_TYPE, body=json.dumps(body),
                    headers=headers)


@app.get("/v1/health", summary="Liveness (no API key)", tags=["health"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=json.dumps(openapi.document(app)))


# Swagger UI, its script and styles inlined from Powertools' own copy (no CDN), with an Authorize button.
@app.get("/v1/docs", include_in_schema=False)
def docs() -> Response[str]:
    return Response(status_code=200, content_type="text/html", body=openapi.swagger_page(app))


@app.exception_handler(SteadfastError)
def domain_error(err: SteadfastError) -> Response[str]:
    if err.status >= 500:
        logger.exception("request failed", extra={"problem": err.slug})
    if isinstance(err, RateLimited):
        metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
    return _problem(problems.from_error(err, instance=app.current_event.path), err.headers)


@app.exception_handler(RequestValidationError)
def invalid_request(err: RequestValidationError) -> Response[str]:
    errors = problems.field_errors(list(err.errors()), *_body())
    if any(e["type"] == "json_invalid" for e in errors):
        return _problem(problems.problem(400, "Bad request", "the request body is not valid JSON",
                                         slug="bad-request", instance=app.current_event.path))
    return _problem(problems.problem(422, "Validation failed", "the request has invalid fields", slug="validation",
                                     errors=errors, instance=app.current_event.path))


def _body() -> tuple[Any, ...]:
    """The request's JSON body, for the field pointers to follow (none when there is none to read)."""
    raw = app.current_event.decoded_body
    try:
        return (json.loads(raw),) if raw else ()
    except (ValueError, RecursionError):
        return ()


@app.exception_handler(UnicodeDecodeError)
def undecodable_body(_: UnicodeDecodeError) -> Response[str]:
    return _problem(problems.problem(400, "Bad request", "the request body is not valid UTF-8 JSON",
                                     slug="bad-request", instance=app.current_event.path))


@app.not_found
def not_found(_: NotFoundError) -> Response[str]:
    path, method = app.current_event.path, app.current_event.http_method
    allowed = [m for t in (API_ROUTES, INGEST_ROUTES) for m in t.methods_at(path)]
    # A method the path's template does allow, yet no route matched: a path parameter the resolver cannot
    # read (a newline in an id, say) names no resource, which is a 404, not a 405.
    if allowed and method not in allowed:
        response = _problem(problems.problem(405, "Method not allowed", f"{method} is not allowed on {path}",
                                             slug="method-not-allowed", instance=path))
        response.headers["Allow"] = ", ".join(sorted(set(allowed)))
        return response
    return _problem(problems.problem(404, "Not found", f"no route {path}", slug="not-found", instance=path))


@app.exception_handler(OverflowError)
def out_of_range(_: OverflowError) -> Response[str]:
    # A date at the edge of the calendar that a time-zone shift pushes past year 1 or 9999.
    logger.warning("value out of range", exc_info=True)
    return _problem(problems.problem(422, "Validation failed", "a value in the request is out of range",
                                     slug="validation", instance=app.current_event.path))


@app.exception_handler(Exception)
def unexpected(_: Exception) -> Response[str]:
    logger.exception("unhandled error")
    return _problem(problems.problem(500, "Internal error", "an unexpected error occurred", slug="internal"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = event.get("headers") or {}
    path = str(event.get("rawPath", ""))
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", ""))
    # Ingest bodies are the providers' bytes, whatever their type: that route reads them as they are.
    ingest = path.startswith("/v1/ingest/")
    auth.reset()
    # The key before the body: a request without a valid key learns nothing about what the body should be.
    if API_ROUTES.needs_key(method, path):
        try:
            auth.authenticate(headers)
        except SteadfastError as err:
            if err.status >= 500:
                logger.exception("authentication failed", extra={"problem": err.slug})
            return _early_problem(problems.from_error(err, instance=path), err.headers)
    # The route before the body too: an unknown route is a 404 and a wrong method a 405 whatever the body
    # holds; the resolver answers both (its not_found handler reads no body).
    routed = method in API_ROUTES.methods_at(path)
    if routed and not ingest and (refused := http_input.body_problem(headers, event.get("body"),
                                                                     bool(event.get("isBase64Encoded")))):
        status, title, detail = refused
        body = problems.problem(status, title, detail, slug=title.lower().replace(" ", "-"), instance=path)
        return _early_problem(body, {"Accept-Post": "application/json"} if status == 415 else None)
    # `curl -d '{…}'` labels JSON as a form, others send `application/merge-patch+json` and the like; the API
    # speaks only JSON (body_problem refused anything else), so read each as what it is.
    if not ingest and event.get("body") and headers.get("content-type"):
        headers["content-type"] = "application/json"
    result = app.resolve(event, context)
    if (limited := auth.decision.get()) is not None:
        result.setdefault("headers", {}).update(limited.headers())
    return result


def _early_problem(body: dict[str, Any], headers: dict[str, str] | None) -> dict[str, Any]:
    """A problem answered before the resolver runs, in the payload 2.0 response shape."""
    return {"statusCode": body["status"],
            "headers": {"Content-Type": problems.PROBLEM_CONTENT_TYPE, **(headers or {})}, "body": json.dumps(body)}
