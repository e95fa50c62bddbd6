"""What ordering keys and DAG releases cost, through moto in process (the real submit and worker handlers,
driven as bench.jobs drives them, a loopback target answering at once):

- DynamoDB write units per job (bench.capacity: AWS's rules from the real items) for a plain job, a job with
  an ordering key of its own (an idle key: the common case of one key per entity), a chain of `JOBS` jobs
  under one key, and a chain of `JOBS` jobs each `depends_on` the one before;
- release latency, calm: a job's terminal write → the next one's first call, for the key's chain and the
  `depends_on` chain (p95), each also over the p95 of a plain job's accept → first call in the same run (a
  job submitted while the worker is idle: the same enqueue → receive → claim → call path).

`python -m bench --only bench.ordering`.
"""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

from bench.capacity import Capacity
from bench.harness import moto_stack, serve
from bench.jobs import QUEUE_ARN, _api_event, _Bench
from local.demo_target import app as target_app
from local.lambda_context import LocalContext
from local.sources import sqs_event

JOBS = 15


def _p95(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=20, method="inclusive")[18], 1)


class _Round:
    def __init__(self, bench: _Bench) -> None:
        self.bench = bench
        from shared.config import env as fn_env
        from shared.jobs.store import JobStore
        self.store = JobStore(fn_env().jobs_table)

    def submit(self, body: dict[str, Any]) -> str:
        out = self.bench.submit.handler(_api_event(body, "sk_bench"), LocalContext("submit", 15))
        assert out["statusCode"] == 202, out
        return str(json.loads(out["body"])["id"])

    def run(self, bodies: list[dict[str, Any]], chained: str | None = None) -> tuple[Capacity, Capacity, list[str]]:
        """Submit the jobs (`chained`: each `depends_on` the one before), deliver until all are done."""
        b = self.bench
        b.capacity.reset()
        b.capacity.enabled = True
        ids: list[str] = []
        for body in bodies:
            ids.append(self.submit({**body, "depends_on": ids[-1:]} if chained and ids else body))
        submit = b.capacity.reset()
        b.capacity.enabled = True
        self._deliver(len(ids))
        worker = b.capacity.reset()
        b.capacity.enabled = False
        return submit, worker, ids

    def one_by_one(self, body: dict[str, Any], jobs: int) -> list[str]:
        """Each job submitted while the worker is idle and delivered before the next: accept → first call."""
        ids = []
        for _ in range(jobs):
            ids.append(self.submit(body))
            self._deliver(1)
        return ids

    def _deliver(self, jobs: int) -> None:
        """Hand messages to the worker handler as the event-source mapping would, until `jobs` are acked."""
        b = self.bench
        done = 0
        while done < jobs:
            out: Any = b.sqs.receive_message(QueueUrl=b.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                             AttributeNames=["All"])
            messages = out.get("Messages", [])
            if not messages:
                continue
            result = b.worker.handler(sqs_event(messages, QUEUE_ARN),
                                      LocalContext("worker", 60))
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            acked = [m for m in messages if m["MessageId"] not in failed]
            b.sqs.delete_message_batch(QueueUrl=b.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(acked)])
            done += len(acked)

    def releases_ms(self, ids: list[str]) -> list[float]:
        """Each job's first call after the one before it ended (terminal write → attempt 1 started)."""
        out = []
        for before, after in itertools.pairwise(ids):
            ended = self.store.get_record(before)
            first = self.store.attempts("bench", after)[0]
            assert ended is not None and ended.terminal
            out.append((first.started_at - ended.updated_at).total_seconds() * 1000)
        return out

    def accept_ms(self, ids: list[str]) -> list[float]:
        out = []
        for job_id in ids:
            record = self.store.get_record(job_id)
            assert record is not None
            out.append((self.store.attempts("bench", job_id)[0].started_at - record.created_at).total_seconds() * 1000)
        return out


def _wru(submit: Capacity, worker: Capacity, jobs: int) -> float:
    return round((submit.total_wru() + worker.total_wru()) / jobs, 2)


def run() -> dict[str, Any]:
    with moto_stack() as env, serve(target_app) as target:
        bench = _Bench(env, target)
        r = _Round(bench)
        job = {"request": {"url": f"{target}/slow?ms=0"}}
        r.run([job, {**job, "ordering_key": "warm"}], chained="warm")  # warm both paths
        plain = r.run([job] * JOBS)
        idle = r.run([{**job, "ordering_key": f"own-{i}"} for i in range(JOBS)])
        chain = r.run([{**job, "ordering_key": "chain"}] * JOBS)
        dag = r.run([job] * JOBS, chained="depends_on")
        accept = _p95(r.accept_ms(r.one_by_one(job, JOBS)))
        key_release, dag_release = _p95(r.releases_ms(chain[2])), _p95(r.releases_ms(dag[2]))
    base = _wru(*plain[:2], JOBS)
    return {
        "ordering_wru_per_job_plain": base,
        "ordering_wru_per_job_own_key": _wru(*idle[:2], JOBS),
        "ordering_wru_per_job_chain": _wru(*chain[:2], JOBS),
        "dag_wru_per_job_chain": _wru(*dag[:2], JOBS),
        "ordering_wru_extra_per_job_chain": round(_wru(*chain[:2], JOBS) - base, 2),
        "ordering_release_ms_p95_in_process": key_release,
        "dag_release_ms_p95_in_process": dag_release,
        "accept_to_call_ms_p95_in_process": accept,
        "ordering_release_p95_vs_accept_in_process": round(key_release / accept, 2),
        "dag_release_p95_vs_accept_in_process": round(dag_release / accept, 2),
        "ordering_capacity_detail": {
            name: {"submit_wru": round(s.total_wru() / JOBS, 2), "worker_wru": round(w.total_wru() / JOBS, 2),
                   "submit_by_op": {k: round(v / JOBS, 2) for k, v in s.wru.items()},
                   "worker_by_op": {k: round(v / JOBS, 2) for k, v in w.wru.items()}}
            for name, (s, w, _) in (("plain", plain), ("own_key", idle), ("chain", chain), ("dag", dag))},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
