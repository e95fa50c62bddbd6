"""Start and stop a whole local stack (`steadfast dev`) in the background on free ports, for tests and
benchmarks: each stack has its own home (state file, logs), moto server and ports; Redis is shared."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from local.cloud import _free_port
from local.stack import StackState

ROOT = Path(__file__).resolve().parent.parent


# Per-service endpoints (`AWS_ENDPOINT_URL_SQS`, …) for the stacks this process starts and for nothing else:
# the test session moves them here from its environment (tests/conftest.py), so that the in-process moto
# of other tests never sends to them. `make test-localstack` sets SQS on LocalStack this way.
STACK_ENDPOINTS: dict[str, str] = {}


def start_stack(home: Path, extra_env: dict[str, str] | None = None,
                timeout_s: float = 240) -> tuple[subprocess.Popen[bytes], StackState]:
    """Run `python -m local.cli dev` in a new session (its own process group) and wait for its state file."""
    env = {**os.environ, "STEADFAST_HOME": str(home), "STEADFAST_API_PORT": str(_free_port()),
           "STEADFAST_STREAM_PORT": str(_free_port()), "STEADFAST_SANDBOX_PORT": str(_free_port()),
           "STEADFAST_AWS_PORT": str(_free_port()), "STEADFAST_DEMO_PORT": str(_free_port()),
           "STEADFAST_POLL_RATE_S": "2", "STEADFAST_SWEEP_RATE_S": "2", **STACK_ENDPOINTS, **(extra_env or {})}
    env.pop("AWS_ENDPOINT_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "dev.out").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "local.cli", "dev"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    state_file = home / "stack.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"steadfast dev exited: {(home / 'dev.out').read_text()[-3000:]}")
        if state_file.exists():
            return proc, StackState.model_validate(json.loads(state_file.read_text()))
        time.sleep(0.2)
    stop_stack(proc)
    raise RuntimeError(f"steadfast dev did not become ready in {timeout_s:.0f} s")


def stop_group(proc: subprocess.Popen[bytes], first: int = signal.SIGINT, wait_s: float = 20) -> None:
    """Stop a process started in a session of its own, with its whole group: `first`, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, first)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    stop_group(proc)


def function_pids(proc: subprocess.Popen[bytes], function: str) -> list[int]:
    """Processes of one function (`python -m local.runner FUNCTION`) in the stack started as `proc`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if os.getpgid(int(entry.name)) != proc.pid:
                continue
        except (OSError, ProcessLookupError):
            continue
        if b"local.runner" in argv and function.encode() in argv:
            pids.append(int(entry.name))
    return pids
