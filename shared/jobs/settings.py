"""The job engine's protection settings (circuit breaker, retry budget), read once at the handler
boundary. Tables, queues and REDIS_URL come from `shared.config.Env`; this model holds only what the
worker's target protection needs, so that every knob is one environment variable with a default that
suits a deployed stage and leaves the test suite alone (see `shared.jobs.breaker` for the reasoning).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    # Built by the worker's protection only: the sweeper reads its priority aging here and never a policy.
    from shared.jobs.breaker import BreakerPolicy, RetryBudgetPolicy


class JobsEnv(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # Off: no breaker, budget or flow control (every job is admitted, Redis is not asked).
    protection: bool = Field(True, alias="STEADFAST_TARGET_PROTECTION")
    breaker_window_s: float = Field(10, alias="STEADFAST_BREAKER_WINDOW_S", gt=0, le=3600)
    breaker_min_calls: int = Field(20, alias="STEADFAST_BREAKER_MIN_CALLS", ge=1, le=100_000)
    breaker_failure_rate: float = Field(0.5, alias="STEADFAST_BREAKER_FAILURE_RATE", gt=0, le=1)
    breaker_cooldown_s: float = Field(5, alias="STEADFAST_BREAKER_COOLDOWN_S", gt=0, le=3600)
    retry_budget: float = Field(500, alias="STEADFAST_RETRY_BUDGET", gt=0, le=1_000_000)
    retry_cost: float = Field(5, alias="STEADFAST_RETRY_COST", ge=0, le=1_000_000)
    retry_timeout_cost: float = Field(10, alias="STEADFAST_RETRY_TIMEOUT_COST", ge=0, le=1_000_000)
    retry_budget_refill_per_s: float = Field(1, alias="STEADFAST_RETRY_BUDGET_REFILL_PER_S", gt=0, le=1_000_000)
    # A job waiting for capacity moves up a priority level after this long (shared.jobs.priority).
    priority_aging_s: float = Field(300, alias="STEADFAST_PRIORITY_AGING_S", gt=0, le=7 * 86_400)

    def breaker(self) -> BreakerPolicy:
        from shared.jobs.breaker import BreakerPolicy

        return BreakerPolicy(window_s=self.breaker_window_s, min_calls=self.breaker_min_calls,
                             failure_rate=self.breaker_failure_rate, cooldown_s=self.breaker_cooldown_s)

    def budget(self) -> RetryBudgetPolicy:
        from shared.jobs.breaker import RetryBudgetPolicy

        return RetryBudgetPolicy(capacity=self.retry_budget, retry_cost=self.retry_cost,
                                 timeout_cost=self.retry_timeout_cost, refill_per_s=self.retry_budget_refill_per_s)


@cache
def jobs_env() -> JobsEnv:
    return JobsEnv.model_validate(dict(os.environ))
