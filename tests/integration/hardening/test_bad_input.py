"""Bad input on the stack with private targets disallowed (as in a deployed stage): deep nesting, integer
literals beyond Python's digit limit, dates at the calendar's edges, unsupported media types, oversized
bodies, odd numerals in query strings, non-ASCII credentials and header values outside RFC 9110's field
grammar all end as 4xx problem JSON, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(strict: StackState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict.api_url, headers={"authorization": f"Bearer {strict.dev_api_key}"},
                      timeout=30) as client:
        yield client


def job(**extra: object) -> dict[str, object]:
    return {"request": {"url": "https://example.com/hook"}, **extra}


def problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, object] = r.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000,
    '{"request": {"url": "https://example.com/"}, "labels": ' + '{"a":' * 5000 + "1" + "}" * 5001,
    '{"request": {"url": "https://example.com/"}, "delay_s": ' + "9" * 5000 + "}",
    '{"request": {"url": "https://example.com/"}, "retry": {"max_attempts": -' + "1" * 4301 + "}}",
    '{"request": ', "\ufeff{}", '{"a": NaN}',
])
def test_unreadable_bodies_are_400(api: httpx.Client, raw: str) -> None:
    r = api.post("/v1/jobs", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text[:200]
    assert r.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z",
                                  "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-31T23:59:60Z",
                                  "2026-12-31T24:00:00Z", "10000-01-01T00:00:00Z", "2026-12-01T00:00:00"])
def test_dates_at_the_edges_of_the_calendar_are_422(api: httpx.Client, when: str) -> None:
    problem(api.post("/v1/jobs", json=job(not_before=when)), 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x",
                                          "application/octet-stream", "text/html; charset=utf-8"])
def test_an_unsupported_content_type_is_415(api: httpx.Client, content_type: str) -> None:
    r = api.post("/v1/jobs", content=b'{"request": {"url": "https://example.com/"}}',
                 headers={"content-type": content_type})
    problem(r, 415)
    assert r.headers["accept-post"] == "application/json"


def test_json_types_are_read(api: httpx.Client) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        r = api.post("/v1/jobs", content=b'{"request": {"url": "https://example.com/"}}',
                     headers={"content-type": content_type})
        assert r.status_code == 202, (content_type, r.text)


def test_an_oversized_body_is_413_problem_json(api: httpx.Client) -> None:
    problem(api.post("/v1/jobs", content=b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}',
                     headers={"content-type": "application/json"}), 413)


@pytest.mark.parametrize("value", ["a\x01b", "a\x7fb", "a\x0bb", "é", "tök\u2028"])
def test_header_values_outside_the_field_grammar_are_422(api: httpx.Client, value: str) -> None:
    body = problem(api.post("/v1/jobs", json={"request": {"url": "https://example.com/", "headers": {"X-A": value}}}),
                   422)
    assert "control or non-ASCII" in str(body["errors"])
    problem(api.post("/v1/jobs", json=job(fallbacks=[{"url": "https://example.org/", "headers": {"X-A": value}}])),
            422)


@pytest.mark.parametrize("limit", ["١٢", "１２", "1e3", "-0", "-1", "0", "201", "12abc", "", "9" * 50, "0x10"])
def test_odd_numerals_in_query_strings_are_422(api: httpx.Client, strict: StackState, limit: str) -> None:
    problem(api.get("/v1/jobs", params={"limit": limit}), 422)
    r = httpx.get(f"{strict.stream_url}/v1/dashboard/jobs", params={"limit": limit},
                  headers={"authorization": f"Bearer {strict.dev_api_key}"})
    problem(r, 422)


@pytest.mark.parametrize("credential", ["Bearer ü", "Bearer \udcff".encode("utf-8", "surrogateescape"),
                                        b"Bearer \xff\xfe", "Bearer " + "k" * 10_000, "Basic Zm9vOmJhcg==", "Bearer"])
def test_odd_credentials_are_401(strict: StackState, credential: str | bytes) -> None:
    raw = credential.encode("latin-1") if isinstance(credential, str) else credential
    for url in (f"{strict.api_url}/v1/jobs", f"{strict.stream_url}/v1/dashboard/jobs",
                f"{strict.stream_url}/v1/tenant/jobs/events"):
        r = httpx.get(url, headers=[(b"authorization", raw)], timeout=30)
        assert r.status_code == 401, (url, r.status_code, r.text[:200])
        assert r.headers["content-type"] == PROBLEM


def test_a_non_ascii_idempotency_key_is_handled(api: httpx.Client) -> None:
    r = api.post("/v1/jobs", json=job(), headers=[(b"idempotency-key", "schlüssel".encode("latin-1"))])
    assert r.status_code in (202, 400, 422), r.text
