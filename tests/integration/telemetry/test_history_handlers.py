"""History and alert routes of the submit function (through the API Gateway emulation, against moto over
HTTP): a poll across several 5-minute and an hour boundary writes closed buckets beside the open ones,
the series agrees with the raw readings at every step, and the alert routes keep tenants apart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from starlette.testclient import TestClient

from functions.sandbox.vendor import SandboxVendor
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.models import Brand
from shared.telemetry.runtime import PollSettings, open_poller
from tests.integration.telemetry.conftest import Tables

pytestmark = pytest.mark.integration


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def test_series_from_closed_and_open_buckets_agrees_with_the_readings(
        tenant_api: Callable[[str], TestClient], tables: Tables,
        sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    # Given an inverter polled every 40 s (simulated) from hh:52 to hh+1:12
    a = tenant_api("tenant-a")
    inverter = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-HIST-1", "poll_interval_s": 5}).json()
    url, vendor = sandbox(0)
    t0 = datetime.now(UTC).replace(minute=52, second=0, microsecond=0) + timedelta(hours=2)  # due by then
    adapters = {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}
    settings = PollSettings(tables.inverters, tables.readings, None, adapters, rollups_table=tables.rollups)
    async with open_poller(settings) as (poller, _):
        for n in range(31):
            now = t0 + timedelta(seconds=40 * n)
            vendor.clock = now.timestamp
            await poller.cycle(now=now)

    # Then closed buckets were written (5-minute ones and the hour before 11:00), the open ones stayed on the item
    items = boto3.client("dynamodb").scan(TableName=tables.rollups)["Items"]
    assert {"5m", "1h"} <= {i["pk"]["S"].rsplit("#", 1)[1] for i in items}
    raw = a.get(f"/v1/inverters/{inverter['id']}/readings", params={"limit": 1000}).json()["items"]
    assert len(raw) == 31
    window = {"from": (t0 - timedelta(hours=1)).isoformat(), "to": (t0 + timedelta(hours=1)).isoformat()}
    for step, seconds in (("5m", 300), ("1h", 3600), ("1d", 86400)):
        series = a.get(f"/v1/inverters/{inverter['id']}/series", params={"step": step, **window}).json()["items"]
        assert sum(p["samples"] for p in series) == len(raw)
        for point in series:
            start = _epoch(point["ts"])
            members = [r for r in raw if start <= _epoch(r["ts"]) < start + seconds]
            assert point["samples"] == len(members) > 0
            assert point["pv_power_w"] == pytest.approx(sum(r["pv_power_w"] for r in members) / len(members),
                                                        abs=1e-2)
            assert point["load_power_w"] == pytest.approx(sum(r["load_power_w"] for r in members) / len(members),
                                                          abs=1e-2)
        assert sum(p["energy_kwh"] for p in series) == pytest.approx(
            raw[-1]["energy_total_kwh"] - raw[0]["energy_total_kwh"], abs=1e-6)
    assert len(a.get(f"/v1/inverters/{inverter['id']}/series", params={"step": "5m", **window}).json()["items"]) == 5

    # And another tenant gets a 404, bad windows a 422
    assert tenant_api("tenant-b").get(f"/v1/inverters/{inverter['id']}/series").status_code == 404
    a = tenant_api("tenant-a")
    assert a.get(f"/v1/inverters/{inverter['id']}/series", params={"step": "7m"}).status_code == 422
    assert a.get(f"/v1/inverters/{inverter['id']}/series", params={"from": window["to"], "to": window["from"]}
                 ).status_code == 422
    assert a.get("/v1/inverters/inv_nope/series").status_code == 404


def test_alert_rules_and_incidents_per_tenant(tenant_api: Callable[[str], TestClient]) -> None:
    a = tenant_api("tenant-a")
    inverter = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-AL-1"}).json()
    created = a.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "battery_below",
                                              "threshold": 20, "for_s": 600, "notify_url": "https://example.com/a"})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule | {"id": None, "created_at": None} == {
        "id": None, "created_at": None, "inverter_id": inverter["id"], "condition": "battery_below",
        "threshold": 20, "for_s": 600, "notify_url": "https://example.com/a"}
    everywhere = a.post("/v1/alert-rules", json={"condition": "offline", "notify_url": "https://example.com/b"})
    assert everywhere.status_code == 201 and everywhere.json()["for_s"] == 900
    # no coordinates: no_production cannot be judged for this inverter
    assert a.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "no_production",
                                           "notify_url": "https://example.com/a"}).status_code == 422
    # the SSRF guard: loopback and metadata addresses are refused outside the local stack
    blocked = a.post("/v1/alert-rules", json={"condition": "offline", "notify_url": "http://169.254.169.254/x"})
    assert blocked.status_code == 422 and blocked.headers["content-type"].startswith("application/problem+json")
    assert {r["id"] for r in a.get("/v1/alert-rules").json()["items"]} == {rule["id"], everywhere.json()["id"]}
    assert a.get("/v1/incidents", params={"state": "open"}).json() == {"items": [], "next_cursor": None}
    assert a.get("/v1/incidents", params={"state": "sideways"}).status_code == 422

    b = tenant_api("tenant-b")
    assert b.get("/v1/alert-rules").json()["items"] == []
    assert b.delete(f"/v1/alert-rules/{rule['id']}").status_code == 404
    assert b.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "offline",
                                           "notify_url": "https://example.com/b"}).status_code == 422
    a = tenant_api("tenant-a")
    assert a.delete(f"/v1/alert-rules/{rule['id']}").status_code == 204
    assert a.delete(f"/v1/alert-rules/{rule['id']}").status_code == 404
    assert [r["id"] for r in a.get("/v1/alert-rules").json()["items"]] == [everywhere.json()["id"]]


@pytest.mark.parametrize(("route", "params", "parameter"), [
    ("readings", {"since": "1700000000"}, "since"),                 # epoch seconds are not RFC 3339
    ("readings", {"since": "2026-12-01"}, "since"),                 # a date is not a time
    ("readings", {"since": "2026-12-01T00:00:00"}, "since"),        # no zone
    ("readings", {"since": "9999-12-31T23:59:59-01:00"}, "since"),  # year 10000 in UTC
    ("readings", {"since": "0001-01-01T00:00:00+01:00"}, "since"),  # year 0 in UTC
    ("series", {"from": "1700000000"}, "from"),
    ("series", {"to": "9999-12-31T23:59:59-01:00"}, "to"),          # was a 500 (year 10000 in a sort key)
    ("series", {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02"}, "to"),
])
def test_times_that_are_not_rfc3339_instants_are_422_naming_the_parameter(
        tenant_api: Callable[[str], TestClient], route: str, params: dict[str, str], parameter: str) -> None:
    a = tenant_api("tenant-a")
    inverter = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-TIME-1"}).json()
    r = a.get(f"/v1/inverters/{inverter['id']}/{route}", params=params)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


@pytest.mark.parametrize(("route", "params"), [
    ("readings", {"since": "9999-12-31T23:59:59Z"}),
    ("readings", {"since": "0001-01-01T00:00:00Z"}),
    ("readings", {"since": "2026-12-01T00:00:00.123456789+05:30"}),
    ("series", {"to": "9999-12-31T23:59:59Z", "step": "1d"}),
    ("series", {"to": "0001-01-02T00:00:00Z", "step": "1d"}),     # the default 30 days reach before year 1
    ("series", {"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z", "step": "1h"}),
])
def test_far_past_and_far_future_times_are_empty_answers(
        tenant_api: Callable[[str], TestClient], route: str, params: dict[str, str]) -> None:
    a = tenant_api("tenant-a")
    inverter = a.post("/v1/inverters", json={"brand": "sandbox", "serial": "SBX-TIME-2"}).json()
    r = a.get(f"/v1/inverters/{inverter['id']}/{route}", params=params)
    assert r.status_code == 200 and r.json() == {"items": []}, r.text
