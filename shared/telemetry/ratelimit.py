"""Per-vendor token buckets shared by every poller invocation, in Redis.

A bucket is one hash (`tokens`, `at`, `blocked_until`) updated by a Lua script with Redis's own clock,
so that concurrent invocations on different hosts take tokens atomically and agree on time. One token
is one HTTP request to the vendor, however many serials it carries. When a vendor throttles the whole
account (Growatt code 102, Enphase 429), `block` empties the bucket until the cooldown ends, and every
invocation stops calling that vendor meanwhile.

Redis unavailable: each process falls back to its own in-memory bucket (same arithmetic) and does not
try Redis again for FALLBACK_HOLD_S, so that an unreachable Redis costs one timeout, not one per call.
The shared limit then holds per process only: a known and logged degradation, better than no polling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from shared.telemetry.policies import VendorLimits

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = Logger(child=True)
FALLBACK_HOLD_S = 30.0

# Returns the seconds to wait as a string: Lua numbers become integers on the way back from Redis.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'blocked_until')
local blocked = tonumber(s[3]) or 0
if blocked > now then return tostring(blocked - now) end
local tokens = math.min(burst, (tonumber(s[1]) or burst) + math.max(0, now - (tonumber(s[2]) or now)) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local till = now + tonumber(ARGV[1])
if till > (tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0) then
  redis.call('HSET', KEYS[1], 'blocked_until', tostring(till), 'tokens', '0', 'at', tostring(till))
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 120)
return 1
"""


class RateLimiter(Protocol):
    async def acquire(self, vendor: str, limits: VendorLimits) -> float:
        """Take one token: 0.0 when granted, else the seconds until one would be (nothing taken)."""
        ...

    async def block(self, vendor: str, seconds: float) -> None:
        """The vendor throttled us: no tokens for anyone for `seconds`."""
        ...


@dataclass
class LocalTokenBucket:
    """The same bucket in process memory: for tests, and as the fallback while Redis is down."""

    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # tokens, at, blocked_until

    def _now(self) -> float:
        return self.clock()

    async def acquire(self, vendor: str, limits: VendorLimits) -> float:
        now = self._now()
        tokens, at, blocked = self._state.get(vendor, (float(limits.burst), now, 0.0))
        if blocked > now:
            return blocked - now
        tokens = min(float(limits.burst), tokens + max(0.0, now - at) * limits.rate_per_s)
        if tokens >= 1:
            self._state[vendor] = (tokens - 1, now, blocked)
            return 0.0
        self._state[vendor] = (tokens, now, blocked)
        return (1 - tokens) / limits.rate_per_s

    async def block(self, vendor: str, seconds: float) -> None:
        till = self._now() + seconds
        _, _, blocked = self._state.get(vendor, (0.0, till, 0.0))
        if till > blocked:
            self._state[vendor] = (0.0, till, till)


class RedisTokenBucket:
    def __init__(self, client: aioredis.Redis, prefix: str = "ratelimit:vendor:",
                 fallback: LocalTokenBucket | None = None) -> None:
        self.prefix = prefix
        self.fallback = fallback or LocalTokenBucket()
        self._acquire = client.register_script(_ACQUIRE)
        self._block = client.register_script(_BLOCK)
        self._redis_down_until = 0.0

    async def acquire(self, vendor: str, limits: VendorLimits) -> float:
        import redis

        if time.monotonic() >= self._redis_down_until:
            try:
                wait = await self._acquire(keys=[self.prefix + vendor], args=[limits.rate_per_s, limits.burst, 1])
                return max(0.0, float(wait))
            except redis.RedisError as exc:
                self._fall_back(exc)
        return await self.fallback.acquire(vendor, limits)

    async def block(self, vendor: str, seconds: float) -> None:
        import redis

        await self.fallback.block(vendor, seconds)  # this process honours it even if Redis is down
        if time.monotonic() >= self._redis_down_until:
            try:
                await self._block(keys=[self.prefix + vendor], args=[math.ceil(seconds * 1000) / 1000])
            except redis.RedisError as exc:
                self._fall_back(exc)

    def _fall_back(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + FALLBACK_HOLD_S
        logger.error("rate limiter: Redis unavailable, using a per-process bucket",
                     extra={"error": f"{type(exc).__name__}: {exc}"[:200], "hold_s": FALLBACK_HOLD_S})
