"""A circuit breaker and a retry budget per destination, shared by every worker through Redis.

**Destination = the target's origin** (`scheme://host:port`, lower-cased, default port filled in), not
origin + path. A breaker protects a *server*: when it is down, every path on it fails together, and
one breaker trips after `min_calls` instead of one per path. Paths that carry ids
(`/orders/123/notify`) would otherwise give each job a breaker of its own that never sees enough
calls to trip, which is exactly the retry storm this exists to stop. The price: one broken endpoint
on a healthy host delays the host's other paths while it dominates their traffic (delayed, never
failed). Hystrix and Envoy's outlier detection key by host for the same reason; the AWS SDK's retry
quota is per client, i.e. per service endpoint.

**Breaker** (one Redis hash per destination, updated by Lua scripts so that concurrent workers agree):
- *closed*: calls go; outcomes land in a rolling window of 10 buckets. When the window holds at least
  `min_calls` calls and the share of failures reaches `failure_rate`, it opens.
- *open*: calls are refused for `cooldown_s`; the engine delays those jobs (no attempt consumed).
- *half-open*: after the cool-down, exactly one call (the probe, leased to its worker for the call's
  timeout, so a crashed prober frees the slot) goes through. Success closes the breaker with an empty
  window; failure re-opens it for another cool-down.
A failure is a retryable outcome (connection error, timeout, 408/425/429/5xx or the job's `retry_on`);
a permanent answer such as 404 shows a server that is up and counts as healthy.

Defaults are Hystrix's (10 s window, 20 calls, 50 %, 5 s cool-down). They matter for the test suite too:
every integration test shares one demo-target origin and several produce short runs of 500s; under
20 calls in 10 s at 50 % failures none of those trips it, and a trip costs a 5 s delay, not a failure.

**Retry budget** in the manner of the AWS SDK's retry quota (standard mode): a bucket of `capacity`
tokens per destination; a retry costs `retry_cost` (`timeout_cost` after a timeout), a first attempt
costs nothing, a success refunds the retry's cost (1 token for a success without retry), so retries
stay a fraction of recent successful traffic. Unlike the SDK, which then fails the call, a refused
retry is *delayed*, so the bucket also refills slowly with time (`refill_per_s`): with nothing
succeeding, a retry would otherwise wait forever. Probes bypass the budget (the breaker already limits
them to one at a time).

Times come from Redis (`TIME`) so that workers on different hosts agree; tests pass their own clock.
Redis errors propagate: `shared.jobs.protection` turns them into fail-open.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis


BUCKETS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}

LUA_CLOCK = """
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# KEYS[1] destination hash. ARGV: now, owner, retry cost (0 = first attempt), capacity, refill/s,
# probe lease s, ttl s. Returns {verdict, seconds to wait as a string}.
_ADMIT = LUA_CLOCK + """
local now = clock(ARGV[1])
local owner, cost = ARGV[2], tonumber(ARGV[3])
local capacity, refill, probe_lease, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local s = redis.call('HMGET', KEYS[1], 'state', 'until', 'tokens', 'at')
local state, till = s[1] or 'closed', tonumber(s[2]) or 0
if state == 'open' then
  if now < till then return {'open', tostring(till - now)} end
  state, till = 'half_open', 0
end
if state == 'half_open' then
  if now < till then return {'half_open', tostring(till - now)} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'until', tostring(now + probe_lease), 'probe', owner)
  redis.call('EXPIRE', KEYS[1], ttl)
  return {'probe', '0'}
end
if cost > 0 then
  cost = math.min(cost, capacity)
  local tokens = math.min(capacity, (tonumber(s[3]) or capacity) + math.max(0, now - (tonumber(s[4]) or now)) * refill)
  if tokens < cost then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('EXPIRE', KEYS[1], ttl)
    return {'budget', tostring((cost - tokens) / refill)}
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {'go', '0'}
"""

# KEYS[1] destination hash. ARGV: now, owner, healthy (1/0), refund, capacity, refill/s, window s,
# min calls, failure rate, cool-down s, ttl s, buckets. Returns {event, calls, failures}; event is one of
# '', 'opened', 'closed', 'reopened'.
_RECORD = LUA_CLOCK + """
local now = clock(ARGV[1])
local owner, healthy, refund = ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local capacity, refill, window = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local min_calls, rate, cooldown, ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local n = tonumber(ARGV[12])
local s = redis.call('HMGET', KEYS[1], 'state', 'probe', 'tokens', 'at')
local state = s[1] or 'closed'
if refund > 0 then
  local tokens = math.min(capacity, (tonumber(s[3]) or capacity) + math.max(0, now - (tonumber(s[4]) or now)) * refill)
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(capacity, tokens + refund)), 'at', tostring(now))
end
redis.call('EXPIRE', KEYS[1], ttl)
if state == 'half_open' and s[2] == owner then
  if healthy then
    for i = 0, n - 1 do redis.call('HDEL', KEYS[1], 'e' .. i, 'c' .. i, 'f' .. i) end
    redis.call('HSET', KEYS[1], 'state', 'closed', 'until', '0', 'probe', '')
    return {'closed', 0, 0}
  end
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', tostring(now + cooldown), 'probe', '')
  return {'reopened', 0, 0}
end
-- Calls admitted before the breaker opened may finish while it is open: they do not count.
if state ~= 'closed' then return {'', 0, 0} end
local width = window / n
local epoch = math.floor(now / width)
local i = epoch % n
local b = redis.call('HMGET', KEYS[1], 'e' .. i, 'c' .. i, 'f' .. i)
local c, f = 0, 0
if tonumber(b[1]) == epoch then c, f = tonumber(b[2]) or 0, tonumber(b[3]) or 0 end
c = c + 1
if not healthy then f = f + 1 end
redis.call('HSET', KEYS[1], 'e' .. i, tostring(epoch), 'c' .. i, c, 'f' .. i, f)
local calls, failures = 0, 0
for j = 0, n - 1 do
  local v = redis.call('HMGET', KEYS[1], 'e' .. j, 'c' .. j, 'f' .. j)
  local e = tonumber(v[1])
  if e and e > epoch - n then
    calls = calls + (tonumber(v[2]) or 0)
    failures = failures + (tonumber(v[3]) or 0)
  end
end
if not healthy and calls >= min_calls and failures >= rate * calls then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', tostring(now + cooldown))
  return {'opened', calls, failures}
end
return {'', calls, failures}
"""

# A probe that ended without an outcome (its worker failed before calling): free the slot at once.
_RELEASE_PROBE = """
local s = redis.call('HMGET', KEYS[1], 'state', 'probe')
if s[1] == 'half_open' and s[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'until', '0', 'probe', '')
  return 1
end
return 0
"""


def destination(url: str) -> str:
    """The breaker's and budget's key for a target URL: its origin, e.g. `https://api.example.com:443`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class BreakerPolicy:
    """Opens at `failure_rate` of at least `min_calls` calls in `window_s`; probes after `cooldown_s`."""

    window_s: float = 10.0
    min_calls: int = 20
    failure_rate: float = 0.5
    cooldown_s: float = 5.0


@dataclass(frozen=True)
class RetryBudgetPolicy:
    """The AWS SDK's retry quota (500 tokens, 5 a retry, 10 after a timeout, 1 back per clean success),
    plus a slow refill with time so that a refused retry is delayed, never stranded."""

    capacity: float = 500.0
    retry_cost: float = 5.0
    timeout_cost: float = 10.0
    success_refund: float = 1.0
    refill_per_s: float = 1.0


class Verdict(StrEnum):
    go = "go"                # closed breaker, budget allows it
    probe = "probe"          # the one half-open trial call
    open = "open"            # refused: breaker open
    half_open = "half_open"  # refused: another worker holds the probe
    budget = "budget"        # refused: retry budget spent

    @property
    def admitted(self) -> bool:
        return self in (Verdict.go, Verdict.probe)


@dataclass(frozen=True)
class Gate:
    verdict: Verdict
    wait_s: float = 0.0


@dataclass(frozen=True)
class Recorded:
    event: str  # '', 'opened', 'closed' or 'reopened'
    calls: int
    failures: int


class DestinationGuard:
    """The breaker and the retry budget of every destination, in Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "", breaker: BreakerPolicy | None = None,
                 budget: RetryBudgetPolicy | None = None, clock: Callable[[], float] | None = None) -> None:
        self.prefix = prefix
        self.breaker = breaker or BreakerPolicy()
        self.budget = budget or RetryBudgetPolicy()
        self.clock = clock
        self._admit = client.register_script(_ADMIT)
        self._record = client.register_script(_RECORD)
        self._release = client.register_script(_RELEASE_PROBE)
        self.redis = client

    def key(self, dest: str) -> str:
        # The hash tag keeps a destination's state in one slot (ElastiCache Serverless is clustered).
        return f"{self.prefix}jobs:dest:{{{dest}}}"

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    def _ttl(self, probe_lease_s: float = 0.0) -> int:
        b, q = self.breaker, self.budget
        return math.ceil(max(b.window_s, b.cooldown_s, q.capacity / q.refill_per_s, probe_lease_s)) + 60

    def retry_cost(self, timed_out: bool) -> float:
        return self.budget.timeout_cost if timed_out else self.budget.retry_cost

    def admit(self, dest: str, owner: str, retry_cost: float, probe_lease_s: float) -> Gate:
        """May a call to `dest` start now? `retry_cost` 0 for a first attempt on this target."""
        q = self.budget
        verdict, wait = self._admit(keys=[self.key(dest)], args=[
            self._now(), owner, retry_cost, q.capacity, q.refill_per_s, probe_lease_s, self._ttl(probe_lease_s)])
        return Gate(Verdict(as_text(verdict)), max(0.0, float(wait)))

    def record(self, dest: str, owner: str, healthy: bool, refund: float) -> Recorded:
        """The outcome of an admitted call; `refund` tokens go back to the budget."""
        b, q = self.breaker, self.budget
        event, calls, failures = self._record(keys=[self.key(dest)], args=[
            self._now(), owner, int(healthy), refund, q.capacity, q.refill_per_s, b.window_s, b.min_calls,
            b.failure_rate, b.cooldown_s, self._ttl(), BUCKETS])
        return Recorded(as_text(event), int(calls), int(failures))

    def release_probe(self, dest: str, owner: str) -> None:
        self._release(keys=[self.key(dest)], args=[owner])

    def snapshot(self, dest: str) -> dict[str, str]:
        """The raw state (for operators and tests)."""
        raw: dict[Any, Any] = self.redis.hgetall(self.key(dest))
        return {as_text(k): as_text(v) for k, v in raw.items()}


def as_text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
