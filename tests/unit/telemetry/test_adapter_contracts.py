"""Contract tests: each adapter against payloads recorded in the vendors' documented shapes
(tests/fixtures/vendors), and against payloads that break those shapes, which must become a per-device
failure, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.telemetry.adapters import enphase, growatt, sandbox
from shared.telemetry.adapters.base import Failure, FailureKind
from shared.telemetry.models import Brand, DeviceStatus, Reading
from tests.unit.telemetry.helpers import T0, device, fixture, kind


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


# -- sandbox ------------------------------------------------------------------------------------------
def test_sandbox_hybrid_fields_and_units() -> None:
    d1, d3 = device("SBX-DEMO-0001"), device("SBX-DEMO-0003")
    outcomes = sandbox.parse(response(fixture("sandbox_hybrid.json")), [d1, d3]).outcomes
    r = outcomes[d1.id]
    assert isinstance(r, Reading)
    assert r.ts == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert (r.pv_power_w, r.ac_power_w, r.load_power_w, r.battery_power_w) == (1025.8, 423.9, 423.9, 566.0)
    assert r.energy_today_kwh == pytest.approx(7.688)  # sent in Wh
    assert r.energy_total_kwh == 17578.588 and r.battery_soc_pct == 89.5 and r.status == DeviceStatus.normal
    assert isinstance(outcomes[d3.id], Reading)


def test_sandbox_string_local_time_and_missing_meter() -> None:
    d2 = device("SBX-DEMO-0002", device_type="string")
    r = sandbox.parse(response(fixture("sandbox_string.json")), [d2]).outcomes[d2.id]
    assert isinstance(r, Reading)
    assert r.ts == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert (r.pv_power_w, r.ac_power_w, r.energy_today_kwh, r.temperature_c) == (6768.6, 6531.7, 30.926, 41.9)
    assert r.grid_power_w is None and r.load_power_w is None and r.battery_soc_pct is None


def test_sandbox_civil_time_offset_is_applied() -> None:
    d = device("S1", device_type="string")
    body = {"code": 0, "data": {"S1": {"time": "2026-11-22 13:00:00", "tzOffsetMin": 60, "status": 0, "ppv": 0,
                                       "pac": 0, "eToday": 0, "eTotal": 1, "temperature": 9}}}
    r = sandbox.parse(response(body), [d]).outcomes[d.id]
    assert isinstance(r, Reading) and r.ts == T0 and r.status == DeviceStatus.standby


def test_sandbox_per_device_errors_and_bad_fields_fail_only_that_device() -> None:
    ok, limited, broken, missing = (device(s) for s in ("A", "B", "C", "D"))
    good = fixture("sandbox_hybrid.json")["data"]["SBX-DEMO-0001"]
    body = {"code": 0, "data": {"A": good, "B": {"err": "rate_limited", "retryAfter": 3.5},
                                "C": {**good, "socPct": "lots"}}}
    outcomes = sandbox.parse(response(body), [ok, limited, broken, missing]).outcomes
    assert isinstance(outcomes[ok.id], Reading)
    assert outcomes[limited.id] == Failure(FailureKind.rate_limited, "device over its rate limit", 3.5)
    assert kind(outcomes[broken.id]) == FailureKind.bad_payload
    assert kind(outcomes[missing.id]) == FailureKind.vendor_error


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"code": 0, "data": []}', b"", b'{"data": {}}'])
def test_sandbox_unreadable_envelope_is_a_bad_payload(body: bytes) -> None:
    d = device("A")
    result = sandbox.parse(response(body), [d])
    assert kind(result.outcomes[d.id]) == FailureKind.bad_payload


def test_sandbox_429_backs_devices_off_but_leaves_the_vendor_open() -> None:
    d = device("A")
    result = sandbox.parse(response({"code": 429}, 429, {"Retry-After": "4"}), [d])
    assert result.outcomes[d.id] == Failure(FailureKind.rate_limited, "429 from the sandbox", 4.0)
    assert result.vendor_retry_after_s is None


# -- Growatt ------------------------------------------------------------------------------------------
def test_growatt_sph() -> None:
    d = device("OZD0849010", Brand.growatt, "sph")
    r = growatt.parse(response(fixture("growatt_v4_sph.json")), [d], T0).outcomes[d.id]
    assert isinstance(r, Reading)
    assert r.ts == datetime.fromtimestamp(1716618931.362, UTC)
    assert (r.pv_power_w, r.ac_power_w, r.energy_today_kwh, r.energy_total_kwh) == (1318.9, 1258.1, 8.6, 1714.4)
    assert r.status == DeviceStatus.normal and r.battery_soc_pct is None


def test_growatt_min_grid_is_import_minus_export() -> None:
    d = device("AFE494403F", Brand.growatt, "min")
    r = growatt.parse(response(fixture("growatt_v4_min.json")), [d], T0).outcomes[d.id]
    assert isinstance(r, Reading)
    assert (r.grid_power_w, r.load_power_w, r.battery_soc_pct) == (240.5, 351.4, 57)


def test_growatt_inv_uses_power_today_and_stamps_zoneless_time_with_the_poll() -> None:
    d = device("HTB1708008", Brand.growatt, "inv")
    r = growatt.parse(response(fixture("growatt_v4_inv.json")), [d], T0).outcomes[d.id]
    assert isinstance(r, Reading)
    assert (r.energy_today_kwh, r.energy_total_kwh, r.temperature_c) == (18.2, 139.3, 47.1)
    assert r.ts == T0  # "2024-05-25 16:56:33" has no zone: not trusted


def test_growatt_storage_soc_is_capacity() -> None:
    d = device("JNK1CJM0GR", Brand.growatt, "storage")
    r = growatt.parse(response(fixture("growatt_v4_storage.json")), [d], T0).outcomes[d.id]
    assert isinstance(r, Reading)
    assert r.battery_soc_pct == 76 and r.battery_power_w == -640.0  # discharging


def test_growatt_throttle_code_blocks_the_vendor() -> None:
    batch = [device("A", Brand.growatt, "sph"), device("B", Brand.growatt, "sph")]
    result = growatt.parse(response(fixture("growatt_v4_throttled.json")), batch, T0)
    assert result.vendor_retry_after_s == growatt.THROTTLE_COOLDOWN_S
    assert all(isinstance(o, Failure) and o.kind == FailureKind.rate_limited for o in result.outcomes.values())


def test_growatt_device_left_out_of_the_answer_and_a_broken_one_fail_alone() -> None:
    body = fixture("growatt_v4_sph.json")
    good = body["data"]["sph"][0]
    body["data"]["sph"].append({**good, "serialNum": "BROKEN0001", "pac": "n/a"})
    ok, broken, absent = (device(s, Brand.growatt, "sph") for s in ("OZD0849010", "BROKEN0001", "ABSENT0001"))
    outcomes = growatt.parse(response(body), [ok, broken, absent], T0).outcomes
    assert isinstance(outcomes[ok.id], Reading)
    assert kind(outcomes[broken.id]) == FailureKind.bad_payload
    assert kind(outcomes[absent.id]) == FailureKind.vendor_error


def test_growatt_bad_token_is_a_vendor_error() -> None:
    d = device("A", Brand.growatt, "sph")
    outcome = growatt.parse(response({"code": 2, "message": "Invalid Secret Token"}), [d], T0).outcomes[d.id]
    assert kind(outcome) == FailureKind.vendor_error


# -- Enphase ------------------------------------------------------------------------------------------
def test_enphase_summary_in_wh_and_epoch_seconds() -> None:
    d = device("1234567", Brand.enphase, "system")
    r = enphase.parse(response(fixture("enphase_v4_summary.json")), d, T0).outcomes[d.id]
    assert isinstance(r, Reading)
    assert r.ts == datetime.fromtimestamp(1748185800, UTC)
    assert (r.pv_power_w, r.ac_power_w) == (3450, 3450)
    assert r.energy_today_kwh == pytest.approx(24.12) and r.energy_total_kwh == pytest.approx(28456.321)
    assert r.status == DeviceStatus.normal and r.battery_soc_pct is None


def test_enphase_429_without_headers_closes_the_vendor_for_a_minute() -> None:
    d = device("1234567", Brand.enphase, "system")
    result = enphase.parse(response({"message": "Too Many Requests"}, 429), d, T0)
    assert result.vendor_retry_after_s == 60.0
    assert kind(result.outcomes[d.id]) == FailureKind.rate_limited


@pytest.mark.parametrize("mutate", [lambda b: b.pop("current_power"), lambda b: b.update(current_power="x"),
                                    lambda b: b.update(system_id=7654321)])
def test_enphase_mismatching_summary_is_a_bad_payload(mutate: Any) -> None:
    body = fixture("enphase_v4_summary.json")
    mutate(body)
    d = device("1234567", Brand.enphase, "system")
    outcome = enphase.parse(response(body), d, T0).outcomes[d.id]
    assert kind(outcome) == FailureKind.bad_payload
