"""A handler's import (its cold start) loads none of the heavy packages that its invocations may never
touch: they are imported by the factory or the call that uses them (functions/__init__.py).

Each case imports one handler module in a fresh interpreter and lists what it loaded. Absent here means
deferred, not gone: the first invocation that needs Redis, an HTTP client or a vendor adapter imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.packaging import handler_module
from shared.topology import FUNCTIONS

REPO = Path(__file__).resolve().parents[2]
# What each function's cold start must not import. redis-py's `import redis` loads redis.asyncio too
# (≈0.6× a bare `import boto3` under CPython 3.12); httpx with httpcore ≈0.25×.
NOT_AT_IMPORT = {
    # No Redis in AWS (no VPC); httpx only once a URL field is checked; adapters only for onboarding.
    "submit": ("redis", "httpx", "httpcore", "shared.telemetry.adapters"),
    # The sources API's bodies (shared.sources.models) only in the API.
    "ingest": ("redis", "httpx", "httpcore", "shared.sources.models"),
    # The circuit breaker's policies are the worker's (the sweeper reads only its priority aging).
    "sweeper": ("redis", "httpx", "httpcore", "shared.jobs.breaker"),
    # The job service (continuations, links, target checks) only at a fire related to other jobs.
    "scheduler": ("redis", "httpx", "httpcore", "shared.jobs.service"),
    # Redis when the worker is first built, httpx with the first batch's client.
    "worker": ("redis", "httpx", "httpcore", "shared.topology"),
    # Redis with the first cycle's clients; a vendor's adapter at its first connection (the sandbox's at every
    # cycle: its shared token always resolves).
    "poller": ("redis", "shared.telemetry.adapters.growatt", "shared.telemetry.adapters.enphase",
               "shared.telemetry.adapters.solaredge"),
}
_CHILD = "import importlib, sys; importlib.import_module(sys.argv[1]); print(' '.join(sorted(sys.modules)))"


@pytest.mark.parametrize("name", sorted(NOT_AT_IMPORT))
def test_handler_import_defers_heavy_packages(name: str) -> None:
    # Given a fresh interpreter with a deployed function's kind of environment
    fn = next(f for f in FUNCTIONS if f.name == name)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "AWS_DEFAULT_REGION": "us-east-1",
           "REDIS_URL": "redis://127.0.0.1:1/0", "STEADFAST_STAGE": "test"}
    # When it imports the handler module
    out = subprocess.run([sys.executable, "-c", _CHILD, handler_module(fn)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(out.stdout.split())
    # Then none of the packages it defers is loaded
    early = [m for m in NOT_AT_IMPORT[name] if m in loaded]
    assert not early, f"{handler_module(fn)} imports {early} at its cold start"
