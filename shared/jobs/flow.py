"""Flow control per key, as QStash offers it: at most `rate` calls a second and `parallelism` calls at
once across all of a tenant's jobs that name the same key, shared by every worker through Redis.

- **rate**: a token bucket (burst `max(1, rate)`, refilled at `rate` a second).
- **parallelism**: a sorted set of slots, each member a worker's claim token scored with the moment its
  lease ends. A slot is released when the call ends; a worker that dies mid-call never releases it, so
  every acquire first drops the slots whose lease has ended: a crash costs the key one slot for at most
  one lease, never forever.
- **the waiting room** (priorities, `shared.jobs.priority`): a job refused for parallelism joins the key's
  room, a sorted set scored by its rank (priority with aging, from when it first joined), and a free slot
  goes only to a job with fewer than `free` *fresh* waiters ranked ahead of it. So the line is strict: a
  high job that arrives after low ones takes the next slot, and a low one that waited long enough outranks
  newer high ones. Fresh means the job asked within `stale_s`: a job that stopped asking (cancelled, its
  message late behind a backlog) keeps its place but no longer blocks the line, and one silent for
  `forget_s` is dropped. Release returns the waiters now entitled to a slot, so that the caller wakes them
  at once instead of leaving the slot idle until their next poll.
Acquire is all or nothing in one Lua script: a refused job has taken neither a token nor a slot. The
wait it is told is an estimate: for rate, when the next token is due; for parallelism, the smoothed
time a slot is held (or the earliest lease end, if sooner), with its place in the room. Jobs are parked
by delaying their message, so a deep backlog on one key is polled, not queued (the head is woken): fine
for hundreds of waiting jobs per key; beyond that, prefer `rate`. Rate alone has no room (poll order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.jobs.breaker import LUA_CLOCK, as_text
from shared.jobs.models import FlowControl, Priority
from shared.jobs.priority import DEFAULT_AGING_S, LEVELS

if TYPE_CHECKING:
    import redis

DEFAULT_HOLD_S = 1.0

# KEYS[1] room, KEYS[2] its last-asked times. How many fresh waiters rank ahead of `mine` (up to `limit`).
_AHEAD = """
local function ahead_of(member, mine, fresh_after, limit)
  local count, offset = 0, 0
  while true do
    local page = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. mine, 'LIMIT', offset, 50)
    if #page == 0 then return count end
    for _, m in ipairs(page) do
      local asked = tonumber(redis.call('ZSCORE', KEYS[4], m))
      if m ~= member and asked and asked >= fresh_after then
        count = count + 1
        if count >= limit then return count end
      end
    end
    offset = offset + #page
  end
end
"""

# KEYS[1] the key's hash (tokens, at, hold), KEYS[2] its slots, KEYS[3] the room (rank), KEYS[4] when each
# waiter last asked. ARGV: now, owner, rate (0: none), parallelism (0: none), lease s, hold s before any was
# measured, member (the job), its priority level, aging s, stale s, forget s, since (when the job became due;
# '' = now).
# Returns {verdict, seconds to wait, waiters ahead} as strings.
_ACQUIRE = LUA_CLOCK + _AHEAD + """
local now = clock(ARGV[1])
local owner, rate, parallelism, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local member, level, aging = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local stale, forget = tonumber(ARGV[10]), tonumber(ARGV[11])
local since = now
if ARGV[12] ~= '' then since = math.min(now, tonumber(ARGV[12])) end
local function wait_in_room(mine)
  redis.call('ZADD', KEYS[3], 'NX', mine, member)
  redis.call('ZADD', KEYS[4], tostring(now), member)
  redis.call('EXPIRE', KEYS[3], math.ceil(forget + lease))
  redis.call('EXPIRE', KEYS[4], math.ceil(forget + lease))
end
local mine = nil
if parallelism > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tostring(now))
  if redis.call('ZSCORE', KEYS[2], owner) then return {'go', '0', '0'} end
  local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', tostring(now - forget), 'LIMIT', 0, 100)
  if #gone > 0 then
    redis.call('ZREM', KEYS[3], unpack(gone))
    redis.call('ZREM', KEYS[4], unpack(gone))
  end
  mine = redis.call('ZSCORE', KEYS[3], member) or tostring(since - level * aging)
  local free = parallelism - redis.call('ZCARD', KEYS[2])
  local ahead = ahead_of(member, mine, now - stale, math.max(free, 1))
  if free <= 0 or ahead >= free then
    wait_in_room(mine)
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local hold = tonumber(redis.call('HGET', KEYS[1], 'hold')) or tonumber(ARGV[6])
    local wait = hold
    if first[2] then wait = math.max(0, math.min(tonumber(first[2]) - now, hold)) end
    return {'parallelism', tostring(wait), tostring(ahead)}
  end
end
if rate > 0 then
  local burst = math.max(1, rate)
  local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = math.min(burst, (tonumber(s[1]) or burst) + math.max(0, now - (tonumber(s[2]) or now)) * rate)
  if tokens < 1 then
    if mine then wait_in_room(mine) end
    return {'rate', tostring((1 - tokens) / rate), '0'}
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
end
if parallelism > 0 then
  redis.call('ZADD', KEYS[2], tostring(now + lease), owner)
  redis.call('EXPIRE', KEYS[2], math.ceil(lease) + 60)
  redis.call('ZREM', KEYS[3], member)
  redis.call('ZREM', KEYS[4], member)
end
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 3600)
return {'go', '0', '0'}
"""

# KEYS as above. ARGV: now, owner, rate, lease s, refund (1: the call never happened, give the token
# back), parallelism, stale s. Frees the owner's slot, folds how long it was held into the smoothed hold
# time, and returns the fresh waiters at the head of the room that the free slots now belong to.
_RELEASE = LUA_CLOCK + """
local now = clock(ARGV[1])
local owner, rate, lease, refund = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local parallelism, stale = tonumber(ARGV[6]), tonumber(ARGV[7])
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
local woken = {}
if parallelism > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tostring(now))
  local free = parallelism - redis.call('ZCARD', KEYS[2])
  local offset = 0
  while free > #woken do
    local page = redis.call('ZRANGE', KEYS[3], offset, offset + 49)
    if #page == 0 then break end
    for _, m in ipairs(page) do
      local asked = tonumber(redis.call('ZSCORE', KEYS[4], m))
      if asked and asked >= now - stale and free > #woken then woken[#woken + 1] = m end
    end
    offset = offset + #page
  end
end
return woken
"""

# A waiter asks again at most this often (its message's visibility); after `STALE_S` without asking it
# stops blocking the line, after `FORGET_S` it is dropped from the room.
MAX_POLL_S = 20.0
STALE_S = 3 * MAX_POLL_S
FORGET_S = 3600.0


@dataclass(frozen=True)
class FlowGate:
    verdict: str  # 'go', 'rate' or 'parallelism'
    wait_s: float = 0.0
    ahead: int = 0  # fresh waiters ranked ahead of this job in the key's room (parallelism)

    @property
    def admitted(self) -> bool:
        return self.verdict == "go"


class FlowLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "", clock: Callable[[], float] | None = None,
                 aging_s: float = DEFAULT_AGING_S, stale_s: float = STALE_S, forget_s: float = FORGET_S) -> None:
        self.prefix = prefix
        self.clock = clock
        self.redis = client
        self.aging_s, self.stale_s, self.forget_s = aging_s, stale_s, forget_s
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def keys(self, tenant: str, key: str) -> list[str]:
        # Flow keys are per tenant: two tenants naming the same key never share a limit.
        tag = f"{self.prefix}jobs:flow:{{{tenant}/{key}}}"
        return [f"{tag}:rate", f"{tag}:slots", f"{tag}:room", f"{tag}:asked"]

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    def acquire(self, tenant: str, flow: FlowControl, owner: str, lease_s: float, member: str | None = None,
                priority: Priority = Priority.normal, since: float | None = None) -> FlowGate:
        """A slot (and a token) for `owner`'s call, or why not. `member` is the job that waits in the room
        (default: the owner); its `priority` and `since` (when it became due, epoch s; default now) place it
        there the first time it is refused."""
        verdict, wait, ahead = self._acquire(keys=self.keys(tenant, flow.key), args=[
            self._now(), owner, flow.rate or 0, flow.parallelism or 0, lease_s, DEFAULT_HOLD_S, member or owner,
            LEVELS[priority], self.aging_s, self.stale_s, self.forget_s, "" if since is None else repr(since)])
        return FlowGate(as_text(verdict), max(0.0, float(wait)), int(ahead))

    def release(self, tenant: str, flow: FlowControl, owner: str, lease_s: float, refund: bool = False) -> list[str]:
        """Free `owner`'s slot; returns the waiting jobs the free slots now belong to (to be woken)."""
        woken = self._release(keys=self.keys(tenant, flow.key), args=[
            self._now(), owner, flow.rate or 0, lease_s, int(refund), flow.parallelism or 0, self.stale_s])
        return [as_text(m) for m in woken]

    def in_flight(self, tenant: str, flow: FlowControl) -> int:
        """Slots held now (expired leases included until the next acquire drops them)."""
        return int(self.redis.zcard(self.keys(tenant, flow.key)[1]))

    def waiting(self, tenant: str, flow: FlowControl) -> list[str]:
        """The key's room, first in line first (stale waiters included)."""
        return [as_text(m) for m in self.redis.zrange(self.keys(tenant, flow.key)[2], 0, -1)]
