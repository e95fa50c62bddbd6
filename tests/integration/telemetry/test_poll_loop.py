"""Sub-minute cadences inside one invocation: with a loop, an invocation runs a cycle every `rate_s`
until `loop_s` or its time budget ends; two invocations never run cycles at once (Redis lease)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from functions.sandbox.vendor import SandboxVendor
from shared.channels import Keys
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate
from shared.telemetry.registry import register
from shared.telemetry.runtime import PollSettings, run_polls
from tests.integration.telemetry.conftest import REDIS_URL, Tables

pytestmark = pytest.mark.integration


async def test_one_invocation_loops_at_the_rate_and_stops_within_its_budget(
        tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    url, vendor = sandbox(0.5)
    register(InverterStore(tables.inverters), "loop", InverterCreate(brand=Brand.sandbox, serial="SBX-L-1",
                                                                     poll_interval_s=5))
    settings = PollSettings(tables.inverters, tables.readings, REDIS_URL,
                            {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}, rate_s=0.5, loop_s=10,
                            keys=Keys(redis_prefix))
    started = time.monotonic()
    reports = await run_polls(settings, budget_s=1.8)
    # A cycle every 0.5 s, stopped by the 1.8 s budget long before the 10 s loop
    assert 3 <= len(reports) <= 4 and time.monotonic() - started < 2.5
    assert reports[0].due == 1 and sum(r.due for r in reports[1:]) == 0  # its interval is 5 s
    assert vendor.stats()["requests"] == {"SBX-L-1": 1}


async def test_two_invocations_never_poll_at_the_same_time(
        tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    url, vendor = sandbox(5)
    store = InverterStore(tables.inverters)
    for n in range(30):
        register(store, "lease", InverterCreate(brand=Brand.sandbox, serial=f"SBX-LE-{n}", poll_interval_s=5))
    settings = PollSettings(tables.inverters, tables.readings, REDIS_URL,
                            {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}, keys=Keys(redis_prefix))
    first, second = await asyncio.gather(run_polls(settings), run_polls(settings))
    assert sorted([len(first), len(second)]) == [0, 1]  # one ran its cycle, the other skipped
    assert set(vendor.stats()["requests"].values()) == {1} and vendor.stats()["rate_limited"] == 0
