"""The report's pure parts: targets and verdicts, the README section swap, and the bench schedule."""

from __future__ import annotations

from bench.__main__ import _schedule
from bench.report import replace_section, verdict


def test_verdicts_follow_the_targets() -> None:
    assert verdict("batch_concurrency_ratio", 8.0)[1] == "yes"
    assert verdict("batch_concurrency_ratio", 7.0)[1] == "**no**"
    assert verdict("cold_import_ms_submit", None)[1] == "—"
    assert verdict("poll_10k_s", 12.0)[1] == "yes" and verdict("poll_10k_s", 31.0)[1] == "**no**"
    assert verdict("budget_violations", 0)[1] == "yes" and verdict("budget_violations", 1)[1] == "**no**"
    assert verdict("alert_latency_vs_target", 0.6)[1] == "yes"
    assert verdict("poll_10k_shared_s", 12.0) == ("—", "—")  # the baseline has no target of its own


def test_only_the_benchmarks_section_is_replaced() -> None:
    readme = "# T\n\n## A\na\n\n## Benchmarks\nold\n\n## Z\nz\n"
    assert replace_section(readme, "## Benchmarks\nnew\n") == "# T\n\n## A\na\n\n## Benchmarks\nnew\n\n## Z\nz\n"
    last = "# T\n\n## Benchmarks\nold\n"
    assert replace_section(last, "## Benchmarks\nnew\n") == "# T\n\n## Benchmarks\nnew\n"


def test_only_timing_free_modules_run_beside_the_chaos_run() -> None:
    groups = _schedule(["bench.jitter", "bench.concurrency", "bench.package", "bench.chaos"])
    assert groups == [["bench.chaos", "bench.jitter", "bench.package"], ["bench.concurrency"]]
    assert _schedule(["bench.jitter", "bench.sse"]) == [["bench.jitter"], ["bench.sse"]]
