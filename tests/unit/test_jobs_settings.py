"""The job engine's settings: the policies the worker's protection runs with, the jobs queue's receive limit."""

from __future__ import annotations

from shared.config import Env
from shared.jobs.breaker import BreakerPolicy, RetryBudgetPolicy
from shared.jobs.settings import JobsEnv
from shared.topology import JOBS_QUEUE


def test_policies_are_built_from_the_environment() -> None:
    # Given settings read from an environment that changes every knob
    settings = JobsEnv.model_validate({
        "STEADFAST_BREAKER_WINDOW_S": "30", "STEADFAST_BREAKER_MIN_CALLS": "7",
        "STEADFAST_BREAKER_FAILURE_RATE": "0.25", "STEADFAST_BREAKER_COOLDOWN_S": "2",
        "STEADFAST_RETRY_BUDGET": "40", "STEADFAST_RETRY_COST": "3", "STEADFAST_RETRY_TIMEOUT_COST": "6",
        "STEADFAST_RETRY_BUDGET_REFILL_PER_S": "0.5",
    })
    # When the worker asks for its policies
    breaker, budget = settings.breaker(), settings.budget()
    # Then they carry those values
    assert breaker == BreakerPolicy(window_s=30, min_calls=7, failure_rate=0.25, cooldown_s=2)
    assert budget == RetryBudgetPolicy(capacity=40, retry_cost=3, timeout_cost=6, refill_per_s=0.5)


def test_the_worker_reads_the_jobs_queue_receive_limit_the_topology_declares() -> None:
    # Given the environment the CDK app and the local cloud give the worker, and one without it
    declared = {JOBS_QUEUE.max_receive_env_var: str(JOBS_QUEUE.max_receive_count + 2)}
    # Then the worker's settings carry the declared limit, and the same number as the topology by default
    assert Env.model_validate(declared).jobs_max_receive_count == JOBS_QUEUE.max_receive_count + 2
    assert Env.model_validate({}).jobs_max_receive_count == JOBS_QUEUE.max_receive_count
