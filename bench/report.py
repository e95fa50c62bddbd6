"""The human-readable report of a bench run: bench/out/report.md and PNG plots beside it.

    python -m bench --report                  # rebuild from bench/out/summary.json and details.json
    python -m bench.report --readme           # also copy the plots to docs/bench/ and rewrite only
                                              # README.md's "## Benchmarks" section from this run

Every figure of the summary is listed with its target (from issue 7 and DESIGN.md) and whether it is
met; a figure without a target says so. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend is chosen before pyplot loads

from shared.topology import FUNCTIONS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "bench"
POLICIES = ("none", "full", "equal", "decorrelated")
COLORS = {"none": "#c0392b", "full": "#2e86c1", "equal": "#28b463", "decorrelated": "#8e44ad"}

Check = Callable[[float], bool]
TARGETS: dict[str, tuple[str, Check]] = {
    "cost_usd_per_million_jobs": ("≤ 5.00 (realistic mix)", lambda v: v <= 5.0),
    "cost_usd_per_million_jobs_batch": ("≤ 3.30 (POST /v1/jobs/batch)", lambda v: v <= 3.3),
    "dynamodb_wru_per_job": ("≤ 5", lambda v: v <= 5),
    "cost_ratio_vs_qstash": ("≥ 2", lambda v: v >= 2),
    "batch_concurrency_ratio": ("≥ 7.5", lambda v: v >= 7.5),
    "jitter_full_vs_none_calls_100": ("0.40–0.45 (published ≈ 0.43)", lambda v: 0.40 <= v <= 0.45),
    "herd_peak_to_mean": ("≤ 1.5", lambda v: v <= 1.5),
    "sse_p99_ratio_vs_naive": ("≤ 0.2 (hub p99 ÷ naive p99, same run)", lambda v: v <= 0.2),
    "sse_max_streams": ("≥ 1,000", lambda v: v >= 1000),
    "chaos_lost": ("0", lambda v: v == 0),
    "chaos_applied_twice": ("0", lambda v: v == 0),
    "ordering_violations": ("0 (must be)", lambda v: v == 0),
    "dag_children_run_early": ("0", lambda v: v == 0),
    "dag_release_ms_p95": ("≤ 1,000 (parent terminal → child's first call, local, under chaos)", lambda v: v <= 1000),
    "schedule_fire_lag_p95_s": ("≤ 2", lambda v: v <= 2),
    "schedules_10k_fire_s": ("≤ 60 (local cloud)", lambda v: v <= 60),
    "ingest_ack_ms_p99": ("≤ 100 at 50 req/s", lambda v: v <= 100),
    "poll_10k_s": ("≤ 30 (10,000 inverters over 500 connections)", lambda v: v <= 30),
    "budget_violations": ("0 over a simulated day", lambda v: v == 0),
    "alert_latency_vs_target": ("≤ 1 (latency ÷ (for_s + poll interval + 5 s))", lambda v: v <= 1),
    "ingest_lost": ("0", lambda v: v == 0),
    "ingest_delivered_twice": ("0", lambda v: v == 0),
    "priority_wait_ratio_p95": ("≤ 0.25 (high p95 wait ÷ low p95 wait, contended key)", lambda v: v <= 0.25),
}
# Targets that are another figure of the same run: met when value ≤ that figure.
BOUNDED_BY = {"priority_max_wait_low_s": "priority_low_wait_bound_s"}
for _fn in FUNCTIONS:
    TARGETS[f"cold_import_ratio_{_fn.name}"] = ("≤ 1.5 (× `import boto3`, same run)", lambda v: v <= 1.5)
    TARGETS[f"package_mb_{_fn.name}"] = ("≤ 15", lambda v: v <= 15)
NOTES = {
    "aws_calls_per_job": "calls our code makes (submit + worker); the ESM's are in the cost",
    "dynamodb_wru_per_job": "1 KiB body, 2 KiB response, 10 % retried once (bench.jobs)",
    "cost_usd_per_million_jobs_batch": "the realistic mix, 10 jobs a POST /v1/jobs/batch request (bench.jobs)",
    "qstash_usd_per_million": "QStash pay-as-you-go list price",
    "batch_concurrency_ratio": "engine + worker handler, in-memory store/queue (bench.fakes)",
    "batch_concurrency_ratio_moto": "same batch through moto: measures moto, not the engine",
    "herd_peak_to_mean": "default policy (full jitter), 100 ms buckets",
    "herd_peak_to_mean_none": "same without jitter",
    "sse_p99_ms": "hub, 1,000 streams of one inverter, 40 publishes",
    "sse_naive_p99_ms": "sse-starlette, one Redis subscription per client, same clients and run (bench.sse_naive)",
    "sse_broadcast_10k_p99_ms": "one publish to 10,000 held streams",
    "cold_import_boto3_ms": "bare `import boto3`, CPython 3.12, same run: the ratios' baseline",
    "schedule_fire_lag_p95_vs_tick": "lag p95 over the 1 s tick cadence",
    "schedules_fire_vs_bare_writes": "fire path over the same writes made bare (2 conditional writes a fire)",
    "schedule_fires_per_s": "moto-bound here (≈ its conditional-write rate / 2); null 10k figure = over 150 s",
    "schedule_cost_usd_per_million_fires": "due index, beyond the job's own cost; plus ≈ $10/month ticking",
    "eventbridge_scheduler_usd_per_million_fires": "the managed alternative, on paper (list prices)",
    "ingest_p99_vs_health": "ingest p99 over GET /v1/health p99, both at 50 req/s, same run",
    "ingest_lost": "chaos: worker SIGKILLed twice, destination 503 for 5 s, every event sent twice",
    "priority_wait_ratio_p95": "20 low jobs at once, then a high one every 4 s for 40 s; parallelism 1, 200 ms target",
    "priority_low_wait_bound_s": "2 × aging (30 s) + the run's slowest high wait + 1 s: what aging allows",
    "priority_fifo_wait_p95_s": "the same stream's p95 wait with every job normal (same run, baseline)",
    "priority_high_wait_p95_vs_fifo": "high p95 wait ÷ that baseline",
    "poll_10k_s": "steady-state cycle, per-tenant credentials (sealed, opened by the connection cache), moto",
    "poll_10k_shared_s": "same 10,000 under the stage's one shared connection, same run (the baseline)",
    "poll_10k_tenant_vs_shared": "per-tenant ÷ shared, same run",
    "budget_violations": "SolarEdge 429s + counters past 300/day, planner on, simulated day (bench.budget)",
    "budget_violations_unplanned": "same fleet, per-minute buckets only, first 12 h: the baseline",
    "budget_utilization": "share of the keys' poll budgets spent by the planner",
    "alert_latency_s": "device goes dark → offline incident delivered to a loopback receiver (local stack)",
    "alert_latency_target_s": "for_s + poll interval + 5 s",
    "ordering_violations": "chaos: 6 keys × 10 jobs under the worker SIGKILLs, faults and the outage",
    "dag_release_p95_vs_submit": "over a root job's accept → first call p95, same chaos run",
    "ordering_release_p95_vs_submit": "over a root job's accept → first call p95, same chaos run",
}
for _fn in FUNCTIONS:
    NOTES[f"cold_import_ms_{_fn.name}"] = "absolute median, CPython 3.12, built asset"


def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def verdict(key: str, value: Any) -> tuple[str, str]:
    """(target text, met) for a figure; met is yes, no, or — (no target, or no value)."""
    if key not in TARGETS:
        return "—", "—"
    text, check = TARGETS[key]
    if not isinstance(value, int | float):
        return text, "—"
    return text, "yes" if check(float(value)) else "**no**"


def figures_table(summary: dict[str, Any]) -> list[str]:
    lines = ["| figure | value | target | met | note |", "|---|---|---|---|---|"]
    for key, value in summary.items():
        target, met = verdict(key, value)
        if key in BOUNDED_BY and isinstance(value, int | float):
            bound = summary.get(BOUNDED_BY[key])
            target = f"≤ `{BOUNDED_BY[key]}`"
            met = "—" if not isinstance(bound, int | float) else "yes" if value <= bound else "**no**"
        lines.append(f"| `{key}` | {_fmt(value)} | {target} | {met} | {NOTES.get(key, '')} |")
    return lines


# -- plots ------------------------------------------------------------------------------------------
def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def plot_jitter(summary: dict[str, Any], out: Path) -> str | None:
    if summary.get("jitter_calls_full_100") is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, what, label in ((axes[0], "calls", "writes (calls), mean of 100 trials"),
                            (axes[1], "time_ms", "completion time (ms), mean of 100 trials")):
        width = 0.38
        for i, clients in enumerate((50, 100)):
            values = [summary.get(f"jitter_{what}_{p}_{clients}") or 0 for p in POLICIES]
            xs = [x + (i - 0.5) * width for x in range(len(POLICIES))]
            bars = ax.bar(xs, values, width, color=[COLORS[p] for p in POLICIES],
                          alpha=0.5 if clients == 50 else 0.95)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(range(len(POLICIES)), POLICIES)
        ax.set_title(f"{label}\nleft (light): 50 clients, right (dark): 100 clients", fontsize=8)
    fig.suptitle("OCC contention (AWS 'Exponential Backoff And Jitter' model), project policies", fontsize=10)
    return _save(fig, out / "jitter.png")


def plot_herd(details: dict[str, Any], out: Path) -> str | None:
    herd = details.get("herd_details")
    if not herd:
        return None
    bucket = herd["bucket_s"]
    series = [("full jitter (default policy)", herd["histogram_full"], COLORS["full"]),
              ("no jitter", herd["histogram_none"], COLORS["none"]),
              ("full jitter as SQS delivers it (whole-second visibility)",
               herd["as_delivered_by_sqs"]["histogram"], "#7f8c8d")]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
    for ax, (label, counts, color) in zip(axes, series, strict=True):
        ax.bar([i * bucket for i in range(len(counts))], counts, width=bucket * 0.9, align="edge", color=color)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("seconds after the failure", fontsize=8)
        ax.set_xlim(0, max(1.1, len(counts) * bucket))
    axes[0].set_ylabel(f"first retries per {int(bucket * 1000)} ms", fontsize=8)
    fig.suptitle(f"{herd['jobs']:,} jobs failing at once: when their first retries land", fontsize=10)
    return _save(fig, out / "herd.png")


def plot_sse(details: dict[str, Any], out: Path) -> str | None:
    pct = (details.get("sse_details") or {}).get("latency_percentiles_ms")
    if not pct:
        return None
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(pct, range(len(pct)), color=COLORS["full"])
    ax.set_xlabel("publish → client latency (ms)")
    ax.set_ylabel("percentile")
    clients = details["sse_details"].get("latency_clients")
    ax.set_title(f"SSE fan-out latency, {clients:,} streams, one process (CDF)", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, out / "sse_latency.png")


def _per_function_bars(summary: dict[str, Any], prefix: str, limit: float, ylabel: str, title: str,
                       path: Path, extra: dict[str, float] | None = None) -> str | None:
    names = [fn.name for fn in FUNCTIONS if summary.get(f"{prefix}{fn.name}") is not None]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3))
    values = [summary[f"{prefix}{n}"] for n in names]
    width = 0.4 if extra else 0.7
    bars = ax.bar([i - (width / 2 if extra else 0) for i in range(len(names))], values, width,
                  color=COLORS["full"], label="median" if extra else None)
    ax.bar_label(bars, fmt="%.0f" if limit > 50 else "%.1f", fontsize=7)
    if extra:
        more = ax.bar([i + width / 2 for i in range(len(names))], [extra.get(n, 0) for n in names], width,
                      color="#aab7b8", label="no bytecode cache (upper bound)")
        ax.bar_label(more, fmt="%.0f", fontsize=7)
    ax.axhline(limit, color=COLORS["none"], linestyle="--", linewidth=1, label=f"target {limit:g}")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_cost(summary: dict[str, Any], details: dict[str, Any], out: Path) -> str | None:
    lines = (details.get("cost_details") or {}).get("usd_per_million_jobs")
    if not lines:
        return None
    items = [(k, v) for k, v in lines.items() if k != "total" and v > 0]
    fig, ax = plt.subplots(figsize=(8, 3))
    left = 0.0
    palette = ["#2e86c1", "#5dade2", "#85c1e9", "#28b463", "#82e0aa", "#f5b041", "#c0392b", "#8e44ad"]
    for (name, value), color in zip(items, palette * 2, strict=False):
        ax.barh(["Steadfast"], [value], left=left, color=color, label=f"{name} {value:.2f}")
        left += value
    ax.barh(["QStash"], [summary.get("qstash_usd_per_million") or 0], color="#7f8c8d")
    ax.axvline(5.0, color=COLORS["none"], linestyle="--", linewidth=1, label="target: $5.00")
    ax.set_xlabel("USD per million jobs, realistic mix (us-east-1 list prices)")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("What a million jobs cost", fontsize=10)
    return _save(fig, out / "cost.png")


def plots(summary: dict[str, Any], details: dict[str, Any], out: Path) -> dict[str, str]:
    made = {
        "cost": plot_cost(summary, details, out),
        "jitter": plot_jitter(summary, out),
        "herd": plot_herd(details, out),
        "sse": plot_sse(details, out),
        "cold_import": _per_function_bars(summary, "cold_import_ratio_", 1.5, "× import boto3",
                                          "Handler import from the built asset ÷ bare import boto3 (3.12, same run)",
                                          out / "cold_import.png"),
        "package": _per_function_bars(summary, "package_mb_", 15, "MiB, zipped",
                                      "Deployment asset per function, dependencies included",
                                      out / "package.png"),
    }
    return {k: v for k, v in made.items() if v}


# -- the report -------------------------------------------------------------------------------------
def _cost_section(details: dict[str, Any]) -> list[str]:
    cost = details.get("cost_details")
    if not cost:
        return []
    usage = cost["usage_per_job"]
    lines = ["## Cost per job", "",
             f"Measured through moto with a target answering in {cost['target_ms']} ms, batches of 10 "
             "(bench/jobs.py; prices and rules in bench/cost.py).", "",
             "| line | USD per million jobs |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in cost["usd_per_million_jobs"].items()]
    lam = usage["lambda"]
    lines += ["", f"Per job: {usage['api_requests']:g} API request, {usage['sqs_requests']:g} SQS requests "
              "(SendMessage, and the event-source mapping's ReceiveMessage and DeleteMessageBatch per batch of "
              f"10), {usage['dynamodb_wru']:g} DynamoDB WRU, {usage['dynamodb_rru']:g} RRU; submit "
              f"{lam['submit']['billed_ms_per_invocation']:g} ms at {lam['submit']['memory_mb']} MB, worker "
              f"{lam['worker']['billed_ms_per_invocation']:g} ms per batch at {lam['worker']['memory_mb']} MB.", "",
              "Where the write units go (per job):", "",
              "| write | item bytes before → after | table WRU | index WRU |", "|---|---|---|---|"]
    for item in cost.get("dynamodb_items", []):
        gsi = ", ".join(f"{k} {v}" for k, v in item["gsi_wru"].items()) or "0"
        lines.append(f"| {item['op']} {item['item']} | {item['bytes_before']} → {item['bytes_after']} | "
                     f"{item['wru']} | {gsi} |")
    variants = cost.get("variants_usd_per_million", {})
    lines += ["", "Variants (USD per million): " + ", ".join(f"{k} {v}" for k, v in variants.items())
              + ". Left out: " + "; ".join(cost.get("excluded", [])) + ".", ""]
    return lines


def _jitter_section(summary: dict[str, Any], details: dict[str, Any]) -> list[str]:
    j = details.get("jitter_details")
    if not j:
        return []
    lines = ["## Backoff under contention", "", f"Model: {j['model']}; base {j['base_ms']:g} ms, cap "
             f"{j['cap_ms']:g} ms, {j['trials']} trials, seed {j['seed']} (bench/jitter.py).", "",
             "| clients | policy | calls | time (ms) |", "|---|---|---|---|"]
    for clients, by_policy in j["by_clients"].items():
        for policy, r in by_policy.items():
            lines.append(f"| {clients} | {policy} | {r['calls']:,.1f} | {r['time_ms']:,.1f} |")
    return [*lines, ""]


def _herd_section(details: dict[str, Any]) -> list[str]:
    h = details.get("herd_details")
    if not h:
        return []
    sqs = h["as_delivered_by_sqs"]
    return ["## Thundering herd", "",
            f"{h['jobs']:,} jobs failing at once, first retry from the default policy "
            f"({h['policy']['jitter']} jitter, base {h['policy']['base_delay_s']:g} s). Buckets of "
            f"{h['bucket_s']:g} s: with the default base the whole first-retry spread is one second, so "
            "one-second buckets cannot tell jitter from none (with 1 s buckets: full "
            f"{h['peak_to_mean_1s_buckets']['full']:g}, none {h['peak_to_mean_1s_buckets']['none']:g}).", "",
            f"As SQS delivers it: the worker hides the message for the delay and `JobQueue.retry_in` rounds "
            f"it down to whole seconds (SQS visibility is an integer): visibility timeouts "
            f"{', '.join(f'{k} s: {v:,}' for k, v in sqs['visibility_timeouts_s'].items())}. The worker may "
            f"claim a job up to 1 s early and waits out the rest before it calls, so the calls keep the "
            f"spread: peak-to-mean {sqs['peak_to_mean']:g} at {h['bucket_s']:g} s resolution.", ""]


def _cold_section(details: dict[str, Any]) -> list[str]:
    c = details.get("cold_import_details")
    if not c:
        return []
    lines = ["## Cold imports", "", f"Import of the handler module from the built Lambda asset, CPython "
             f"{c['python']}, boto3 {c['boto3']} as the runtime provides it; median of {c['runs']} fresh "
             "interpreters, alternating with a bare `import boto3` (bench/imports.py). Source only: one import "
             "with the shipped bytecode ignored, as the asset was before it shipped .pyc files. First invocation: "
             "the handler plus what its first invocation always imports that the handler defers, as a ratio too.",
             "", "| function | module | ratio | handler ms | boto3 ms | source only ms | first invocation |",
             "|---|---|---|---|---|---|---|"]
    for name, f in c["functions"].items():
        if "error" in f:
            lines.append(f"| {name} | | error | {f['error'][:80]} | | | |")
        else:
            first = (f"{f['first_invocation_ratio']:g} (+ {', '.join(f['first_invocation_imports'])})"
                     if "first_invocation_ms" in f else "same")
            lines.append(f"| {name} | `{f['module']}` | {f['ratio']:g} | {statistics.median(f['handler_ms']):g} | "
                         f"{statistics.median(f['boto3_ms']):g} | {f['source_only_ms']:g} | {first} |")
    return [*lines, ""]


def _package_section(details: dict[str, Any]) -> list[str]:
    p = details.get("package_details")
    if not p:
        return []
    lines = ["## Deployment assets", "", f"Built by infra/'s bundler for {p['platform']}, CPython {p['python']}, "
             f"without {', '.join(p['excluded_runtime_provided'])} (provided by the runtime); zipped with deflate.",
             "", "| function | zipped MiB | unzipped MiB | largest parts (zipped KB) |", "|---|---|---|---|"]
    for name, f in p["functions"].items():
        if "error" in f:
            lines.append(f"| {name} | error | | {f['error'][:80]} |")
            continue
        parts = ", ".join(f"{k} {v}" for k, v in list(f["largest_zipped_kb"].items())[:5])
        lines.append(f"| {name} | {f['zipped_bytes'] / 2**20:.2f} | {f['unzipped_bytes'] / 2**20:.1f} | {parts} |")
    return [*lines, ""]


def _concurrency_section(summary: dict[str, Any], details: dict[str, Any]) -> list[str]:
    e, m = details.get("batch_engine"), details.get("batch_moto")
    if not e and not m:
        return []
    lines = ["## Batch concurrency", "", "10 jobs against a loopback target answering after 200 ms: ten "
             "sequential calls' time ÷ one worker batch's time.", ""]
    if e:
        lines.append(f"- `batch_concurrency_ratio` {_fmt(summary.get('batch_concurrency_ratio'))}: {e['what']}; "
                     f"Redis: {e['redis']}. Median batch {e['batch_s_median']} s vs sequential "
                     f"{e['sequential_s_median']} s over {len(e['rounds'])} rounds; with 10 ms per store call "
                     f"{e['ratio_with_10ms_store_calls']}; ten one-job invocations {e['ten_one_job_invocations_s']} s.")
    if m:
        lines.append(f"- `batch_concurrency_ratio_moto` {_fmt(summary.get('batch_concurrency_ratio_moto'))}: the "
                     f"same through moto (batch {m['batch_10x200ms_s']} s vs {m['sequential_10x200ms_s']} s): moto "
                     "serves the claims and records one at a time, so this measures moto.")
    return [*lines, ""]


def write(out: Path) -> Path:
    summary = json.loads((out / "summary.json").read_text())
    details = json.loads((out / "details.json").read_text())
    images = plots(summary, details, out)
    timings = details.get("bench_timings_s", {})
    lines = ["# Steadfast benchmarks", "",
             f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench` (`.venv/bin/python -m bench`); "
             f"bench/out/ is generated and git-ignored. Module wall times (s): "
             + ", ".join(f"{k} {v}" for k, v in timings.items()) + ".", "",
             "## Figures", "", *figures_table(summary), ""]
    errors = details.get("bench_errors") or {}
    if errors:
        lines += ["## Modules that failed (their figures are null)", ""]
        lines += [f"- `{k}`: {v.strip().splitlines()[-1][:300]}" for k, v in errors.items()] + [""]
    lines += _cost_section(details) + _concurrency_section(summary, details) + _jitter_section(summary, details)
    lines += _herd_section(details) + _cold_section(details) + _package_section(details)
    if images:
        lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in images.items()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# -- README -----------------------------------------------------------------------------------------
def readme_section(summary: dict[str, Any], details: dict[str, Any], images: dict[str, str]) -> str:
    from bench.__main__ import KEYS

    total = (details.get("bench_timings_s") or {}).get("total")
    jitter_rows = ["| policy | calls, 50 clients | calls, 100 clients | time (ms), 50 | time (ms), 100 |",
                   "|---|---|---|---|---|"]
    for p in POLICIES:
        jitter_rows.append("| " + " | ".join([p] + [_fmt(summary.get(f"jitter_{w}_{p}_{n}"))
                                                   for w in ("calls", "time_ms") for n in (50, 100)]) + " |")
    figures = figures_table({k: summary.get(k) for k in KEYS if not k.startswith("jitter_")
                             or k.startswith("jitter_full_vs_none")})
    lines = ["## Benchmarks", "",
             "```bash",
             "make bench    # = .venv/bin/python -m bench; `python -m bench --only bench.jitter` reruns one module",
             "```", "",
             "Every module of `bench/` runs in a fresh interpreter and writes to `bench/out/` (generated, "
             "git-ignored): `summary.json` (one flat object; a figure whose capability has not landed, or whose "
             "module failed, is `null`), `details.json` (everything behind the figures, module times), and "
             "`report.md` with the plots and the caveats. Stopping it (Ctrl-C, SIGTERM, `make` killed, or a module "
             "overrunning its time limit) stops every process it started, local stacks and moto servers included "
             "(`bench/procs.py`; tested in tests/unit/bench/test_bench_stops.py).", "",
             "The whole run has a budget of 870 s (`--budget`, 0 lifts it), so that `make bench` ends inside 15 "
             "minutes however loaded the machine is: a module gets at most its own time limit and what is left of "
             "the budget, and a module that cannot start inside it is not run (its figures are `null`, "
             "`details.json` → `bench_errors` says why). The chaos run (200 payment jobs and 120 related ones, "
             "`python -m bench.chaos [JOBS]` for another size) runs in the background beside the modules whose "
             "figures do not depend on the machine's speed (jitter, herd, package, budget); every module that "
             "times something runs alone after it.", "",
             f"Latest full run on the 2-core dev machine{f' ({total / 60:.1f} min wall)' if total else ''}:", "",
             *figures, "",
             "Contention simulation (AWS's \"Exponential Backoff And Jitter\" OCC model: base 5 ms, cap 2 s, "
             "100 trials), with the project's own policies:", "", *jitter_rows, "",
             "How to read them:",
             "- `batch_concurrency_ratio` runs the real worker handler and `Worker` around benchmark-only "
             "in-memory store/queue doubles (`bench/fakes.py`); `batch_concurrency_ratio_moto` is the same batch "
             "through moto, which serves DynamoDB calls one at a time (it measures moto).",
             "- The cost counts measured AWS calls (the SQS event-source mapping's receive/delete included: SQS "
             "bills them), DynamoDB write units computed from the real items (transactions 2×, global secondary "
             "index writes included) and measured handler durations, at us-east-1 list prices "
             "(`bench/cost.py`). DynamoDB writes are most of it; the report shows them per write.",
             "- The herd uses 100 ms buckets: with the default base of 1 s the whole first-retry spread is one "
             "second. SQS visibility is whole seconds; the worker claims up to 1 s early and waits out the rest, "
             "so as delivered the calls keep the spread (details: `as_delivered_by_sqs`).",
             "- Cold imports are the handler module's import from the built Lambda asset under CPython 3.12 "
             "(boto3 as the runtime provides it), as a ratio to a bare `import boto3` sampled alternately in the "
             "same run: absolute times here move 2× between machines and with the load of other work, the "
             "ratio does not. The asset ships bytecode compiled for 3.12 (infra/packaging.py); the report adds "
             "the source-only import it replaced.",
             "- SSE: the hub and the naive fan-out (sse-starlette, one Redis subscription per client) run side by "
             "side with as many open streams each, and the latency rounds alternate hub, naive, naive, hub, so "
             "that the machine's load weighs on both alike; measured one after the other, the ratio moved from "
             "0.04 to 1.1 between two runs at load average 8–10.",
             "",
             "Targets missed, and why:",
             "- Cost: see \"What a job costs\" below for each step on the store, the write units that remain, line "
             "by line, and what would remove them.",
             "- Cold imports: boto3 is what every Python Lambda pays; on top of it every function pays pydantic "
             "(≈0.35× boto3) and Powertools' logger, the submit function Powertools' event handler with OpenAPI "
             "validation and its routes' models, the poller its vendor adapters and httpx, the stream app "
             "Starlette and redis-py's asyncio client. Redis, httpx and the vendor adapters are imported where "
             "they are used (functions/__init__.py); the worker's and poller's first invocation pays for them "
             "(the first-invocation column).",
             ""]
    lines += [f"![{k}](docs/bench/{v})" for k, v in images.items()]
    return "\n".join([*_wrap(lines), ""])


def _wrap(lines: list[str], width: int = 100) -> list[str]:
    """Prose wrapped like the rest of the README; tables, code and images left alone."""
    out: list[str] = []
    fenced = False
    for line in lines:
        fenced ^= line.startswith("```")
        if fenced or line.startswith(("|", "!", "#", "```")) or len(line) <= width:
            out.append(line)
        else:
            indent = "  " if line.startswith("- ") else ""
            out += textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False)
    return out


def replace_section(readme: str, section: str) -> str:
    """`readme` with its "## Benchmarks" section (up to the next "## " heading) replaced by `section`."""
    start = readme.index("\n## Benchmarks\n") + 1
    nxt = readme.find("\n## ", start + 1)
    end = len(readme) if nxt == -1 else nxt + 1
    tail = readme[end:]
    return readme[:start] + section + ("\n" + tail if tail else "")


def publish_readme(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    details = json.loads((out / "details.json").read_text())
    images = plots(summary, details, out)
    DOCS.mkdir(parents=True, exist_ok=True)
    for name in images.values():
        shutil.copyfile(out / name, DOCS / name)
    readme = REPO / "README.md"
    readme.write_text(replace_section(readme.read_text(), readme_section(summary, details, images)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args(argv)
    out = Path(__file__).parent / "out"
    print(write(out))
    if args.readme:
        publish_readme(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
