"""The stream function (SPEC §4): SSE streams of inverter readings and job statuses, and the dashboard.

One ASGI app, run by uvicorn locally and, in AWS, by the Lambda Web Adapter (`run.sh`) behind an API
Gateway REST API that streams the response (the function is in the VPC, where function URLs do not
stream), under the stage prefix `STEADFAST_STREAM_BASE_PATH`. Routes parse the request, check the
credential and hand over to `shared.streaming.sessions`; no stream logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.stream import deps
from functions.stream.deps import Services
from shared import problems, stream_tokens
from shared.errors import BadRequest, Forbidden, NotFound, SteadfastError, Unauthorized, Unprocessable
from shared.jobs import reads
from shared.jobs.links import Links
from shared.jobs.models import utcnow
from shared.jobs.reads import JobListQuery, read_relations, read_workflow
from shared.pages import PageQuery
from shared.streaming import sessions
from shared.streaming.asgi import EventStream
from shared.telemetry.rollups import Step
from shared.tenants import bearer, looks_like_api_key

Q = TypeVar("Q", bound=PageQuery)
STATIC = Path(__file__).parent / "static"
# What the dashboard needs and nothing more: its own scripts, styles and streams, uPlot's canvas, the
# data: favicon. No inline script (the dev key reaches the page as a meta tag), no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# Query parameters that would carry a credential. Only a stream token may be in a URL: an API key there
# ends up in access logs, proxies and browser history.
_URL_CREDENTIALS = ("access_token", "api_key", "apikey", "key", "token")


def credential(request: Request) -> str:
    """`access_token=<stream token>` (EventSource cannot set headers) or `Authorization: Bearer`; an API
    key (anything but a stream token) in the URL is refused with 400."""
    for name in _URL_CREDENTIALS:
        value = request.query_params.get(name)
        if value is None:
            continue
        if name == "access_token" and stream_tokens.looks_like_stream_token(value.strip()):
            return value.strip()
        if name == "access_token" and not looks_like_api_key(value.strip()):
            raise Unauthorized("invalid stream token")  # neither a stream token nor an API key: garbage
        raise BadRequest("an API key does not belong in a URL: send it as 'Authorization: Bearer <key>', or "
                         "exchange it for a short-lived stream token at POST /v1/stream-token")
    return bearer(request.headers.get("authorization"))


async def tenant_of(request: Request) -> str:
    """The tenant of an API key in the Authorization header (the dashboard's JSON routes)."""
    if any(name in request.query_params for name in _URL_CREDENTIALS):
        credential(request)  # refuses an API key in the URL (a stream token there is ignored)
    return await asyncio.to_thread(_services(request).tenants.tenant_for, bearer(request.headers.get("authorization")))


async def stream_tenant(request: Request) -> str:
    """The tenant of a job or tenant stream: a jobs stream token, or an API key in the header."""
    cred = credential(request)
    if stream_tokens.looks_like_stream_token(cred):
        return stream_tokens.verify_jobs(await signing_key(_services(request)), cred)
    return await asyncio.to_thread(_services(request).tenants.tenant_for, cred)


def _deadline(request: Request) -> float:
    return asyncio.get_running_loop().time() + _services(request).max_stream_s


def response_headers(request: Request) -> dict[str, str]:
    """Security headers, and CORS for an allow-listed origin only (never `*`: these routes authenticate)."""
    headers = dict(SECURITY_HEADERS)
    origin = request.headers.get("origin")
    allowed: tuple[str, ...] = getattr(request.app.state, "cors_origins", ())
    if origin and origin in allowed:
        headers |= {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return headers


async def _stream(request: Request, tenant: str, feed: sessions.Feed) -> EventStream:
    s = _services(request)
    if s.slots is None:
        return EventStream(s.hub, feed, _deadline(request), headers=response_headers(request))
    slots, slot = s.slots, await s.slots.acquire(tenant)

    async def release() -> None:
        await slots.release(tenant, slot)

    return EventStream(s.hub, feed, _deadline(request), headers=response_headers(request), on_close=release)


async def signing_key(s: Services) -> str:
    # In AWS a cache miss reads Secrets Manager (blocking I/O): off the event loop.
    return s.token_secret if isinstance(s.token_secret, str) else await asyncio.to_thread(s.token_secret)


async def inverter_events(request: Request) -> Response:
    s = _services(request)
    inverter_id = request.path_params["id"]
    cred = credential(request)
    if stream_tokens.looks_like_stream_token(cred):
        tenant, opens = stream_tokens.holder(await signing_key(s), cred)
    else:
        tenant, opens = await asyncio.to_thread(s.tenants.tenant_for, cred), inverter_id
    found = await asyncio.to_thread(s.inverters.owner_and_latest, inverter_id)
    # A valid token: unknown to its tenant is 404 (as for an API key), known but not the token's is 403.
    if found is None or found[0] != tenant:
        raise NotFound(f"no inverter {inverter_id!r}")
    if opens != inverter_id:
        raise Forbidden("this stream token is for another stream")
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return await _stream(request, tenant, sessions.InverterFeed(s.replay, inverter_id, found[1], last_id, s.keys))


def _last_event_id(request: Request) -> str | None:
    return request.headers.get("last-event-id") or request.query_params.get("last_event_id")


async def job_events(request: Request) -> Response:
    s = _services(request)
    tenant = await stream_tenant(request)
    job_id = request.path_params["id"]
    record = await asyncio.to_thread(s.jobs.get, tenant, job_id)  # 404 before the stream starts

    async def load() -> dict[str, Any]:
        return deps.public_job(await asyncio.to_thread(s.jobs.get, tenant, job_id))

    last_id = _last_event_id(request)
    feed = sessions.JobFeed(s.replay, job_id, load, s.keys, last_event_id=last_id)
    if record.terminal and last_id and not await feed.behind(deps.public_job(record)):
        # The client already had this job's stream up to its end: 204 makes EventSource stop instead of
        # reconnecting every `retry` ms forever (SPEC §4). One that was cut off earlier gets what it missed,
        # the terminal status last, and then the stream ends.
        return Response(status_code=204, headers={"Access-Control-Allow-Origin": "*"})
    return await _stream(request, tenant, feed)


async def tenant_job_events(request: Request) -> Response:
    tenant = await stream_tenant(request)
    return await _stream(request, tenant, sessions.TenantJobsFeed(tenant, _services(request).keys))


# -- read-only JSON for the dashboard (same origin: no CORS set-up between the API and the stream app) --
async def list_inverters(request: Request) -> Response:
    """`GET /v1/inverters` of the API, same origin: the same page and validation (`InverterStore.page`)."""
    tenant = await tenant_of(request)
    query = _query(PageQuery, request)
    return JSONResponse(await asyncio.to_thread(_services(request).inverters.page, tenant, query))


def _query(model: type[Q], request: Request) -> Q:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise Unprocessable("the query has invalid parameters", errors=problems.field_errors(exc.errors())) from exc


async def list_jobs(request: Request) -> Response:
    """`GET /v1/jobs` of the API, same origin: the same implementation and validation (shared.jobs.reads)."""
    tenant = await tenant_of(request)
    query = _query(JobListQuery, request)
    s = _services(request)
    page = await asyncio.to_thread(reads.list_jobs, s.jobs, tenant, query, s.ordered)
    return JSONResponse(page.model_dump(mode="json"))


async def job_attempts(request: Request) -> Response:
    """`GET /v1/jobs/{id}/attempts` of the API, same origin (shared.jobs.reads)."""
    tenant = await tenant_of(request)
    found = await asyncio.to_thread(reads.list_attempts, _services(request).jobs, tenant, request.path_params["id"])
    return JSONResponse(found.model_dump(mode="json"))


async def job_relations(request: Request) -> Response:
    """A job's parents and children with their statuses (the dashboard's job detail)."""
    return await _read_links(request, read_relations, "no job relations here")


async def workflow(request: Request) -> Response:
    """`GET /v1/workflows/{id}` of the API, same origin (the dashboard's workflow view)."""
    return await _read_links(request, read_workflow, "no workflows here")


async def _read_links(request: Request, read: Callable[[Links, str, str], BaseModel], missing: str) -> Response:
    tenant = await tenant_of(request)
    links = _services(request).links
    if links is None:
        raise NotFound(missing)
    found = await asyncio.to_thread(read, links, tenant, request.path_params["id"])
    return JSONResponse(found.model_dump(mode="json"))


async def inverter_series(request: Request) -> Response:
    """The dashboard's history views: the series route of the API, same origin."""
    s = _services(request)
    tenant = await tenant_of(request)
    if s.series is None:
        raise NotFound("no history here")
    try:
        step = Step(request.query_params.get("step", "1h"))
    except ValueError as exc:
        raise Unprocessable("step is one of 5m, 1h, 1d") from exc
    found = await asyncio.to_thread(s.series.read, tenant, request.path_params["id"], step)
    return JSONResponse(found.model_dump(mode="json"))


async def list_schedules(request: Request) -> Response:
    """The tenant's schedules with their next runs and the status of each one's last job."""
    tenant = await tenant_of(request)
    s = _services(request)
    if s.schedules is None:
        return JSONResponse({"items": []})
    records, cursor = await asyncio.to_thread(s.schedules.store.page, tenant, 100, None)
    last_ids = [r.last_job_id for r in records if r.last_job_id]
    statuses = await asyncio.to_thread(s.schedules.store.job_statuses, last_ids)
    now = utcnow()
    items = [{**r.public(now).model_dump(mode="json"),
              "last_job_status": statuses.get(r.last_job_id) if r.last_job_id else None} for r in records]
    return JSONResponse({"items": items, "next_cursor": cursor})


async def pause_schedule(request: Request) -> Response:
    """POST …/pause or …/resume: the dashboard's one edit of a schedule."""
    tenant = await tenant_of(request)
    s = _services(request)
    if s.schedules is None:
        raise NotFound("no schedules here")
    paused = request.path_params["action"] == "pause"
    record = await asyncio.to_thread(s.schedules.set_paused, tenant, request.path_params["id"], paused)
    return JSONResponse(record.public(utcnow()).model_dump(mode="json"))


async def list_sources(request: Request) -> Response:
    """The tenant's inbound webhook sources (never their secrets)."""
    tenant = await tenant_of(request)
    store = _services(request).sources
    if store is None:
        return JSONResponse({"items": []})
    records, _ = await asyncio.to_thread(store.page, tenant, 100, None)
    # The ingest URL lives on the HTTP API, not here: the dashboard shows its path.
    return JSONResponse({"items": [r.public("").model_dump(mode="json") for r in records]})


async def source_events(request: Request) -> Response:
    """A source's newest events, each with its delivery jobs and their status (the live event log)."""
    tenant = await tenant_of(request)
    s = _services(request)
    if s.sources is None:
        raise NotFound("no sources here")
    store = s.sources

    def read() -> list[dict[str, Any]]:
        source = store.get(tenant, request.path_params["id"])
        events, _ = store.events(source, 25, None)
        out = []
        for event in events:
            jobs = []
            for job_id in event.job_ids:
                try:
                    job = s.jobs.get(tenant, job_id)
                    jobs.append({"id": job.id, "status": job.status.value, "attempts": job.attempts})
                except NotFound:
                    jobs.append({"id": job_id, "status": "unknown", "attempts": 0})
            out.append({**event.summary().model_dump(mode="json"), "jobs": jobs})
        return out

    return JSONResponse({"items": await asyncio.to_thread(read)})


async def stream_token(request: Request) -> Response:
    s = _services(request)
    tenant = await tenant_of(request)
    inverter_id = request.path_params["id"]
    found = await asyncio.to_thread(s.inverters.owner_and_latest, inverter_id)
    issued = stream_tokens.for_inverter(await signing_key(s), tenant, inverter_id, found[0] if found else None)
    return JSONResponse(issued.model_dump(mode="json"))


async def jobs_stream_token(request: Request) -> Response:
    """`POST /v1/stream-token`: the API key (header) for a short-lived token of this tenant's job streams."""
    tenant = await tenant_of(request)
    issued = stream_tokens.for_jobs(await signing_key(_services(request)), tenant)
    return JSONResponse(issued.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    hub = _services(request).hub
    # Always 200: the Lambda Web Adapter waits for this path before the first request, and a Redis
    # outage must not keep the function from starting (streams wait for the hub to reconnect).
    return JSONResponse({"status": "ok", "redis": "connected" if hub.connected.is_set() else "reconnecting",
                         "clients": hub.clients})


@functools.cache
def _page(base_path: str, dev_api_key: str | None) -> str:
    # Every URL in the page is relative to <base>, so the same files work at `/` locally and under a
    # stage prefix (`/dev/`) behind API Gateway. The local stage's dev key is pre-filled (a meta tag: the
    # CSP allows no inline script); a deployed stage's page carries no key at all.
    head = f'<base href="{html.escape(base_path)}/">'
    if dev_api_key:
        head += f'\n  <meta name="steadfast-dev-key" content="{html.escape(dev_api_key)}">'
    return (STATIC / "index.html").read_text().replace('<base href="/">', head)


async def dashboard(request: Request) -> Response:
    s = _services(request)
    return HTMLResponse(_page(s.base_path, s.dev_api_key), headers={"Cache-Control": "no-cache"})


# -- errors as RFC 9457 problems -------------------------------------------------------------------
async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SteadfastError)
    headers = response_headers(request) | exc.headers
    return JSONResponse(problems.from_error(exc, instance=request.url.path), status_code=exc.status,
                        media_type=problems.PROBLEM_CONTENT_TYPE, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route: 404; a route without this method: 405 with `Allow`) as the
    API answers them: problem JSON, never its plain-text default."""
    assert isinstance(exc, HTTPException)
    path, status = request.url.path, exc.status_code
    headers = response_headers(request) | dict(exc.headers or {})
    if status == 404:
        body = problems.problem(404, "Not found", f"no route {path}", slug="not-found", instance=path)
    elif status == 405:
        body = problems.problem(405, "Method not allowed", f"{request.method} is not allowed on {path}",
                                slug="method-not-allowed", instance=path)
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        body = problems.problem(status, phrase, str(exc.detail), slug=phrase.lower().replace(" ", "-"), instance=path)
    return JSONResponse(body, status_code=status, media_type=problems.PROBLEM_CONTENT_TYPE, headers=headers)


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response of the routed (non-stream) part of the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, with_headers)


class StreamApp:
    """The ASGI entry: the three event streams go straight to their handlers, the rest through Starlette.

    A stream stays open for minutes. Inside Starlette's stack every layer (error and CORS middleware,
    exception wrappers, the router) keeps a frame and a wrapped `send` alive for it and runs again for
    every event: ≈7 KB and half a dozen calls per stream, measured with tracemalloc and bench/sse.py.
    Routed here, an open stream costs little more than uvicorn's own connection state."""

    def __init__(self, inner: Starlette) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self._under_base_path(scope)
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            for pattern, endpoint in _STREAMS:
                match = pattern.match(route_path(scope))
                if match:
                    response = await self._open(scope, endpoint, match)
                    await response(scope, receive, send)
                    return
        await self.inner(scope, receive, send)

    def _under_base_path(self, scope: Scope) -> Scope:
        """Behind API Gateway every public path starts with the stage (`/dev/v1/health`), and the Lambda
        Web Adapter passes it on; the adapter's own readiness check and the local stack use bare paths.
        A request under STEADFAST_STREAM_BASE_PATH is routed as if the prefix were the app's mount point
        (ASGI `root_path`); any other request is routed as it is."""
        services: Services | None = getattr(self.inner.state, "services", None)
        base = services.base_path if services else ""
        path: str = scope["path"]
        if not base or not (path == base or path.startswith(base + "/")) or scope.get("root_path"):
            return scope
        # `/dev` alone is the dashboard, as `/dev/` is.
        return {**scope, "root_path": base, "path": path if path != base else base + "/"}

    async def _open(self, scope: Scope, endpoint: Callable[[Request], Awaitable[Response]],
                    match: re.Match[str]) -> Response:
        # The request is parsed here and dropped once the stream is set up: nothing long-lived holds it.
        scope["app"] = self.inner
        scope["path_params"] = match.groupdict()
        request = Request(scope)
        try:
            return await endpoint(request)
        except SteadfastError as exc:
            return await _domain_error(request, exc)


def route_path(scope: Scope) -> str:
    """The path below the ASGI `root_path`, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path


_STREAMS: tuple[tuple[re.Pattern[str], Callable[[Request], Awaitable[Response]]], ...] = (
    (re.compile(r"^/v1/inverters/(?P<id>[^/]+)/events$"), inverter_events),
    (re.compile(r"^/v1/jobs/(?P<id>[^/]+)/events$"), job_events),
    (re.compile(r"^/v1/tenant/jobs/events$"), tenant_job_events),
)


def create_app(make_services: Callable[[], Services], cors_origins: tuple[str, ...] = ()) -> StreamApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = make_services()
        app.state.services = services
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    routes = [
        Route("/", dashboard),
        Route("/v1/health", health),
        Route("/v1/inverters/{id}/events", inverter_events),
        Route("/v1/jobs/{id}/events", job_events),
        Route("/v1/tenant/jobs/events", tenant_job_events),
        Route("/v1/dashboard/inverters", list_inverters),
        Route("/v1/dashboard/inverters/{id}/stream-token", stream_token, methods=["POST"]),
        Route("/v1/dashboard/inverters/{id}/series", inverter_series),
        Route("/v1/stream-token", jobs_stream_token, methods=["POST"]),
        Route("/v1/dashboard/jobs", list_jobs),
        Route("/v1/dashboard/jobs/{id}/attempts", job_attempts),
        Route("/v1/dashboard/jobs/{id}/relations", job_relations),
        Route("/v1/dashboard/workflows/{id}", workflow),
        Route("/v1/dashboard/schedules", list_schedules),
        Route("/v1/dashboard/sources", list_sources),
        Route("/v1/dashboard/sources/{id}/events", source_events),
        Route("/v1/dashboard/schedules/{id}/{action:str}", pause_schedule, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                             allow_headers=["Authorization", "Last-Event-ID", "Content-Type"], max_age=600)]
    inner = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                      exception_handlers={SteadfastError: _domain_error, HTTPException: _http_error})
    inner.state.cors_origins = cors_origins
    return StreamApp(inner)


app = create_app(deps.services, deps.settings().cors_origin_list)

