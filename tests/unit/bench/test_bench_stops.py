"""`python -m bench` stops every process a module started — same group, own session, orphaned, deaf to
SIGTERM — when it is sent SIGTERM or SIGINT, when a module overruns its limit, and when a module returns."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.procs import alive
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[3]
MODULE = "tests.unit.bench.spawner"


def _start(tmp_path: Path, *args: str, mode: str = "sleep") -> tuple[subprocess.Popen[bytes], Path]:
    pids = tmp_path / "pids"
    env = {**os.environ, "BENCH_TEST_PIDS": str(pids), "BENCH_TEST_MODE": mode}
    runner = subprocess.Popen([sys.executable, "-m", "bench", "--only", MODULE, "--out", str(tmp_path / "out"),
                               "--grace", "2", *args], cwd=REPO, env=env, stderr=subprocess.PIPE)
    wait_for(lambda: pids.read_text() if pids.exists() else "", lambda text: "ready" in text, timeout_s=60, every_s=0.1)
    return runner, pids


def _started(pids: Path) -> list[int]:
    return [int(p) for p in pids.read_text().split("\n")[0].split()]


def _survivors(pids: list[int], within_s: float = 10) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_bench_stops_every_process_it_started(tmp_path: Path, signum: int) -> None:
    # Given a running module with five processes of every kind
    runner, pids = _start(tmp_path)
    started = _started(pids)
    assert len(started) == 5 and all(alive(p) for p in started)
    # When the runner is signalled
    runner.send_signal(signum)
    _, err = runner.communicate(timeout=30)
    # Then it exits 128+signal, writes no figures, and none of the processes survives
    assert runner.returncode == 128 + signum, err.decode()
    assert _survivors(started) == []
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_module_that_overruns_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    runner, pids = _start(tmp_path, "--limit", "4")
    started = _started(pids)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err.decode()
    assert _survivors(started) == []
    errors = json.loads((tmp_path / "out" / "details.json").read_text())["bench_errors"]
    assert "time limit" in errors[MODULE]


def test_what_a_finished_module_leaves_behind_is_stopped(tmp_path: Path) -> None:
    runner, pids = _start(tmp_path, mode="finish")
    started = _started(pids)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, err.decode()
    assert _survivors(started) == []
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["spawner_pids"] == 5


def test_a_module_that_cannot_start_inside_the_budget_is_not_run(tmp_path: Path) -> None:
    # Given a budget smaller than what a module needs to start
    pids = tmp_path / "pids"
    env = {**os.environ, "BENCH_TEST_PIDS": str(pids), "BENCH_TEST_MODE": "sleep"}
    runner = subprocess.run([sys.executable, "-m", "bench", "--only", MODULE, "--out", str(tmp_path / "out"),
                             "--budget", "1"], cwd=REPO, env=env, capture_output=True, timeout=60)
    # Then the run ends at once, the module started nothing, and the report says why its figures are null
    assert runner.returncode == 0, runner.stderr.decode()
    assert not pids.exists()
    errors = json.loads((tmp_path / "out" / "details.json").read_text())["bench_errors"]
    assert errors[MODULE].startswith("not run: the bench's budget of 1 s was spent")


def test_a_module_gets_no_more_than_what_is_left_of_the_budget(tmp_path: Path) -> None:
    runner, pids = _start(tmp_path, "--budget", "25")
    started = _started(pids)
    _, err = runner.communicate(timeout=90)
    assert runner.returncode == 0, err.decode()
    assert _survivors(started) == []
    errors = json.loads((tmp_path / "out" / "details.json").read_text())["bench_errors"]
    limit = re.search(r"time limit of (\d+) s", errors[MODULE])
    assert limit and 20 <= int(limit.group(1)) <= 25, errors[MODULE]
