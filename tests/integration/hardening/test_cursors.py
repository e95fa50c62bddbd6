"""A tampered page cursor is bad input (400 problem JSON), never a 5xx: the cursor is base64 JSON of the page's
last DynamoDB key, and one that lacks a key attribute, carries one more, holds an empty value or a sort key
outside the query's range made the query fail with a ValidationException (answered 503) before the cursor
was checked against the key it must be."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration


def _cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _tampered(cursor: str) -> list[dict[str, Any]]:
    key = json.loads(base64.urlsafe_b64decode(cursor))
    out = []
    for name in key:
        if name.endswith("_pk") or (name == "pk" and not any(k.endswith("_pk") for k in key)):
            continue  # the partition key names the tenant's partition; its check is older than these
        out.append({k: v for k, v in key.items() if k != name})  # a key attribute fewer
        out.append({**key, name: ""})  # an empty key value
    out.append({**key, "extra": "x"})  # one more attribute
    if set(key) == {"pk", "sk"}:
        out.append({**key, "sk": "ZZZ#outside"})  # a sort key outside begins_with(sk, prefix)
    return out


@pytest.fixture(scope="module")
def pages(api: httpx.Client, stack: StackState) -> dict[str, str]:
    """A first-page cursor of each paged list, with at least two items behind it."""
    target = f"{stack.demo_target_url}/status/200"
    for _ in range(2):
        assert api.post("/v1/jobs", json={"request": {"url": target}, "delay_s": 3600,
                                          "ordering_key": "cursor-key"}).status_code == 202
        assert api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": {"request": {"url": target}}}
                        ).status_code == 201
    for _ in range(2):
        src = api.post("/v1/sources", json={"name": "c", "verify": {"scheme": "none"},
                                            "destinations": [{"url": target}]})
        assert src.status_code == 201
    for n in range(2):
        body = json.dumps({"n": n, "u": uuid.uuid4().hex})
        assert httpx.post(f"{stack.api_url}/v1/ingest/{src.json()['id']}", content=body).status_code == 200
    for _ in range(2):
        assert api.post("/v1/inverters", json={"brand": "sandbox", "serial": f"CUR-{uuid.uuid4().hex[:8]}"}
                        ).status_code == 201
    for n in range(2):
        assert api.post("/v1/connections", json={"brand": "sandbox", "name": f"c{n}", "credentials": {
            "token": f"acct-cur-{uuid.uuid4().hex[:8]}"}}).status_code == 201
    paths = ["/v1/jobs", "/v1/jobs?status=pending", "/v1/jobs?ordering_key=cursor-key", "/v1/schedules",
             "/v1/sources", f"/v1/sources/{src.json()['id']}/events", "/v1/inverters", "/v1/connections"]
    out = {}
    for path in paths:
        page = api.get(path, params={"limit": 1})
        assert page.status_code == 200 and page.json()["next_cursor"], (path, page.text[:300])
        out[path] = page.json()["next_cursor"]
    return out


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs?status=pending", "/v1/jobs?ordering_key=cursor-key",
                                  "/v1/schedules", "/v1/sources", "events", "/v1/inverters"])
def test_a_tampered_cursor_is_a_400_problem(api: httpx.Client, pages: dict[str, str], path: str) -> None:
    if path == "events":
        path = next(p for p in pages if p.endswith("/events"))
    cursor = pages[path]
    assert api.get(path, params={"limit": 1, "cursor": cursor}).status_code == 200  # the real one still pages
    for key in _tampered(cursor):
        r = api.get(path, params={"limit": 1, "cursor": _cursor(key)})
        assert r.status_code == 400, (path, key, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("path", "other"), [("/v1/jobs", "/v1/schedules"), ("/v1/schedules", "/v1/jobs"),
                                             ("/v1/jobs", "/v1/sources"), ("/v1/schedules", "/v1/inverters"),
                                             ("/v1/sources", "/v1/jobs"), ("/v1/sources", "/v1/inverters"),
                                             ("/v1/inverters", "/v1/schedules"), ("/v1/inverters", "/v1/connections"),
                                             ("/v1/connections", "/v1/sources"), ("/v1/connections", "/v1/inverters")])
def test_another_lists_cursor_is_a_400_problem(api: httpx.Client, pages: dict[str, str], path: str,
                                               other: str) -> None:
    # The same tenant's partition and the same key names, but a position in another table: not a page of this list
    r = api.get(path, params={"limit": 1, "cursor": pages[other]})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (path, other, r.text)
