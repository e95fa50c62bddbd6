"""SSRF protection on a stack with private targets disallowed (as in every deployed stage): private,
loopback, link-local, CGNAT, multicast, unspecified and metadata addresses in any notation are refused at
submit with 422; a host name that resolves to one is accepted but the worker refuses to connect, so the
job ends `failed` and the target never sees a call."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

BLOCKED = [
    "http://127.0.0.1/", "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0177.0.0.1/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/", "http://[fd00:ec2::254]/", "http://10.0.0.1/", "http://172.16.0.1/",
    "http://192.168.1.1/", "http://100.64.0.1/", "http://224.0.0.1/", "http://0.0.0.0/", "http://[::]/",
    "http://metadata.google.internal/computeMetadata/v1/", "http://localhost:8080/", "http://printer.local/",
    "http://[64:ff9b::a9fe:a9fe]/",
    # Beyond ipaddress.is_global: the IANA special-purpose registries and embedded-IPv4 forms.
    "http://[::7f00:1]/", "http://[fec0::1]/", "http://[64:ff9b:1::a00:1]/", "http://192.0.0.1/",
    "http://192.0.0.170/", "http://198.18.0.1/", "http://[2001:2::1]/", "http://[2001:0:7f00:1::]/",
    "http://[2002:7f00:1::1]/", "http://[fe80::1%25eth0]/", "http://127.0.0.1./", "http://0300.0250.0.1/",
    "http://evil.example\\@127.0.0.1/", "http://[ff02::1]/", "http://[5f00::1]/", "http://foo.home.arpa/",
]


@pytest.fixture(scope="module")
def api(strict: StackState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict.api_url, headers={"authorization": f"Bearer {strict.dev_api_key}"},
                      timeout=30) as client:
        yield client


@pytest.mark.parametrize("url", BLOCKED)
def test_private_and_metadata_literals_are_refused_at_submit(api: httpx.Client, url: str) -> None:
    r = api.post("/v1/jobs", json={"request": {"url": url}})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("field", ["fallbacks", "callback_url", "failure_callback_url"])
def test_every_url_of_a_job_is_checked(api: httpx.Client, field: str) -> None:
    value: object = [{"url": "http://169.254.169.254/"}] if field == "fallbacks" else "http://10.1.2.3/hook"
    r = api.post("/v1/jobs", json={"request": {"url": "https://example.com/hook"}, field: value})
    assert r.status_code == 422, r.text


def test_every_way_in_checks_the_targets(api: httpx.Client) -> None:
    # A batch item, a workflow's job, a schedule's job (created, edited) and an ordering-key job: what
    # POST /v1/jobs refuses, each of them refuses too
    blocked = {"request": {"url": "http://169.254.169.254/latest/meta-data/"}}
    keyed = {**blocked, "ordering_key": "ssrf-key", "priority": "high"}
    items = api.post("/v1/jobs/batch", json={"jobs": [blocked, {**blocked, "idempotency_key": "ssrf-1"}, keyed]})
    assert [i["status"] for i in items.json()["items"]] == [422, 422, 422], items.text
    r = api.post("/v1/workflows", json={"jobs": [{"ref": "a", **blocked}]})
    assert r.status_code == 422, r.text
    r = api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": blocked})
    assert r.status_code == 422, r.text
    created = api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": {"request": {"url": "https://example.com/"}}})
    assert created.status_code == 201, created.text
    r = api.patch(f"/v1/schedules/{created.json()['id']}", json={"job": {**blocked, "fallbacks": []}})
    assert r.status_code == 422, r.text
    api.delete(f"/v1/schedules/{created.json()['id']}")


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(api: httpx.Client, strict: StackState) -> None:
    name = socket.gethostname()
    try:
        resolved = {ai[4][0] for ai in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        pytest.skip(f"{name} does not resolve here")
    if not any(a.startswith("127.") or a == "::1" for a in resolved):
        pytest.skip(f"{name} resolves to {resolved}, not to loopback")
    port = httpx.URL(strict.demo_target_url).port
    r = api.post("/v1/jobs", json={"request": {"url": f"http://{name}:{port}/status/200"}})
    assert r.status_code == 202, r.text  # a name is not checked at submit: DNS may change before the call
    job_id = r.json()["id"]
    job = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] in {"failed", "dead"}, 60)
    assert job["status"] == "failed" and job["attempts"] == 1
    assert "blocked" in (job["last_error"] or "").lower() or "private" in (job["last_error"] or "").lower(), job
    calls = httpx.get(f"{strict.demo_target_url}/_applied").json()["calls"]
    assert calls == {}  # not one request reached the target, from this test or any above
