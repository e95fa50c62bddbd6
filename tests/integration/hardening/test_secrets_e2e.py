"""Credential headers of a job on the whole local stack: the target receives them in plaintext; the stored
item, GET, lists, the dashboard JSON, the tenant stream, the Redis replay log, the callback body and every
function's log show none of them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import redis

from local.stack import StackState
from shared.channels import Keys
from shared.jobs.record import as_text
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_credentials_reach_the_target_and_nothing_else(stack: StackState, api: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    secrets = {"Authorization": f"Bearer tok-{marker}", "Cookie": f"sid=c-{marker}", "X-Api-Key": f"k-{marker}",
               "X-Hub-Signature": f"sig-{marker}"}
    # Given a job whose request carries credentials, with a callback
    r = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200",
                                               "headers": {**secrets, "X-Trace": "visible"}},
                                   "callback_url": f"{stack.demo_target_url}/callback"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert {k: job["request"]["headers"][k] for k in secrets} == dict.fromkeys(secrets, "[redacted]")
    # When it completes
    done = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(), lambda j: j["status"] == "completed", 60)
    assert done["status"] == "completed", done
    # Then the target got every credential in plaintext
    [call] = httpx.get(f"{stack.demo_target_url}/_calls", params={"key": job["id"]}).json()["calls"]
    assert {k: call["headers"][k.lower()] for k in secrets} == secrets
    # And no read holds one
    reads = [api.get(f"/v1/jobs/{job['id']}").text, api.get("/v1/jobs", params={"limit": 200}).text,
             httpx.get(f"{stack.stream_url}/v1/dashboard/jobs", params={"limit": 200},
                       headers={"authorization": f"Bearer {stack.dev_api_key}"}).text]
    assert done["request"]["headers"]["X-Trace"] == "visible"
    callbacks = wait_for(lambda: httpx.get(f"{stack.demo_target_url}/_callbacks", params={"job": job["id"]}).json(),
                         lambda c: c["callbacks"], 60)["callbacks"]
    reads.append(json.dumps(callbacks))
    keys = Keys(stack.function_env["STEADFAST_REDIS_PREFIX"])
    with redis.Redis.from_url(stack.redis_url) as r:
        reads += [json.dumps([(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
                              for i, f in r.xrange(keys.job_log(job["id"]))])]
        assert len(reads[-1]) > 10
    kw = {"endpoint_url": stack.aws_endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    item = boto3.client("dynamodb", **kw).get_item(TableName=stack.function_env["JOBS_TABLE"],
                                                   Key={"pk": {"S": f"JOB#{job['id']}"}, "sk": {"S": "JOB"}})
    reads.append(json.dumps(as_text(item["Item"])))  # decompressed: zlib hides nothing
    reads += [p.read_text(errors="replace") for p in (Path(stack.home) / "logs").glob("*.log")]
    for text in reads:
        assert marker not in text
    assert "sf1." in reads[-len(list((Path(stack.home) / "logs").glob("*.log"))) - 1]  # stored sealed
