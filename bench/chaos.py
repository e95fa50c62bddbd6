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

Relations ride the same storm: chains under ordering keys (`ORDER_KEYS` keys of `ORDER_JOBS` jobs each, each
key submitted in order by its own thread) and diamond workflows (a → b, c → d). `ordering_violations` counts
a call of a key's job while another job of that key is in flight at the target, a call of an earlier job
after a later one was called, and a job whose first attempt started before the one ahead of it had ended;
`dag_children_run_early` a child called before every parent had completed. `dag_release_ms_p95` is the time
from a parent's terminal write to its child's first call (the last parent's, for d), `ordering_release_ms_p95`
the same from one job of a key to the next, and `..._vs_submit` each over the p95 from a root job's
acceptance to its first call, in the same run (faults included: an upper bound for a calm stack).

`python -m bench.chaos [JOBS]` runs it on its own (default 200, as `make bench` does: with the 120 related
jobs, 5-6 minutes at load average 10 here, inside the bench's 15-minute budget); `make test` a
smaller run (tests/integration/jobs/test_chaos.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
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
ORDER_KEYS, ORDER_JOBS, DIAMONDS = 6, 10, 15
DIAMOND: dict[str, list[str]] = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


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
    # ordering keys: the job ids of a key in flight, the highest place called so far, violations seen
    key_in_flight: dict[str, Counter[str]] = field(default_factory=dict)
    key_highest: dict[str, int] = field(default_factory=dict)
    key_violations: int = 0
    first_call: dict[str, float] = field(default_factory=dict)  # job id → wall time of its first call

    def outage(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    @property
    def busy(self) -> bool:
        return sum(self.in_flight.values()) > 0

    async def pay(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        body = json.loads(await request.body())
        payment = body["payment"]
        self.calls[key] += 1
        self.first_call.setdefault(key, time.time())
        if self.in_flight[key]:
            self.overlapping += 1
        self.in_flight[key] += 1
        ordering = body.get("ordering_key")
        if ordering:
            self._ordered(ordering, int(body["n"]), key)
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
            if ordering:
                self.key_in_flight[ordering][key] -= 1

    def _ordered(self, ordering: str, n: int, job_id: str) -> None:
        """One job of a key at a time, never an earlier one after a later one."""
        flying = self.key_in_flight.setdefault(ordering, Counter())
        if any(count > 0 for other, count in flying.items() if other != job_id):
            self.key_violations += 1
        if n < self.key_highest.get(ordering, 0):
            self.key_violations += 1
        self.key_highest[ordering] = max(n, self.key_highest.get(ordering, 0))
        flying[job_id] += 1

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


def _p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=20, method="inclusive")[18], 1)


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _first_start(history: list[dict[str, Any]]) -> float | None:
    return _t(history[0]["started_at"]) if history else None


def _chain_checks(chains: list[list[str]], final: dict[str, dict[str, Any] | None],
                  histories: dict[str, list[dict[str, Any]]]) -> tuple[int, list[float]]:
    """Jobs of a key that began before the one ahead of them ended; the release latencies (ms)."""
    violations, release_ms = 0, []
    for chain in chains:
        for before, after in itertools.pairwise(chain):
            start, ahead = _first_start(histories[after]), final[before]
            if start is None:
                continue
            if ahead is None or ahead["status"] not in TERMINAL or _t(ahead["updated_at"]) > start:
                violations += 1
            else:
                release_ms.append((start - _t(ahead["updated_at"])) * 1000)
    return violations, release_ms


def _dag_checks(dags: list[dict[str, str]], final: dict[str, dict[str, Any] | None],
                histories: dict[str, list[dict[str, Any]]]) -> tuple[int, list[float]]:
    """Children called before every parent had completed; parent terminal → child's first call (ms)."""
    early, release_ms = 0, []
    for refs in dags:
        for child, parents in DIAMOND.items():
            start = _first_start(histories[refs[child]])
            if start is None or not parents:
                continue
            ends = [final[refs[p]] for p in parents]
            if any(e is None or e["status"] != "completed" or _t(e["updated_at"]) > start for e in ends):
                early += 1
            else:
                release_ms.append((start - max(_t(e["updated_at"]) for e in ends if e)) * 1000)
    return early, release_ms


def run(jobs: int = 200, transient: float = 0.3, outage_s: float = 5.0, crash_rate: float = 0.004,
        kills: int = 2, deadline_s: float = 420.0, seed: int = 7, home: Path | None = None,
        order_keys: int = ORDER_KEYS, order_jobs: int = ORDER_JOBS, diamonds: int = DIAMONDS) -> dict[str, Any]:
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

                def spec(payment: str, **extra: Any) -> dict[str, Any]:
                    return {"request": {"url": f"{target_url}/pay", "method": "POST",
                                        "headers": {"content-type": "application/json"},
                                        "body": json.dumps({"payment": payment, **extra})},
                            "retry": {"max_attempts": 25, "base_delay_s": 0.2, "max_delay_s": 3}}

                def submit(i: int) -> str:
                    if i == jobs // 3:
                        target.outage(outage_s)
                    r = api.post("/v1/jobs", json=spec(f"pay_{i:05d}"))
                    r.raise_for_status()
                    return str(r.json()["id"])

                def chain(k: int) -> list[str]:
                    out = []
                    for n in range(1, order_jobs + 1):
                        key = f"chaos-{k}"
                        r = api.post("/v1/jobs", json={**spec(f"ord_{k}_{n}", ordering_key=key, n=n),
                                                       "ordering_key": key})
                        r.raise_for_status()
                        out.append(str(r.json()["id"]))
                    return out

                def diamond(d: int) -> dict[str, str]:
                    r = api.post("/v1/workflows", json={"jobs": [
                        {"ref": ref, **spec(f"dag_{d}_{ref}"), "depends_on": parents}
                        for ref, parents in DIAMOND.items()]})
                    r.raise_for_status()
                    return {j["ref"]: str(j["job"]["id"]) for j in r.json()["jobs"]}

                with ThreadPoolExecutor(4 + order_keys) as pool:
                    chain_runs = [pool.submit(chain, k) for k in range(order_keys)]
                    dag_runs = [pool.submit(diamond, d) for d in range(diamonds)]
                    ids = list(pool.map(submit, range(jobs)))
                    chains = [f.result() for f in chain_runs]
                    dags = [f.result() for f in dag_runs]
                related = [i for c in chains for i in c] + [i for refs in dags for i in refs.values()]
                final = _wait_terminal(api, ids + related, started + deadline_s)
                with ThreadPoolExecutor(4) as pool:
                    histories = dict(zip(ids + related, pool.map(
                        lambda i: api.get(f"/v1/jobs/{i}/attempts").json()["items"], ids + related), strict=True))
        finally:
            stop.set()
            killer.join(10)
            restarts = (home / "dev.out").read_text(errors="replace").count("worker exited")
            stop_stack(proc)
    payments = {job_id: f"pay_{i:05d}" for i, job_id in enumerate(ids)}
    odd = [i for i, j in final.items() if j and not _consistent(j, histories[i])]
    statuses = Counter(final[i]["status"] if final[i] else "missing" for i in ids)  # type: ignore[index]
    lost = sum(1 for j in final.values() if j is None or j["status"] not in TERMINAL)
    stored_violations, order_ms = _chain_checks(chains, final, histories)
    early, dag_ms = _dag_checks(dags, final, histories)
    accept_ms = [(s - _t(final[i]["created_at"])) * 1000 for i in ids  # type: ignore[index]
                 if final[i] and (s := _first_start(histories[i])) is not None]
    baseline = _p95(accept_ms)
    dag_p95, order_p95 = _p95(dag_ms), _p95(order_ms)
    return {
        "ordering_violations": target.key_violations + stored_violations,
        "dag_children_run_early": early,
        "dag_release_ms_p95": dag_p95, "ordering_release_ms_p95": order_p95, "accept_to_call_ms_p95": baseline,
        "dag_release_p95_vs_submit": round(dag_p95 / baseline, 2) if dag_p95 and baseline else None,
        "ordering_release_p95_vs_submit": round(order_p95 / baseline, 2) if order_p95 and baseline else None,
        "chaos_related_jobs": len(related),
        "chaos_related_completed": sum(1 for i in related if final[i] and final[i]["status"] == "completed"),  # type: ignore[index,misc]
        "chaos_submitted": len(ids), "chaos_completed": statuses["completed"], "chaos_failed": statuses["failed"],
        "chaos_dead": statuses["dead"], "chaos_lost": lost,
        "chaos_applied_twice": sum(1 for n in target.effects.values() if n > 1),
        "chaos_completed_not_applied": sum(1 for i in ids if (j := final[i]) and j["status"] == "completed"
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
            f"{f['chaos_sigkills']}, worker restarts {f['chaos_worker_restarts']}, {f['chaos_seconds']} s); "
            f"relations: {f['chaos_related_completed']}/{f['chaos_related_jobs']} completed, ordering violations "
            f"{f['ordering_violations']}, children run early {f['dag_children_run_early']}, release p95 DAG "
            f"{f['dag_release_ms_p95']} ms, key {f['ordering_release_ms_p95']} ms (accept → call p95 "
            f"{f['accept_to_call_ms_p95']} ms)")


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(report(result))
    print(json.dumps(result, indent=2))
