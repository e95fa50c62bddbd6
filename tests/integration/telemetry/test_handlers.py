"""The deployed handlers, wired from their environment as in Lambda: the poller function polls the
sandbox and emits EMF metrics with a `vendor` dimension; the inverter routes of the submit function
(through the API Gateway emulation) register, list, read, page history and issue stream tokens, with
every bad input answered 4xx as problem JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from functions.poller import app as poller_app
from functions.sandbox.vendor import SandboxVendor
from local.lambda_context import LocalContext
from shared import stream_tokens
from shared.config import env
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate, utcnow
from shared.telemetry.registry import register
from shared.telemetry.runtime import PollSettings, open_poller
from tests.integration.telemetry.conftest import REDIS_URL, Tables

pytestmark = pytest.mark.integration


def test_poller_handler_polls_and_emits_metrics_per_vendor(
        fresh_env: None, tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url, vendor = sandbox(0.1)
    d = register(InverterStore(tables.inverters), "handler-tenant",
                 InverterCreate(brand=Brand.sandbox, serial="SBX-H-1", poll_interval_s=5))
    monkeypatch.setenv("STEADFAST_SANDBOX_URL", url)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("STEADFAST_REDIS_PREFIX", redis_prefix)
    summary = poller_app.handler({"source": "aws.scheduler"}, LocalContext("poller", 60))
    assert summary["vendor_calls"] >= 1 and vendor.stats()["requests"]["SBX-H-1"] == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    sandbox_metrics = next(m for m in emf if m.get("vendor") == "sandbox")
    assert sandbox_metrics["VendorCalls"] == [1.0] and sandbox_metrics["ReadingsPublished"] == [1.0]
    assert ["vendor"] in sandbox_metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert InverterStore(tables.inverters).get("handler-tenant", d.id).latest is not None


def test_register_read_and_list_per_tenant(tenant_api: Callable[[str], TestClient]) -> None:
    # Given the stage's shared sandbox connection (the sandbox is not running: registration goes on without
    # discovery, and the owner guard still decides whose serial it is)
    a = tenant_api("tenant-a")
    r = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-REG-1", "device_type": "string",
                                      "name": "Roof", "poll_interval_s": 4})
    assert r.status_code == 422  # below the contract's minimum of 5 s
    r = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-REG-1", "device_type": "string",
                                      "name": "Roof", "poll_interval_s": 30})
    assert r.status_code == 201 and r.headers["location"] == f"/v1/inverters/{r.json()['id']}"
    body = r.json()
    assert set(body) == {"id", "brand", "serial", "device_type", "name", "poll_interval_s", "latitude", "longitude",
                         "latest", "connection_id"}
    assert body["poll_interval_s"] == 30 and body["latest"] is None and body["connection_id"] is None
    assert "token" not in json.dumps(body)
    assert a.get(f"/v1/inverters/{body['id']}").json() == body
    assert a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-REG-1"}).status_code == 409
    assert body["id"] in [i["id"] for i in a.get("/v1/inverters").json()["items"]]
    b = tenant_api("tenant-b")
    assert b.get(f"/v1/inverters/{body['id']}").status_code == 404
    assert body["id"] not in [i["id"] for i in b.get("/v1/inverters").json()["items"]]
    assert b.get("/v1/inverters", params={"cursor": "bm9wZQ=="}).status_code == 400


@pytest.mark.parametrize(("payload", "status"), [
    ({"brand": "sandbox", "serial": "A", "credentials": "x"}, 422),
    ({"brand": "nope", "serial": "A"}, 422),
    ({"brand": "sandbox", "serial": "A", "poll_interval_s": 1}, 422),
    ({"brand": "growatt", "serial": "A"}, 422),
    ({"serial": "A"}, 422),
    ("not json", 400),
])
def test_bad_registrations_are_4xx_problems(
        tenant_api: Callable[[str], TestClient], payload: object, status: int) -> None:
    client = tenant_api("tenant-a")
    r = client.post("/v1/inverters", content=payload) if isinstance(payload, str) else \
        client.post("/v1/inverters", json=payload)
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")


def test_unauthenticated_is_401(tenant_api: Callable[[str], TestClient]) -> None:
    client = tenant_api("tenant-a")
    del client.headers["authorization"]
    assert client.get("/v1/inverters").status_code == 401


async def test_readings_history_and_stream_token(
        tenant_api: Callable[[str], TestClient], tables: Tables,
        sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    a = tenant_api("tenant-a")
    inverter = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-API-1", "poll_interval_s": 5}).json()
    url, _ = sandbox(0)
    t0 = utcnow().replace(microsecond=0) + timedelta(seconds=1)  # after registration; whole ms for the store
    adapters = {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}
    settings = PollSettings(tables.inverters, tables.readings, None, adapters)
    async with open_poller(settings) as (poller, _):
        for n in range(3):
            await poller.cycle(now=t0 + timedelta(seconds=5 * n))
    got = a.get(f"/v1/inverters/{inverter['id']}").json()
    assert got["latest"]["inverter_id"] == inverter["id"]
    items = a.get(f"/v1/inverters/{inverter['id']}/readings").json()["items"]
    assert len(items) == 3 and items[-1] == got["latest"] and items[0]["ts"] < items[-1]["ts"]
    since = a.get(f"/v1/inverters/{inverter['id']}/readings", params={"since": items[1]["ts"], "limit": 1}).json()
    assert since["items"] == [items[1]]
    assert a.get(f"/v1/inverters/{inverter['id']}/readings", params={"since": "yesterday"}).status_code == 422
    assert a.get(f"/v1/inverters/{inverter['id']}/readings", params={"limit": 0}).status_code == 422

    token = a.post(f"/v1/inverters/{inverter['id']}/stream-token").json()
    assert stream_tokens.verify(env().stream_token_secret, token["token"], inverter["id"]) == "tenant-a"
    assert tenant_api("tenant-b").post(f"/v1/inverters/{inverter['id']}/stream-token").status_code == 404


def test_the_poller_never_logs_a_vendor_credential(
        fresh_env: None, tables: Tables, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    # Given an Enphase system whose vendor answers 404 (any HTTP server will do), with credentials set
    register(InverterStore(tables.inverters), "t", InverterCreate(brand=Brand.enphase, serial="1234567"))
    monkeypatch.setenv("STEADFAST_ENPHASE_URL", sandbox(5)[0])
    monkeypatch.setenv("ENPHASE_API_KEY", "key-that-must-not-leak")
    monkeypatch.setenv("ENPHASE_ACCESS_TOKEN", "token-that-must-not-leak")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with caplog.at_level(logging.DEBUG):
        summary = poller_app.handler({}, LocalContext("poller", 60))
    # Then the device failed and was logged, and neither credential appears anywhere in the output
    assert summary["vendor_calls"] == 1
    output = capsys.readouterr().out + "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "vendor_error: HTTP 404" in output
    assert "must-not-leak" not in output
