"""SPEC.md's HTTP contract as a new user meets it with curl: the key is checked before the body, timestamps,
empty bodies where every field has a default, batch item shapes and field pointers."""

from __future__ import annotations

import re

import httpx
import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/jobs", {"bogus": 1}),
    ("POST", "/v1/jobs/batch", {"jobs": "x"}),
    ("POST", "/v1/schedules", {"cron": "no"}),
    ("POST", "/v1/dlq/redrive", {"window_s": -1}),
    ("GET", "/v1/jobs?limit=abc", None),
])
@pytest.mark.parametrize("authorization", [None, "Bearer sk_nope", "Basic Zm9vOmJhcg=="])
def test_the_api_key_is_checked_before_the_body(stack: StackState, method: str, path: str,
                                                body: object, authorization: str | None) -> None:
    # Given a request whose body or query would be refused, without a valid key
    headers = {"authorization": authorization} if authorization else {}
    # When it is sent
    r = httpx.request(method, stack.api_url + path, json=body, headers=headers, timeout=30)
    # Then the answer is about the key, not the body
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 401 and "errors" not in r.json()


def test_public_routes_take_no_key(stack: StackState) -> None:
    assert httpx.get(f"{stack.api_url}/v1/health").status_code == 200
    assert httpx.get(f"{stack.api_url}/v1/openapi.json").status_code == 200
    assert httpx.post(f"{stack.api_url}/v1/ingest/src_unknown", json={}).status_code == 404
    assert httpx.get(f"{stack.api_url}/v1/no-such-route").status_code == 404


MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_timestamps_are_utc_milliseconds_the_same_in_every_read(api: httpx.Client, stack: StackState) -> None:
    # Given a job just accepted (its answer is made from the record in memory)
    accepted = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/slow?ms=10"}, "delay_s": 600})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    # Then its times are RFC 3339 UTC with milliseconds, and a later read (from the store) shows the same strings
    for field in ("created_at", "updated_at", "next_attempt_at"):
        assert MILLIS.match(job[field]), (field, job[field])
    again = api.get(f"/v1/jobs/{job['id']}").json()
    assert [again[f] for f in ("created_at", "next_attempt_at")] == [job[f] for f in ("created_at", "next_attempt_at")]
    schedule = api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "paused": True,
                                               "job": {"request": {"url": f"{stack.demo_target_url}/ok"}}}).json()
    assert MILLIS.match(schedule["created_at"]) and MILLIS.match(schedule["updated_at"]), schedule
    token = api.post("/v1/stream-token").json()
    assert MILLIS.match(token["expires_at"]), token
    api.delete(f"/v1/schedules/{schedule['id']}")
    api.post(f"/v1/jobs/{job['id']}/cancel")
