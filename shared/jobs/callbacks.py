"""Callbacks: `callback_url` on `completed`, `failure_callback_url` on `failed` and `dead`, delivered as
jobs of the engine itself (their own retries, the parent's tenant and signing secret, the same SSRF
checks at submit and at connect), with the parent's final public JSON as body.

Exactly once per run, crash-safe: the callback job is derived here, deterministically, from the parent
in its terminal state, and owed as a `SpawnJob` continuation (`shared.jobs.continuations`): the job store
writes it in the same transaction as that terminal state, conditioned on its absence, and it is enqueued
after; if the worker dies in between, the sweeper finds a pending job never enqueued and sends it.

A manual retry or redrive starts a new *run* of the job (`JobRecord.run`). Each run that ends owes its
own callback (id `<job id>_cb<run>`): the caller asked to hear how the job ends, a retried job ends
again, and the earlier callback described a state the job has since left. A cancelled job owes none,
nor does a callback job (it is created without callback URLs), so callbacks never chain.

Header values that look like credentials (Authorization, cookies, API keys, tokens) are redacted in the
callback body (`shared.redaction`, as in every read): the callback URL may belong to another party than
the target. Bodies that would make
the callback larger than `MAX_CALLBACK_BODY` lose the request and result bodies (`body_truncated`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.jobs.continuations import Continuations, Effect, Followup, SpawnJob
from shared.jobs.models import Job, JobSpec, Method, RequestSpec, RetrySpec, Status
from shared.jobs.record import JobRecord, from_attributes, to_attributes
from shared.redaction import redact_job

MAX_CALLBACK_BODY = 192 * 1024
_URL_FOR = {Status.completed: "callback_url", Status.failed: "failure_callback_url",
            Status.dead: "failure_callback_url"}


def callback_id(parent_id: str, run: int) -> str:
    return f"{parent_id}_cb{run}"


def callback_url(job: Job) -> str | None:
    name = _URL_FOR.get(job.status)
    return getattr(job, name) if name else None


def callback_body(job: Job) -> str:
    """The parent's public JSON, with credential-like header values redacted and, if needed, bodies cut."""
    data: dict[str, Any] = redact_job(job).model_dump(mode="json")
    body = json.dumps(data, separators=(",", ":"))
    if len(body.encode()) > MAX_CALLBACK_BODY:
        data["request"]["body"] = None
        if data.get("result"):
            data["result"]["body"], data["result"]["body_truncated"] = "", True
        body = json.dumps(data, separators=(",", ":"))
    return body


def callback_spec(job: Job) -> JobSpec | None:
    """The spec of the callback job that `job`, in its terminal state, owes; None when it owes none."""
    url = callback_url(job)
    if url is None:
        return None
    return JobSpec(
        request=RequestSpec(url=url, method=Method.POST, headers={"content-type": "application/json"},
                            body=callback_body(job)),
        retry=RetrySpec(),
        labels={"callback_for": job.id, "callback_status": job.status.value},
    )


def callback_job(parent: JobRecord) -> JobRecord | None:
    """The callback job owed by `parent` in its terminal state, pending and due at once; else None."""
    name = _URL_FOR.get(parent.status)
    if name is None or getattr(parent.spec, name) is None:
        return None  # most jobs: no need to build the parent's public JSON to learn it
    # As stored (millisecond times), so that the body is exactly what GET /v1/jobs/{id} answers.
    parent = from_attributes(to_attributes(parent))
    spec = callback_spec(parent.public())
    if spec is None:
        return None
    at = parent.updated_at
    return JobRecord(id=callback_id(parent.id, parent.run), tenant=parent.tenant, spec=spec, status=Status.pending,
                     created_at=at, updated_at=at, next_attempt_at=at)



class Callbacks:
    """The continuation that owes a run's ending to `callback_url` / `failure_callback_url`."""

    kind = "callback"

    def owed(self, record: JobRecord) -> Sequence[Effect]:
        callback = callback_job(record)
        return [] if callback is None else [SpawnJob(callback)]

    def work(self, followup: Followup, ctx: Continuations) -> None:
        """Callbacks are written whole with the terminal state: they leave no followup to pay."""
