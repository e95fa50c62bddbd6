"""SPEC.md's HTTP contract as a new user meets it with curl: the key is checked before the body, timestamps,
empty bodies where every field has a default, batch item shapes and field pointers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import httpx
import pytest

from local.launch import ROOT
from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def _key(stack: StackState, prefix: str) -> str:
    """A new tenant's API key (`steadfast keys create`): a test that counts a tenant's jobs has its own."""
    env = {**os.environ, "STEADFAST_HOME": stack.home}
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant",
                          f"{prefix}-{uuid.uuid4().hex[:6]}"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


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
    assert r.headers["www-authenticate"] == "Bearer"  # RFC 9110 §15.5.2: a 401 carries its challenge


def test_public_routes_take_no_key(stack: StackState) -> None:
    assert httpx.get(f"{stack.api_url}/v1/health").status_code == 200
    assert httpx.get(f"{stack.api_url}/v1/openapi.json").status_code == 200
    assert httpx.post(f"{stack.api_url}/v1/ingest/src_unknown", json={}).status_code == 404
    assert httpx.get(f"{stack.api_url}/v1/no-such-route").status_code == 404


@pytest.mark.parametrize(("method", "path", "content_type", "status"), [
    ("POST", "/v1/no-such-route", "application/json", 404),
    ("POST", "/v1/no-such-route", "text/plain", 404),
    ("POST", "/v1/ingest", "application/json", 404),
    ("PUT", "/v1/jobs", "application/json", 405),
    ("DELETE", "/v1/health", "text/plain", 405),
    ("PATCH", "/v1/jobs/job_x", "application/json", 405),
])
def test_the_route_is_checked_before_the_body(api: httpx.Client, method: str, path: str, content_type: str,
                                              status: int) -> None:
    # A body that is not JSON, or not of a JSON type, was answered 400/415 before the route was looked up
    r = api.request(method, path, content=b"plain text", headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["status"] == status
    assert status != 405 or r.headers["allow"], r.headers


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


def test_redrive_without_a_body_uses_the_defaults(stack: StackState) -> None:
    # Given a tenant with one dead job
    key = _key(stack, "redrive")
    with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}, timeout=30) as api:
        job = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/500"},
                                         "retry": {"max_attempts": 1}}).json()
        wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(), lambda j: j["status"] == "dead", 60)
        # When it is redriven as `curl -X POST …/v1/dlq/redrive` sends it: no body at all
        r = api.post("/v1/dlq/redrive")
        # Then the defaults apply (a window of 60 s, up to 1000 jobs)
        assert r.status_code == 200, r.text
        assert r.json() == {"redriven": 1}
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] in ("pending", "running", "retrying", "dead")
        assert api.post("/v1/dlq/redrive", json={}).json() == {"redriven": 0}


def test_batch_items_are_a_job_or_a_problem(api: httpx.Client, stack: StackState) -> None:
    r = api.post("/v1/jobs/batch", json={"jobs": [
        {"request": {"url": f"{stack.demo_target_url}/ok"}, "delay_s": 600},
        {"request": {"url": 3}}]})
    assert r.status_code == 202, r.text
    accepted, refused = r.json()["items"]
    assert set(accepted) == {"status", "job"} and accepted["status"] == 202 and accepted["job"]["id"].startswith("job_")
    assert set(refused) == {"status", "problem"} and refused["status"] == 422
    assert refused["problem"]["status"] == 422
    assert refused["problem"]["errors"][0]["pointer"] == "/request/url"
    api.post(f"/v1/jobs/{accepted['job']['id']}/cancel")


def test_a_batch_item_that_is_not_an_object_refuses_only_itself(api: httpx.Client, stack: StackState) -> None:
    r = api.post("/v1/jobs/batch", json={"jobs": [5, {"request": {"url": f"{stack.demo_target_url}/ok"},
                                                       "delay_s": 600}, None]})
    assert r.status_code == 202, r.text
    first, accepted, last = r.json()["items"]
    assert accepted["status"] == 202
    for refused, i in ((first, 0), (last, 2)):
        assert refused["status"] == 422 and refused["problem"]["instance"] == f"/jobs/{i}", refused
        assert [e["pointer"] for e in refused["problem"]["errors"]] == [""], refused
    api.post(f"/v1/jobs/{accepted['job']['id']}/cancel")


def test_a_body_sent_to_a_route_that_reads_none_is_refused_when_it_says_something(api: httpx.Client,
                                                                                    stack: StackState) -> None:
    # Given a job waiting for its first call
    job = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/ok"}, "delay_s": 600}).json()
    path = f"/v1/jobs/{job['id']}/cancel"
    # When a field is sent to a route that takes none (a caller who thinks cancel takes a reason or `force`)
    for body, pointers in (({"force": True}, ["/force"]), ({"reason": "x", "b": 1}, ["/reason", "/b"]), ([1], [""])):
        r = api.post(path, json=body)
        # Then it is refused, as an unknown field is everywhere else, and nothing happened
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert [e["pointer"] for e in r.json()["errors"]] == pointers, r.json()
        assert r.json()["errors"][0]["type"] == "extra_forbidden"
    assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "pending"
    # An empty object, null or no body at all still go through
    assert api.post(path, json={}).status_code == 200
    assert api.post(f"/v1/jobs/{job['id']}/retry", content=b"null",
                    headers={"content-type": "application/json"}).status_code == 409
    assert api.post("/v1/stream-token", json={"ttl_s": 60}).status_code == 422
    assert api.post("/v1/stream-token").status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/jobs"), ("POST", "/v1/jobs/batch"),
                                            ("POST", "/v1/workflows"), ("POST", "/v1/schedules")])
def test_a_missing_body_is_named_as_such(api: httpx.Client, method: str, path: str) -> None:
    # `curl -X POST …` without -d: "Field required" at "" told a new user nothing
    for content in (b"", b"null"):
        r = api.request(method, path, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["errors"] == [{"pointer": "", "detail": "a JSON object body is required", "type": "missing"}]


# JSON types as they are: lax mode took "yes" and 1 for true, "5" for a number, true for 1, a number for a time.
@pytest.mark.parametrize(("path", "body", "pointer"), [
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "delay_s": "5"}, "/delay_s"),
    ("/v1/jobs", {"request": {"url": "https://example.com/", "timeout_s": "10"}}, "/request/timeout_s"),
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "retry": {"max_attempts": True}}, "/retry/max_attempts"),
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "not_before": 1764870000}, "/not_before"),
    ("/v1/schedules", {"cron": "* * * * *", "paused": "yes", "job": {"request": {"url": "https://example.com/"}}},
     "/paused"),
    ("/v1/schedules", {"cron": "* * * * *", "paused": 1, "job": {"request": {"url": "https://example.com/"}}},
     "/paused"),
    ("/v1/workflows", {"jobs": [{"ref": "a", "request": {"url": "https://example.com/"}, "delay_s": "1"}]},
     "/jobs/0/delay_s"),
    ("/v1/dlq/redrive", {"window_s": "60"}, "/window_s"),
])
def test_json_types_are_not_coerced(api: httpx.Client, path: str, body: object, pointer: str) -> None:
    r = api.post(path, json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer], r.json()


def test_a_schedule_patch_takes_a_boolean_only(api: httpx.Client) -> None:
    created = api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": {"request": {"url": "https://example.com/"}}})
    assert created.status_code == 201, created.text
    path = f"/v1/schedules/{created.json()['id']}"
    for value in ("true", "no", 0):
        r = api.patch(path, json={"paused": value})
        assert r.status_code == 422 and [e["pointer"] for e in r.json()["errors"]] == ["/paused"], r.text
    assert api.patch(path, json={"paused": True}).json()["paused"] is True
    assert api.delete(path).status_code == 204


@pytest.mark.parametrize(("path", "body", "pointer"), [
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "retry": {"retry_on": ["abc"]}}, "/retry/retry_on/0"),
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "labels": {"a/b~c": 5}}, "/labels/a~1b~0c"),
    ("/v1/jobs", {"request": {"url": "https://example.com/"}, "delay_s": 1,
                  "not_before": "2026-12-01T00:00:00Z"}, "/not_before"),
    ("/v1/jobs", {"request": {}}, "/request/url"),
    ("/v1/jobs", [1], ""),
    ("/v1/schedules", {"cron": "* * * * *", "timezone": "Mars/Olympus",
                       "job": {"request": {"url": "https://example.com/"}}}, "/timezone"),
    ("/v1/schedules", {"cron": "61 * * * *", "job": {"request": {"url": "https://example.com/"}}}, "/cron"),
    # checked by the service rather than the model: the same shape (was pydantic's `{loc, msg}`)
    ("/v1/alert-rules", {"inverter_id": "inv_nope", "condition": "offline", "notify_url": "https://example.com/"},
     "/inverter_id"),
])
def test_field_problems_point_into_the_body(api: httpx.Client, path: str, body: object, pointer: str) -> None:
    r = api.post(path, json=body)
    assert r.status_code == 422, r.text
    assert {e["pointer"] for e in r.json()["errors"]} == {pointer}, r.json()
    assert all(set(e) == {"pointer", "detail", "type"} for e in r.json()["errors"]), r.json()


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/v1/jobs", {"limit": "abc"}, "limit"),
    # checked by the service rather than the model: the same shape (was pydantic's `{loc, msg}`), and a time
    # without a zone is a 422 in `since` as in `from` (was a 400 without `errors`)
    ("series", {"from": "2026-12-02T00:00:00"}, "from"),
    ("series", {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "from"),
    ("readings", {"since": "2026-12-02T00:00:00"}, "since"),
    # a key no job can have (spaces, non-ASCII) is refused, not answered with an empty list
    ("/v1/jobs", {"ordering_key": "a key"}, "ordering_key"),
    ("/v1/jobs", {"ordering_key": "clé"}, "ordering_key"),
])
def test_query_problems_name_the_parameter(api: httpx.Client, path: str, params: dict[str, str],
                                           parameter: str) -> None:
    if path in ("series", "readings"):
        path = f"/v1/inverters/{api.get('/v1/inverters').json()['items'][0]['id']}/{path}"
    r = api.get(path, params=params)
    assert r.status_code == 422, r.text
    assert [(e["parameter"], e["in"]) for e in r.json()["errors"]] == [(parameter, "query")], r.json()
    assert all(set(e) == {"parameter", "in", "detail", "type"} for e in r.json()["errors"]), r.json()


@pytest.mark.parametrize(("path", "params", "unknown"), [
    ("/v1/jobs", {"statuss": "dead"}, ["statuss"]),  # a typo must not list every job as if unfiltered
    ("/v1/jobs", {"status": "dead", "api_key": "sk_x", "b": "1"}, ["api_key", "b"]),
    ("/v1/schedules", {"limit": "5", "cursorr": "x"}, ["cursorr"]),
    ("/v1/jobs/job_0000/attempts", {"page": "2"}, ["page"]),
])
def test_a_query_parameter_the_route_does_not_take_is_a_422(api: httpx.Client, path: str, params: dict[str, str],
                                                            unknown: list[str]) -> None:
    r = api.get(path, params=params)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    errors = r.json()["errors"]
    assert [(e["parameter"], e["in"], e["type"]) for e in errors] == [(n, "query", "extra_forbidden")
                                                                       for n in unknown], errors


def test_the_parameters_a_route_takes_still_pass(api: httpx.Client) -> None:
    assert api.get("/v1/jobs", params={"status": "dead", "limit": "5"}).status_code == 200
    assert api.get("/v1/inverters", params={"limit": "5"}).status_code == 200
