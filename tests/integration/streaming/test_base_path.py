"""The stream app under an API Gateway stage prefix (STEADFAST_STREAM_BASE_PATH=/dev), as the Lambda Web
Adapter hands it requests in AWS: the page, its files, the JSON endpoints and the event streams answer
under `/dev/…`; bare paths (the adapter's readiness check, the local stack) keep working; a path that
only starts with the same letters is not taken for the prefix. Real uvicorn, real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
import redis.asyncio as aioredis

from functions.stream.deps import from_env
from shared import stream_tokens
from shared.channels import UNPREFIXED as channels
from shared.config import Env
from shared.jobs.models import Status
from shared.streaming.fanout import envelope
from tests.integration.streaming.conftest import REDIS_URL, SECRET, Served, sse_events, take, uid

pytestmark = pytest.mark.integration


def test_page_files_and_json_answer_under_the_stage_prefix(serve: Callable[..., Served]) -> None:
    # Given the app deployed at stage "dev"
    served = serve(base_path="/dev")
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.dead, attempts=3)
    with httpx.Client(base_url=served.url, headers={"authorization": "Bearer sk_acme"}) as client:
        # Then the page, with and without the trailing slash, points the browser below the prefix
        for path in ("/dev/", "/dev"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert '<base href="/dev/">' in page.text
        # and everything the page loads relative to <base> is served there
        assert client.get("/dev/static/dashboard.js").status_code == 200
        assert client.get("/dev/v1/health").json()["status"] == "ok"
        jobs = client.get("/dev/v1/dashboard/jobs").json()["items"]
        assert [j["id"] for j in jobs] == [job_id]
        # The adapter's readiness check (a bare path) still answers
        assert client.get("/v1/health").status_code == 200
        # A path that merely starts with "/dev" is not under the prefix
        missing = client.get("/devices/v1/health")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        # and a problem under the prefix names the public path
        gone = client.get("/dev/v1/dashboard/jobs/job_nope/attempts")
        assert gone.status_code == 404 and gone.json()["instance"] == "/dev/v1/dashboard/jobs/job_nope/attempts"


async def test_event_stream_under_the_stage_prefix(serve: Callable[..., Served]) -> None:
    served = serve(base_path="/dev")
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.running, attempts=1)
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, client.stream(
                "GET", f"/dev/v1/jobs/{job_id}/events",
                params={"access_token": stream_tokens.issue_jobs(SECRET, "acme")[0]}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            [current] = await take(events, 1)
            assert json.loads(current.data)["status"] == "running"
            for _ in range(250):  # until the hub's subscription to the job channel is confirmed
                if channels.job_channel(job_id) in served.hub._confirmed:
                    break
                await asyncio.sleep(0.02)
            job = served.jobs.put("acme", job_id, Status.completed, 2).public().model_dump(mode="json")
            body = json.dumps(job)
            entry = await r.xadd(channels.job_log(job_id), {"data": body}, maxlen=100, approximate=True)
            await r.expire(channels.job_log(job_id), 600)
            await r.publish(channels.job_channel(job_id), envelope(entry, body))
            rest = [json.loads(e.data)["status"] async for e in events if not isinstance(e, str)]
            assert rest == ["completed"]  # and the stream ended after the terminal status
    finally:
        await r.aclose()


def test_the_base_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the CDK stack sets on the deployed function (STEADFAST_STREAM_BASE_PATH=/<stage>); building
    # the services creates AWS clients (no call), which need a region.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    e = Env.model_validate({"STEADFAST_STREAM_BASE_PATH": "/dev/", "REDIS_URL": REDIS_URL})
    assert from_env(e).base_path == "/dev"
    assert from_env(Env.model_validate({"REDIS_URL": REDIS_URL})).base_path == ""
