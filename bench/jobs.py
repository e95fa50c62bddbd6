"""Job engine figures: AWS calls per first-try job, and a concurrent batch against sequential calls."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import httpx

from bench.harness import AwsCallCounter, moto_stack, serve
from local.demo_target import app as target_app
from local.lambda_context import LocalContext
from local.sources import sqs_event

JOBS = 10


def _api_event(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "POST /v1/jobs", "rawPath": "/v1/jobs", "rawQueryString": "",
            "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/v1/jobs", "sourceIp": "127.0.0.1"},
                               "stage": "$default", "requestId": "bench"},
            "body": json.dumps(body), "isBase64Encoded": False}


def run() -> dict[str, Any]:
    with moto_stack() as env, serve(target_app) as target:
        counter = AwsCallCounter()
        from functions.submit import app as submit
        from functions.worker import app as worker
        from shared.config import env as fn_env
        from shared.tenants import TenantStore

        TenantStore(fn_env().tenants_table).add_key("bench", "sk_bench")
        sqs = boto3.client("sqs")
        url = f"{target}/slow?ms=200"
        # Warm both functions (cold start, key cache) so the counts are steady-state.
        submit.handler(_api_event({"request": {"url": url}}, "sk_bench"), LocalContext("submit", 15))
        _drain(sqs, env["JOBS_QUEUE_URL"], worker)
        counter.reset()

        for _ in range(JOBS):
            submit.handler(_api_event({"request": {"url": url}}, "sk_bench"), LocalContext("submit", 15))
        submit_calls = counter.reset()
        messages = _receive(sqs, env["JOBS_QUEUE_URL"], JOBS)
        counter.reset()  # the receive is the event-source mapping's, not ours
        started = time.perf_counter()
        result = worker.handler(sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:steadfast-jobs"),
                                LocalContext("worker", 60))
        batch_s = time.perf_counter() - started
        worker_calls = counter.reset()
        assert not result["batchItemFailures"], result

        started = time.perf_counter()
        with httpx.Client() as client:
            for _ in range(JOBS):
                client.post(url)
        sequential_s = time.perf_counter() - started

    per_job = (sum(submit_calls.values()) + sum(worker_calls.values())) / JOBS
    return {
        "aws_calls_per_job": round(per_job, 2),
        "aws_calls_detail": {k: v / JOBS for k, v in (submit_calls + worker_calls).items()},
        "batch_10x200ms_s": round(batch_s, 3),
        "sequential_10x200ms_s": round(sequential_s, 3),
        "batch_concurrency_ratio": round(sequential_s / batch_s, 2),
    }


def _receive(sqs: Any, queue_url: str, n: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < n:
        out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, n - len(messages)),
                                  WaitTimeSeconds=1, AttributeNames=["All"])
        messages += out.get("Messages", [])
    return messages


def _drain(sqs: Any, queue_url: str, worker: Any) -> None:
    messages = _receive(sqs, queue_url, 1)
    worker.handler(sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:steadfast-jobs"),
                   LocalContext("worker", 60))
    for m in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
