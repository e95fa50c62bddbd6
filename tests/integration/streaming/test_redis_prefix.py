"""Every Redis key and channel belongs to one stack: a stack's prefix comes from its stage (or
STEADFAST_REDIS_PREFIX), and a job event published by one stack never reaches another's subscriber.
Real Redis."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis

from shared import redis_client
from shared.channels import Keys
from shared.config import Env
from shared.jobs.events import RedisJobEvents
from shared.jobs.models import Job, RequestSpec, RetrySpec, Status, utcnow
from tests.integration.streaming.conftest import REDIS_URL

pytestmark = pytest.mark.integration


def test_the_prefix_comes_from_the_stage_unless_set() -> None:
    assert Env.model_validate({"STEADFAST_STAGE": "prod"}).redis_keys().job_channel("job_1") == "prod:job:job_1"
    assert Env.model_validate({"STEADFAST_REDIS_PREFIX": "a:"}).redis_keys().poller_lease() == "a:poller:lease"
    assert Env.model_validate({"STEADFAST_REDIS_PREFIX": ""}).redis_keys().tenant_jobs_channel("t") == "tenant:t:jobs"
    with pytest.raises(ValueError, match="Redis prefix"):
        Keys("{tag}")


def _job(job_id: str) -> Job:
    now = utcnow()
    return Job(id=job_id, status=Status.pending, attempts=0, max_attempts=3, created_at=now, updated_at=now,
               next_attempt_at=now, request=RequestSpec(url="https://example.com/hook"), retry=RetrySpec(),
               labels={}, target_index=0, last_error=None, result=None)


def _messages(pubsub: Any, within_s: float) -> list[dict[str, Any]]:
    got, deadline = [], time.monotonic() + within_s
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)  # None also for the (ignored) subscribe confirmations
        if message is not None:
            got.append(message)
    return got


def test_a_stack_sees_only_its_own_job_events() -> None:
    # Given two stacks on one Redis, each subscribed to the tenant's job list under its own prefix
    mine, theirs = Keys(f"test:{uuid.uuid4().hex[:8]}:"), Keys(f"test:{uuid.uuid4().hex[:8]}:")
    listener = redis.Redis.from_url(REDIS_URL)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(mine.tenant_jobs_channel("dev"), theirs.tenant_jobs_channel("dev"))
    try:
        # When only the other stack publishes a job event
        RedisJobEvents(redis_client.client(REDIS_URL), theirs).publish("dev", _job("job_prefix_a"))
        # Then it arrives on that stack's channel alone, and its replay log carries that prefix
        received = _messages(pubsub, 2.0)
        assert [m["channel"].decode() for m in received] == [theirs.tenant_jobs_channel("dev")]
        assert listener.exists(theirs.job_log("job_prefix_a")) and not listener.exists(mine.job_log("job_prefix_a"))
    finally:
        pubsub.close()
        listener.delete(theirs.job_log("job_prefix_a"))
        listener.close()
