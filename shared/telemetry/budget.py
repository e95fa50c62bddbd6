"""Daily request budgets (SolarEdge's Monitoring API): planned over the day, counted in Redis, never exceeded.

SolarEdge allows 300 requests a day per API key and, independently, 300 a day per site (from one source
IP); a bulk request for up to 100 sites costs 1 of the key's budget and 1 of each site's. A per-minute
token bucket cannot keep that: one that allows a poll a minute spends 300 requests by 05:00. So the
poller asks this module twice per request:

- `BudgetLedger.spend` before the call: one unit of the credential's budget and one of each site's for the
  UTC day, taken atomically (a Lua script; every poller invocation shares the counters), refused when any
  would go past its limit. A refused batch is not called: its devices wait for the next UTC day.
- `planned_interval_s` after the grant: when the batch's devices are next due, spreading what is left of
  the day's budget over what is left of the day:

      interval = max(configured, seconds_left · calls_per_round / credential_left, seconds_left / site_left)

  where `calls_per_round` is how many requests one poll of all the credential's due sites takes (one per
  100 sites). A credential that joins at 18:00 with its budget untouched polls faster than one that spent
  it all morning; one whose budget is gone is next due at midnight.

`reserve` requests of the credential's budget are kept back for what is not a poll (discovery: the site
list at onboarding and `GET /v1/connections/{id}/devices`). The day is the UTC day; counters expire two
days after theirs. Redis unavailable: a per-process ledger with the same arithmetic (the shared limit then
holds per process only, logged), as the token buckets do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = Logger(child=True)
KEY_TTL_S = 2 * 86_400

# KEYS[1] the credential's counter, KEYS[2..] the sites'; ARGV: credential limit, site limit, TTL.
# Returns {granted 1|0, the credential's count, the highest site count} after the spend (or as they stand).
_SPEND = """
local cred = tonumber(redis.call('GET', KEYS[1]) or '0')
local top = 0
for i = 2, #KEYS do top = math.max(top, tonumber(redis.call('GET', KEYS[i]) or '0')) end
if cred + 1 > tonumber(ARGV[1]) or top + 1 > tonumber(ARGV[2]) then return {0, cred, top} end
for i = 1, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]))
end
return {1, cred + 1, top + 1}
"""


@dataclass(frozen=True)
class DailyBudget:
    """Requests a vendor allows per UTC day: per credential (API key) and per site."""

    per_credential: int = 300
    per_site: int = 300
    reserve: int = 10  # of the credential's, kept for discovery calls

    @property
    def for_polls(self) -> int:
        return max(0, self.per_credential - self.reserve)


@dataclass(frozen=True)
class Grant:
    granted: bool
    credential_spent: int  # today's count for the credential, this request included when granted
    site_spent: int  # the highest of the batch's sites


class BudgetLedger(Protocol):
    async def spend(self, credential: str, sites: Sequence[str], now: datetime, budget: DailyBudget) -> Grant:
        """One unit of `credential`'s budget and one of each site's for `now`'s UTC day, or none at all."""
        ...


def day_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def next_day(now: datetime) -> datetime:
    """The start of the next UTC day: when every budget is whole again."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def planned_interval_s(now: datetime, configured_s: float, grant: Grant, budget: DailyBudget,
                       calls_per_round: int = 1) -> float:
    """Seconds until the granted batch's devices are next due (see the module's docstring)."""
    left_s = (next_day(now) - now).total_seconds()
    credential_left = budget.for_polls - grant.credential_spent
    site_left = budget.per_site - grant.site_spent
    if credential_left < max(1, calls_per_round) or site_left < 1:
        return max(configured_s, left_s)  # nothing left for another round today
    return max(configured_s, left_s * max(1, calls_per_round) / credential_left, left_s / site_left)


def credential_key(prefix: str, credential: str, day: str) -> str:
    # One Redis Cluster hash slot per vendor ({brand}), so that one script touches the credential's and the
    # sites' counters together.
    brand, _, connection = credential.partition(":")
    return f"{prefix}{{{brand}}}:key:{connection or 'shared'}:{day}"


def site_key(prefix: str, credential: str, site: str, day: str) -> str:
    # Per vendor, not per credential: the vendor counts a site's requests whatever key asks.
    return f"{prefix}{{{credential.partition(':')[0]}}}:site:{site}:{day}"


@dataclass
class LocalLedger:
    """The same ledger in process memory: for tests and simulations, and as the fallback while Redis is down."""

    counts: dict[str, int] = field(default_factory=dict)

    async def spend(self, credential: str, sites: Sequence[str], now: datetime, budget: DailyBudget) -> Grant:
        day = day_of(now)
        ckey = credential_key("", credential, day)
        skeys = [site_key("", credential, s, day) for s in dict.fromkeys(sites)]
        cred, top = self.counts.get(ckey, 0), max((self.counts.get(k, 0) for k in skeys), default=0)
        if cred + 1 > budget.for_polls or top + 1 > budget.per_site:
            return Grant(False, cred, top)
        for key in (ckey, *skeys):
            self.counts[key] = self.counts.get(key, 0) + 1
        return Grant(True, cred + 1, top + 1)

    def spent(self, credential: str, now: datetime) -> int:
        return self.counts.get(credential_key("", credential, day_of(now)), 0)


class RedisLedger:
    def __init__(self, client: aioredis.Redis, prefix: str = "budget:", fallback: LocalLedger | None = None,
                 hold_s: float = 30.0) -> None:
        self.prefix, self.hold_s = prefix, hold_s
        self.fallback = fallback or LocalLedger()
        self._spend = client.register_script(_SPEND)
        self._down_until: datetime | None = None

    async def spend(self, credential: str, sites: Sequence[str], now: datetime, budget: DailyBudget) -> Grant:
        import redis

        wall = datetime.now(UTC)
        if self._down_until is None or wall >= self._down_until:
            day = day_of(now)
            keys = [credential_key(self.prefix, credential, day),
                    *(site_key(self.prefix, credential, s, day) for s in dict.fromkeys(sites))]
            try:
                granted, cred, top = await self._spend(keys=keys, args=[budget.for_polls, budget.per_site,
                                                                         KEY_TTL_S])
                return Grant(bool(int(granted)), int(cred), int(top))
            except redis.RedisError as exc:
                self._down_until = wall + timedelta(seconds=self.hold_s)
                logger.error("budget ledger: Redis unavailable, counting in this process", extra={
                    "error": f"{type(exc).__name__}: {exc}"[:200], "hold_s": self.hold_s})
        return await self.fallback.spend(credential, sites, now, budget)
