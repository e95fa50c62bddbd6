"""The Python client's and the CLI's `watch` against the real stream app of the whole local stack: httpx-sse
parses the stream (each event's `id:` kept), every claim shows `running`, a reconnect after the end gets 204
and stops, and `steadfast jobs watch` piped prints plain lines and exits by the job's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from local.client import Client
from local.stack import StackState

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def client(stack: StackState) -> Client:
    return Client(api_url=stack.api_url, api_key=stack.dev_api_key, stream_url=stack.stream_url)


def test_watch_follows_every_claim_to_the_end_and_keeps_event_ids(stack: StackState) -> None:
    c = client(stack)
    # Given a job that fails once (503), then succeeds, due in 2 s (time to open the stream first)
    job = c.submit({"request": {"url": f"{stack.demo_target_url}/flaky?fail=1"}, "delay_s": 2,
                    "retry": {"max_attempts": 3, "base_delay_s": 1, "max_delay_s": 1}})
    seen = [(j["status"], j["attempts"]) for j in c.watch(job["id"], timeout_s=60)]
    # Then both claims showed `running`, with the attempts made before each, and the stream ended completed
    assert seen[0] == ("pending", 0) and seen[-1] == ("completed", 2)
    assert [s for s in seen if s[0] == "running"] == [("running", 0), ("running", 1)]
    assert ("retrying", 1) in seen
    # And the events carry ids (httpx-sse keeps `id:`), so that a reconnect after the end is told 204
    with httpx.Client(headers={"authorization": f"Bearer {stack.dev_api_key}"}, timeout=10) as http:
        from httpx_sse import connect_sse

        with connect_sse(http, "GET", f"{stack.stream_url}/v1/jobs/{job['id']}/events") as source:
            ids = [e.id for e in source.iter_sse() if e.event == "status"]
        assert ids and all(ids)
        again = http.get(f"{stack.stream_url}/v1/jobs/{job['id']}/events", headers={"last-event-id": ids[-1]})
        assert again.status_code == 204
    assert list(c.watch(job["id"], timeout_s=10))[-1]["status"] == "completed"


def test_the_cli_watch_piped_prints_plain_lines_and_exits_by_outcome(stack: StackState) -> None:
    c = client(stack)
    env = {**os.environ, "STEADFAST_API_URL": stack.api_url, "STEADFAST_STREAM_URL": stack.stream_url,
           "STEADFAST_API_KEY": stack.dev_api_key}
    for url, code in ((f"{stack.demo_target_url}/status/200", 0), (f"{stack.demo_target_url}/status/404", 2)):
        job = c.submit({"request": {"url": url}, "delay_s": 8})  # the CLI subscribes before it runs
        out = subprocess.run([sys.executable, "-m", "local.cli", "jobs", "watch", job["id"]], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == code, out.stderr
        assert "\x1b[" not in out.stdout and "⠋" not in out.stdout  # no colours or spinner when piped
        lines = out.stdout.splitlines()
        assert lines[-1].endswith("completed") or "result:" in lines[-1] or lines[-1].endswith("failed")
        assert any(line.endswith(" running") for line in lines), out.stdout
