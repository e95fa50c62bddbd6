"""The Growatt adapter and the sandbox's Growatt-shaped payloads held to an independent oracle: the
growatt-public-api package's pydantic models of every v4 response (device list, last data per family).
Every field name the adapter reads is one the oracle documents for that family; the sandbox's answers and
the recorded fixtures validate against the oracle's models, and what the oracle reads from them is what
the adapter reads; status codes are mapped per family (a discharging battery is not a fault)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from growatt_public_api.pydantic_models import api_v4 as oracle
from pydantic import BaseModel

from functions.sandbox.growatt import FAMILIES, GrowattFace, account_devices
from shared.telemetry.adapters import growatt
from shared.telemetry.models import Brand, DeviceStatus, Reading
from tests.unit.telemetry.helpers import T0, device, fixture

RESPONSE: dict[str, type[BaseModel]] = {
    "inv": oracle.InverterEnergyV4, "storage": oracle.StorageEnergyV4, "max": oracle.MaxEnergyV4,
    "sph": oracle.SphEnergyV4, "spa": oracle.SpaEnergyV4, "min": oracle.MinEnergyV4, "wit": oracle.WitEnergyV4,
    "sph-s": oracle.SphsEnergyV4, "noah": oracle.NoahEnergyV4,
}
ROW: dict[str, type[BaseModel]] = {
    "inv": oracle.InverterEnergyDataV4, "storage": oracle.StorageEnergyDataV4, "max": oracle.MaxEnergyDataV4,
    "sph": oracle.SphEnergyDataV4, "spa": oracle.SpaEnergyDataV4, "min": oracle.MinEnergyDataV4,
    "wit": oracle.WitEnergyDataV4, "sph-s": oracle.SphsEnergyDataV4, "noah": oracle.NoahEnergyDataV4,
}
TOKEN = "gw-oracle-account"


def documented(family: str) -> set[str]:
    return {f.alias or name for name, f in ROW[family].model_fields.items()}


def answer(family: str, clock: float = T0.timestamp()) -> dict[str, Any]:
    face = GrowattFace(lambda: clock, {})
    serial = next(sn for sn, f in account_devices(TOKEN).items() if f == family)
    status, body = face.handle("/v4/new-api/queryLastData", {"token": TOKEN},
                               f"deviceType={family}&deviceSn={serial}".encode())
    assert status == 200
    return body


def test_the_adapter_claims_exactly_the_oracles_families() -> None:
    assert set(growatt.FIELDS) == set(RESPONSE) == set(FAMILIES) == set(growatt.STATUS)


@pytest.mark.parametrize("family", sorted(RESPONSE))
def test_every_field_the_adapter_reads_is_documented_for_its_family(family: str) -> None:
    names = documented(family)
    for field, candidates in growatt.FIELDS[family].items():
        assert names & set(candidates), f"{family}.{field}: none of {candidates} in the oracle"
    for pair in (growatt._BATTERY.get(family), growatt._GRID.get(family)):
        assert pair is None or set(pair) <= names, f"{family}: {pair}"
    # the last-data timestamp: `calendar` or `timeCalendar` where the family has one, else `time`
    assert names & {"calendar", "timeCalendar", "time"}


@pytest.mark.parametrize("family", sorted(RESPONSE))
def test_the_sandboxs_growatt_payloads_are_what_the_oracle_models(family: str) -> None:
    body = answer(family)
    parsed = RESPONSE[family].model_validate(body)
    assert parsed.error_code == 0  # type: ignore[attr-defined]
    (row,) = parsed.data.devices  # type: ignore[attr-defined]
    d = device(body["data"][family][0]["serialNum"], Brand.growatt, family)
    ours = growatt.normalize(d.id, family, body["data"][family][0], T0)
    assert isinstance(ours, Reading) and ours.ts == T0  # from calendar/timeCalendar/time, never the poll time
    pv = getattr(row, "ppv_inverter" if family == "spa" else "ppv")
    assert ours.pv_power_w == pv and ours.ac_power_w == getattr(row, "pac", None)
    today = getattr(row, "power_today" if family == "inv" else "eac_today", None)
    assert ours.energy_today_kwh == today


def test_the_sandboxs_device_list_is_what_the_oracle_models() -> None:
    face = GrowattFace(lambda: T0.timestamp(), {})
    _, body = face.handle("/v4/new-api/queryDeviceList", {"token": TOKEN}, b"page=1")
    listing = oracle.DeviceListV4.model_validate(body)
    assert {(d.device_sn, d.device_type) for d in listing.data.data} == set(account_devices(TOKEN).items())  # type: ignore[union-attr]


@pytest.mark.parametrize("family", ["inv", "min", "sph", "storage"])
def test_recorded_fixtures_validate_against_the_oracle(family: str) -> None:
    parsed = RESPONSE[family].model_validate(fixture(f"growatt_v4_{family}.json"))
    assert parsed.error_code == 0 and len(parsed.data.devices) >= 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("family", "code", "expected"), [
    # storage: the oracle's details model says 3 discharging, 4 error; its last-data model 3 fault, 4 flash
    ("storage", 3, DeviceStatus.unknown),  # never a fault from the code alone: statusText decides
    ("storage", 4, DeviceStatus.unknown),
    ("storage", 0, DeviceStatus.unknown),  # offline (details) or operating (last data)
    ("storage", 2, DeviceStatus.normal),  # charging (details) or discharging (last data): normal either way
    ("inv", 3, DeviceStatus.fault),
    ("inv", 0, DeviceStatus.standby),
    ("min", 5, DeviceStatus.normal),
    ("noah", 4, DeviceStatus.fault),
    ("sph-s", 2, DeviceStatus.unknown),  # documented as standby in one model, fault in the other
])
def test_status_codes_are_mapped_per_family(family: str, code: int, expected: DeviceStatus) -> None:
    assert growatt.status_of(family, {"status": code}) == expected


def test_the_vendors_status_text_decides_before_the_code() -> None:
    assert growatt.status_of("storage", {"status": 2, "statusText": "Discharge"}) == DeviceStatus.normal
    assert growatt.status_of("storage", {"status": 3, "statusText": "Discharge"}) == DeviceStatus.normal
    assert growatt.status_of("storage", {"status": 3, "statusText": "Fault"}) == DeviceStatus.fault
    assert growatt.status_of("storage", {"status": 4, "statusText": "Error"}) == DeviceStatus.fault
    assert growatt.status_of("sph", {"status": 5, "statusText": "sph.status.fault"}) == DeviceStatus.fault
    assert growatt.status_of("inv", {"status": 1, "statusText": "inverter.status.lost"}) == DeviceStatus.offline
    assert growatt.status_of("min", {"status": 1, "lost": True}) == DeviceStatus.offline


@pytest.mark.parametrize("raw", [
    {"timeCalendar": 1716627393328, "time": "2024-05-25 16:56:33"},  # inv: no `calendar`
    {"calendar": 1716627393328},
    {"calendar": {"timeInMillis": 1716627393328, "timeZone": {"id": "Asia/Shanghai"}}},  # a Java Calendar
    {"time": 1716627393328},  # noah: `time` is epoch ms
])
def test_last_data_timestamps_under_every_name(raw: dict[str, object]) -> None:
    assert growatt.timestamp(raw, T0) == datetime.fromtimestamp(1716627393.328, UTC)


def test_a_zoneless_wall_clock_time_is_stamped_with_the_poll() -> None:
    assert growatt.timestamp({"time": "2024-05-25 16:56:33"}, T0) == T0
