"""The chaos run (bench/chaos.py), smaller: 100 payment webhooks through a whole local stack whose worker
dies at random at its fault points and is SIGKILLed mid-batch, against a target that fails 30 % of calls
and is down for 5 s. Nothing may be lost, applied twice, run by two workers at once, or recorded
inconsistently; ordering-key chains and diamond workflows in the same storm keep their order. `make bench`
runs the full 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import report, run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)  # the run's own deadline is 400 s; pytest's default 300 cut it short on a loaded machine
def test_nothing_lost_nothing_applied_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures = run(jobs=100, transient=0.3, outage_s=5, crash_rate=0.01, kills=1, deadline_s=400, home=tmp_path,
                  order_keys=3, order_jobs=5, diamonds=4)
    with capsys.disabled():
        print("\n" + report(figures))
    assert figures["chaos_submitted"] == 100
    assert figures["chaos_lost"] == 0
    assert figures["chaos_applied_twice"] == 0
    assert figures["chaos_completed"] == 100  # 25 attempts per job outlast the transient failures and the outage
    assert figures["chaos_completed_not_applied"] == 0
    assert figures["chaos_overlapping_calls"] == 0
    assert figures["chaos_inconsistent_histories"] == 0, figures["chaos_examples"]
    # Relations under the same faults: keys kept their order, no child ran before its parents completed.
    assert figures["ordering_violations"] == 0
    assert figures["dag_children_run_early"] == 0
    assert figures["chaos_related_completed"] == figures["chaos_related_jobs"] > 0
    # The faults really happened: the worker was killed mid-batch and restarted, and retries were needed.
    assert figures["chaos_sigkills"] >= 1
    assert figures["chaos_worker_restarts"] >= figures["chaos_sigkills"]
    assert figures["chaos_target_calls"] > 100
