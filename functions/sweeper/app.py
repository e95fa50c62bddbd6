"""Sweeper function: on a schedule, re-enqueue what fell between DynamoDB and SQS (see shared.jobs.sweeper)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.config import env
from shared.jobs.events import job_events
from shared.jobs.queue import JobQueue
from shared.jobs.store import JobStore
from shared.jobs.sweeper import Sweeper

logger = Logger()
metrics = Metrics()


@cache
def sweeper() -> Sweeper:
    e = env()
    return Sweeper(JobStore(e.jobs_table), JobQueue(e.jobs_queue_url, e.jobs_dlq_url), job_events(e.redis_url),
                   grace=timedelta(seconds=e.sweep_grace_s))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return sweeper().sweep()
