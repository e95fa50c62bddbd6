"""Job engine figures measured through moto: AWS calls and DynamoDB capacity per first-try job, handler
durations, the cost per million jobs that follows from them, and a worker batch against sequential
calls (the moto variant of the concurrency ratio; see bench.concurrency for the engine's own).

    python -m bench.jobs           # prints the figures as JSON; `run()` returns them

What runs is the deployed code: the submit handler fed API Gateway payload-2.0 events, the worker
handler fed an SQS batch, against a moto server over HTTP and a loopback target. The bench plays
Lambda's SQS event-source mapping (ESM): one ReceiveMessage for the batch and one DeleteMessageBatch
for what succeeded, as `local/sources.py` does.

Why the ESM's calls are in the cost: SQS bills every API request, whoever sends it. The ESM's
pollers are run by Lambda but call the queue on the queue owner's account, and their ReceiveMessage
and DeleteMessageBatch requests are billed as SQS requests to that account (Lambda itself adds no
charge for the polling). They are not in `aws_calls_per_job` (calls our code makes), but they are
in `cost_usd_per_million_jobs`. An idle ESM also long-polls an empty queue (a few pollers, one
request per 20 s wait each): a fixed monthly cost, not a per-job one, left out here.

The headline is the realistic mix (issue 15): a 1 KiB request body (a payment provider's event), a 2 KiB
response (an order API's JSON answer; both from `bench.payloads`, compressible as JSON is), 10 % of jobs
failing once (503) and retried — the retried job's second delivery is a batch of its own, as SQS hands
it back after its visibility delay. `dynamodb_wru_per_job` is that mix's write units per job; the old
few-byte job stays as the `tiny_job` variant.

moto's latency per call (a few ms) is of the order of DynamoDB's and SQS's own in-region latency,
so the measured handler durations are a fair stand-in for Lambda's; the worker's duration is mostly
the target's response time, which is why the headline uses a target that answers in 200 ms.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.capacity import Capacity, CapacityRecorder
from bench.cost import QSTASH_USD_PER_MILLION, JobUsage, LambdaUse, billed_ms, cost_per_million
from bench.harness import AwsCallCounter, moto_stack, serve
from bench.payloads import api_answer, event_body
from local.demo_target import app as target_app
from local.lambda_context import LocalContext
from local.sources import sqs_event
from shared.topology import function

JOBS = 10
TARGET_MS = 200
MIX_BODY_BYTES = 1024
MIX_RESPONSE_BYTES = 2048
MIX_RETRIED = 0.1
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:steadfast-jobs"


def _api_event(body: dict[str, Any], key: str, path: str = "/v1/jobs") -> dict[str, Any]:
    return {"version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "rawQueryString": "",
            "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": "127.0.0.1"},
                               "stage": "$default", "requestId": "bench"},
            "body": json.dumps(body), "isBase64Encoded": False}


def mix_target() -> Starlette:
    """A target answering `bytes` of JSON after `ms`, failing (503) the first `fail` calls of each job."""
    calls: Counter[str] = Counter()

    async def mix(request: Request) -> Response:
        key = request.headers.get("idempotency-key", "-")
        calls[key] += 1
        q = request.query_params
        await request.body()
        if calls[key] <= int(q.get("fail", "0")):
            return Response('{"error": "temporarily unavailable"}', 503, media_type="application/json")
        await asyncio.sleep(int(q.get("ms", "0")) / 1000)
        return Response(api_answer(key, int(q.get("bytes", "256"))), 200, media_type="application/json")

    return Starlette(routes=[Route("/mix", mix, methods=["GET", "POST"])])


def mix_job(target: str, i: int, jobs: int, target_ms: int) -> dict[str, Any]:
    """Job `i` of `jobs` of the realistic mix: the first MIX_RETRIED of them fail once."""
    fail = 1 if i < round(jobs * MIX_RETRIED) else 0
    body = event_body(i, MIX_BODY_BYTES)
    return {"request": {"url": f"{target}/mix?ms={target_ms}&bytes={MIX_RESPONSE_BYTES}&fail={fail}",
                        "method": "POST", "headers": {"content-type": "application/json"}, "body": body},
            "retry": {"base_delay_s": 0.5, "max_delay_s": 1}}


@dataclass
class Round:
    """`jobs` jobs submitted one by one, then delivered as one worker batch."""

    jobs: int
    submit_calls: Counter[str]
    esm_calls: Counter[str]
    worker_calls: Counter[str]
    submit_capacity: Capacity
    worker_capacity: Capacity
    submit_s: list[float]
    batches_s: list[float]
    batched: bool = False  # submitted as one POST /v1/jobs/batch request instead of one request per job

    @property
    def batch_s(self) -> float:
        """The first batch's duration (every job of the round in it)."""
        return self.batches_s[0]

    def units_per_job(self) -> tuple[float, float]:
        """DynamoDB (WRU, RRU) per job, from a round that recorded capacity."""
        caps = (self.submit_capacity, self.worker_capacity)
        return sum(c.total_wru() for c in caps) / self.jobs, sum(c.total_rru() for c in caps) / self.jobs

    def usage(self, units: tuple[float, float]) -> JobUsage:
        """Calls and durations of this round; DynamoDB units per job from a round that recorded them."""
        n = self.jobs
        sqs = sum(v for k, v in (self.submit_calls + self.esm_calls + self.worker_calls).items()
                  if k.startswith("sqs."))
        requests = len(self.submit_s) / n
        return JobUsage(
            api_requests=requests,
            lambdas={
                "submit": LambdaUse(function("submit").memory_mb, requests,
                                    statistics.fmean(billed_ms(s) for s in self.submit_s)),
                "worker": LambdaUse(function("worker").memory_mb, len(self.batches_s) / n,
                                    statistics.fmean(billed_ms(b) for b in self.batches_s)),
            },
            sqs_requests=sqs / n,
            dynamodb_wru=units[0],
            dynamodb_rru=units[1],
        )

    def calls_per_job(self) -> dict[str, dict[str, float]]:
        return {actor: {k: v / self.jobs for k, v in sorted(calls.items())} for actor, calls in
                (("submit", self.submit_calls), ("esm", self.esm_calls), ("worker", self.worker_calls))}

    def capacity_per_job(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for actor, cap in (("submit", self.submit_capacity), ("worker", self.worker_capacity)):
            out[actor] = {"wru": {k: v / self.jobs for k, v in cap.wru.items()},
                          "gsi_wru": {k: v / self.jobs for k, v in cap.gsi_wru.items()},
                          "rru": {k: v / self.jobs for k, v in cap.rru.items()}}
        return out


class _Bench:
    def __init__(self, env: dict[str, str], target: str) -> None:
        self.counter = AwsCallCounter()
        self.capacity = CapacityRecorder()
        from functions.submit import app as submit
        from functions.worker import app as worker
        from shared.config import env as fn_env
        from shared.tenants import TenantStore

        self.submit, self.worker = submit, worker
        TenantStore(fn_env().tenants_table).add_key("bench", "sk_bench")
        self.sqs = boto3.client("sqs")
        self.queue_url = env["JOBS_QUEUE_URL"]
        self.target = target
        # Warm both functions (imports, key and secret caches, clients) so that the counts are steady-state.
        self.round(1, 0)

    def round(self, jobs: int, target_ms: int, capacity: bool = False, mix: str | None = None,
              batched: bool = False) -> Round:
        """Submit `jobs` jobs, deliver them as one batch, and what failed again as SQS hands it back
        (a batch each time), until every job is done. With `capacity`, DynamoDB capacity is recorded, at
        the price of durations that include the recorder's own reads. With `mix` (a mix target's URL),
        the jobs are the realistic mix; `batched`, they are submitted in one POST /v1/jobs/batch."""
        url = f"{self.target}/slow?ms={target_ms}"
        self.counter.reset()
        self.capacity.reset()
        self.capacity.enabled = capacity
        submit_s = []
        bodies = [mix_job(mix, i, jobs, target_ms) if mix else {"request": {"url": url}} for i in range(jobs)]
        events = ([_api_event({"jobs": bodies}, "sk_bench", "/v1/jobs/batch")] if batched
                  else [_api_event(body, "sk_bench") for body in bodies])
        for event in events:
            started = time.perf_counter()
            out = self.submit.handler(event, LocalContext("submit", 15))
            submit_s.append(time.perf_counter() - started)
            assert out["statusCode"] == 202, out
            if batched:
                assert all(item["status"] == 202 for item in json.loads(out["body"])["items"]), out
        submit_calls, submit_capacity = self.counter.reset(), self.capacity.reset()
        esm_calls: Counter[str] = Counter()
        worker_calls: Counter[str] = Counter()
        worker_capacity = Capacity()
        batches: list[float] = []
        pending = jobs
        while pending:
            messages = self._receive(pending)
            esm_calls += self.counter.reset()
            started = time.perf_counter()
            result = self.worker.handler(sqs_event(messages, QUEUE_ARN), LocalContext("worker", 60))
            batches.append(time.perf_counter() - started)
            worker_calls += self.counter.reset()
            worker_capacity.add(self.capacity.reset())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            assert mix or not failed, result
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            esm_calls += self.counter.reset()
            self.capacity.reset()
            pending -= len(done)
        self.capacity.enabled = False
        return Round(jobs, submit_calls, esm_calls, worker_calls, submit_capacity, worker_capacity, submit_s,
                     batches, batched)

    def _receive(self, n: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < n:
            out: Any = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, n - len(messages)),
                                           WaitTimeSeconds=1, AttributeNames=["All"])
            messages += out.get("Messages", [])
        return messages


def _sequential(url: str, n: int) -> float:
    with httpx.Client() as client:
        client.get(url.replace(f"ms={TARGET_MS}", "ms=0"))  # connect once, as the batch's client does
        started = time.perf_counter()
        for _ in range(n):
            client.post(url)
        return time.perf_counter() - started


def _distinct(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One example of each kind of write (operation, item kind), for the report."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        seen.setdefault((item["op"], item["item"]), item)
    return list(seen.values())


def _rounded(d: dict[str, float], places: int = 4) -> dict[str, float]:
    return {k: round(v, places) for k, v in d.items()}


def run() -> dict[str, Any]:
    with moto_stack() as env, serve(target_app) as target, serve(mix_target()) as mix:
        bench = _Bench(env, target)
        bench.round(2, 0, mix=mix)  # warm the retry path too
        measured = bench.round(JOBS, TARGET_MS, capacity=True, mix=mix)  # DynamoDB capacity only
        slow = bench.round(JOBS, TARGET_MS, mix=mix)  # the headline: the realistic mix, 200 ms target
        batch_measured = bench.round(JOBS, TARGET_MS, capacity=True, mix=mix, batched=True)
        batch = bench.round(JOBS, TARGET_MS, mix=mix, batched=True)  # the mix through POST /v1/jobs/batch
        tiny_measured = bench.round(JOBS, TARGET_MS, capacity=True)  # a few-byte job, first try
        tiny = bench.round(JOBS, TARGET_MS)
        fast = bench.round(JOBS, 0, mix=mix)     # the engine's own overhead
        single = bench.round(1, TARGET_MS)       # low traffic: every message its own batch
        sequential_s = _sequential(f"{target}/slow?ms={TARGET_MS}", JOBS)

    units = measured.units_per_job()
    usage = slow.usage(units)
    cost = cost_per_million(usage)
    calls = slow.calls_per_job()
    per_job = sum(calls["submit"].values()) + sum(calls["worker"].values())
    batch_units = batch_measured.units_per_job()
    batch_usage = batch.usage(batch_units)
    batch_cost = cost_per_million(batch_usage)
    return {
        "aws_calls_per_job": round(per_job, 2),
        "dynamodb_wru_per_job": round(units[0], 2),
        "cost_usd_per_million_jobs": round(cost["total"], 3),
        "qstash_usd_per_million": QSTASH_USD_PER_MILLION,
        "cost_ratio_vs_qstash": round(QSTASH_USD_PER_MILLION / cost["total"], 2),
        "cost_usd_per_million_jobs_batch": round(batch_cost["total"], 3),
        "dynamodb_wru_per_job_batch": round(batch_units[0], 2),
        "batch_concurrency_ratio_moto": round(sequential_s / tiny.batch_s, 2),
        "aws_calls_detail": calls,
        "cost_details": {
            "usd_per_million_jobs": _rounded(cost),
            "usage_per_job": {
                "api_requests": usage.api_requests, "sqs_requests": round(usage.sqs_requests, 3),
                "dynamodb_wru": round(usage.dynamodb_wru, 2), "dynamodb_rru": round(usage.dynamodb_rru, 2),
                "lambda": {k: {"memory_mb": v.memory_mb, "invocations_per_job": v.invocations_per_job,
                               "billed_ms_per_invocation": round(v.billed_ms_per_invocation, 1)}
                           for k, v in usage.lambdas.items()},
            },
            "mix": {"request_body_bytes": MIX_BODY_BYTES, "response_body_bytes": MIX_RESPONSE_BYTES,
                    "retried_once": MIX_RETRIED, "jobs_per_round": JOBS},
            "dynamodb_capacity_per_job": measured.capacity_per_job(),
            "batch": {"usd_per_million_jobs": _rounded(batch_cost), "jobs_per_request": JOBS,
                      "sqs_requests": round(batch_usage.sqs_requests, 3),
                      "dynamodb_capacity_per_job": batch_measured.capacity_per_job(),
                      "calls_per_job": batch.calls_per_job()},
            "dynamodb_items": _distinct(measured.submit_capacity.items) + _distinct(measured.worker_capacity.items),
            "target_ms": TARGET_MS,
            "tiny_job_wru": round(tiny_measured.units_per_job()[0], 2),
            "variants_usd_per_million": {
                "target_0ms": round(cost_per_million(fast.usage(units))["total"], 3),
                "tiny_job": round(cost_per_million(tiny.usage(tiny_measured.units_per_job()))["total"], 3),
                "batches_of_one_200ms_tiny": round(
                    cost_per_million(single.usage(tiny_measured.units_per_job()))["total"], 3),
            },
            "excluded": ["free tiers", "the idle ESM's empty long polls and the sweeper's schedule (fixed, not "
                         "per job)", "cache refreshes (API key and signing secret: one GetItem a minute per "
                         "tenant per warm environment)", "ElastiCache (job events, target protection) and "
                         "CloudWatch Logs/metrics/X-Ray", "data transfer"],
        },
        "batch_moto": {"batch_10x200ms_s": round(tiny.batch_s, 3), "sequential_10x200ms_s": round(sequential_s, 3),
                       "submit_ms_mean": round(statistics.fmean(tiny.submit_s) * 1000, 1),
                       "worker_batch_0ms_target_s": round(fast.batch_s, 3)},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
