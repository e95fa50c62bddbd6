"""Long calls with heartbeats, on the whole local stack (lease 15 s, sweep grace 10 s): a call may take
up to 900 s; while it runs the worker renews its short lease; a worker SIGKILLed in the middle of a
10-minute call sees its job re-run within lease + grace (plus the killed process's restart), not after
the call's timeout, and the attempt history shows the abandoned call as an attempt of unknown outcome."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
LEASE_S, GRACE_S = 15, 10  # the session stack's STEADFAST_LEASE_S and STEADFAST_SWEEP_GRACE_S
RESTART_SLACK_S = 60       # the supervisor's restart of the killed worker (its imports take seconds, more under load)


class SlowTarget:
    """The first call hangs (a 10-minute job, released when the test ends); every later call answers 200."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.release = threading.Event()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target.arrivals.append(time.monotonic())
                if len(target.arrivals) == 1:
                    target.release.wait(600)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/long"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def slow_target() -> Iterator[SlowTarget]:
    target = SlowTarget()
    yield target
    target.close()


def worker_pid(stack: StackState) -> int:
    """The worker process of this stack (its environment names the stack's home)."""
    mark = f"STEADFAST_HOME={stack.home}".encode()
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"local.runner" in argv and b"worker" in argv and mark in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    raise AssertionError("the stack's worker process was not found")


def job_item(stack: StackState, job_id: str) -> dict[str, Any]:
    db = stack.aws_client("dynamodb")
    item = db.get_item(TableName="jobs", Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}, ConsistentRead=True)
    return {k: next(iter(v.values())) for k, v in item.get("Item", {}).items()}


def test_a_worker_killed_mid_call_is_replaced_within_lease_and_grace(stack: StackState, api: httpx.Client,
                                                                     slow_target: SlowTarget) -> None:
    # Given a job whose call may take ten minutes, and whose first call hangs
    r = api.post("/v1/jobs", json={"request": {"url": slow_target.url, "timeout_s": 600},
                                   "retry": {"max_attempts": 3, "base_delay_s": 1}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert wait_for(lambda: len(slow_target.arrivals), lambda n: n >= 1, 60) >= 1
    # While the call runs, the worker's heartbeat renews the 15 s lease (several beats, 5 s apart)
    first = wait_for(lambda: job_item(stack, job_id), lambda i: "heartbeat_at" in i, 20)
    renewed = wait_for(lambda: job_item(stack, job_id),
                       lambda i: i.get("heartbeat_at", "") > first["heartbeat_at"], 20)
    beat, lease_until = (datetime.fromisoformat(renewed[k]) for k in ("heartbeat_at", "lease_until"))
    assert renewed["status"] == "running" and abs((lease_until - beat).total_seconds() - LEASE_S) < 1
    assert renewed["heartbeat_at"] > first["heartbeat_at"] and renewed["call_attempt"] == "1"
    # When the worker is SIGKILLed in the middle of the call
    killed_at = time.monotonic()
    os.kill(worker_pid(stack), signal.SIGKILL)
    # Then the job is called again within lease + grace (+ the worker's restart), not after 600 s
    assert wait_for(lambda: len(slow_target.arrivals), lambda n: n >= 2, LEASE_S + GRACE_S + RESTART_SLACK_S) >= 2
    rerun_after = slow_target.arrivals[1] - killed_at
    assert rerun_after <= LEASE_S + GRACE_S + RESTART_SLACK_S, rerun_after
    done = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] == "completed", 60)
    assert done["status"] == "completed" and done["attempts"] == 2
    # And the history shows the abandoned call honestly: an attempt of unknown outcome, then the success
    first_try, second_try = api.get(f"/v1/jobs/{job_id}/attempts").json()["items"]
    assert (first_try["n"], first_try["outcome"], first_try["status_code"]) == (1, "retryable", None)
    assert "abandoned" in first_try["error"] and "outcome is unknown" in first_try["error"]
    assert first_try["duration_ms"] >= 5000  # it ran for at least two beats before the kill
    assert (second_try["n"], second_try["outcome"], second_try["status_code"]) == (2, "success", 200)


def test_a_timeout_beyond_fifteen_minutes_is_refused(api: httpx.Client) -> None:
    ok = api.post("/v1/jobs", json={"request": {"url": "https://example.com/x", "timeout_s": 900}, "delay_s": 3600})
    assert ok.status_code == 202, ok.text
    api.post(f"/v1/jobs/{ok.json()['id']}/cancel")
    too_long = api.post("/v1/jobs", json={"request": {"url": "https://example.com/x", "timeout_s": 901}})
    assert too_long.status_code == 422 and too_long.headers["content-type"].startswith("application/problem+json")
