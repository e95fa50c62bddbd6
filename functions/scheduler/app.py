"""Scheduler function: on its schedule, turn every due cron fire time into one job (shared.schedules)."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.scheduler.deps import scheduler, settings
from shared.config import metrics_namespace
from shared.schedules.scheduler import run_ticks

logger = Logger()
metrics = Metrics(namespace=metrics_namespace())
# Most ticks fire nothing, so most invocations have no metrics; Powertools would warn on each.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


@cache
def _window_s() -> float:
    # Tick through most of the interval, and stop in time for the next invocation and the timeout.
    return max(0.0, settings().rate_s - 5.0)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = run_ticks(scheduler(), _window_s())
    return {"fired": result.fired, "skipped": result.skipped, "lost": result.lost,
            "max_lag_s": round(result.max_lag_s, 3)}
