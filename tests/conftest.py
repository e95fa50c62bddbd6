"""Shared fixtures. `stack` runs the real local cloud (`steadfast dev`) once per test session: a moto
server over HTTP, real Redis, the deployed handlers in their own processes, loopback targets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.stack import StackState

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stack(home: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], StackState]:
    env = {**os.environ, "STEADFAST_HOME": str(home), "STEADFAST_API_PORT": str(free_port()),
           "STEADFAST_STREAM_PORT": str(free_port()), "STEADFAST_SANDBOX_PORT": str(free_port()),
           "STEADFAST_AWS_PORT": str(free_port()), "STEADFAST_DEMO_PORT": str(free_port()),
           "STEADFAST_POLL_RATE_S": "2", "STEADFAST_SWEEP_RATE_S": "2", **(extra_env or {})}
    env.pop("AWS_ENDPOINT_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "dev.out").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "local.cli", "dev"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    state_file = home / "stack.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"steadfast dev exited: {(home / 'dev.out').read_text()[-3000:]}")
        if state_file.exists():
            state = StackState.model_validate(json.loads(state_file.read_text()))
            return proc, state
        time.sleep(0.2)
    stop_stack(proc)
    raise RuntimeError("steadfast dev did not become ready in 120 s")


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("stack")
    proc, state = start_stack(home, {"STEADFAST_VISIBILITY_S": "20", "STEADFAST_LEASE_S": "15"})
    try:
        yield state
    finally:
        stop_stack(proc)


@pytest.fixture(scope="session")
def api(stack: StackState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=30,
                      headers={"authorization": f"Bearer {stack.dev_api_key}"}) as client:
        yield client


def wait_for(fetch, done, timeout_s: float = 60.0, every_s: float = 0.3):  # type: ignore[no-untyped-def]
    """Poll `fetch()` until `done(value)`; the last value either way."""
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every_s)
        value = fetch()
    return value
