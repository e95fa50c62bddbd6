"""A deliberately unreliable HTTP target for demos and tests, on loopback.

- `/flaky?fail=N`          fails N times per Idempotency-Key with 503, then 200
- `/status/{code}`         always answers `code` (404 for a permanent failure, 500 for dead jobs)
- `/retry-after?s=S&fail=N` answers 429 with `Retry-After: S` N times per key, then 200
- `/slow?ms=M`             answers 200 after M milliseconds
- `/chaos?p=P`             fails with probability P (503), and is idempotency-aware: a job is applied once
- `/_applied`              how often each Idempotency-Key was applied (2xx answered), and calls per key
- `/_outage?s=S`           every route answers 503 for the next S seconds
- `/callback`              a callback receiver: records each posted job JSON under its `id` (`/_callbacks?job=`)
- `/overlap?ms=M&group=G`  answers 200 after M ms and tracks how many calls of group G ran at once
                           (`/_overlap?group=G` → the most at once, and each call's start and end)
Every request is logged in memory with its headers, for tests to inspect (`/_calls?key=`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

calls: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
applied: Counter[str] = Counter()
state = {"outage_until": 0.0}
callbacks: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
overlap: defaultdict[str, dict[str, Any]] = defaultdict(lambda: {"in_flight": 0, "max": 0, "calls": []})
rng = random.Random()


async def _record(request: Request) -> str:
    key = request.headers.get("idempotency-key", "-")
    calls[key].append({"t": time.time(), "path": request.url.path, "method": request.method,
                       "headers": dict(request.headers), "body": (await request.body()).decode(errors="replace")})
    return key


def _ok(key: str) -> JSONResponse:
    first = applied[key] == 0
    applied[key] += 1
    return JSONResponse({"ok": True, "applied": first, "key": key})


def _down() -> bool:
    return time.monotonic() < state["outage_until"]


async def flaky(request: Request) -> Response:
    key = await _record(request)
    fail = int(request.query_params.get("fail", "2"))
    if _down() or len(calls[key]) <= fail:
        return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
    return _ok(key)


async def status(request: Request) -> Response:
    key = await _record(request)
    code = int(request.path_params["code"])
    if 200 <= code < 300:
        return _ok(key)
    return JSONResponse({"status": code}, status_code=code)


async def retry_after(request: Request) -> Response:
    key = await _record(request)
    fail = int(request.query_params.get("fail", "1"))
    if len(calls[key]) <= fail:
        return JSONResponse({"error": "slow down"}, status_code=429,
                            headers={"retry-after": request.query_params.get("s", "2")})
    return _ok(key)


async def slow(request: Request) -> Response:
    key = await _record(request)
    await asyncio.sleep(int(request.query_params.get("ms", "200")) / 1000)
    return _ok(key)


async def chaos(request: Request) -> Response:
    key = await _record(request)
    if _down() or rng.random() < float(request.query_params.get("p", "0.3")):
        return JSONResponse({"error": "transient"}, status_code=503)
    return _ok(key)


async def applied_stats(request: Request) -> Response:
    return JSONResponse({"applied": dict(applied), "calls": {k: len(v) for k, v in calls.items()}})


async def call_log(request: Request) -> Response:
    return JSONResponse({"calls": calls.get(request.query_params.get("key", "-"), [])})


async def outage(request: Request) -> Response:
    state["outage_until"] = time.monotonic() + float(request.query_params.get("s", "5"))
    return JSONResponse({"outage_s": float(request.query_params.get("s", "5"))})


async def callback(request: Request) -> Response:
    key = await _record(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "not JSON"}, status_code=400)
    job_id = body.get("id", "-") if isinstance(body, dict) else "-"
    callbacks[job_id].append({"t": time.time(), "body": body, "headers": dict(request.headers)})
    return _ok(key)


async def callback_log(request: Request) -> Response:
    return JSONResponse({"callbacks": callbacks.get(request.query_params.get("job", "-"), [])})


async def overlapping(request: Request) -> Response:
    key = await _record(request)
    group = overlap[request.query_params.get("group", "-")]
    start = time.time()
    group["in_flight"] += 1
    group["max"] = max(group["max"], group["in_flight"])
    try:
        await asyncio.sleep(int(request.query_params.get("ms", "200")) / 1000)
    finally:
        group["in_flight"] -= 1
    group["calls"].append({"key": key, "start": start, "end": time.time()})
    return _ok(key)


async def overlap_stats(request: Request) -> Response:
    group = overlap.get(request.query_params.get("group", "-"), {"max": 0, "calls": []})
    return JSONResponse({"max_in_flight": group["max"], "calls": group["calls"]})


ANY = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
app = Starlette(routes=[
    Route("/flaky", flaky, methods=ANY), Route("/status/{code:int}", status, methods=ANY),
    Route("/retry-after", retry_after, methods=ANY), Route("/slow", slow, methods=ANY),
    Route("/chaos", chaos, methods=ANY), Route("/_applied", applied_stats), Route("/_calls", call_log),
    Route("/_outage", outage, methods=["POST"]),
    Route("/callback", callback, methods=["POST"]), Route("/_callbacks", callback_log),
    Route("/overlap", overlapping, methods=ANY), Route("/_overlap", overlap_stats),
])
