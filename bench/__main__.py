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
module's state cannot leak into the next and one that hangs costs only its own figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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
    *[f"jitter_{what}_{p.value}_{n}" for n in jitter.CLIENTS for p in jitter.POLICIES for what in ("calls", "time_ms")],
    *[f"jitter_full_vs_none_calls_{n}" for n in jitter.CLIENTS],
    "herd_peak_to_mean", "herd_peak_to_mean_none",
    "sse_p50_ms", "sse_p99_ms", "sse_max_streams", "sse_kb_per_conn", "poll_10k_s", "poll_10k_vendor_calls",
    *[f"cold_import_ms_{fn.name}" for fn in FUNCTIONS], *[f"package_mb_{fn.name}" for fn in FUNCTIONS],
    "chaos_lost", "chaos_applied_twice",
]


def run_module(name: str, logs: Path) -> tuple[dict[str, Any], str | None, float]:
    """(figures, error, seconds) of one module run in a child interpreter."""
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile(suffix=".json") as out, (logs / f"{name}.log").open("w") as log:
        try:
            proc = subprocess.run([sys.executable, "-m", "bench._child", name, out.name], stdout=log,
                                  stderr=subprocess.STDOUT, timeout=TIME_LIMIT_S.get(name, 300), check=False)
        except subprocess.TimeoutExpired:
            return {}, f"stopped after {TIME_LIMIT_S.get(name, 300)} s", time.perf_counter() - started
        seconds = time.perf_counter() - started
        raw = Path(out.name).read_text()
    if not raw:
        return {}, f"exited with {proc.returncode} and no result (see logs/{name}.log)", seconds
    payload = json.loads(raw)
    if not payload["ok"]:
        return {}, payload["error"], seconds
    return payload["figures"], None, seconds


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
    for name in only or MODULES:
        errors.pop(name, None)
        if importlib.util.find_spec(name) is None:
            print(f"{name}: not built yet", file=sys.stderr, flush=True)
            timings[name] = None
            continue
        print(f"{name}: running …", file=sys.stderr, flush=True)
        figures, error, seconds = run_module(name, logs)
        timings[name] = round(seconds, 1)
        print(f"{name}: {seconds:.1f}s" + (f" — FAILED: {error.strip().splitlines()[-1]}" if error else ""),
              file=sys.stderr, flush=True)
        if error:
            errors[name] = error
        for k, v in figures.items():
            (details if isinstance(v, dict | list) else summary)[k] = v
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
