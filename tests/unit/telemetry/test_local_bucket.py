"""The in-process token bucket (the Redis bucket's fallback): burst, refill, and a vendor block."""

from __future__ import annotations

from shared.telemetry.policies import VendorLimits
from shared.telemetry.ratelimit import LocalTokenBucket

LIMITS = VendorLimits(batch_size=1, min_poll_interval_s=1, rate_per_s=2, burst=3)


async def test_burst_then_refill_at_the_rate() -> None:
    now = [0.0]
    bucket = LocalTokenBucket(clock=lambda: now[0])
    assert [await bucket.acquire("v", LIMITS) for _ in range(3)] == [0, 0, 0]
    assert await bucket.acquire("v", LIMITS) == 0.5  # one token per 0.5 s
    now[0] += 0.5
    assert await bucket.acquire("v", LIMITS) == 0


async def test_block_empties_the_bucket_until_the_cooldown_ends() -> None:
    now = [0.0]
    bucket = LocalTokenBucket(clock=lambda: now[0])
    await bucket.block("v", 60)
    assert await bucket.acquire("v", LIMITS) == 60
    assert await bucket.acquire("other", LIMITS) == 0  # per vendor
    now[0] += 60.5
    assert await bucket.acquire("v", LIMITS) == 0  # refilled from the end of the block only: 1 token
    assert await bucket.acquire("v", LIMITS) > 0
