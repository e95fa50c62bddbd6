"""Per-tenant request rate limit of the API: a token bucket per tenant in Redis (SPEC §3).

`STEADFAST_TENANT_RATE` (default 50 per second, `50` or `50/s`) refills it, `STEADFAST_TENANT_BURST`
(default 100) is its size. Beyond it a request is answered 429 with `Retry-After` and the IETF draft's
`RateLimit-Policy: "tenant";q=100;w=2` and `RateLimit: "tenant";r=0;t=1` (draft-ietf-httpapi-ratelimit-
headers-08); every answer carries the two RateLimit fields.

Why Redis: the limit must hold across every execution environment of the submit function (in AWS,
hundreds of Lambda instances at once), so the bucket lives in a store they all share. The stack already
runs Redis (ElastiCache, in the same VPC as the submit function, which publishes job events to it); one
EVAL per request (≈ 0.3 ms in-region) refills and takes atomically on the server's own clock, so skew
between instances does not matter. DynamoDB would work too, but a conditional update per API call costs
a write unit each (≈ $1.25 per million requests) and single-digit ms. If Redis is unreachable the limit
fails open (logged, counted as the EMF metric `RateLimitUnavailable`): an outage of the limiter must not
become an outage of the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from shared.errors import SteadfastError

logger = Logger(child=True)

# KEYS[1] the tenant's bucket; ARGV rate (tokens/s), burst. The server's clock (TIME) refills it.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RateLimited(SteadfastError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.headers = headers


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tokens: float
    rate: float
    burst: int

    def headers(self) -> dict[str, str]:
        window = max(1, math.ceil(self.burst / self.rate))
        until_full = max(0, math.ceil((self.burst - self.tokens) / self.rate))
        out = {"RateLimit-Policy": f'"tenant";q={self.burst};w={window}',
               "RateLimit": f'"tenant";r={max(0, math.floor(self.tokens))};t={until_full}'}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.rate))


def parse_rate(text: str) -> float:
    """`50`, `50/s`, `3000/min`: requests per second."""
    value, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}[unit.strip()]
    rate = float(value) / per
    if not 0 < rate < math.inf:
        raise ValueError(f"STEADFAST_TENANT_RATE must be positive, not {text!r}")
    return rate


@dataclass
class TenantRateLimit:
    redis: Any  # redis.Redis
    rate: float = 50.0
    burst: int = 100
    prefix: str = "ratelimit:tenant:"

    def take(self, tenant: str) -> Decision | None:
        """One request of `tenant`: the decision, or None when the limiter cannot be asked (fail open)."""
        try:
            allowed, tokens = self.redis.eval(_TAKE, 1, self.prefix + tenant, self.rate, self.burst)
        except Exception as exc:  # any Redis failure: serve the request unlimited rather than fail it
            logger.warning("tenant rate limit unavailable; request allowed", extra={"tenant": tenant,
                                                                                   "error": type(exc).__name__})
            return None
        return Decision(bool(int(allowed)), float(tokens), self.rate, self.burst)

    def check(self, tenant: str) -> Decision | None:
        decision = self.take(tenant)
        if decision is not None and not decision.allowed:
            logger.info("tenant rate limited", extra={"tenant": tenant, "rate": self.rate, "burst": self.burst})
            raise RateLimited(f"more than {self.rate:g} requests per second (burst {self.burst}); retry in "
                              f"{decision.retry_after_s} s", decision.headers())
        return decision
