"""Poller function: on a schedule, poll the vendor APIs for the inverters that are due, store the
readings and publish them to Redis (see shared.telemetry.poller).

Sub-minute cadences. EventBridge cannot fire more often than once a minute, so one invocation may run
several cycles: with STEADFAST_POLL_LOOP_S=50 and STEADFAST_POLL_RATE_S=10 it polls every 10 s for
50 s, stopping early enough that its last cycle ends within the Lambda timeout (60 s), and the next
scheduled invocation carries on. A lease in Redis keeps two invocations from running cycles at the
same time. Devices keep their own `poll_interval_s`; the cycle rate only bounds how late a due device
is picked up. By default (loop 0) an invocation runs one cycle: every 60 s in AWS, and every
STEADFAST_POLL_RATE_S (5 s) in the local stack, whose schedule loop invokes the handler that often.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.poller import deps
from shared.config import metrics_namespace
from shared.telemetry.poller import CycleReport, VendorReport
from shared.telemetry.runtime import run_polls

logger = Logger()
metrics = Metrics(namespace=metrics_namespace())
# httpx logs every request URL at INFO, and Enphase's carries the API key (`?key=`): credentials are
# never logged, so its request log stays off.
logging.getLogger("httpx").setLevel(logging.WARNING)
# Left for flushing logs and metrics after the last cycle.
MARGIN_S = 5.0
METRICS = {"VendorCalls": "vendor_calls", "RateLimitedCalls": "rate_limited_calls",
           "RateLimitedDevices": "rate_limited", "PollFailures": "failures", "ReadingsPublished": "published",
           "PollsDeferred": "deferred"}


def emit(reports: list[CycleReport]) -> None:
    """One EMF document per vendor, so that every metric carries a `vendor` dimension."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for report in reports:
        for vendor, cycle_counts in report.vendors.items():
            for field in VendorReport.__dataclass_fields__:
                totals[vendor][field] += getattr(cycle_counts, field)
    for vendor, counts in totals.items():
        per_vendor = EphemeralMetrics()
        per_vendor.add_dimension(name="vendor", value=vendor)
        for name, field in METRICS.items():
            per_vendor.add_metric(name=name, unit=MetricUnit.Count, value=counts[field])
        per_vendor.flush_metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    budget_s = context.get_remaining_time_in_millis() / 1000 - MARGIN_S
    # `steadfast invoke poller` (SPEC §1: "runs one poll now") waits for a running cycle's lease; a
    # scheduled invocation skips instead (the next one is seconds away).
    lease_wait_s = min(float(event.get("lease_wait_s") or 0), max(0.0, budget_s))
    reports = asyncio.run(run_polls(deps.poll_settings(), budget_s=budget_s, lease_wait_s=lease_wait_s))
    emit(reports)
    summary = {"cycles": len(reports), "due": sum(r.due for r in reports),
               "vendor_calls": sum(r.vendor_calls for r in reports),
               "readings": sum(v.readings for r in reports for v in r.vendors.values()),
               "published": sum(v.published for r in reports for v in r.vendors.values())}
    logger.info("poll done", extra=summary)
    return summary
