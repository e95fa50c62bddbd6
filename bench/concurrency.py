"""The engine's batch concurrency, without moto in the way.

    python -m bench.concurrency    # prints the figures as JSON; `run()` returns them

Ten jobs against a loopback target that answers after 200 ms: ten sequential calls' time divided by
one worker batch's time (`batch_concurrency_ratio`; 10 would be perfect overlap).

The batch goes through the deployed worker path unchanged: `functions.worker.app.handler` (Powertools'
AsyncBatchProcessor, the record handler, one httpx.AsyncClient) and the real `shared.jobs.engine.Worker`
as `functions.worker.app.worker()` builds it — events and target protection included, on the real
Redis when one answers. Only the AWS-backed parts are swapped, for the benchmark-only in-memory doubles
of `bench.fakes` (job store, queue, tenants). Why: moto serves DynamoDB calls one at a time at
≈150–180 writes/s, so the same batch through moto (`batch_concurrency_ratio_moto`, from bench.jobs)
measures moto's queueing, not the engine.

The sequential baseline is ten calls one after the other on one kept-alive connection. Each of
REPEATS rounds measures the batch and the baseline back to back; the figure is the median of the
rounds' ratios (the machine is noisy). The details add the same batch with a DynamoDB-like 10 ms per
store call, and ten one-job invocations in a row (the engine without batching).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import httpx

from bench.fakes import BenchMemoryJobQueue, BenchMemoryJobStore, BenchMemoryTenants
from bench.harness import serve_process
from local.lambda_context import LocalContext
from local.sources import sqs_event
from shared.jobs.models import JobSpec, RequestSpec, Status, utcnow
from shared.jobs.queue import JobMessage
from shared.jobs.record import JobRecord
from shared.topology import function

JOBS = 10
TARGET_MS = 200
REPEATS = 5
STORE_LATENCY_S = 0.010
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:steadfast-jobs"
TARGET_APP = "local.demo_target:app"  # in a process of its own
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers(url: str) -> bool:
    import redis
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def _environment(redis_url: str | None, prefix: str) -> Iterator[None]:
    env = {
        # Nothing here may reach AWS: the store, queue and tenants are swapped before any call, and
        # an endpoint nobody listens on makes a stray call fail loudly instead of leaving the machine.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "1",
        "STEADFAST_ALLOW_PRIVATE_TARGETS": "true", "STEADFAST_REDIS_PREFIX": prefix,
        # As in Lambda: Powertools then keeps one event loop across invocations, so a warm worker keeps
        # its httpx client and its connections (without it, every batch builds a new client).
        "LAMBDA_TASK_ROOT": os.getcwd(),
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    with mock.patch.dict(os.environ, env):
        if not redis_url:
            os.environ.pop("REDIS_URL", None)
        yield


class _Engine:
    def __init__(self, target: str, latency_s: float) -> None:
        from functions.worker import app, deps
        from shared.config import env

        env.cache_clear()
        deps.reset()
        self.app, self.deps = app, deps
        self.store = BenchMemoryJobStore(latency_s)
        self.queue = BenchMemoryJobQueue(latency_s)
        # The worker exactly as the deployed function builds it, minus its AWS clients.
        self.worker = dataclasses.replace(deps.worker(), store=self.store, queue=self.queue,
                                          tenants=BenchMemoryTenants())
        self.url = f"{target}/slow?ms={TARGET_MS}"
        self.job_ids: list[str] = []

    def batch(self, jobs: int) -> float:
        """Deliver `jobs` fresh jobs as one SQS batch to the worker handler; seconds it took."""
        now = utcnow()
        messages: list[dict[str, Any]] = []
        ids: list[str] = []
        for _ in range(jobs):
            job_id = f"job_bench{uuid.uuid4().hex[:20]}"
            ids.append(job_id)
            self.store.put(JobRecord(id=job_id, tenant="bench", spec=JobSpec(request=RequestSpec(url=self.url)),
                                     status=Status.pending, created_at=now, updated_at=now, next_attempt_at=now))
            messages.append({"MessageId": str(uuid.uuid4()), "ReceiptHandle": f"rh-{job_id}",
                             "Body": JobMessage(job_id=job_id, tenant="bench").model_dump_json(),
                             "Attributes": {"ApproximateReceiveCount": "1"}})
        event = sqs_event(messages, QUEUE_ARN)
        context = LocalContext("worker", function("worker").timeout_s, function("worker").memory_mb)
        with mock.patch.object(self.deps, "worker", return_value=self.worker):
            started = time.perf_counter()
            result = self.app.handler(event, context)
            elapsed = time.perf_counter() - started
        assert not result["batchItemFailures"], result
        self.job_ids += ids
        done = [self.store.jobs[i].status for i in ids]
        assert all(s == Status.completed for s in done), done
        return elapsed


def _sequential(client: httpx.Client, url: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        client.post(url).raise_for_status()
    return time.perf_counter() - started


def _cleanup(redis_url: str | None, prefix: str, job_ids: list[str]) -> None:
    if not redis_url:
        return
    import redis

    from shared.channels import Keys
    r = redis.Redis.from_url(redis_url)
    try:
        keys = [Keys(prefix).job_log(j) for j in job_ids] + list(r.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            r.delete(*keys[start:start + 500])
    finally:
        r.close()


def run(repeats: int = REPEATS) -> dict[str, Any]:
    redis_url = REDIS_URL if _redis_answers(REDIS_URL) else None
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    job_ids: list[str] = []
    with _environment(redis_url, prefix), serve_process(TARGET_APP) as target, httpx.Client() as client:
        try:
            engine = _Engine(target, 0.0)
            engine.batch(1)  # warm: imports, Powertools, the I/O pool, Redis connection
            _sequential(client, engine.url.replace(f"ms={TARGET_MS}", "ms=0"), 1)  # connect the baseline
            rounds = []
            for _ in range(repeats):
                batch_s = engine.batch(JOBS)
                sequential_s = _sequential(client, engine.url, JOBS)
                rounds.append({"batch_s": round(batch_s, 4), "sequential_s": round(sequential_s, 4),
                               "ratio": round(sequential_s / batch_s, 3)})
            one_by_one_s = sum(engine.batch(1) for _ in range(JOBS))
            store_calls = dict(engine.store.calls)
            job_ids += engine.job_ids

            slow_store = _Engine(target, STORE_LATENCY_S)
            slow_store.batch(1)
            latency_rounds = []
            for _ in range(max(1, repeats // 2)):
                batch_s = slow_store.batch(JOBS)
                latency_rounds.append(_sequential(client, engine.url, JOBS) / batch_s)
            job_ids += slow_store.job_ids
        finally:
            _cleanup(redis_url, prefix, job_ids)

    ratio = statistics.median(r["ratio"] for r in rounds)
    return {
        "batch_concurrency_ratio": round(ratio, 2),
        "batch_engine": {
            "what": "functions.worker.app.handler + shared.jobs.engine.Worker, in-memory store/queue/tenants "
                    "(bench.fakes), 10 jobs against a loopback target answering after 200 ms",
            "redis": "real Redis (events, target protection)" if redis_url else "none (events off)",
            "rounds": rounds,
            "batch_s_median": round(statistics.median(r["batch_s"] for r in rounds), 4),
            "sequential_s_median": round(statistics.median(r["sequential_s"] for r in rounds), 4),
            "ratio_with_10ms_store_calls": round(statistics.median(latency_rounds), 2),
            "ten_one_job_invocations_s": round(one_by_one_s, 3),
            "store_calls": store_calls,
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
