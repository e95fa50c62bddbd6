"""Shared fixtures. `stack` runs the real local cloud (`steadfast dev`) once per test session: a moto
server over HTTP, real Redis, the deployed handlers in their own processes, loopback targets."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from aws_lambda_powertools import Metrics

from local import launch
from local.launch import start_stack, stop_stack
from local.stack import StackState

# `AWS_ENDPOINT_URL_<SERVICE>` (the LocalStack lane) is for the stacks the tests start, not for this process.
launch.STACK_ENDPOINTS.update({k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_ENDPOINT_URL_")})


@pytest.fixture(autouse=True)
def _no_leaked_running_loop(request: pytest.FixtureRequest) -> None:
    """A test starts on a thread without a running event loop, else pytest-asyncio and every handler's
    asyncio.run() fail with "... cannot be called from a running event loop". Only the browser tests run
    beside one: Playwright's sync API marks its loop running while started (see tests/e2e/conftest.py)."""
    if "browser" in request.fixturenames:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    pytest.fail(f"an earlier test or fixture left {loop!r} marked as this thread's running event loop",
                pytrace=False)


@pytest.fixture(autouse=True)
def _fresh_metric_set() -> None:
    """Powertools' `Metrics` share one metric set per process. In Lambda each handler's `log_metrics` empties it
    at the end of the invocation; a test that drives the domain without a handler would leave its metrics to
    the next test's flush, so every test starts with the set empty."""
    Metrics().clear_metrics()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("stack")
    # The suites poll and submit as one tenant far beyond a customer's rate: the limit itself is tested on
    # `strict`, at its default (tests/integration/hardening/test_rate_limit.py).
    proc, state = start_stack(home, {"STEADFAST_VISIBILITY_S": "20", "STEADFAST_LEASE_S": "15",
                                        "STEADFAST_SWEEP_GRACE_S": "10", "STEADFAST_TENANT_RATE": "1000/s",
                                        "STEADFAST_TENANT_BURST": "5000"})
    try:
        yield state
    finally:
        stop_stack(proc)


@pytest.fixture(scope="session")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """A second stack with private targets disallowed, as in every deployed stage (SSRF and hardening
    tests); its targets are reached only through what the guard lets through."""
    home = tmp_path_factory.mktemp("strict")
    proc, state = start_stack(home, {"STEADFAST_ALLOW_PRIVATE_TARGETS": "false"})
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
