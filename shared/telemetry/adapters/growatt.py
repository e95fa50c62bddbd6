"""Adapter for Growatt OpenAPI v4: `POST /v4/new-api/queryLastData`, header `token`, form-urlencoded
`deviceType` + `deviceSn` (up to 100 serials, one device type per request).

The answer is `{"code": 0, "data": {"<deviceType>": [ {"serialNum": …, …}, … ]}, "message": …}`; a
device the token may not read is silently left out. Field names differ per device type (the v4
"last detailed data" pages for inv, storage, sph, spa, min, max, wit, sph-s, noah): `inv` reports
energy as `powerToday`/`powerTotal`, the hybrid families as `eacToday`/`eacTotal`, `storage` its SoC
as `capacity`; only fields those pages show are read, the rest stay null. `calendar` is epoch ms;
where only `time` exists it is the plant's wall clock without a zone, so the poll time stamps the
reading instead of a guessed offset. Global codes 100 ("API access interval") and 102 ("access
frequency limit") throttle the whole token.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    by_device_type,
    fail_all,
    number,
    retry_after,
    transport_failure,
)
from shared.telemetry.models import Brand, DeviceStatus, InverterRecord, Reading

QUERY_LAST_DATA = "/v4/new-api/queryLastData"
THROTTLE_CODES = frozenset({100, 102})
# The docs give no window for codes 100/102; a minute keeps every invocation off the token meanwhile.
THROTTLE_COOLDOWN_S = 60.0

# normalized field -> vendor field, per device type (W, kWh, °C, %: no scaling needed)
_COMMON = {"pv_power_w": "ppv", "ac_power_w": "pac", "temperature_c": "temperature"}
_EAC = {"energy_today_kwh": "eacToday", "energy_total_kwh": "eacTotal"}
FIELDS: dict[str, dict[str, str]] = {
    "inv": {**_COMMON, "energy_today_kwh": "powerToday", "energy_total_kwh": "powerTotal"},
    "storage": {"pv_power_w": "ppv", "battery_soc_pct": "capacity"},
    "sph": {**_COMMON, **_EAC},
    "sph-s": {**_COMMON, **_EAC},
    "spa": {**_COMMON, **_EAC},
    "max": {**_COMMON, **_EAC},
    "wit": {**_COMMON, **_EAC},
    "min": {**_COMMON, **_EAC, "load_power_w": "pacToLocalLoad", "battery_soc_pct": "bmsSoc"},
    "noah": {"pv_power_w": "ppv"},
}
# status codes across the families: 0 waiting, 1 normal/checking, 3 fault; 5-8 are the hybrid modes
# (PV and battery online, battery online, …), all producing.
_STATUS = {0: DeviceStatus.standby, 1: DeviceStatus.normal, 2: DeviceStatus.normal, 3: DeviceStatus.fault,
           4: DeviceStatus.fault, 5: DeviceStatus.normal, 6: DeviceStatus.normal, 7: DeviceStatus.normal,
           8: DeviceStatus.normal, -1: DeviceStatus.offline}


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    message: str = ""
    data: dict[str, list[dict[str, object]]] | None = None


def normalize(inverter_id: str, device_type: str, raw: dict[str, object], now: datetime) -> Reading:
    values: dict[str, float | None] = {k: number(raw.get(v)) for k, v in FIELDS[device_type].items()}
    if device_type == "storage":
        charge, discharge = number(raw.get("pCharge")), number(raw.get("pDischarge"))
        if charge is not None or discharge is not None:
            values["battery_power_w"] = (charge or 0.0) - (discharge or 0.0)
    if device_type == "min":
        to_user, to_grid = number(raw.get("pacToUserTotal")), number(raw.get("pacToGridTotal"))
        if to_user is not None and to_grid is not None:
            values["grid_power_w"] = to_user - to_grid  # "to user" is import, "to grid" export
    calendar = number(raw.get("calendar"))
    ts = datetime.fromtimestamp(calendar / 1000, UTC) if calendar else now
    code = number(raw.get("status"))
    if raw.get("lost") is True:
        status = DeviceStatus.offline
    else:
        status = _STATUS.get(int(code), DeviceStatus.unknown) if code is not None else DeviceStatus.unknown
    return Reading(inverter_id=inverter_id, ts=ts, status=status, **values)


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
