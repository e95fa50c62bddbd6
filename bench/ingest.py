"""Inbound webhooks on the local cloud: how fast a provider is answered, and that nothing it was answered
for is lost.

One local stack (`steadfast dev`), a Stripe source (events signed by the official `stripe` package) whose
destination is a loopback app that records each delivery by its `steadfast-event-id`.

1. Ack latency: `POST /v1/ingest/{id}` at 50 requests/s, open loop (each request sent at its scheduled
   time, whatever the previous ones did), against a same-run baseline of `GET /v1/health` at the same
   rate through the same API Gateway emulation: `ingest_ack_ms_p99` and `ingest_p99_vs_health`.
2. Chaos: events at 20/s, each sent twice (a provider retrying), while the destination answers 503 for
   5 s and the worker is SIGKILLed twice mid-run (the stack restarts it). `ingest_lost`: events answered
   200 whose delivery never arrived; `ingest_delivered_twice`: events delivered under two different job
   ids (a dedup failure; a repeat of one job id is the engine's at-least-once, made exactly-once by the
   app through `Idempotency-Key`).

Each part runs on a local stack of its own, so that the chaos run does not begin behind the latency run's
500 deliveries.

    python -m bench.ingest            # both parts; `python -m bench --only bench.ingest` for the report
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.harness import serve
from local.launch import function_pids, start_stack, stop_stack

RATE = 50
SECONDS = 10
CHAOS_EVENTS = 100
CHAOS_RATE = 20
SECRET = "whsec_bench_" + os.urandom(8).hex()


@dataclass
class App:
    """The tenant's app: records deliveries per event; answers 503 while `down_until` lies ahead."""

    down_until: float = 0.0
    keys: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    calls: int = 0

    async def hook(self, request: Request) -> Response:
        await request.body()
        self.calls += 1
        if time.monotonic() < self.down_until:
            return JSONResponse({"error": "deploying"}, status_code=503)
        self.keys[request.headers.get("steadfast-event-id", "")].add(request.headers.get("idempotency-key", ""))
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


def _event(i: int) -> bytes:
    return json.dumps({"id": f"evt_bench_{os.urandom(6).hex()}_{i}", "object": "event",
                       "type": "payment_intent.succeeded", "data": {"object": {"amount": i}}}).encode()


def _signed(body: bytes) -> dict[str, str]:
    return {"stripe-signature": stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET),
            "content-type": "application/json"}


def _open_loop(send: Any, count: int, rate: float) -> list[tuple[float, Any]]:
    """Call `send(i)` at t0 + i/rate from a pool; (latency ms, result) per call, in order."""
    t0 = time.perf_counter() + 0.2

    def one(i: int) -> tuple[float, Any]:
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        start = time.perf_counter()
        try:
            result = send(i)
        except httpx.HTTPError:
            result = None  # a timeout or refused connection: no answer, counted as an error
        return (time.perf_counter() - start) * 1000, result

    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, range(count)))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _wait_delivered(app: App, event_ids: set[str], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not event_ids <= set(app.keys):
        time.sleep(0.5)


def _killer(proc: Any, kills: int, every_s: float, stop: threading.Event, done: list[int]) -> None:
    while len(done) < kills and not stop.wait(every_s):
        for pid in function_pids(proc, "worker"):
            os.kill(pid, signal.SIGKILL)
            done.append(pid)


# The poller is not part of this benchmark: it polls once an hour instead of every 2 s (CPU for the rest).
# The latency part runs the stack's defaults otherwise. The chaos part shortens the lease and the visibility
# so that a killed worker's jobs come back within seconds; a lease of 8 s also makes every delivery of the
# default 10 s timeout a heartbeat call (shared.jobs.heartbeat: two more AWS calls each), which under the
# default 60 s lease it is not.
LATENCY_ENV = {"STEADFAST_POLL_RATE_S": "3600", "STEADFAST_SWEEP_RATE_S": "5"}  # 5 s: `steadfast dev`'s own
STACK_ENV = {"STEADFAST_VISIBILITY_S": "10", "STEADFAST_LEASE_S": "8", "STEADFAST_SWEEP_GRACE_S": "5",
             **LATENCY_ENV}


def _source(stack: Any, app_url: str) -> str:
    with httpx.Client(base_url=stack.api_url, timeout=30,
                      headers={"authorization": f"Bearer {stack.dev_api_key}"}) as api:
        r = api.post("/v1/sources", json={
            "name": "bench", "verify": {"scheme": "stripe", "secret": SECRET},
            "destinations": [{"url": f"{app_url}/hook", "retry": {
                "max_attempts": 40, "base_delay_s": 0.5, "max_delay_s": 3}}]})
        r.raise_for_status()
        return f"/v1/ingest/{r.json()['id']}"


def _latency(home: Path) -> dict[str, Any]:
    """Ack latency on a stack of its own: its 500 delivery jobs are left to that stack (stopped after the
    measurement), so that the chaos run starts with an empty queue on a machine whose worker is slow."""
    app = App()
    with serve(app.app()) as app_url:
        proc, stack = start_stack(home, LATENCY_ENV)
        try:
            ingest = _source(stack, app_url)
            with httpx.Client(base_url=stack.api_url, timeout=30, limits=httpx.Limits(max_connections=64)) as public:
                for _ in range(20):  # warm both paths (the source cache, connections)
                    public.get("/v1/health")
                    body = _event(-1)
                    public.post(ingest, content=body, headers=_signed(body))
                health = _open_loop(lambda i: public.get("/v1/health").status_code, RATE * SECONDS, RATE)
                bodies = [_event(i) for i in range(RATE * SECONDS)]
                acks = _open_loop(lambda i: public.post(ingest, content=bodies[i], headers=_signed(bodies[i])),
                                  RATE * SECONDS, RATE)
        finally:
            stop_stack(proc)
    ack_ms = [ms for ms, _ in acks]
    health_ms = [ms for ms, _ in health]
    figures = {
        "ingest_ack_ms_p50": round(statistics.median(ack_ms), 1), "ingest_ack_ms_p99": round(_p(ack_ms, 0.99), 1),
        "ingest_health_ms_p50": round(statistics.median(health_ms), 1),
        "ingest_health_ms_p99": round(_p(health_ms, 0.99), 1),
        "ingest_p99_vs_health": round(_p(ack_ms, 0.99) / max(_p(health_ms, 0.99), 0.001), 2),
        "ingest_rate_per_s": RATE, "ingest_requests": len(acks),
        "ingest_acked": sum(1 for _, a in acks if a is not None and a.status_code == 200),
        "ingest_errors": sum(1 for _, a in acks if a is None or a.status_code != 200),
    }
    print(json.dumps(figures), file=sys.stderr, flush=True)  # in the module's log even if the chaos part overruns
    return figures


def run(home: Path | None = None) -> dict[str, Any]:
    home = home or Path(tempfile.mkdtemp(prefix="steadfast-ingest-"))
    figures = _latency(home / "latency")
    app = App()
    with serve(app.app()) as app_url:
        proc, stack = start_stack(home / "chaos", STACK_ENV)
        try:
            ingest = _source(stack, app_url)
            with httpx.Client(base_url=stack.api_url, timeout=30, limits=httpx.Limits(max_connections=64)) as public:
                figures |= _chaos(proc, app, public, ingest)
        finally:
            stop_stack(proc)
    return figures


def _chaos(proc: Any, app: App, public: httpx.Client, ingest: str) -> dict[str, Any]:
    bodies = [_event(10_000 + i) for i in range(CHAOS_EVENTS)]
    stop, killed = threading.Event(), list[int]()
    killer = threading.Thread(target=_killer, args=(proc, 2, 4.0, stop, killed), daemon=True)
    killer.start()
    app.down_until = time.monotonic() + 5

    def send(i: int) -> httpx.Response:
        body = bodies[i // 2]
        return public.post(ingest, content=body, headers=_signed(body))

    started = time.monotonic()
    answers: list[httpx.Response] = [r for _, r in _open_loop(send, CHAOS_EVENTS * 2, CHAOS_RATE) if r is not None]
    acked = {a.json()["event_id"] for a in answers if a.status_code == 200}
    duplicates = sum(1 for a in answers if a.status_code == 200 and a.json()["duplicate"])
    _wait_delivered(app, acked, 300)
    stop.set()
    killer.join(10)
    return {
        "ingest_chaos_sent": len(answers), "ingest_chaos_events": len(acked),
        "ingest_chaos_duplicates_acked": duplicates,
        "ingest_chaos_unanswered": CHAOS_EVENTS * 2 - sum(1 for a in answers if a.status_code == 200),
        "ingest_lost": len(acked - set(app.keys)),
        "ingest_delivered_twice": sum(1 for e in acked if len(app.keys.get(e, ())) > 1),
        "ingest_chaos_worker_kills": len(killed), "ingest_chaos_app_calls": app.calls,
        "ingest_chaos_seconds": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    figures = run()
    print(json.dumps(figures, indent=2))
    sys.exit(0 if figures["ingest_lost"] == 0 else 1)
