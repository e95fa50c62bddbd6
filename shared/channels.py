"""Every Redis key and channel name of a stack, under the stack's own prefix.

Stacks that share one Redis (two local stacks on one machine, a test run beside `make dev`) must not
see each other's job events, readings, poll lease or vendor buckets, so every name starts with the
stack's prefix: `<stage>:` in AWS, `local:<api port>:` in a local stack, or `STEADFAST_REDIS_PREFIX`
(see `shared.config.Env.redis_keys`). Exact channels only: ElastiCache Serverless refuses PSUBSCRIBE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPLAY_MAXLEN = 1000
_PREFIX = re.compile(r"^[A-Za-z0-9:_.\-]{0,64}$")


@dataclass(frozen=True, slots=True)
class Keys:
    """The names under one prefix. `Keys()` (no prefix) suits a Redis of its own, as in unit tests."""

    prefix: str = ""

    def __post_init__(self) -> None:
        # Braces would move the Redis Cluster hash tag that the breaker and flow keys rely on.
        if not _PREFIX.match(self.prefix):
            raise ValueError(f"a Redis prefix is up to 64 of A-Z a-z 0-9 : _ . - (got {self.prefix!r})")

    def inverter_channel(self, inverter_id: str) -> str:
        return f"{self.prefix}inverter:{inverter_id}"

    def inverter_log(self, inverter_id: str) -> str:
        return f"{self.prefix}inverter:{inverter_id}:log"

    def job_channel(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def job_log(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}:log"

    def tenant_jobs_channel(self, tenant: str) -> str:
        """Every status change of a tenant's jobs (the dashboard's job list)."""
        return f"{self.prefix}tenant:{tenant}:jobs"

    def poller_lease(self) -> str:
        return f"{self.prefix}poller:lease"

    def daily_budgets(self) -> str:
        """The prefix of the daily request budgets' counters (shared.telemetry.budget)."""
        return f"{self.prefix}budget:"

    def vendor_buckets(self) -> str:
        """The prefix of the vendors' shared token buckets (one key per vendor after it)."""
        return f"{self.prefix}ratelimit:vendor:"


# For a Redis of its own (unit tests, a single stack); composition roots pass `Env.redis_keys()`.
UNPREFIXED = Keys()
