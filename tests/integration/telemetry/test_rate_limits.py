"""Vendor rate limits against the real sandbox and Redis: a device the vendor refuses with 429 is backed
off and not asked again until its back-off ends (the sandbox's /_stats counts every request); the
vendor token bucket is shared by separate limiter instances, as by separate Lambda invocations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from functions.sandbox.vendor import SandboxVendor
from shared.channels import Keys
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate, utcnow
from shared.telemetry.policies import VendorLimits
from shared.telemetry.ratelimit import RedisTokenBucket
from shared.telemetry.registry import register
from shared.telemetry.runtime import PollSettings, open_poller
from tests.integration.telemetry.conftest import REDIS_URL, Tables

pytestmark = pytest.mark.integration


async def test_a_device_answered_with_429_is_backed_off_and_never_hammered(
        tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    # Given a vendor that allows one request per device per hour, and a device polled every 5 s
    url, vendor = sandbox(3600)
    store = InverterStore(tables.inverters)
    d = register(store, redis_prefix.strip(":"), InverterCreate(brand=Brand.sandbox, serial="SBX-RL-1",
                                                                poll_interval_s=5))
    adapters = {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}
    settings = PollSettings(tables.inverters, tables.readings, REDIS_URL, adapters, keys=Keys(redis_prefix))
    t0 = utcnow().replace(microsecond=0) + timedelta(seconds=1)  # after registration; whole ms for the store
    async with open_poller(settings) as (poller, _):
        await poller.cycle(now=t0)  # served
        # When the poller runs every second for two simulated minutes
        for second in range(5, 125):
            await poller.cycle(now=t0 + timedelta(seconds=second))
    # Then the vendor saw two requests in 121 cycles: the served one and the refused one, after which
    # the device waits out the vendor's Retry-After (~48 min: an hour less the sandbox's 20 % tolerance)
    assert vendor.stats() == {"requests": {"SBX-RL-1": 2}, "served": {"SBX-RL-1": 1}, "rate_limited": 1}
    stored = store.get(d.tenant, d.id)
    assert stored.failures == 1 and str(stored.last_error).startswith("rate_limited")
    assert stored.next_poll_at >= t0 + timedelta(seconds=5 + 2800)
    assert stored.latest is not None  # the good reading is kept through the failure


async def test_the_vendor_bucket_is_shared_between_invocations(redis_prefix: str) -> None:
    limits = VendorLimits(batch_size=1, min_poll_interval_s=1, rate_per_s=0.5, burst=3)
    a_client, b_client = aioredis.Redis.from_url(REDIS_URL), aioredis.Redis.from_url(REDIS_URL)
    a = RedisTokenBucket(a_client, prefix=redis_prefix)
    b = RedisTokenBucket(b_client, prefix=redis_prefix)
    # Two invocations together get the burst, not a burst each
    granted = [await limiter.acquire("sandbox", limits) for limiter in (a, b, a, b)]
    assert granted[:3] == [0, 0, 0] and 1.5 < granted[3] <= 2.0
    # A throttle seen by one closes the vendor for the other
    await a.block("growatt", 30)
    assert 29 < await b.acquire("growatt", limits) <= 30
    await a_client.aclose()
    await b_client.aclose()


async def test_redis_down_falls_back_to_a_per_process_bucket() -> None:
    limits = VendorLimits(batch_size=1, min_poll_interval_s=1, rate_per_s=1, burst=1)
    client = aioredis.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    limiter = RedisTokenBucket(client)
    assert await limiter.acquire("sandbox", limits) == 0
    assert await limiter.acquire("sandbox", limits) > 0  # still limited, locally
    await client.aclose()
