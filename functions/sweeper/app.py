"""Sweeper function: on a schedule, re-enqueue what fell between DynamoDB and SQS (see shared.jobs.sweeper)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.sweeper import deps
from shared.config import metrics_namespace

logger = Logger()
metrics = Metrics(namespace=metrics_namespace())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return deps.sweeper().sweep()
