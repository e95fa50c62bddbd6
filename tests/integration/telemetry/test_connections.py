"""Connections and ownership through the submit function (API Gateway emulation, moto, the sandbox vendor
over HTTP with accounts): credentials checked by listing devices and never returned or stored in clear,
the vendor's reason on refusal, device types from discovery, and tenant B unable to see, register or
read tenant A's device through any telemetry route or through the poller."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest
from starlette.testclient import TestClient

from functions.sandbox.growatt import account_devices
from functions.sandbox.vendor import SandboxVendor
from shared.config import env
from shared.envelope import sealer
from shared.telemetry.connection_adapters import ConnectionAdapterCache
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.credentials import Credentials
from shared.telemetry.models import Brand, utcnow
from shared.telemetry.policies import LIMITS
from shared.telemetry.runtime import PollSettings, build_adapters, open_poller
from shared.telemetry.settings import telemetry_env
from shared.telemetry.vault import Vault
from tests.integration.telemetry.conftest import Tables

pytestmark = pytest.mark.integration

Client = Callable[[str], TestClient]


@pytest.fixture
def vendor(sandbox: Callable[[float], tuple[str, SandboxVendor]], monkeypatch: pytest.MonkeyPatch) -> SandboxVendor:
    url, state = sandbox(0)
    monkeypatch.setenv("STEADFAST_SANDBOX_URL", url)
    return state


def connect(client: TestClient, token: str) -> dict[str, object]:
    r = client.post("/v1/connections", json={"brand": "sandbox", "name": "Home", "credentials": {"token": token}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_connection_lists_the_accounts_devices_and_never_shows_its_credentials(
        tenant_api: Client, vendor: SandboxVendor, tables: Tables) -> None:
    a = tenant_api("tenant-a")
    con = connect(a, "acct-alice-credential")
    assert con["id"].startswith("con_") and con["status"] == "active" and con["name"] == "Home"  # type: ignore[union-attr]
    expected = vendor.account_serials("acct-alice-credential")
    assert {(d["serial"], d["device_type"]) for d in con["devices"]} == set(expected.items())  # type: ignore[union-attr]
    assert a.get(f"/v1/connections/{con['id']}").json() == con
    assert [c["id"] for c in a.get("/v1/connections").json()["items"]] == [con["id"]]
    assert {d["serial"] for d in a.get(f"/v1/connections/{con['id']}/devices").json()["items"]} == set(expected)
    # The secret is in no answer and not in clear in the table
    items = boto3.client("dynamodb").scan(TableName=tables.inverters)["Items"]
    assert "acct-alice-credential" not in json.dumps(items) + json.dumps(con)
    # Another tenant sees nothing of it
    b = tenant_api("tenant-b")
    assert b.get(f"/v1/connections/{con['id']}").status_code == 404
    assert b.get(f"/v1/connections/{con['id']}/devices").status_code == 404
    assert b.delete(f"/v1/connections/{con['id']}").status_code == 404
    assert b.get("/v1/connections").json()["items"] == []
    a = tenant_api("tenant-a")
    assert a.delete(f"/v1/connections/{con['id']}").status_code == 204
    assert a.get(f"/v1/connections/{con['id']}").status_code == 404


@pytest.mark.parametrize(("body", "detail"), [
    ({"brand": "sandbox", "credentials": {"token": "not-a-token"}}, "invalid token"),
    ({"brand": "sandbox", "credentials": {}}, "/credentials/token"),
    ({"brand": "enphase", "credentials": {"api_key": "k"}}, "/credentials/access_token"),
    ({"brand": "sandbox", "credentials": {"token": "t", "extra": "x"}}, "/credentials/extra"),
])
def test_refused_or_malformed_credentials_are_422_with_the_reason(
        tenant_api: Client, vendor: SandboxVendor, body: dict[str, object], detail: str) -> None:
    r = tenant_api("tenant-a").post("/v1/connections", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert detail in json.dumps(r.json())
    assert "not-a-token" not in r.text


@pytest.mark.parametrize(("credentials", "pointer", "kind"), [
    ({}, "/credentials/token", "missing"),
    ({"token": ""}, "/credentials/token", "string_too_short"),
    ({"token": 123}, "/credentials/token", "string_type"),
    ({"token": "acct-alice-x", "extra": 1}, "/credentials/extra", "extra_forbidden"),
    ({"token": "acct-alice-x", "extra": "x"}, "/credentials/extra", "extra_forbidden"),
])
def test_each_credentials_problem_points_at_its_field(
        tenant_api: Client, vendor: SandboxVendor, credentials: dict[str, object], pointer: str, kind: str) -> None:
    # Was one problem pointing at the whole body ("") with the fields in a sentence, or, for a number where
    # a string belongs, `/credentials/extra` "Input should be a valid string" instead of "not permitted".
    r = tenant_api("tenant-a").post("/v1/connections", json={"brand": "sandbox", "credentials": credentials})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [(e["pointer"], e["type"]) for e in r.json()["errors"]] == [(pointer, kind)]
    assert "acct-alice-x" not in r.text


def test_an_unknown_connection_or_serial_points_at_its_field(tenant_api: Client, vendor: SandboxVendor) -> None:
    a = tenant_api("tenant-a")
    for body, pointer in (({"brand": "sandbox", "serial": "SBX-1", "connection_id": "con_nope"}, "/connection_id"),
                          ({"brand": "sandbox", "serial": "SBX-1", "connection_id": connect(a, "acct-alice-ptr")["id"]},
                           "/serial")):
        r = a.post("/v1/inverters", json=body)
        assert r.status_code == 422, r.text
        assert [e["pointer"] for e in r.json()["errors"]] == [pointer]


def test_registering_through_a_connection_takes_the_type_from_discovery(
        tenant_api: Client, vendor: SandboxVendor) -> None:
    a = tenant_api("tenant-a")
    con = connect(a, "acct-alice-types")
    hybrid, string = sorted(vendor.account_serials("acct-alice-types"))[:2]
    r = a.post("/v1/inverters", json={"brand": "sandbox", "serial": string, "connection_id": con["id"]})
    assert r.status_code == 201 and r.json()["device_type"] == "string" and r.json()["connection_id"] == con["id"]
    contradicting = a.post("/v1/inverters", json={"brand": "sandbox", "serial": hybrid, "device_type": "string",
                                                  "connection_id": con["id"]})
    assert contradicting.status_code == 422 and "hybrid" in contradicting.json()["detail"]
    assert [e["pointer"] for e in contradicting.json()["errors"]] == ["/device_type"]  # it had a detail only
    unseen = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-NOT-MINE", "connection_id": con["id"]})
    assert unseen.status_code == 422 and "not among the devices" in unseen.json()["detail"]
    assert a.post("/v1/inverters", json={"brand": "sandbox", "serial": string, "connection_id": "con_nope"}
                  ).status_code == 422


async def test_tenant_b_can_neither_see_nor_register_nor_read_tenant_as_device(
        tenant_api: Client, vendor: SandboxVendor, tables: Tables) -> None:
    # Given tenant A's device under A's own connection, and a device A registered under the shared connection
    a = tenant_api("tenant-a")
    con_a = connect(a, "acct-alice-owner")
    serial = sorted(vendor.account_serials("acct-alice-owner"))[0]
    own = a.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "connection_id": con_a["id"]}).json()
    shared = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-SHARED-OWNER-1"}).json()
    assert own["device_type"] == "hybrid" and shared["connection_id"] is None

    # When tenant B tries every way in
    b = tenant_api("tenant-b")
    con_b = connect(b, "acct-bob-intruder")
    through_b = b.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "connection_id": con_b["id"]})
    through_a = b.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "connection_id": con_a["id"]})
    through_shared = b.post("/v1/inverters", json={"brand": "sandbox", "serial": serial})
    taken = b.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-SHARED-OWNER-1"})

    # Then A's device is unregistrable to B: not seen by B's account, A's connection is not B's, the shared
    # account does not see an account's device, and a shared serial belongs to its first tenant (409)
    assert through_b.status_code == 422 and through_a.status_code == 422 and through_shared.status_code == 422
    assert taken.status_code == 409 and "another tenant" in taken.json()["detail"]
    # And invisible on every route
    for inverter in (own, shared):
        for path in ("", "/readings"):
            assert b.get(f"/v1/inverters/{inverter['id']}{path}").status_code == 404
        assert b.post(f"/v1/inverters/{inverter['id']}/stream-token").status_code == 404
    assert b.get("/v1/inverters").json()["items"] == []

    # And a poll reads A's device with A's credentials only (the shared token would get no_permission)
    settings = PollSettings(tables.inverters, tables.readings, None,
                            build_adapters(telemetry_env(), Credentials({})),
                            connections=ConnectionAdapterCache(ConnectionStore(tables.inverters),
                                                               Vault(sealer(env())), telemetry_env()))
    async with open_poller(settings) as (poller, _):
        report = await poller.cycle(now=utcnow() + timedelta(seconds=1))
    assert report.vendors["sandbox"].readings == 2 and report.vendors["sandbox"].failures == 0
    a = tenant_api("tenant-a")
    assert a.get(f"/v1/inverters/{own['id']}").json()["latest"]["inverter_id"] == own["id"]


async def test_growatt_discovery_stores_each_familys_type_and_the_poll_reads_every_family(
        tenant_api: Client, vendor: SandboxVendor, tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the sandbox's Growatt-v4 face as the stage's Growatt API, and an account with one device per family
    monkeypatch.setenv("STEADFAST_GROWATT_URL", os.environ["STEADFAST_SANDBOX_URL"])
    a = tenant_api("tenant-a")
    refused = a.post("/v1/connections", json={"brand": "growatt", "credentials": {"token": "wrong"}})
    assert refused.status_code == 422 and "Invalid Secret Token" in refused.json()["detail"]
    con = a.post("/v1/connections", json={"brand": "growatt", "credentials": {"token": "gw-tenant-a-plant"}}).json()
    expected = account_devices("gw-tenant-a-plant")
    assert {(d["serial"], d["device_type"]) for d in con["devices"]} == set(expected.items())

    # When every device is registered without a type, then each stored type is the one discovery named
    stored = {}
    for serial in expected:
        r = a.post("/v1/inverters", json={"brand": "growatt", "serial": serial, "connection_id": con["id"]})
        assert r.status_code == 201, r.text
        stored[serial] = r.json()["device_type"]
    assert stored == expected

    # And one poll reads every family with the connection's token (one request per family)
    settings = PollSettings(tables.inverters, tables.readings, None, {},
                            connections=ConnectionAdapterCache(ConnectionStore(tables.inverters),
                                                               Vault(sealer(env())), telemetry_env()))
    async with open_poller(settings) as (poller, _):
        poller.limits = {**poller.limits, Brand.growatt: replace(LIMITS[Brand.growatt], rate_per_s=50, burst=50)}
        report = await poller.cycle(now=utcnow() + timedelta(seconds=1))
    assert report.vendors["growatt"].vendor_calls == len(expected)
    assert report.vendors["growatt"].readings == len(expected) and report.vendors["growatt"].failures == 0


async def test_a_deleted_connection_is_never_polled_again_by_a_warm_poller(
        tenant_api: Client, vendor: SandboxVendor, tables: Tables) -> None:
    # Given a device under tenant A's connection, polled once by a poller that keeps its credentials open
    a = tenant_api("tenant-a")
    con = connect(a, "acct-alice-revokes")
    serial = sorted(vendor.account_serials("acct-alice-revokes"))[0]
    assert a.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "connection_id": con["id"]}
                  ).status_code == 201
    settings = PollSettings(tables.inverters, tables.readings, None, {},
                            connections=ConnectionAdapterCache(ConnectionStore(tables.inverters),
                                                               Vault(sealer(env())), telemetry_env()))
    async with open_poller(settings) as (poller, _):
        first = await poller.cycle(now=utcnow() + timedelta(seconds=1))
        assert first.vendors["sandbox"].readings == 1 and vendor.requests[serial] == 1
        # When A deletes the connection (revoking the credentials), Then the next cycle calls the vendor with them
        # no more, though the poller had them open
        assert a.delete(f"/v1/connections/{con['id']}").status_code == 204
        second = await poller.cycle(now=utcnow() + timedelta(seconds=120))
    assert vendor.requests[serial] == 1
    assert "sandbox" not in second.vendors or second.vendors["sandbox"].readings == 0
    assert poller.connections is not None and con["id"] not in poller.connections._cache
