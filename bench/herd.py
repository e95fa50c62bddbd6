"""The thundering herd: 10,000 jobs fail at the same instant; when do their first retries land?

    python -m bench.herd           # prints the figures as JSON; `run()` returns them

Each job's first retry delay comes from the project's default retry policy (`RetrySpec()`: full
jitter, base 1 s) through `shared.jobs.backoff.for_retry`, exactly as the worker asks for it.

peak-to-mean = the busiest bucket's retries ÷ the mean per bucket from the failure instant to the
bucket of the last first retry. 1.0 is a perfectly even spread; a herd that retries together scores
the number of buckets it could have spread over.

Why 100 ms buckets and not one-second ones: with the default base of 1 s, full jitter draws the first
retry from [0, 1 s), so the whole spread *is* one second and a one-second bucket cannot tell jitter
from none (both put the whole herd in one bucket). The one-second figures are kept in the details.

The details also show what SQS makes of the schedule: a retry is delivered by hiding the message
for the delay, and `JobQueue.retry_in` (the real one, on a recording SQS double) rounds the
visibility timeout down to whole seconds, as the SQS API requires, so the messages come back at 0 s or
1 s. The worker may claim a job up to `EARLY_CLAIM_S` before it is due and then waits out the rest
before calling, so the calls keep the schedule's spread: "as delivered" is the moment of the call.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from shared.jobs import backoff
from shared.jobs.models import Jitter, RetrySpec
from shared.jobs.queue import EARLY_CLAIM_S, JobQueue

JOBS = 10_000
BUCKET_S = 0.1
SEED = 7


def first_retry_delays(spec: RetrySpec, jobs: int = JOBS, seed: int = SEED) -> list[float]:
    """Each job's first retry delay (attempt 1, no previous delay, no Retry-After), in seconds."""
    rng = random.Random(seed)
    policy = backoff.for_retry(spec, rng)
    return [backoff.next_delay(policy, 1, None, None, spec.max_delay_s) for _ in range(jobs)]


def histogram(delays: Iterable[float], bucket_s: float) -> list[int]:
    """Retries per bucket, from the failure instant (bucket 0) to the bucket of the last retry."""
    counts = Counter(math.floor(d / bucket_s + 1e-9) for d in delays)
    if not counts:
        return []
    return [counts.get(i, 0) for i in range(max(counts) + 1)]


def peak_to_mean(delays: list[float], bucket_s: float) -> float:
    buckets = histogram(delays, bucket_s)
    if not buckets:
        return float("nan")
    return max(buckets) / (sum(buckets) / len(buckets))


class _RecordingSqs:
    """Just enough of an SQS client to see the visibility timeout `JobQueue.retry_in` asks for."""

    def __init__(self) -> None:
        self.visibility: list[int] = []

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str,
                                  VisibilityTimeout: int) -> None:
        self.visibility.append(VisibilityTimeout)


def visibility_timeouts(delays: list[float]) -> list[int]:
    """What `JobQueue.retry_in` asks SQS for, for each delay."""
    sqs = _RecordingSqs()
    queue = JobQueue("bench://jobs", "bench://dlq", client=sqs)  # type: ignore[arg-type]
    for d in delays:
        queue.retry_in("receipt", d)
    return sqs.visibility


def as_delivered(delays: list[float]) -> list[float]:
    """When each call happens: the message reappears after its visibility timeout and the worker, which
    may claim up to EARLY_CLAIM_S early, waits out the rest of the delay before it calls."""
    return [v + min(EARLY_CLAIM_S, max(0.0, d - v)) for d, v in zip(delays, visibility_timeouts(delays), strict=True)]


def run(jobs: int = JOBS) -> dict[str, Any]:
    spec = RetrySpec()
    jittered = first_retry_delays(spec, jobs)
    plain = first_retry_delays(spec.model_copy(update={"jitter": Jitter.none}), jobs)
    delivered = as_delivered(jittered)
    return {
        "herd_peak_to_mean": round(peak_to_mean(jittered, BUCKET_S), 3),
        "herd_peak_to_mean_none": round(peak_to_mean(plain, BUCKET_S), 3),
        "herd_details": {
            "jobs": jobs, "bucket_s": BUCKET_S, "seed": SEED,
            "policy": spec.model_dump(mode="json", include={"jitter", "base_delay_s", "max_delay_s"}),
            "histogram_full": histogram(jittered, BUCKET_S),
            "histogram_none": histogram(plain, BUCKET_S),
            "peak_to_mean_1s_buckets": {"full": round(peak_to_mean(jittered, 1.0), 3),
                                        "none": round(peak_to_mean(plain, 1.0), 3)},
            "as_delivered_by_sqs": {
                "peak_to_mean": round(peak_to_mean(delivered, BUCKET_S), 3),
                "histogram": histogram(delivered, BUCKET_S),
                "visibility_timeouts_s": dict(sorted(Counter(visibility_timeouts(jittered)).items())),
            },
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
