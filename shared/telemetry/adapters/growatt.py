"""Adapter for Growatt OpenAPI v4: `POST /v4/new-api/queryLastData`, header `token`, form-urlencoded
`deviceType` + `deviceSn` (up to 100 serials, one device type per request).

The answer is `{"code": 0, "data": {"<deviceType>": [ {"serialNum": …, …}, … ]}, "message": …}`; a
device the token may not read is silently left out. Field names differ per device type (the v4
"last detailed data" pages for inv, storage, sph, spa, min, max, wit, sph-s, noah): `inv` reports
energy as `powerToday`/`powerTotal`, the hybrid families as `eacToday`/`eacTotal`, `storage` its SoC
as `capacity`; each family reads the names growatt-public-api's model of its last data documents (the
oracle in tests/unit/telemetry/test_growatt_oracle.py), with the alternatives the API has been seen to
return, and the rest stay null. Timestamps: `calendar` or `timeCalendar` (epoch ms, or a Java Calendar
with `timeInMillis`), noah's `time` in epoch ms; a zoneless wall-clock `time` is the plant's local time,
so the poll time stamps the reading instead of a guessed offset. Status codes differ per family.
Global codes 100 ("API access interval") and 102 ("access
frequency limit") throttle the whole token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.telemetry.adapters.base import (
    BatchResult,
    Failure,
    FailureKind,
    Outcome,
    PayloadError,
    VendorRefused,
    VendorUnreachable,
    by_device_type,
    fail_all,
    first_of,
    number,
    retry_after,
    transport_failure,
)
from shared.telemetry.connections import Device
from shared.telemetry.models import Brand, DeviceStatus, InverterRecord, Reading

QUERY_LAST_DATA = "/v4/new-api/queryLastData"
THROTTLE_CODES = frozenset({100, 102})
# The docs give no window for codes 100/102; a minute keeps every invocation off the token meanwhile.
THROTTLE_COOLDOWN_S = 60.0

# normalized field -> the vendor's names for it, per device type, first present wins (W, kWh, °C, %: no
# scaling). Each family's names are those of its last-data model in growatt-public-api; the alternatives
# are names the API returns other than documented (`soc` vs `bmsSoc`, `powerToday` vs `eacToday`).
Names = tuple[str, ...]
_COMMON: dict[str, Names] = {"pv_power_w": ("ppv",), "ac_power_w": ("pac",), "temperature_c": ("temperature",)}
_EAC: dict[str, Names] = {"energy_today_kwh": ("eacToday", "powerToday"),
                          "energy_total_kwh": ("eacTotal", "powerTotal")}
_SOC: dict[str, Names] = {"battery_soc_pct": ("soc", "bmsSoc")}
# The hybrid families document no `temperature`, only `temp1` ("Temperature 1", the inverter's).
_HYBRID: dict[str, Names] = {**_COMMON, "temperature_c": ("temp1", "temperature"), **_EAC}
FIELDS: dict[str, dict[str, Names]] = {
    "inv": {**_COMMON, "energy_today_kwh": ("powerToday", "eacToday"),
            "energy_total_kwh": ("powerTotal", "eacTotal")},
    "storage": {"pv_power_w": ("ppv",), "battery_soc_pct": ("capacity", "soc"), "temperature_c": ("temperature",)},
    "sph": {**_HYBRID, **_SOC},
    "sph-s": {**_HYBRID, **_SOC},
    "spa": {**_HYBRID, "pv_power_w": ("ppvInverter", "ppv"), **_SOC},
    "max": {**_COMMON, **_EAC},
    "wit": {**_HYBRID, "battery_soc_pct": ("soc",)},
    "min": {**_HYBRID, "load_power_w": ("pacToLocalLoad",), "battery_soc_pct": ("bmsSoc", "soc")},
    "noah": {"pv_power_w": ("ppv",), "ac_power_w": ("pac",), **_EAC,
             "battery_soc_pct": ("totalBatteryPackSoc", "soc")},
}
# Battery power as (charge, discharge) names, grid as (import "to user", export "to grid") names.
_BATTERY: dict[str, tuple[str, str]] = {"storage": ("pCharge", "pDischarge"), "sph": ("pcharge1", "pdischarge1"),
                                        "spa": ("pcharge1", "pdischarge1"), "sph-s": ("pcharge1", "pdischarge1")}
_GRID: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("min", "sph", "spa", "wit", "sph-s"), ("pacToUserTotal", "pacToGridTotal")),
    "storage": ("pacToUser", "pacToGrid")}
# Status codes per family, from growatt-public-api's v4 models (the oracle, tests/unit/vendors): the
# families disagree (3 is a fault on an inverter but a discharging battery on storage), so there is no
# one table for all. Where the oracle's last-data and details models disagree on a code (sph-s 2: standby or
# fault), it is left out and reads as unknown; `statusText`, when the answer has it, decides first.
_S, _N, _F = DeviceStatus.standby, DeviceStatus.normal, DeviceStatus.fault
# waiting, self-check, fault (last-data model), fault (details model), upgrading, normal modes 5-8
_HYBRID_STATUS = {0: _S, 1: _N, 2: _F, 3: _F, 4: _S, 5: _N, 6: _N, 7: _N, 8: _N}
STATUS: dict[str, dict[int, DeviceStatus]] = {
    "inv": {0: _S, 1: _N, 3: _F},  # waiting, normal, fault
    # The oracle's two storage models disagree on 0, 3 and 4: details (StorageDetailDataV4) has 0 offline,
    # 3 discharging, 4 error; last data (StorageEnergyDataV4, what queryLastData answers) 0 operating,
    # 3 fault, 4 flash. Those read as unknown unless `statusText` names them (last data carries it:
    # "Discharge", "Fault"), so that a discharging battery never pages anyone as a fault and a code that
    # may be one is not hidden as normal. 1 and 2 agree (online/charge, charge/discharge); 5 burning
    # (firmware), 6-14 charging and bypass modes are the details model's alone.
    "storage": {1: _N, 2: _N, 5: _S, **dict.fromkeys(range(6, 15), _N)},
    "max": {0: _S, 1: _N, 2: _N, 3: _F, 4: _S},  # standby, normal, discharge, fault, flash
    "sph": _HYBRID_STATUS, "spa": _HYBRID_STATUS, "min": _HYBRID_STATUS,
    "wit": {0: _S, 1: _N, 2: _F},
    "sph-s": {0: _S, 1: _N, 3: _F},
    "noah": {1: _N, 4: _F, 5: _N},  # normal, fault, heating
}
_STATUS_WORDS = (("fault", _F), ("error", _F), ("fail", _F), ("lost", DeviceStatus.offline),
                 ("offline", DeviceStatus.offline), ("wait", _S), ("standby", _S), ("normal", _N),
                 ("operating", _N), ("charg", _N), ("online", _N))


def status_of(device_type: str, raw: dict[str, object]) -> DeviceStatus:
    if raw.get("lost") is True:
        return DeviceStatus.offline
    text = first_of(raw, "statusText", "status_text")
    if isinstance(text, str):
        words = text.lower().rsplit(".", 1)[-1]  # "sph.status.fault" -> "fault"
        for word, status in _STATUS_WORDS:
            if word in words:
                return status
    code = number(raw.get("status"))
    if code is None:
        return DeviceStatus.unknown
    if code == -1:
        return DeviceStatus.offline
    return STATUS.get(device_type, {}).get(int(code), DeviceStatus.unknown)


def timestamp(raw: dict[str, object], now: datetime) -> datetime:
    """`calendar` (storage, max, sph, min…) or `timeCalendar` (inv, max): epoch ms, or a serialized Java
    Calendar carrying `timeInMillis`; `time` as epoch ms (noah). A zoneless wall-clock `time` is the
    plant's local time with no zone given: the poll's time stamps the reading rather than a guessed offset."""
    for name in ("calendar", "timeCalendar", "time"):
        value = raw.get(name)
        if isinstance(value, dict):
            value = first_of(value, "timeInMillis", "time")
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            continue
        ms = number(value)
        if ms:
            return datetime.fromtimestamp(ms / 1000, UTC)
    return now


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    message: str = ""
    data: dict[str, list[dict[str, object]]] | None = None


def normalize(inverter_id: str, device_type: str, raw: dict[str, object], now: datetime) -> Reading:
    values: dict[str, float | None] = {k: number(first_of(raw, *names)) for k, names in FIELDS[device_type].items()}
    if device_type in _BATTERY:
        charge, discharge = (number(raw.get(n)) for n in _BATTERY[device_type])
        if charge is not None or discharge is not None:
            values["battery_power_w"] = (charge or 0.0) - (discharge or 0.0)
    if device_type in _GRID:
        to_user, to_grid = (number(raw.get(n)) for n in _GRID[device_type])
        if to_user is not None and to_grid is not None:
            values["grid_power_w"] = to_user - to_grid  # "to user" is import, "to grid" export
    return Reading(inverter_id=inverter_id, ts=timestamp(raw, now), status=status_of(device_type, raw), **values)


def parse(response: httpx.Response, batch: Sequence[InverterRecord], now: datetime) -> BatchResult:
    if response.status_code == 429:
        wait = retry_after(response) or THROTTLE_COOLDOWN_S
        return BatchResult(fail_all(batch, Failure(FailureKind.rate_limited, "HTTP 429", wait)), wait)
    if response.status_code != 200:
        return BatchResult(fail_all(batch, Failure(FailureKind.vendor_error, f"HTTP {response.status_code}")))
    try:
        envelope = _Envelope.model_validate_json(response.content)
    except ValidationError as exc:
        return BatchResult(fail_all(batch, Failure(FailureKind.bad_payload, f"envelope: {exc.errors()[0]['msg']}")))
    if envelope.code in THROTTLE_CODES:
        failure = Failure(FailureKind.rate_limited, f"code {envelope.code}: {envelope.message}"[:200],
                          THROTTLE_COOLDOWN_S)
        return BatchResult(fail_all(batch, failure), THROTTLE_COOLDOWN_S)
    if envelope.code != 0:
        return BatchResult(fail_all(batch, Failure(FailureKind.vendor_error,
                                                   f"code {envelope.code}: {envelope.message}"[:200])))
    outcomes: dict[str, Outcome] = {}
    for device in batch:
        rows = (envelope.data or {}).get(device.device_type or "", [])
        raw = next((r for r in rows if r.get("serialNum") == device.serial), None)
        if raw is None:
            outcomes[device.id] = Failure(FailureKind.vendor_error, "not in the answer (no permission, or offline)")
            continue
        try:
            outcomes[device.id] = normalize(device.id, device.device_type or "", raw, now)
        except (PayloadError, ValidationError) as exc:
            outcomes[device.id] = Failure(FailureKind.bad_payload, str(exc).splitlines()[0][:200])
    return BatchResult(outcomes)


@dataclass(frozen=True)
class GrowattAdapter:
    base_url: str
    token: str
    brand: Brand = Brand.growatt

    def batches(self, devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
        return by_device_type(devices, size)

    async def fetch(self, http: httpx.AsyncClient, batch: Sequence[InverterRecord], now: datetime,
                    timeout_s: float) -> BatchResult:
        form = {"deviceType": batch[0].device_type or "", "deviceSn": ",".join(dict.fromkeys(d.serial for d in batch))}
        try:
            response = await http.post(self.base_url.rstrip("/") + QUERY_LAST_DATA, data=form,
                                       headers={"token": self.token}, timeout=timeout_s)
        except httpx.HTTPError as exc:
            return BatchResult(fail_all(batch, transport_failure(exc)))
        return parse(response, batch, now)


QUERY_DEVICE_LIST = "/v4/new-api/queryDeviceList"
# Codes of the v4 envelope that refuse the token itself (the rest are throttling or per-request errors).
_REFUSED_TOKEN = frozenset({2, 10011, 10013})


async def discover(http: httpx.AsyncClient, base_url: str, credentials: Mapping[str, str], serial: str | None,
                   timeout_s: float = 10.0) -> list[Device]:
    """Every device the token may read, with its `deviceType` (pages of 100; the list is the only set of
    devices queryLastData will answer for)."""
    devices: list[Device] = []
    for page in range(1, 51):
        try:
            response = await http.post(base_url.rstrip("/") + QUERY_DEVICE_LIST, data={"page": str(page)},
                                       headers={"token": credentials["token"]}, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise VendorUnreachable(transport_failure(exc).detail) from exc
        if response.status_code in (401, 403):
            raise VendorRefused(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise VendorUnreachable(f"growatt answered HTTP {response.status_code}")
        try:
            body = _DeviceListEnvelope.model_validate_json(response.content)
        except ValidationError as exc:
            raise VendorUnreachable("growatt answered without a device list") from exc
        if body.code != 0:
            if body.code in THROTTLE_CODES:
                raise VendorUnreachable(f"code {body.code}: {body.message}")
            raise VendorRefused(f"{body.message or 'refused'} (code {body.code})")
        listing = body.data or _DeviceListPage()
        for row in listing.data:
            sn, kind = first_of(row, "deviceSn", "sn", "serialNum"), first_of(row, "deviceType", "type")
            if isinstance(sn, str) and isinstance(kind, str):
                devices.append(Device(serial=sn, device_type=kind.lower() if kind.lower() in FIELDS else kind,
                                      name=str(first_of(row, "alias", "deviceAilas") or "") or None))
        if listing.lastPager is not False or not listing.data:
            break
    return devices


class _DeviceListPage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: list[dict[str, object]] = []
    lastPager: bool | None = None


class _DeviceListEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    message: str = ""
    data: _DeviceListPage | None = None


def growatt_adapter(base_url: str, credentials: Mapping[str, str]) -> GrowattAdapter:
    return GrowattAdapter(base_url, credentials["token"])
