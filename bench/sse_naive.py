"""The naive SSE fan-out that DESIGN.md measured and `bench.sse` compares the hub with: sse-starlette's
`EventSourceResponse`, one Redis pub/sub subscription per client, no shared subscriber, no replay.

    python -m bench.sse_naive --port P --redis URL     # serve; bench.sse starts it in a process of its own

Same route and wire format as the stream app (`/v1/inverters/{id}/events`, a `retry:` line first, one
`data:` line per published message), so the same clients measure both. Benchmark-only: it checks no
token and holds no tenant.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from shared.channels import UNPREFIXED as channels


def create_app(redis_url: str) -> Starlette:
    async def events(request: Request) -> EventSourceResponse:
        inverter_id = request.path_params["inverter_id"]

        async def stream() -> AsyncIterator[ServerSentEvent]:
            # A client of its own: redis-py caps one async pool at 100 connections.
            redis = Redis.from_url(redis_url)
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(channels.inverter_channel(inverter_id))
                yield ServerSentEvent(comment="connected", retry=3000)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        yield ServerSentEvent(data=message["data"].decode())
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await redis.aclose()

        return EventSourceResponse(stream())

    return Starlette(routes=[Route("/v1/inverters/{inverter_id}/events", events)])


def main() -> None:
    import uvicorn

    from bench.sse import _raise_nofile

    parser = argparse.ArgumentParser(prog="bench.sse_naive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    _raise_nofile()
    uvicorn.run(create_app(args.redis), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, backlog=16384, timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()
