"""API Gateway HTTP API emulation: HTTP in, a payload-format-2.0 event to the real handler, its result
back out as HTTP. Routes come from the topology; an unknown route gets API Gateway's own 404, or
goes to the function that catches all (`HttpApi.catch_all`, the `$default` route)."""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from local.lambda_context import LocalContext
from shared.topology import Function, HttpApi

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


def to_event(request: Request, body: bytes, route_key: str, path_params: dict[str, str]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for k, v in request.headers.items():
        headers[k] = f"{headers[k]},{v}" if k in headers else v
    query: dict[str, str] = {}
    for k, v in request.query_params.multi_items():
        query[k] = f"{query[k]},{v}" if k in query else v
    try:
        text, is_b64 = body.decode(), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": route_key, "rawPath": request.scope["path"],
        "rawQueryString": request.url.query, "headers": headers, "isBase64Encoded": is_b64,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": request.url.netloc,
            "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
            "http": {"method": request.method, "path": request.scope["path"], "protocol": "HTTP/1.1",
                     "sourceIp": request.client.host if request.client else "127.0.0.1",
                     "userAgent": request.headers.get("user-agent", "")},
        },
    }
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = text
    return event


def to_response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(raw, status_code=int(result.get("statusCode", 200)))
    for k, v in (result.get("headers") or {}).items():
        response.headers[k] = str(v)
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    return response


def _invoker(fn: Function, handler: Handler) -> Callable[[dict[str, Any]], dict[str, Any]]:
    # Each execution environment takes one event at a time (the resolver keeps per-request state); a
    # function declares how many the local cloud runs side by side.
    environments = threading.BoundedSemaphore(fn.local_concurrency)

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        with environments:
            return handler(event, LocalContext(fn.name, fn.timeout_s, fn.memory_mb))

    return invoke


def build_app(fn: Function, handler: Handler, cors_origins: tuple[str, ...] = (),
              joined: tuple[tuple[Function, Handler], ...] = ()) -> Gateway:
    """The API of `fn`, with the routes of the `joined` functions (those whose trigger `shares_api` with
    it) dispatched to their own handlers, each its own execution environment, as API Gateway would."""
    assert isinstance(fn.trigger, HttpApi)
    routes = []
    fallback = _invoker(fn, handler) if fn.trigger.catch_all else None
    for member, member_handler in ((fn, handler), *joined):
        assert isinstance(member.trigger, HttpApi)
        invoke_member = _invoker(member, member_handler)
        routes += [(r.method, r.path, _route_pattern(r.path), invoke_member) for r in member.trigger.routes]

    async def dispatch(request: Request) -> Response:
        cors = _cors_headers(request, cors_origins)
        if request.method == "OPTIONS" and cors:
            return Response(status_code=204, headers=cors)
        body = await request.body()
        if len(body) > MAX_PAYLOAD:
            return JSONResponse({"message": "Request Entity Too Large"}, status_code=413)
        for method, path, pattern, invoke in routes:
            m = pattern.match(request.scope["path"])
            if m and method == request.method:
                result = await run_in_threadpool(invoke, to_event(request, body, f"{method} {path}", m.groupdict()))
                response = to_response(result)
                response.headers.update(cors)
                return response
        if fallback is not None:  # API Gateway's `$default` route
            response = to_response(await run_in_threadpool(fallback, to_event(request, body, "$default", {})))
            response.headers.update(cors)
            return response
        return JSONResponse({"message": "Not Found"}, status_code=404, headers=cors)

    return Gateway(dispatch)


class Gateway:
    """The ASGI app in front of the handler. Every path reaches `dispatch`, as every path reaches API
    Gateway; a router would answer paths with encoded control characters (`%0A`) itself."""

    def __init__(self, dispatch: Callable[[Request], Awaitable[Response]]) -> None:
        self.dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        response = await self.dispatch(Request(scope, receive))
        await response(scope, receive, send)


def _cors_headers(request: Request, origins: tuple[str, ...]) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin or origin not in origins:
        return {}
    return {"access-control-allow-origin": origin, "vary": "origin",
            "access-control-allow-headers": "authorization,content-type,idempotency-key",
            "access-control-allow-methods": "GET,POST,PATCH,DELETE,OPTIONS", "access-control-max-age": "600"}
