"""The sandbox vendor API as an ASGI app (`functions.sandbox.asgi:app`), run under uvicorn on port 8082 by
the local cloud. Configuration comes from the environment once, at import:
STEADFAST_SANDBOX_MIN_INTERVAL_S (default 5) and STEADFAST_SANDBOX_TOKEN (default: the dev token the
poller's sandbox adapter also defaults to)."""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.sandbox.vendor import SandboxVendor, vendor_from_env


def create_app(vendor: SandboxVendor | None = None) -> Starlette:
    vendor = vendor or vendor_from_env()

    # Async on purpose: the vendor's state is touched on the event loop thread only, never by two
    # requests at once, so it needs no lock.
    async def dispatch(request: Request) -> Response:
        body = await request.body()
        face = vendor.solaredge
        if request.method == "GET" and face.owns(request.url.path):
            # SolarEdge counts calls in flight per client IP: held for its latency, refused past 3.
            ip = request.client.host if request.client else "?"
            if not face.enter(ip):
                status, answer, _ = face.busy()
                return Response(json.dumps(answer), status_code=status, media_type="application/problem+json")
            try:
                await asyncio.sleep(face.latency_s)
                result = vendor.handle(request.method, request.url.path, dict(request.headers), body,
                                       request.url.query)
            finally:
                face.leave(ip)
        else:
            result = vendor.handle(request.method, request.url.path, dict(request.headers), body, request.url.query)
        return Response(result.json(), status_code=result.status, headers=result.headers,
                        media_type="application/json")

    # Every method reaches the vendor, which answers a wrong one with its own JSON 405 (Starlette's is text).
    app = Starlette(routes=[Route("/{path:path}", dispatch,
                                  methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])])
    app.state.vendor = vendor
    return app


app = create_app()
