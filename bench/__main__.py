"""`make bench`: run every benchmark that has landed and write bench/out/ (generated, git-ignored):

- summary.json — one flat object of figures (KEYS, in that order; null when a capability has not landed
  or its benchmark failed, never invented);
- details.json — everything behind the figures, per module, plus each module's wall time;
- report.md and *.png — the human-readable report (`bench.report`); logs/<module>.log — each module's
  output.

    python -m bench                      # everything (what `make bench` runs)
    python -m bench --only bench.jitter  # some modules; their figures are merged into the last summary
    python -m bench --report             # only rebuild the report from the last run

Each module runs in a fresh interpreter (`bench._child`) with a time limit of its own, so that one
module's state cannot leak into the next and one that hangs costs only its own figures. Modules run
one at a time, except that the long chaos run has the timing-free modules (virtual-time simulations,
package sizes) beside it.

Stopping the bench stops everything it started (`bench.procs`): on SIGTERM, SIGINT or SIGHUP, when its
parent (`make`) dies, and when a module overruns its limit, every process below the runner — a module's
moto server, a whole local stack in a session of its own, an orphan left by a module that exited — is
sent SIGTERM, then SIGKILL after a grace. A stopped run writes no figures (the last ones stay).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import jitter, procs
from shared.topology import FUNCTIONS

OUT = Path(__file__).parent / "out"
MODULES = ["bench.jitter", "bench.herd", "bench.concurrency", "bench.jobs", "bench.imports", "bench.package",
           "bench.poll", "bench.budget", "bench.alerts", "bench.sse", "bench.schedules", "bench.ingest",
           "bench.priority", "bench.ordering", "bench.chaos"]
# Seconds a module may take before it is stopped and its figures are null. The first package run
# downloads wheels (≈1 min here); later ones reuse bench/out/.cache.
TIME_LIMIT_S = {"bench.jitter": 120, "bench.herd": 60, "bench.concurrency": 180, "bench.jobs": 240,
                "bench.imports": 480, "bench.package": 480, "bench.poll": 900, "bench.budget": 300,
                "bench.alerts": 420, "bench.sse": 300, "bench.schedules": 480, "bench.ingest": 600,
                "bench.priority": 600, "bench.ordering": 420,
                "bench.chaos": 540}
# The whole run's budget (issue 15: `make bench` stays under 15 minutes on this 2-core machine). A module
# gets at most what is left of it; a module that cannot start inside it is not run, and says so.
BUDGET_S = 870.0
MIN_START_S = 20.0  # a module is not started with less than this left of the budget
KEYS = [
    "aws_calls_per_job", "dynamodb_wru_per_job", "cost_usd_per_million_jobs", "cost_usd_per_million_jobs_batch",
    "qstash_usd_per_million", "cost_ratio_vs_qstash",
    "batch_concurrency_ratio", "batch_concurrency_ratio_moto",
    *[f"jitter_{what}_{p.value}_{n}" for n in jitter.CLIENTS for p in jitter.POLICIES
      for what in ("calls", "time_ms")],
    *[f"jitter_full_vs_none_calls_{n}" for n in jitter.CLIENTS],
    "herd_peak_to_mean", "herd_peak_to_mean_none",
    "sse_p50_ms", "sse_p99_ms", "sse_naive_p99_ms", "sse_p99_ratio_vs_naive", "sse_broadcast_10k_p99_ms",
    "sse_max_streams", "sse_kb_per_conn", "poll_10k_s", "poll_10k_vendor_calls", "poll_10k_shared_s",
    "poll_10k_tenant_vs_shared", "budget_violations", "budget_violations_unplanned", "budget_utilization",
    "alert_latency_s", "alert_latency_target_s", "alert_latency_vs_target",
    *[f"cold_import_{what}_{fn.name}" for fn in FUNCTIONS for what in ("ratio", "ms")], "cold_import_boto3_ms",
    *[f"package_mb_{fn.name}" for fn in FUNCTIONS],
    "chaos_lost", "chaos_applied_twice", "ordering_violations", "dag_children_run_early", "dag_release_ms_p95",
    "dag_release_p95_vs_submit", "ordering_release_ms_p95", "ordering_release_p95_vs_submit",
    "ordering_wru_per_job_plain", "ordering_wru_per_job_own_key", "ordering_wru_per_job_chain",
    "ordering_wru_extra_per_job_chain", "dag_wru_per_job_chain", "ordering_release_ms_p95_in_process",
    "dag_release_ms_p95_in_process", "ordering_release_p95_vs_accept_in_process",
    "dag_release_p95_vs_accept_in_process",
    "schedule_fire_lag_p95_s", "schedule_fire_lag_p95_vs_tick", "schedules_10k_fire_s", "schedule_fires_per_s",
    "schedules_fire_vs_bare_writes", "schedule_cost_usd_per_million_fires",
    "eventbridge_scheduler_usd_per_million_fires",
    "ingest_ack_ms_p50", "ingest_ack_ms_p99", "ingest_p99_vs_health", "ingest_lost", "ingest_delivered_twice",
    "priority_wait_ratio_p95", "priority_max_wait_low_s", "priority_low_wait_bound_s", "priority_high_wait_p95_s",
    "priority_low_wait_p95_s", "priority_fifo_wait_p95_s", "priority_high_wait_p95_vs_fifo",
]


# Modules whose figures do not depend on the machine's speed (virtual time, sizes): they may run while
# the long chaos run is going, which keeps `make bench` inside its 15 minutes. Everything that times
# something runs alone.
TIMING_FREE = ("bench.jitter", "bench.herd", "bench.package", "bench.budget")
LONG = "bench.chaos"


class Stopped(Exception):
    """The runner was asked to stop (SIGTERM, SIGINT, SIGHUP, or its parent died)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, _frame: object) -> None:
    for sig in STOP_SIGNALS:  # one clean-up, however many signals follow
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Child:
    """One module running in a child interpreter (`bench._child`), its output going to logs/<module>.log."""

    def __init__(self, name: str, logs: Path, limit_s: float | None = None, grace_s: float = procs.GRACE_S,
                 left_s: float = float("inf")) -> None:
        self.name = name
        self.grace = grace_s
        self.limit = min(limit_s or TIME_LIMIT_S.get(name, 300), left_s)
        self.overran = False
        self.result = Path(tempfile.mkstemp(prefix="bench-", suffix=".json")[1])
        self.log = (logs / f"{name}.log").open("w")
        self.started = time.perf_counter()
        # A session of its own: a module that overruns is stopped with everything it started (servers,
        # a whole local stack), not just its interpreter.
        self.proc = subprocess.Popen([sys.executable, "-m", "bench._child", name, str(self.result)],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def finish(self) -> tuple[dict[str, Any], str | None, float]:
        """(figures, error, seconds): waits for the child, stopping it at its time limit."""
        try:
            self.proc.wait(max(1.0, self.limit - (time.perf_counter() - self.started)))
        except subprocess.TimeoutExpired:
            self.overran = True
            procs.stop_tree({self.proc.pid} | procs.descendants(self.proc.pid), self.grace)
            self.proc.wait()
        seconds = time.perf_counter() - self.started
        self.log.close()
        raw = self.result.read_text()
        self.result.unlink()
        if self.overran:
            return {}, f"stopped after its time limit of {self.limit:.0f} s", seconds
        if not raw:
            return {}, f"exited with {self.proc.returncode} and no result (see logs/{self.name}.log)", seconds
        payload = json.loads(raw)
        return (payload["figures"], None, seconds) if payload["ok"] else ({}, payload["error"], seconds)


def _stop_orphans(running: list[Child], grace_s: float) -> None:
    """Stop what a finished module left behind (reparented to the runner, which is a subreaper)."""
    procs.reap()
    mine = {c.proc.pid for c in running}
    for c in running:
        mine |= procs.descendants(c.proc.pid)
    procs.stop_tree(procs.descendants(os.getpid()) - mine, grace_s)


def _schedule(names: list[str]) -> list[list[str]]:
    """Groups run one after the other; within a group the first module runs in the background while
    the rest run one by one (only ever the long chaos run beside timing-free modules)."""
    if LONG not in names:
        return [[n] for n in names]
    beside = [n for n in names if n in TIMING_FREE]
    return [[LONG, *beside]] + [[n] for n in names if n != LONG and n not in beside]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", default="", help="comma-separated modules (default: all)")
    parser.add_argument("--report", action="store_true", help="only rebuild the report from the last run")
    parser.add_argument("--out", type=Path, default=OUT, help="output directory (default: bench/out)")
    parser.add_argument("--limit", type=float, default=None, help="one time limit in s for every module")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help="seconds for the whole run; 0 = none (default: %(default)s)")
    parser.add_argument("--grace", type=float, default=procs.GRACE_S,
                        help="seconds between SIGTERM and SIGKILL when stopping (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except Stopped as stop:
        print(f"bench: stopped by {stop}; stopping every process it started …", file=sys.stderr, flush=True)
        left = procs.stop_tree(procs.descendants(os.getpid()), args.grace)
        print(f"bench: stopped ({len(left)} needed SIGKILL); no figures written", file=sys.stderr, flush=True)
        return 128 + stop.signum


def _run(args: argparse.Namespace) -> int:
    from bench import report

    procs.become_subreaper()
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)
    procs.stop_with_parent(signal.SIGTERM)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        report.write(out)
        return 0
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    summary: dict[str, Any] = dict.fromkeys(KEYS)
    details: dict[str, Any] = {}
    if only and (out / "summary.json").exists():
        summary |= json.loads((out / "summary.json").read_text())
        details = json.loads((out / "details.json").read_text())
    timings: dict[str, Any] = details.get("bench_timings_s", {})
    errors: dict[str, str] = details.get("bench_errors", {})
    started = time.perf_counter()

    def record(name: str, figures: dict[str, Any], error: str | None, seconds: float) -> None:
        timings[name] = round(seconds, 1)
        print(f"{name}: {seconds:.1f}s" + (f" — FAILED: {error.strip().splitlines()[-1]}" if error else ""),
              file=sys.stderr, flush=True)
        if error:
            errors[name] = error
        for k, v in figures.items():
            (details if isinstance(v, dict | list) else summary)[k] = v

    names = []
    for name in only or MODULES:
        errors.pop(name, None)
        if importlib.util.find_spec(name) is None:
            print(f"{name}: not built yet", file=sys.stderr, flush=True)
            timings[name] = None
        else:
            names.append(name)
    def left() -> float:
        return args.budget - (time.perf_counter() - started) if args.budget > 0 else float("inf")

    def skip(name: str) -> None:
        timings[name] = None
        errors[name] = f"not run: the bench's budget of {args.budget:.0f} s was spent (--budget 0 lifts it)"
        print(f"{name}: {errors[name]}", file=sys.stderr, flush=True)

    for group in _schedule(names):
        if left() < MIN_START_S:
            for name in group:
                skip(name)
            continue
        print(f"{' + '.join(group)}: running …", file=sys.stderr, flush=True)
        background = Child(group[0], logs, args.limit, args.grace, left())
        for name in group[1:]:
            if left() < MIN_START_S:
                skip(name)
                continue
            child = Child(name, logs, args.limit, args.grace, left())
            record(name, *child.finish())
            _stop_orphans([background], args.grace)
        record(group[0], *background.finish())
        _stop_orphans([], args.grace)
    total = time.perf_counter() - started
    if not only:
        timings["total"] = round(total, 1)
    details["bench_timings_s"] = timings
    details["bench_errors"] = errors
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "details.json").write_text(json.dumps(details, indent=2))
    report.write(out)
    print(json.dumps(summary, indent=2))
    print("module times (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
