"""SPEC.md's HTTP contract as a new user meets it with curl: the key is checked before the body, timestamps,
empty bodies where every field has a default, batch item shapes and field pointers."""

from __future__ import annotations

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
