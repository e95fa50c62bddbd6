"""Flow control per key, as QStash offers it: at most `rate` calls a second and `parallelism` calls at
once across all of a tenant's jobs that name the same key, shared by every worker through Redis.

- **rate**: a token bucket (burst `max(1, rate)`, refilled at `rate` a second).
- **parallelism**: a sorted set of slots, each member a worker's claim token scored with the moment its
  lease ends. A slot is released when the call ends; a worker that dies mid-call never releases it, so
  every acquire first drops the slots whose lease has ended: a crash costs the key one slot for at most
  one lease, never forever.
Acquire is all or nothing in one Lua script: a refused job has taken neither a token nor a slot. The
wait it is told is an estimate: for rate, when the next token is due; for parallelism, the smoothed
time a slot is held (or the earliest lease end, if sooner). Jobs are parked by delaying their message,
so a deep backlog on one key is polled, not queued: fine for tens of waiting jobs per key; beyond
that, prefer `rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from shared.jobs.breaker import LUA_CLOCK, as_text
from shared.jobs.models import FlowControl

DEFAULT_HOLD_S = 1.0

# KEYS[1] the key's hash (tokens, at, hold), KEYS[2] its slots. ARGV: now, owner, rate (0: none),
# parallelism (0: none), lease s, hold s before any was measured. Returns {verdict, seconds to wait as a string}.
_ACQUIRE = LUA_CLOCK + """
local now = clock(ARGV[1])
local owner, rate, parallelism, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if parallelism > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tostring(now))
  if redis.call('ZSCORE', KEYS[2], owner) then return {'go', '0'} end
  if redis.call('ZCARD', KEYS[2]) >= parallelism then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local hold = tonumber(redis.call('HGET', KEYS[1], 'hold')) or tonumber(ARGV[6])
    return {'parallelism', tostring(math.max(0, math.min(tonumber(first[2]) - now, hold)))}
  end
end
if rate > 0 then
  local burst = math.max(1, rate)
  local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = math.min(burst, (tonumber(s[1]) or burst) + math.max(0, now - (tonumber(s[2]) or now)) * rate)
  if tokens < 1 then return {'rate', tostring((1 - tokens) / rate)} end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
end
if parallelism > 0 then
  redis.call('ZADD', KEYS[2], tostring(now + lease), owner)
  redis.call('EXPIRE', KEYS[2], math.ceil(lease) + 60)
end
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 3600)
return {'go', '0'}
"""

# KEYS as above. ARGV: now, owner, rate, lease s, refund (1: the call never happened, give the token
# back). Frees the owner's slot and folds how long it was held into the smoothed hold time.
_RELEASE = LUA_CLOCK + """
local now = clock(ARGV[1])
local owner, rate, lease, refund = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local ends = tonumber(redis.call('ZSCORE', KEYS[2], owner))
if ends then
  redis.call('ZREM', KEYS[2], owner)
  local held = math.max(0, now - (ends - lease))
  local hold = tonumber(redis.call('HGET', KEYS[1], 'hold'))
  if hold then hold = 0.8 * hold + 0.2 * held else hold = held end
  redis.call('HSET', KEYS[1], 'hold', tostring(hold))
end
if refund and rate > 0 then
  local burst = math.max(1, rate)
  local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = math.min(burst, (tonumber(s[1]) or burst) + math.max(0, now - (tonumber(s[2]) or now)) * rate)
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(burst, tokens + 1)), 'at', tostring(now))
end
return 1
"""


@dataclass(frozen=True)
class FlowGate:
    verdict: str  # 'go', 'rate' or 'parallelism'
    wait_s: float = 0.0

    @property
    def admitted(self) -> bool:
        return self.verdict == "go"


class FlowLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "", clock: Callable[[], float] | None = None) -> None:
        self.prefix = prefix
        self.clock = clock
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def keys(self, tenant: str, key: str) -> list[str]:
        # Flow keys are per tenant: two tenants naming the same key never share a limit.
        tag = f"{self.prefix}jobs:flow:{{{tenant}/{key}}}"
        return [f"{tag}:rate", f"{tag}:slots"]

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    def acquire(self, tenant: str, flow: FlowControl, owner: str, lease_s: float) -> FlowGate:
        verdict, wait = self._acquire(keys=self.keys(tenant, flow.key), args=[
            self._now(), owner, flow.rate or 0, flow.parallelism or 0, lease_s, DEFAULT_HOLD_S])
        return FlowGate(as_text(verdict), max(0.0, float(wait)))

    def release(self, tenant: str, flow: FlowControl, owner: str, lease_s: float, refund: bool = False) -> None:
        self._release(keys=self.keys(tenant, flow.key), args=[
            self._now(), owner, flow.rate or 0, lease_s, int(refund)])

    def in_flight(self, tenant: str, flow: FlowControl) -> int:
        """Slots held now (expired leases included until the next acquire drops them)."""
        return int(self.redis.zcard(self.keys(tenant, flow.key)[1]))
