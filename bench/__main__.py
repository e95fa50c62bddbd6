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
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench import jitter
from shared.topology import FUNCTIONS

OUT = Path(__file__).parent / "out"
MODULES = ["bench.jitter", "bench.herd", "bench.concurrency", "bench.jobs", "bench.imports", "bench.package",
           "bench.poll", "bench.sse", "bench.chaos"]
# Seconds a module may take before it is stopped and its figures are null. The first package run
# downloads wheels (≈1 min here); later ones reuse bench/out/.cache.
TIME_LIMIT_S = {"bench.jitter": 120, "bench.herd": 60, "bench.concurrency": 180, "bench.jobs": 240,
                "bench.imports": 300, "bench.package": 480, "bench.poll": 300, "bench.sse": 300,
                "bench.chaos": 660}
KEYS = [
    "aws_calls_per_job", "cost_usd_per_million_jobs", "qstash_usd_per_million", "cost_ratio_vs_qstash",
    "batch_concurrency_ratio", "batch_concurrency_ratio_moto",
    *[f"jitter_{what}_{p.value}_{n}" for n in jitter.CLIENTS for p in jitter.POLICIES
      for what in ("calls", "time_ms")],
    *[f"jitter_full_vs_none_calls_{n}" for n in jitter.CLIENTS],
    "herd_peak_to_mean", "herd_peak_to_mean_none",
    "sse_p50_ms", "sse_p99_ms", "sse_max_streams", "sse_kb_per_conn", "poll_10k_s", "poll_10k_vendor_calls",
    *[f"cold_import_ms_{fn.name}" for fn in FUNCTIONS], *[f"package_mb_{fn.name}" for fn in FUNCTIONS],
    "chaos_lost", "chaos_applied_twice",
]


# Modules whose figures do not depend on the machine's speed (virtual time, sizes): they may run while
# the long chaos run is going, which keeps `make bench` inside its 15 minutes. Everything that times
# something runs alone.
TIMING_FREE = ("bench.jitter", "bench.herd", "bench.package")
LONG = "bench.chaos"


class Child:
    """One module running in a child interpreter (`bench._child`), its output going to logs/<module>.log."""

    def __init__(self, name: str, logs: Path) -> None:
        self.name = name
        self.limit = TIME_LIMIT_S.get(name, 300)
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
            self._stop_group()
        seconds = time.perf_counter() - self.started
        self.log.close()
        raw = self.result.read_text()
        self.result.unlink()
        if not raw:
            if seconds >= self.limit:
                return {}, f"stopped after its time limit of {self.limit} s", seconds
            return {}, f"exited with {self.proc.returncode} and no result (see logs/{self.name}.log)", seconds
        payload = json.loads(raw)
        return (payload["figures"], None, seconds) if payload["ok"] else ({}, payload["error"], seconds)


    def _stop_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of the group is left
        self.proc.wait()


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
    args = parser.parse_args(argv)
    from bench import report

    OUT.mkdir(exist_ok=True)
    if args.report:
        report.write(OUT)
        return 0
    logs = OUT / "logs"
    logs.mkdir(exist_ok=True)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    summary: dict[str, Any] = dict.fromkeys(KEYS)
    details: dict[str, Any] = {}
    if only and (OUT / "summary.json").exists():
        summary |= json.loads((OUT / "summary.json").read_text())
        details = json.loads((OUT / "details.json").read_text())
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
    for group in _schedule(names):
        print(f"{' + '.join(group)}: running …", file=sys.stderr, flush=True)
        background = Child(group[0], logs)
        for name in group[1:]:
            record(name, *Child(name, logs).finish())
        record(group[0], *background.finish())
    total = time.perf_counter() - started
    if not only:
        timings["total"] = round(total, 1)
    details["bench_timings_s"] = timings
    details["bench_errors"] = errors
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    (OUT / "details.json").write_text(json.dumps(details, indent=2))
    report.write(OUT)
    print(json.dumps(summary, indent=2))
    print("module times (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
