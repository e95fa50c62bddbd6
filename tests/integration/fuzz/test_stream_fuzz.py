"""Hypothesis over the stream app of the running local stack: every route with odd ids, query strings
(numerals of other scripts, exponents, signs, huge or empty values), credentials (non-ASCII, forged,
API keys in URLs) and Last-Event-IDs; never a 5xx, and every error is problem JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.launch import ROOT
from local.stack import StackState

pytestmark = pytest.mark.integration

ODD_NUMERALS = ["١٢", "１２", "²", "1e3", "-0", "+1", "0x10", " 12", "12 ", "1_0", "9" * 40, "", "0", "201", "NaN",
                "12\n", "٣-٣", "1-1\n", "18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-1"]
ROUTES = [("GET", "/"), ("GET", "/v1/health"), ("GET", "/v1/inverters/{id}/events"), ("GET", "/v1/jobs/{id}/events"),
          ("GET", "/v1/tenant/jobs/events"), ("GET", "/v1/dashboard/inverters"), ("GET", "/v1/dashboard/jobs"),
          ("GET", "/v1/dashboard/jobs/{id}/attempts"), ("POST", "/v1/dashboard/inverters/{id}/stream-token"),
          ("POST", "/v1/stream-token"), ("GET", "/static/{id}"), ("GET", "/{id}"), ("DELETE", "/v1/jobs/{id}/events"),
          ("HEAD", "/v1/tenant/jobs/events")]
text = st.text(max_size=60) | st.sampled_from(ODD_NUMERALS) | st.text(min_size=2000, max_size=3000)
# What an HTTP/1.1 client can put on the wire as a field value (RFC 9110 §5.5: visible ASCII, obs-text, and
# SP/HTAB inside, never at either end); h11 refuses anything else before it is sent.
latin1 = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128))


def field_value(value: bytes) -> bytes:
    return value.strip(b" \t")


@pytest.fixture(scope="module")
def fuzz_key(stack: StackState) -> str:
    tenant = f"fuzz-{uuid.uuid4().hex[:6]}"
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant", tenant], cwd=ROOT,
                         env={**os.environ, "STEADFAST_HOME": stack.home}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_no_input_makes_the_stream_app_fail(stack: StackState, fuzz_key: str) -> None:
    failures: list[str] = []
    calls = 0
    # No keep-alive: each example on its own connection, so an abandoned stream never holds the pool.
    client = httpx.Client(base_url=stack.stream_url, timeout=15, limits=httpx.Limits(max_keepalive_connections=0))

    @settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(ROUTES), ident=text | st.just("job_0000"),
           query=st.dictionaries(st.sampled_from(["limit", "status", "cursor", "last_event_id", "access_token",
                                                  "api_key", "x"]), text, max_size=3),
           auth=st.sampled_from(["key", "none", "odd", "stream-token-ish"]), odd=latin1,
           last_event_id=st.none() | latin1)
    def check(route: tuple[str, str], ident: str, query: dict[str, str], auth: str, odd: bytes,
              last_event_id: bytes | None) -> None:
        nonlocal calls
        method, template = route
        path = template.replace("{id}", quote(ident, safe=""))
        headers: list[tuple[bytes, bytes]] = []
        if auth == "key":
            headers.append((b"authorization", f"Bearer {fuzz_key}".encode()))
        elif auth == "odd":
            headers.append((b"authorization", field_value(b"Bearer " + odd)))
        elif auth == "stream-token-ish":
            headers.append((b"authorization", field_value(b"Bearer st_" + odd)))
        if last_event_id is not None:
            headers.append((b"last-event-id", field_value(last_event_id)))
        request = client.build_request(method, path, params=query, headers=headers)
        response = client.send(request, stream=True)
        try:
            calls += 1
            where = f"{method} {request.url.raw_path[:120]!r} → {response.status_code}"
            if response.status_code >= 500:
                response.read()
                failures.append(f"{where}: {response.text[:300]}")
            elif (response.status_code >= 400 and method != "HEAD"
                  and not response.headers.get("content-type", "").startswith("application/problem+json")):
                failures.append(f"{where}: not problem JSON ({response.headers.get('content-type')})")
        finally:
            response.close()

    try:
        check()
    finally:
        client.close()
    assert calls >= 250
    assert not failures, "\n".join(failures[:20])
