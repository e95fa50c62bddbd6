"""Adapter for the sandbox vendor (`functions/sandbox`): a form-urlencoded batch endpoint whose field names,
units, clocks and status codes differ by device type, like a real vendor's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

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
    retry_after,
    transport_failure,
)
from shared.telemetry.connections import Device
from shared.telemetry.models import Brand, DeviceStatus, InverterRecord, Reading

# Also the sandbox's own default, so that the local stack works with no configuration. The sandbox
# serves simulated data only; a deployed stage may set its own token on both sides.
DEV_SANDBOX_TOKEN = "sandbox-dev-token"  # noqa: S105
LAST_DATA_PATH = "/v1/devices/last-data"


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    msg: str = ""
    data: dict[str, dict[str, object]]


class _Hybrid(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ts: int  # epoch milliseconds
    st: str
    pvW: float
    acW: float
    gridW: float
    loadW: float
    batW: float
    socPct: float
    eDayWh: float  # Wh, unlike eTotalKWh
    eTotalKWh: float
    tempC: float


class _String(BaseModel):
    model_config = ConfigDict(extra="ignore")
    time: str  # civil time of the site, without a zone; the offset comes separately
    tzOffsetMin: int
    status: int
    ppv: float
    pac: float
    eToday: float
    eTotal: float
    temperature: float


_HYBRID_STATUS = {"NORMAL": DeviceStatus.normal, "STANDBY": DeviceStatus.standby, "FAULT": DeviceStatus.fault}
_STRING_STATUS = {0: DeviceStatus.standby, 1: DeviceStatus.normal, 3: DeviceStatus.fault}


def _hybrid(inverter_id: str, raw: dict[str, object]) -> Reading:
    p = _Hybrid.model_validate(raw)
    return Reading(inverter_id=inverter_id, ts=datetime.fromtimestamp(p.ts / 1000, UTC), pv_power_w=p.pvW,
                   ac_power_w=p.acW, grid_power_w=p.gridW, load_power_w=p.loadW, battery_power_w=p.batW,
                   battery_soc_pct=p.socPct, energy_today_kwh=p.eDayWh / 1000, energy_total_kwh=p.eTotalKWh,
                   temperature_c=p.tempC, status=_HYBRID_STATUS.get(p.st, DeviceStatus.unknown))


def _string(inverter_id: str, raw: dict[str, object]) -> Reading:
    p = _String.model_validate(raw)
    try:
        local = datetime.strptime(p.time, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise PayloadError(f"time {p.time[:32]!r} is not YYYY-MM-DD HH:MM:SS") from exc
    ts = local.replace(tzinfo=timezone(timedelta(minutes=p.tzOffsetMin)))
    return Reading(inverter_id=inverter_id, ts=ts, pv_power_w=p.ppv, ac_power_w=p.pac, energy_today_kwh=p.eToday,
                   energy_total_kwh=p.eTotal, temperature_c=p.temperature,
                   status=_STRING_STATUS.get(p.status, DeviceStatus.unknown))


def parse(response: httpx.Response, batch: Sequence[InverterRecord]) -> BatchResult:
    """One outcome per device of `batch` from the sandbox's answer to one last-data request."""
    if response.status_code == 429:
        # The sandbox limits devices, not accounts: back the devices off, leave the vendor open.
        return BatchResult(fail_all(batch, Failure(FailureKind.rate_limited, "429 from the sandbox",
                                                   retry_after(response))))
    if response.status_code != 200:
        return BatchResult(fail_all(batch, Failure(FailureKind.vendor_error, f"HTTP {response.status_code}")))
    try:
        envelope = _Envelope.model_validate_json(response.content)
    except ValidationError as exc:
        return BatchResult(fail_all(batch, Failure(FailureKind.bad_payload, _brief(exc))))
    if envelope.code != 0:
        return BatchResult(fail_all(batch, Failure(FailureKind.vendor_error, f"code {envelope.code}: {envelope.msg}")))
    outcomes: dict[str, Outcome] = {}
    for device in batch:
        raw = envelope.data.get(device.serial)
        outcomes[device.id] = _outcome(device, raw)
    return BatchResult(outcomes)


def _outcome(device: InverterRecord, raw: dict[str, object] | None) -> Outcome:
    if raw is None:
        return Failure(FailureKind.vendor_error, "serial missing from the response")
    if "err" in raw:
        if raw["err"] == "no_permission":
            return Failure(FailureKind.vendor_error, "the connection's account does not see this device")
        if raw["err"] == "rate_limited":
            wait = raw.get("retryAfter")
            return Failure(FailureKind.rate_limited, "device over its rate limit",
                           float(wait) if isinstance(wait, int | float) else None)
        return Failure(FailureKind.vendor_error, str(raw["err"])[:100])
    try:
        return (_hybrid if device.device_type == "hybrid" else _string)(device.id, raw)
    except (ValidationError, PayloadError) as exc:
        return Failure(FailureKind.bad_payload, _brief(exc))


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{exc.error_count()} invalid field(s), first {'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)[:200]


@dataclass(frozen=True)
class SandboxAdapter:
    base_url: str
    token: str
    brand: Brand = Brand.sandbox

    def batches(self, devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
        return by_device_type(devices, size)

    async def fetch(self, http: httpx.AsyncClient, batch: Sequence[InverterRecord], now: datetime,
                    timeout_s: float) -> BatchResult:
        serials = ",".join(dict.fromkeys(d.serial for d in batch))
        try:
            response = await http.post(self.base_url.rstrip("/") + LAST_DATA_PATH, timeout=timeout_s,
                                       data={"deviceType": batch[0].device_type or "", "serials": serials},
                                       headers={"X-Sandbox-Token": self.token})
        except httpx.HTTPError as exc:
            return BatchResult(fail_all(batch, transport_failure(exc)))
        return parse(response, batch)


DEVICES_PATH = "/v1/devices"


class _DeviceRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sn: str
    type: str | None = None
    alias: str | None = None


class _DeviceList(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    msg: str = ""
    data: dict[str, list[_DeviceRow]] | None = None


async def discover(http: httpx.AsyncClient, base_url: str, credentials: Mapping[str, str], serial: str | None,
                   timeout_s: float = 10.0) -> list[Device]:
    """The devices the token's account sees (with `serial`: that one, if it sees it)."""
    try:
        response = await http.get(base_url.rstrip("/") + DEVICES_PATH, params={"serial": serial} if serial else None,
                                  headers={"X-Sandbox-Token": credentials["token"]}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise VendorUnreachable(transport_failure(exc).detail) from exc
    try:
        body = _DeviceList.model_validate_json(response.content)
    except ValidationError as exc:
        raise VendorUnreachable(f"sandbox answered HTTP {response.status_code} without a device list") from exc
    if response.status_code in (401, 403) or body.code != 0:
        raise VendorRefused(f"{body.msg or 'refused'} (code {body.code}, HTTP {response.status_code})")
    if response.status_code != 200:
        raise VendorUnreachable(f"sandbox answered HTTP {response.status_code}")
    return [Device(serial=row.sn, device_type=row.type, name=row.alias) for row in (body.data or {}).get("devices", [])]


def sandbox_adapter(base_url: str, credentials: Mapping[str, str]) -> SandboxAdapter:
    return SandboxAdapter(base_url, credentials["token"])
