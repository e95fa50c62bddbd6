"""Chaos run of the job engine on the local cloud: nothing lost, nothing applied twice.

A whole local stack (`steadfast dev`: moto over HTTP, Redis, the worker and sweeper in their own
processes) delivers N payment webhooks to an idempotency-aware loopback target while:
- the target fails 30 % of calls transiently (a third of those after it has applied the payment, as a
  timeout after commit would), and is fully down for a few seconds mid-run;
- the worker dies at random at its fault points (after claim, after the call, before the ack), as
  SIGKILL would, via STEADFAST_FAULTS;
- the worker process is killed with SIGKILL while it has calls in flight, and the stack restarts it.

The target applies a payment once per Idempotency-Key and replays its answer to repeats; a payment
applied twice would mean the engine delivered one job under two keys. Calls of one key that overlap
in time would mean two workers ran one job at once. Figures: submitted, completed, failed, dead, lost
(accepted but not terminal by the deadline, or gone), applied twice, overlapping calls, and jobs whose
attempt history does not add up.

`python -m bench.chaos [JOBS]` runs it on its own; `make bench` runs the full 500; `make test` a
smaller run (tests/integration/jobs/test_chaos.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.harness import serve
from local.launch import function_pids, start_stack, stop_stack

TERMINAL = {"completed", "failed", "dead", "cancelled"}


@dataclass
class PaymentTarget:
    """An idempotency-aware payment endpoint with a configurable failure rate and outages."""

    transient: float
    rng: random.Random
    effects: Counter[str] = field(default_factory=Counter)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    overlapping: int = 0
    down_until: float = 0.0

    def outage(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    @property
    def busy(self) -> bool:
        return sum(self.in_flight.values()) > 0

    async def pay(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        payment = json.loads(await request.body())["payment"]
        self.calls[key] += 1
        if self.in_flight[key]:
            self.overlapping += 1
        self.in_flight[key] += 1
        try:
            await asyncio.sleep(self.rng.uniform(0.02, 0.15))
            if time.monotonic() < self.down_until:
                return JSONResponse({"error": "outage"}, status_code=503)
            roll = self.rng.random()
            if roll < self.transient * 2 / 3:
                return JSONResponse({"error": "transient, nothing applied"}, status_code=503)
            if key not in self.answers:
                self.effects[payment] += 1
                self.answers[key] = {"payment": payment, "applied": True}
            if roll < self.transient:
                return JSONResponse({"error": "transient after commit"}, status_code=503)
            return JSONResponse(self.answers[key])
        finally:
            self.in_flight[key] -= 1

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/pay", self.pay, methods=["POST"])])


def _consistent(job: dict[str, Any], history: list[dict[str, Any]]) -> bool:
    """The attempts are numbered 1..n without gaps, only the last may succeed, and it does iff completed."""
    if [a["n"] for a in history] != list(range(1, job["attempts"] + 1)):
        return False
    outcomes = [a["outcome"] for a in history]
    if "success" in outcomes[:-1]:
        return False
    return bool((job["status"] == "completed") == (outcomes[-1:] == ["success"]))


def _killer(proc: Any, target: PaymentTarget, kills: int, stop: threading.Event, done: list[int]) -> None:
    """SIGKILL the worker while it has calls in flight, `kills` times, a few seconds apart."""
    time.sleep(2)
    while len(done) < kills and not stop.is_set():
        if target.busy:
            for pid in function_pids(proc, "worker"):
                os.kill(pid, signal.SIGKILL)
                done.append(pid)
            stop.wait(6)
        else:
            stop.wait(0.02)


def run(jobs: int = 500, transient: float = 0.3, outage_s: float = 5.0, crash_rate: float = 0.004,
        kills: int = 2, deadline_s: float = 600.0, seed: int = 7, home: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    target = PaymentTarget(transient, rng)
    home = home or Path(tempfile.mkdtemp(prefix="steadfast-chaos-"))
    faults = ",".join(f"{p}:{crash_rate}" for p in ("after_claim", "after_call", "before_ack"))
    started = time.monotonic()
    with serve(target.app()) as target_url:
        proc, stack = start_stack(home, {"STEADFAST_FAULTS": faults, "STEADFAST_VISIBILITY_S": "10",
                                         "STEADFAST_TENANT_RATE": "1000/s", "STEADFAST_TENANT_BURST": "5000",
                                         "STEADFAST_LEASE_S": "8", "STEADFAST_SWEEP_GRACE_S": "5"})
        stop, killed = threading.Event(), list[int]()
        killer = threading.Thread(target=_killer, args=(proc, target, kills, stop, killed), daemon=True)
        try:
            with httpx.Client(base_url=stack.api_url, timeout=30,
                              headers={"authorization": f"Bearer {stack.dev_api_key}"}) as api:
                killer.start()

                def submit(i: int) -> str:
                    if i == jobs // 3:
                        target.outage(outage_s)
                    body = {"request": {"url": f"{target_url}/pay", "method": "POST",
                                        "headers": {"content-type": "application/json"},
                                        "body": json.dumps({"payment": f"pay_{i:05d}"})},
                            "retry": {"max_attempts": 25, "base_delay_s": 0.2, "max_delay_s": 3}}
                    r = api.post("/v1/jobs", json=body)
                    r.raise_for_status()
                    return str(r.json()["id"])

                with ThreadPoolExecutor(4) as pool:
                    ids = list(pool.map(submit, range(jobs)))
                final = _wait_terminal(api, ids, started + deadline_s)
                with ThreadPoolExecutor(4) as pool:
                    histories = dict(zip(ids, pool.map(
                        lambda i: api.get(f"/v1/jobs/{i}/attempts").json()["items"], ids), strict=True))
        finally:
            stop.set()
            killer.join(10)
            restarts = (home / "dev.out").read_text(errors="replace").count("worker exited")
            stop_stack(proc)
    payments = {job_id: f"pay_{i:05d}" for i, job_id in enumerate(ids)}
    odd = [i for i, j in final.items() if j and not _consistent(j, histories[i])]
    statuses = Counter(j["status"] if j else "missing" for j in final.values())
    lost = sum(1 for j in final.values() if j is None or j["status"] not in TERMINAL)
    return {
        "chaos_submitted": len(ids), "chaos_completed": statuses["completed"], "chaos_failed": statuses["failed"],
        "chaos_dead": statuses["dead"], "chaos_lost": lost,
        "chaos_applied_twice": sum(1 for n in target.effects.values() if n > 1),
        "chaos_completed_not_applied": sum(1 for i, j in final.items() if j and j["status"] == "completed"
                                           and target.effects[payments[i]] != 1),
        "chaos_overlapping_calls": target.overlapping,
        "chaos_inconsistent_histories": len(odd),
        "chaos_target_calls": sum(target.calls.values()), "chaos_sigkills": len(killed),
        "chaos_worker_restarts": restarts, "chaos_seconds": round(time.monotonic() - started, 1),
        "chaos_examples": {"inconsistent": [{"job": final[i], "attempts": histories[i]} for i in odd[:3]]},
    }


def _wait_terminal(api: httpx.Client, ids: list[str], deadline: float) -> dict[str, dict[str, Any] | None]:
    final: dict[str, dict[str, Any] | None] = dict.fromkeys(ids)
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        still = []
        for job_id in pending:
            r = api.get(f"/v1/jobs/{job_id}")
            final[job_id] = r.json() if r.status_code == 200 else None
            if final[job_id] is None or final[job_id]["status"] not in TERMINAL:  # type: ignore[index]
                still.append(job_id)
        pending = still
        if pending:
            time.sleep(1)
    return final


def report(figures: dict[str, Any]) -> str:
    f = figures
    return (f"chaos: submitted {f['chaos_submitted']}, completed {f['chaos_completed']}, failed {f['chaos_failed']}, "
            f"dead {f['chaos_dead']}, lost {f['chaos_lost']}, applied twice {f['chaos_applied_twice']} "
            f"(overlapping calls {f['chaos_overlapping_calls']}, inconsistent histories "
            f"{f['chaos_inconsistent_histories']}, target calls {f['chaos_target_calls']}, SIGKILLs "
            f"{f['chaos_sigkills']}, worker restarts {f['chaos_worker_restarts']}, {f['chaos_seconds']} s)")


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    print(report(result))
    print(json.dumps(result, indent=2))
