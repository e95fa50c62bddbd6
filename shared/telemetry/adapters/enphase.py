"""Adapter for the Enphase Monitoring API v4 system summary:
`GET /api/v4/systems/{system_id}/summary?key=<api key>` with `Authorization: Bearer <access token>`.

One system per request (no batching). Energies are Wh (`energy_today`, `energy_lifetime`), power W
(`current_power`, the system's AC production: microinverters convert on the panel, so it stands for
both PV and AC power). `last_report_at` is epoch seconds. The free plan allows 10 requests a minute and
answers 429 without Retry-After or rate-limit headers, so a 429 closes the vendor for a minute.
The summary has no grid, load or battery figures; those stay null.
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
    VendorRefused,
    VendorUnreachable,
    chunk,
    fail_all,
    retry_after,
    transport_failure,
)
from shared.telemetry.connections import Device
from shared.telemetry.models import Brand, DeviceStatus, InverterRecord, Reading

SUMMARY_PATH = "/api/v4/systems/{system_id}/summary"
THROTTLE_COOLDOWN_S = 60.0
# "comm": the Envoy stopped reporting; "power"/"micro"/"meter"/"battery": that component has a problem.
_STATUS = {"normal": DeviceStatus.normal, "comm": DeviceStatus.offline, "power": DeviceStatus.fault,
           "micro": DeviceStatus.fault, "meter": DeviceStatus.fault, "battery": DeviceStatus.fault,
           "unknown": DeviceStatus.unknown}


class _Summary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    system_id: int
    current_power: float
    energy_today: float | None = None
    energy_lifetime: float | None = None
    last_report_at: int | None = None
    status: str = "unknown"


def parse(response: httpx.Response, device: InverterRecord, now: datetime) -> BatchResult:
    if response.status_code == 429:
        wait = retry_after(response) or THROTTLE_COOLDOWN_S
        return BatchResult({device.id: Failure(FailureKind.rate_limited, "HTTP 429", wait)}, wait)
    if response.status_code != 200:
        return BatchResult({device.id: Failure(FailureKind.vendor_error, f"HTTP {response.status_code}")})
    try:
        s = _Summary.model_validate_json(response.content)
        if str(s.system_id) != device.serial:
            return BatchResult({device.id: Failure(FailureKind.bad_payload, f"summary of system {s.system_id}")})
        reading = Reading(
            inverter_id=device.id, ts=datetime.fromtimestamp(s.last_report_at, UTC) if s.last_report_at else now,
            pv_power_w=s.current_power, ac_power_w=s.current_power,
            energy_today_kwh=s.energy_today / 1000 if s.energy_today is not None else None,
            energy_total_kwh=s.energy_lifetime / 1000 if s.energy_lifetime is not None else None,
            status=_STATUS.get(s.status, DeviceStatus.unknown))
    except ValidationError as exc:
        first = exc.errors()[0]
        detail = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        return BatchResult({device.id: Failure(FailureKind.bad_payload, detail)})
    return BatchResult({device.id: reading})


@dataclass(frozen=True)
class EnphaseAdapter:
    base_url: str
    api_key: str
    access_token: str
    brand: Brand = Brand.enphase

    def batches(self, devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
        return chunk(devices, 1)

    async def fetch(self, http: httpx.AsyncClient, batch: Sequence[InverterRecord], now: datetime,
                    timeout_s: float) -> BatchResult:
        device = batch[0]
        url = self.base_url.rstrip("/") + SUMMARY_PATH.format(system_id=device.serial)
        try:
            response = await http.get(url, params={"key": self.api_key}, timeout=timeout_s,
                                      headers={"Authorization": f"Bearer {self.access_token}"})
        except httpx.HTTPError as exc:
            return BatchResult(fail_all(batch, transport_failure(exc)))
        return parse(response, device, now)


SYSTEMS_PATH = "/api/v4/systems"


class _System(BaseModel):
    model_config = ConfigDict(extra="ignore")
    system_id: int
    name: str | None = None


class _Systems(BaseModel):
    model_config = ConfigDict(extra="ignore")
    systems: list[_System] = []
    total: int | None = None


async def discover(http: httpx.AsyncClient, base_url: str, credentials: Mapping[str, str], serial: str | None,
                   timeout_s: float = 10.0) -> list[Device]:
    """The systems the access token's owner may read (pages of 100); each is one `system` device."""
    devices: list[Device] = []
    for page in range(1, 21):
        try:
            response = await http.get(base_url.rstrip("/") + SYSTEMS_PATH, timeout=timeout_s,
                                      params={"key": credentials["api_key"], "page": page, "size": 100},
                                      headers={"Authorization": f"Bearer {credentials['access_token']}"})
        except httpx.HTTPError as exc:
            raise VendorUnreachable(transport_failure(exc).detail) from exc
        if response.status_code in (401, 403):
            raise VendorRefused(_reason(response))
        if response.status_code != 200:
            raise VendorUnreachable(f"enphase answered HTTP {response.status_code}")
        try:
            body = _Systems.model_validate_json(response.content)
        except ValidationError as exc:
            raise VendorUnreachable("enphase answered without a systems list") from exc
        devices += [Device(serial=str(s.system_id), device_type="system", name=s.name) for s in body.systems]
        if len(body.systems) < 100 or (body.total is not None and len(devices) >= body.total):
            break
    return devices


def _reason(response: httpx.Response) -> str:
    """Enphase's own words ({"message", "details"}), else the status."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        words = " — ".join(str(body[k]) for k in ("message", "details") if body.get(k))
        if words:
            return f"{words} (HTTP {response.status_code})"
    return f"HTTP {response.status_code}"


def enphase_adapter(base_url: str, credentials: Mapping[str, str]) -> EnphaseAdapter:
    return EnphaseAdapter(base_url, credentials["api_key"], credentials["access_token"])
