"""Per-tenant request rate limit of the API (SPEC §3): a quota per window, counted in DynamoDB.

`STEADFAST_TENANT_RATE` (default 50 per second: `50`, `50/s` or `3000/min`) and `STEADFAST_TENANT_BURST`
(default 100) make the policy "burst requests per burst/rate seconds": 100 per 2 s. Beyond it a request
is answered 429 with `Retry-After`; every answer carries the IETF draft's fields
(draft-ietf-httpapi-ratelimit-headers-08): `RateLimit-Policy: "tenant";q=100;w=2` and
`RateLimit: "tenant";r=<left>;t=<seconds to the next window>`.

Why DynamoDB: the limit must hold across every execution environment of the submit function (in AWS,
hundreds of Lambda instances at once), so the count lives in a store they all share, and the submit
function is outside the VPC, so ElastiCache is out of its reach; DynamoDB is what it already calls on
every request. One conditional `UpdateItem` per request (`ADD n 1` unless the window's count reached the
quota) counts and decides atomically, with no read first; the window's item expires by the jobs table's
TTL. It costs one write unit per API call (≈ $1.25 per million on demand) and a few ms. A fixed window may
let up to twice the quota through across a window boundary; the draft's policy model is the same quota
per window. If DynamoDB cannot be asked the limit fails open (logged): the limiter's outage must not
become the API's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import SteadfastError

logger = Logger(child=True)


class RateLimited(SteadfastError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.headers = headers


@dataclass(frozen=True)
class Decision:
    allowed: bool
    used: int
    quota: int
    window_s: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Policy": f'"tenant";q={self.quota};w={self.window_s}',
               "RateLimit": f'"tenant";r={max(0, self.quota - self.used)};t={self.reset_s}'}
        if not self.allowed:
            out["Retry-After"] = str(max(1, self.reset_s))
        return out


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
    db: Any  # a boto3 DynamoDB client
    table: str
    rate: float = 50.0
    burst: int = 100
    clock: Callable[[], float] = field(default=time.time)

    @property
    def window_s(self) -> int:
        return max(1, math.ceil(self.burst / self.rate))

    @property
    def quota(self) -> int:
        return max(1, round(self.rate * self.window_s))

    def take(self, tenant: str) -> Decision | None:
        """One request of `tenant`: the decision, or None when the count cannot be asked (fail open)."""
        now = self.clock()
        start = int(now // self.window_s) * self.window_s
        reset = max(1, math.ceil(start + self.window_s - now))
        try:
            out = self.db.update_item(
                TableName=self.table, Key={"pk": {"S": f"RATE#{tenant}"}, "sk": {"S": f"W#{start}"}},
                UpdateExpression="ADD n :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(n) OR n < :quota",
                ExpressionAttributeValues={":one": {"N": "1"}, ":quota": {"N": str(self.quota)},
                                           ":exp": {"N": str(start + self.window_s + 60)}},
                ReturnValues="UPDATED_NEW")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return Decision(False, self.quota, self.quota, self.window_s, reset)
            return self._unavailable(tenant, exc)
        except BotoCoreError as exc:
            return self._unavailable(tenant, exc)
        return Decision(True, int(out["Attributes"]["n"]["N"]), self.quota, self.window_s, reset)

    @staticmethod
    def _unavailable(tenant: str, exc: Exception) -> None:
        logger.warning("tenant rate limit unavailable; request allowed", extra={"tenant": tenant,
                                                                               "error": type(exc).__name__})
        return None

    def check(self, tenant: str) -> Decision | None:
        decision = self.take(tenant)
        if decision is not None and not decision.allowed:
            logger.info("tenant rate limited", extra={"tenant": tenant, "quota": self.quota, "window_s": self.window_s})
            raise RateLimited(f"more than {self.quota} requests in {self.window_s} s; retry in {decision.reset_s} s",
                              decision.headers())
        return decision
