"""The per-tenant request rate limit on the stack (private targets disallowed, default 50/s burst 100):
every answer carries the draft's RateLimit fields; a spent quota answers 429 problem JSON with
`Retry-After`, only for that tenant, and the next window is fresh. The count is in DynamoDB, shared
by every process of the submit function, as it is by every Lambda instance in AWS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import boto3
import httpx
import pytest

from local.launch import ROOT
from local.stack import StackState

pytestmark = pytest.mark.integration


def new_key(stack: StackState) -> tuple[str, str]:
    tenant = f"rl-{uuid.uuid4().hex[:6]}"
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant", tenant], cwd=ROOT,
                         env={**os.environ, "STEADFAST_HOME": stack.home}, capture_output=True, text=True, check=True)
    return tenant, out.stdout.strip()


def remaining(r: httpx.Response) -> int:
    match = re.fullmatch(r'"tenant";r=(\d+);t=(\d+)', r.headers["ratelimit"])
    assert match, r.headers["ratelimit"]
    return int(match.group(1))


def test_an_empty_bucket_answers_429_for_that_tenant_only(strict: StackState) -> None:
    tenant, key = new_key(strict)
    _, other = new_key(strict)
    with httpx.Client(base_url=strict.api_url, timeout=30) as api:
        # Every answer states the policy and what is left. Both calls go at the start of one 2 s window: a
        # window boundary between them starts a fresh count, and both would say 99.
        time.sleep(2 - time.time() % 2)
        first = api.get("/v1/jobs", params={"limit": 1}, headers={"authorization": f"Bearer {key}"})
        assert first.status_code == 200, first.text
        assert first.headers["ratelimit-policy"] == '"tenant";q=100;w=2'
        second = api.get("/v1/jobs", params={"limit": 1}, headers={"authorization": f"Bearer {key}"})
        assert remaining(second) < remaining(first) <= 99
        # When the tenant has used the whole quota of this window and the next (as 100 calls would)
        db = boto3.client("dynamodb", endpoint_url=strict.aws_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        start = int(time.time() // 2) * 2
        for window in (start, start + 2):
            db.put_item(TableName=strict.function_env["JOBS_TABLE"],
                        Item={"pk": {"S": f"RATE#{tenant}"}, "sk": {"S": f"W#{window}"}, "n": {"N": "100"}})
        limited = api.post("/v1/jobs", json={"request": {"url": "https://example.com/"}},
                           headers={"authorization": f"Bearer {key}"})
        # Then it is refused with a problem that says when to come back; nothing was created
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["status"] == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-policy"] == '"tenant";q=100;w=2'
        assert remaining(limited) == 0
        # And another tenant is not affected
        assert api.get("/v1/jobs", headers={"authorization": f"Bearer {other}"}).status_code == 200
        # And a later window is fresh
        time.sleep(float(limited.headers["retry-after"]) + 2)
        assert api.get("/v1/jobs", params={"limit": 1}, headers={"authorization": f"Bearer {key}"}).status_code == 200


def test_a_burst_beyond_the_bucket_is_limited(strict: StackState) -> None:
    _, key = new_key(strict)
    statuses: list[int] = []
    with httpx.Client(base_url=strict.api_url, timeout=30, headers={"authorization": f"Bearer {key}"}) as api:
        # More calls than the burst (100), as fast as the stack answers them
        started = time.monotonic()
        for _ in range(300):
            statuses.append(api.get("/v1/jobs", params={"limit": 1}).status_code)
            if statuses[-1] == 429:
                break
        elapsed = time.monotonic() - started
    # A machine that serves fewer than 50 calls a second never spends the quota: then nothing to prove
    if 429 not in statuses:
        assert elapsed * 50 + 100 >= len(statuses)  # else the limit did not hold
        pytest.skip(f"{len(statuses)} calls took {elapsed:.1f} s: slower than the refill rate here")
    assert statuses.count(200) >= 100
