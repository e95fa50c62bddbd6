"""The sandbox vendor: physics that add up (night, counters, battery, power balance, determinism) and
an API with a real vendor's quirks (form encoding, token, batch size, per-device rate limit, stats)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.sandbox.physics import Simulator, clear_sky_ghi, site_for, sun_elevation_deg
from functions.sandbox.vendor import MAX_SERIALS, SandboxVendor
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN

NOON_UTC = datetime(2026, 6, 21, 12, 0, tzinfo=UTC).timestamp()
FORM = {"x-sandbox-token": DEV_SANDBOX_TOKEN, "content-type": "application/x-www-form-urlencoded"}


def test_sun_is_up_at_local_noon_and_down_at_local_midnight() -> None:
    assert sun_elevation_deg(51.5, 0.0, NOON_UTC) == pytest.approx(90 - 51.5 + 23.44, abs=0.5)  # London, June
    assert sun_elevation_deg(51.5, 0.0, NOON_UTC + 12 * 3600) < 0
    assert sun_elevation_deg(51.5, 180.0, NOON_UTC) < 0  # the other side of the world
    assert clear_sky_ghi(-5) == 0 and clear_sky_ghi(60) == pytest.approx(890, abs=1)  # Haurwitz


def test_a_day_of_a_hybrid_site_adds_up() -> None:
    site = site_for("SBX-DAY-1", hybrid=True)
    sim = Simulator.start(site, NOON_UTC)
    midnight_local = NOON_UTC - ((NOON_UTC + site.utc_offset_s) % 86400) + 86400
    t = NOON_UTC
    while t < midnight_local - 60:  # to just before the next local midnight, in poll-sized steps
        before = (sim.energy_today_wh, sim.energy_total_wh)
        v = sim.advance(t := t + 60)
        assert v["energy_today_wh"] - before[0] == pytest.approx(v["energy_total_wh"] - before[1], abs=1e-6)
        assert v["energy_today_wh"] >= before[0]
        assert v["load_w"] == pytest.approx(v["ac_w"] + v["grid_w"])  # grid covers what the inverter does not
        assert site.battery_wh * 0.099 <= sim.soc_wh <= site.battery_wh * 1.0001
        if sun_elevation_deg(site.latitude, site.longitude, t) <= 0:
            assert v["pv_w"] == 0
    v = sim.advance(midnight_local + 60)
    assert v["energy_today_wh"] < 5  # a new local day starts from zero


def test_sites_are_deterministic_per_serial() -> None:
    assert site_for("SBX-1", True) == site_for("SBX-1", True) != site_for("SBX-2", True)
    a, b = Simulator.start(site_for("SBX-1", True), NOON_UTC), Simulator.start(site_for("SBX-1", True), NOON_UTC)
    assert a.advance(NOON_UTC + 300) == b.advance(NOON_UTC + 300)


def vendor(min_interval_s: float = 5.0) -> tuple[SandboxVendor, list[float]]:
    clock = [NOON_UTC]
    return SandboxVendor(token=DEV_SANDBOX_TOKEN, min_interval_s=min_interval_s, clock=lambda: clock[0]), clock


def last_data(v: SandboxVendor, body: str, headers: dict[str, str] = FORM) -> tuple[int, Any, dict[str, str]]:
    r = v.handle("POST", "/v1/devices/last-data", headers, body.encode())
    return r.status, json.loads(r.json()), r.headers


def test_field_names_differ_by_device_type() -> None:
    v, _ = vendor()
    _, hybrid, _ = last_data(v, "deviceType=hybrid&serials=H1")
    _, string, _ = last_data(v, "deviceType=string&serials=S1")
    assert {"pvW", "socPct", "eDayWh"} <= set(hybrid["data"]["H1"])
    assert {"ppv", "pac", "eToday", "time", "tzOffsetMin"} <= set(string["data"]["S1"])
    v.clock = lambda: NOON_UTC + 10
    _, mismatch, _ = last_data(v, "deviceType=string&serials=H1")
    assert mismatch["data"]["H1"]["err"] == "type_mismatch"


@pytest.mark.parametrize(("body", "headers", "status"), [
    ("deviceType=hybrid&serials=A", {**FORM, "x-sandbox-token": "wrong"}, 401),
    ('{"deviceType": "hybrid"}', {**FORM, "content-type": "application/json"}, 415),
    ("deviceType=inverter&serials=A", FORM, 400),
    ("deviceType=hybrid&serials=" + ",".join(f"S{i}" for i in range(MAX_SERIALS + 1)), FORM, 413),
])
def test_requests_a_vendor_would_refuse(body: str, headers: dict[str, str], status: int) -> None:
    assert last_data(vendor()[0], body, headers)[0] == status


def test_per_device_rate_limit_and_stats() -> None:
    v, clock = vendor(min_interval_s=5)
    assert last_data(v, "deviceType=hybrid&serials=A,B")[0] == 200
    clock[0] += 2
    status, body, headers = last_data(v, "deviceType=hybrid&serials=A")
    assert status == 429 and headers["Retry-After"] == "2"  # 5 s interval, 20 % tolerance, 2 s elapsed
    clock[0] += 0.5
    status, body, _ = last_data(v, "deviceType=hybrid&serials=A,C")  # C is fresh: a 200 with A refused
    assert status == 200 and body["data"]["A"]["err"] == "rate_limited" and "pvW" in body["data"]["C"]
    clock[0] += 1.5  # 4 s after the first: on time within the tolerance
    assert last_data(v, "deviceType=hybrid&serials=A")[0] == 200
    assert v.stats() == {"requests": {"A": 4, "B": 1, "C": 1}, "served": {"A": 2, "B": 1, "C": 1}, "rate_limited": 2}


def test_the_deployed_handler_serves_an_http_api_event() -> None:
    from functions.sandbox import app as handler

    form = base64.b64encode(b"deviceType=string&serials=L1").decode()
    event = {"rawPath": "/v1/devices/last-data", "requestContext": {"http": {"method": "POST"}},
             "headers": {"X-Sandbox-Token": DEV_SANDBOX_TOKEN, "Content-Type": "application/x-www-form-urlencoded"},
             "body": form, "isBase64Encoded": True}
    response = handler.handler(event, None)
    assert response["statusCode"] == 200 and "ppv" in json.loads(response["body"])["data"]["L1"]
    stats = handler.handler({"rawPath": "/_stats", "requestContext": {"http": {"method": "GET"}}}, None)
    assert json.loads(stats["body"])["requests"]["L1"] == 1


@pytest.mark.parametrize("control", [
    {"serial": "C1", "offline": "false"},  # bool("false") is True: this took the device away
    {"serial": "C1", "offline": "yes"},
    {"serial": "C1", "offline": 1},
    {"serial": "C1"},
    {"serial": 7, "offline": True},
    {"serial": "", "offline": True},
    ["C1", True],
])
def test_the_offline_control_takes_a_serial_and_a_json_boolean(control: object) -> None:
    v, _ = vendor()
    answer = v.handle("POST", "/_control/offline", {}, json.dumps(control).encode())
    assert answer.status == 400 and answer.body["code"] == 10
    assert v.offline == set()
    assert v.handle("POST", "/_control/offline", {}, b'{"serial": "C1", "offline": true}').body == {"offline": ["C1"]}
    assert v.handle("POST", "/_control/offline", {}, b'{"serial": "C1", "offline": false}').body == {"offline": []}


def test_a_wrong_method_or_path_is_a_json_answer_with_allow() -> None:
    from starlette.testclient import TestClient

    from functions.sandbox.asgi import create_app

    with TestClient(create_app(vendor()[0])) as client:
        for method, path, allow in (("DELETE", "/_stats", "GET"), ("PUT", "/v1/devices/last-data", "POST"),
                                    ("GET", "/v1/devices/last-data", "POST"), ("PATCH", "/_control/offline", "POST")):
            r = client.request(method, path)
            assert r.status_code == 405 and r.headers["content-type"] == "application/json", (method, path, r.text)
            assert r.json()["code"] == 405 and r.headers["allow"] == allow
        r = client.get("/nope")
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
