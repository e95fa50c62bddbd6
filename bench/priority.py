"""Priorities with aging on the local cloud: how much sooner a high job runs under a contended flow-control key,
and that a low one still runs within what the aging rule allows.

One local stack (`steadfast dev`) with `STEADFAST_PRIORITY_AGING_S` = 30 s, one flow-control key of parallelism
1, and the demo target's `/overlap?ms=200` (a slow loopback target that records when each call starts). The
scenario, run twice on two keys of the same stack:

1. a backfill of 20 `low` jobs lands at once (one batch request), then `high` jobs arrive at one per 4 s for
   40 s — the stream alone fits the key (≈ 0.5 jobs/s on the local cloud here), with the backfill it does
   not, so jobs wait; the wait of a job is its call's start minus its `created_at`;
2. the same arrivals all `normal` (the same-run baseline: first come, first served).

Figures: `priority_wait_ratio_p95` = p95 wait of the high jobs ÷ p95 wait of the low ones (target ≤ 0.25);
`priority_max_wait_low_s`, the longest a low job waited, against `priority_low_wait_bound_s` = 2 × aging (after
which a low job ranks as a high one due then) + the slowest high wait of the run + 1 s (the call in flight and
its hand-off); `priority_high_wait_p95_vs_fifo`: the high jobs' p95 wait over the p95 wait of the same
stream's jobs in the baseline.

    python -m bench.priority     # or `python -m bench --only bench.priority` for the report
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local.launch import start_stack, stop_stack

AGING_S = 30
BACKFILL = 20
STREAM_RATE = 0.25
STREAM_S = 40
CALL_MS = 200


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _submit(api: httpx.Client, url: str, key: str, priority: str) -> dict[str, Any]:
    r = api.post("/v1/jobs", json={"request": {"url": url}, "priority": priority,
                                   "flow_control": {"key": key, "parallelism": 1}})
    r.raise_for_status()
    return dict(r.json())


def _scenario(api: httpx.Client, target: str, low: str, high: str) -> dict[str, list[float]]:
    """The backfill as `low`, the stream as `high`; the waits of each, in seconds."""
    key, group = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    url = f"{target}/overlap?ms={CALL_MS}&group={group}"
    spec = {"request": {"url": url}, "priority": low, "flow_control": {"key": key, "parallelism": 1}}
    r = api.post("/v1/jobs/batch", json={"jobs": [spec] * BACKFILL})  # the backfill lands at once
    r.raise_for_status()
    backfill = [item["job"] for item in r.json()["items"]]
    stream: list[dict[str, Any]] = []
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < STREAM_S:
        stream.append(_submit(api, url, key, high))
        time.sleep(max(0.0, len(stream) / STREAM_RATE - (time.monotonic() - started)))
    jobs = backfill + stream
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        calls = httpx.get(f"{target}/_overlap", params={"group": group}).json()["calls"]
        if len({c["key"] for c in calls}) >= len(jobs):
            break
        time.sleep(1)
    first_start: dict[str, float] = {}
    for c in calls:
        first_start[c["key"]] = min(c["start"], first_start.get(c["key"], c["start"]))

    def waits(group_jobs: list[dict[str, Any]]) -> list[float]:
        return [first_start[j["id"]] - datetime.fromisoformat(j["created_at"]).timestamp()
                for j in group_jobs if j["id"] in first_start]

    return {"backfill": waits(backfill), "stream": waits(stream), "missing": [float(len(jobs) - len(first_start))],
            "elapsed": [elapsed]}


def run(home: Path | None = None) -> dict[str, Any]:
    home = home or Path(tempfile.mkdtemp(prefix="steadfast-priority-"))
    proc, stack = start_stack(home, {"STEADFAST_PRIORITY_AGING_S": str(AGING_S), "STEADFAST_VISIBILITY_S": "20",
                                     "STEADFAST_LEASE_S": "15", "STEADFAST_TENANT_RATE": "1000/s",
                                     "STEADFAST_TENANT_BURST": "5000"})
    try:
        with httpx.Client(base_url=stack.api_url, timeout=30,
                          headers={"authorization": f"Bearer {stack.dev_api_key}"}) as api:
            prio = _scenario(api, stack.demo_target_url, "low", "high")
            fifo = _scenario(api, stack.demo_target_url, "normal", "normal")
    finally:
        stop_stack(proc)
    lows, highs = prio["backfill"], prio["stream"]
    high_p95, low_p95, fifo_p95 = _p(highs, 0.95), _p(lows, 0.95), _p(fifo["stream"], 0.95)
    bound = 2 * AGING_S + max(highs) + 1
    return {
        "priority_wait_ratio_p95": round(high_p95 / max(low_p95, 0.001), 3),
        "priority_max_wait_low_s": round(max(lows), 2),
        "priority_low_wait_bound_s": round(bound, 2),
        "priority_high_wait_p95_s": round(high_p95, 2), "priority_low_wait_p95_s": round(low_p95, 2),
        "priority_fifo_wait_p95_s": round(fifo_p95, 2),
        "priority_high_wait_p95_vs_fifo": round(high_p95 / max(fifo_p95, 0.001), 3),
        "priority_details": {
            "aging_s": AGING_S, "backfill": BACKFILL, "stream_rate_per_s": STREAM_RATE, "stream_s": STREAM_S,
            "call_ms": CALL_MS, "high_wait_median_s": round(statistics.median(highs), 2),
            "low_wait_median_s": round(statistics.median(lows), 2),
            "missing_calls": prio["missing"][0] + fifo["missing"][0],
            "fifo_backfill_wait_p95_s": round(_p(fifo["backfill"], 0.95), 2),
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
