"""Adapter for the SolarEdge Monitoring API V2: `GET /v2/sites` (discovery) and
`GET /v2/sites/{siteId}/overview` (the poll), header `X-API-Key`; several sites at once through the bulk
form, `GET /v2/sites/{id},{id},…/overview` (up to 100) → `{"sitesOverviews": {"count", "siteEnergyList":
[{"siteId", "siteOverview": {…}}]}}`.

Its limits are different in kind from the per-minute ones of the others: 300 requests a day for the key
and 300 for each site (a bulk request costs 1 of the key's and 1 of each site's), 3 concurrent per IP.
The poller therefore plans a daily budget (`shared.telemetry.budget`) on top of the token buckets, and
one bulk request per 100 sites keeps a key's budget for many sites. Errors are RFC 9457 problem documents; a 429
means a budget is spent until the vendor's day ends (Retry-After when it says so, else the poller's
budget knows when the day turns). Power in W, energies in Wh, `lastUpdateTime` RFC 3339.
The paths and field names follow the shape of V1's site overview under V2's prefix: the sandbox's
SolarEdge-shaped API (functions/sandbox) serves the same, so that everything is testable without an account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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

SITES_PATH = "/v2/sites"
OVERVIEW_PATH = "/v2/sites/{site_id}/overview"
MAX_BULK = 100
# Without Retry-After a 429 closes the key for an hour: the budget is daily, retrying sooner only spends it.
THROTTLE_COOLDOWN_S = 3600.0


class _Power(BaseModel):
    model_config = ConfigDict(extra="ignore")
    power: float


class _Energy(BaseModel):
    model_config = ConfigDict(extra="ignore")
    energy: float


class _Overview(BaseModel):
    model_config = ConfigDict(extra="ignore")
    siteId: int
    lastUpdateTime: datetime
    currentPower: _Power
    lastDayData: _Energy | None = None
    lifeTimeData: _Energy | None = None
    status: str | None = None


class _SiteOverview(BaseModel):
    model_config = ConfigDict(extra="ignore")
    siteId: int
    siteOverview: dict[str, object]


class _SiteList(BaseModel):
    model_config = ConfigDict(extra="ignore")
    siteEnergyList: list[_SiteOverview] = []


class _Bulk(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sitesOverviews: _SiteList


class _Site(BaseModel):
    model_config = ConfigDict(extra="ignore")
    siteId: int
    name: str | None = None


class _Sites(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sites: list[_Site] = []


def problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and (body.get("detail") or body.get("title")):
        return f"{body.get('detail') or body.get('title')} (HTTP {response.status_code})"[:300]
    return f"HTTP {response.status_code}"


def _reading(o: _Overview, device: InverterRecord) -> Reading | Failure:
    if str(o.siteId) != device.serial:
        return Failure(FailureKind.bad_payload, f"overview of site {o.siteId}")
    if o.lastUpdateTime.tzinfo is None:
        return Failure(FailureKind.bad_payload, "lastUpdateTime without a zone")
    status = DeviceStatus.normal if o.currentPower.power > 0 else DeviceStatus.standby
    return Reading(
        inverter_id=device.id, ts=o.lastUpdateTime, pv_power_w=o.currentPower.power, ac_power_w=o.currentPower.power,
        energy_today_kwh=o.lastDayData.energy / 1000 if o.lastDayData else None,
        energy_total_kwh=o.lifeTimeData.energy / 1000 if o.lifeTimeData else None, status=status)


def _invalid(exc: ValidationError) -> Failure:
    first = exc.errors()[0]
    return Failure(FailureKind.bad_payload, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")


def parse(response: httpx.Response, batch: Sequence[InverterRecord]) -> BatchResult:
    """One overview (a batch of one) or the bulk form's list (several)."""
    if response.status_code == 429:
        wait = retry_after(response) or THROTTLE_COOLDOWN_S
        return BatchResult(fail_all(batch, Failure(FailureKind.rate_limited, problem_detail(response), wait)), wait)
    if response.status_code != 200:
        return BatchResult(fail_all(batch, Failure(FailureKind.vendor_error, problem_detail(response))))
    if len(batch) == 1:
        try:
            one = _Overview.model_validate_json(response.content)
        except ValidationError as exc:
            return BatchResult(fail_all(batch, _invalid(exc)))
        return BatchResult({batch[0].id: _reading(one, batch[0])})
    try:
        bulk = _Bulk.model_validate_json(response.content)
    except ValidationError as exc:
        return BatchResult(fail_all(batch, _invalid(exc)))
    by_site = {str(s.siteId): s for s in bulk.sitesOverviews.siteEnergyList}
    outcomes: dict[str, Reading | Failure] = {}
    for device in batch:
        entry = by_site.get(device.serial)
        if entry is None:
            outcomes[device.id] = Failure(FailureKind.vendor_error, f"site {device.serial} missing from the answer")
            continue
        try:
            overview = _Overview.model_validate({"siteId": entry.siteId, **entry.siteOverview})
        except ValidationError as exc:
            outcomes[device.id] = _invalid(exc)
            continue
        outcomes[device.id] = _reading(overview, device)
    return BatchResult(dict(outcomes))


@dataclass(frozen=True)
class SolarEdgeAdapter:
    base_url: str
    api_key: str
    brand: Brand = Brand.solaredge

    def batches(self, devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
        return chunk(devices, max(1, min(size, MAX_BULK)))

    async def fetch(self, http: httpx.AsyncClient, batch: Sequence[InverterRecord], now: datetime,
                    timeout_s: float) -> BatchResult:
        sites = ",".join(d.serial for d in batch)
        url = self.base_url.rstrip("/") + OVERVIEW_PATH.format(site_id=sites)
        try:
            response = await http.get(url, headers={"X-API-Key": self.api_key}, timeout=timeout_s)
        except httpx.HTTPError as exc:
            return BatchResult(fail_all(batch, transport_failure(exc)))
        return parse(response, batch)


async def discover(http: httpx.AsyncClient, base_url: str, credentials: Mapping[str, str], serial: str | None,
                   timeout_s: float = 10.0) -> list[Device]:
    try:
        response = await http.get(base_url.rstrip("/") + SITES_PATH, timeout=timeout_s,
                                  headers={"X-API-Key": credentials["api_key"]})
    except httpx.HTTPError as exc:
        raise VendorUnreachable(transport_failure(exc).detail) from exc
    if response.status_code in (401, 403):
        raise VendorRefused(problem_detail(response))
    if response.status_code != 200:
        raise VendorUnreachable(f"solaredge: {problem_detail(response)}")
    try:
        body = _Sites.model_validate_json(response.content)
    except ValidationError as exc:
        raise VendorUnreachable("solaredge answered without a sites list") from exc
    return [Device(serial=str(s.siteId), device_type="site", name=s.name) for s in body.sites]


def solaredge_adapter(base_url: str, credentials: Mapping[str, str]) -> SolarEdgeAdapter:
    return SolarEdgeAdapter(base_url, credentials["api_key"])
