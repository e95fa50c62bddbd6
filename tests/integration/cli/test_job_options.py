"""`jobs submit` and `schedules create` send the job options they are given, 0 included: `--max-attempts 0`
used to be dropped as if it were absent, so the job was accepted with the default 5 attempts instead of
refused (the API's minimum is 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def steadfast(stack: StackState, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEADFAST_HOME": stack.home, "STEADFAST_API_URL": stack.api_url}
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("command", [["jobs", "submit"], ["schedules", "create", "0 0 1 1 *"]])
def test_max_attempts_zero_is_refused_not_replaced_by_the_default(stack: StackState, command: list[str]) -> None:
    out = steadfast(stack, *command, f"{stack.demo_target_url}/status/200", "--max-attempts", "0")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.startswith("steadfast: 422") and "/retry/max_attempts" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_the_options_given_reach_the_job(stack: StackState, api: httpx.Client) -> None:
    out = steadfast(stack, "jobs", "submit", "-q", f"{stack.demo_target_url}/status/200", "--max-attempts", "1",
                    "--delay", "0", "-X", "put", "-d", '{"a":1}', "-H", "X-Test: yes")
    assert out.returncode == 0, out.stderr
    job = api.get(f"/v1/jobs/{out.stdout.strip()}").json()
    assert (job["max_attempts"], job["request"]["method"], job["request"]["body"]) == (1, "PUT", '{"a":1}')
    assert job["request"]["headers"] == {"X-Test": "yes"}
    out = steadfast(stack, "schedules", "create", "-q", "0 0 1 1 *", f"{stack.demo_target_url}/status/200",
                    "--max-attempts", "2", "--timeout", "30")
    assert out.returncode == 0, out.stderr
    schedule = api.get(f"/v1/schedules/{out.stdout.strip()}").json()
    assert (schedule["job"]["retry"]["max_attempts"], schedule["job"]["request"]["timeout_s"]) == (2, 30), \
        json.dumps(schedule)
