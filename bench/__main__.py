"""`make bench`: run every benchmark that has landed and write bench/out/summary.json (one flat object).
A figure whose capability has not landed yet is null, never invented."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"
KEYS = ["aws_calls_per_job", "cost_usd_per_million_jobs", "qstash_usd_per_million", "batch_concurrency_ratio",
        "herd_peak_to_mean", "sse_p50_ms", "sse_p99_ms", "sse_max_streams", "sse_kb_per_conn", "poll_10k_s",
        "poll_10k_vendor_calls", "chaos_lost", "chaos_applied_twice"]
MODULES = ["bench.jobs", "bench.poll", "bench.sse"]


def main() -> int:
    OUT.mkdir(exist_ok=True)
    summary: dict[str, Any] = dict.fromkeys(KEYS)
    details: dict[str, Any] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            print(f"{name}: not built yet", file=sys.stderr)
            continue
        started = time.perf_counter()
        figures = module.run()
        print(f"{name}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
        for k, v in figures.items():
            (summary if not isinstance(v, dict) else details)[k] = v
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    (OUT / "details.json").write_text(json.dumps(details, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
