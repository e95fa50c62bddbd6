"""Pydantic models of the inverter API (SPEC §3) and the stored form of an inverter.

Sign conventions of a Reading, the same for every brand:
    grid_power_w     > 0 importing from the grid, < 0 exporting to it
    battery_power_w  > 0 charging the battery,    < 0 discharging it
A field is null where the brand does not report it; adapters never guess a value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.telemetry.rollups import OpenBuckets
from shared.timestamps import Timestamp
from shared.timestamps import iso as iso  # the stored form, re-exported for the stores

MIN_POLL_INTERVAL_S = 5
MAX_POLL_INTERVAL_S = 86_400
DEFAULT_POLL_INTERVAL_S = 60
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Brand(StrEnum):
    sandbox = "sandbox"
    growatt = "growatt"
    enphase = "enphase"
    solaredge = "solaredge"


class DeviceStatus(StrEnum):
    normal = "normal"
    standby = "standby"  # waiting for sun, or idle by design
    fault = "fault"
    offline = "offline"  # the vendor cloud has not heard from the device
    unknown = "unknown"


# Device types each vendor's API distinguishes (their field names differ per type).
DEVICE_TYPES: dict[Brand, frozenset[str]] = {
    Brand.sandbox: frozenset({"hybrid", "string"}),
    Brand.growatt: frozenset({"inv", "storage", "max", "sph", "spa", "min", "wit", "sph-s", "noah"}),
    Brand.enphase: frozenset({"system"}),
    Brand.solaredge: frozenset({"site"}),
}
DEFAULT_DEVICE_TYPE: dict[Brand, str | None] = {Brand.sandbox: "hybrid", Brand.growatt: None,
                                                Brand.enphase: "system", Brand.solaredge: "site"}

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Watts = Annotated[float, Field(ge=-1_000_000_000, le=1_000_000_000)]


class Reading(BaseModel):
    """One normalized observation of an inverter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inverter_id: str
    ts: Timestamp
    pv_power_w: Watts | None = None
    ac_power_w: Watts | None = None
    grid_power_w: Watts | None = None
    load_power_w: Watts | None = None
    battery_power_w: Watts | None = None
    battery_soc_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    energy_today_kwh: Annotated[float, Field(ge=0)] | None = None
    energy_total_kwh: Annotated[float, Field(ge=0)] | None = None
    temperature_c: Annotated[float, Field(ge=-80, le=200)] | None = None
    status: DeviceStatus = DeviceStatus.unknown

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("ts needs a time zone")
        return v.astimezone(UTC)


class InverterCreate(BaseModel):
    """What a caller submits to `POST /v1/inverters`. `device_type` is checked against the brand's types
    here and against the vendor's discovery at registration (`shared.telemetry.registry`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    brand: Brand = Field(strict=False)
    serial: str = Field(min_length=1, max_length=64)
    device_type: str | None = Field(default=None, max_length=16)
    name: str | None = Field(default=None, max_length=100)
    poll_interval_s: int = Field(default=DEFAULT_POLL_INTERVAL_S, ge=MIN_POLL_INTERVAL_S, le=MAX_POLL_INTERVAL_S)
    # Where the inverter is: the `no_production` alert asks whether the sun is up there.
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    connection_id: str | None = Field(default=None, max_length=64)

    @field_validator("serial")
    @classmethod
    def _serial(cls, v: str) -> str:
        if not _SERIAL.match(v):
            raise ValueError("serial is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _device_type(self) -> InverterCreate:
        allowed = DEVICE_TYPES[self.brand]
        if self.device_type is not None and self.device_type not in allowed:
            raise ValueError(f"device_type for {self.brand} is one of {', '.join(sorted(allowed))}")
        if self.brand == Brand.enphase and not self.serial.isdigit():
            raise ValueError("an Enphase serial is the numeric system_id")
        return self


class Inverter(BaseModel):
    """An inverter as the API returns it."""

    id: str
    brand: Brand
    serial: str
    device_type: str | None
    name: str | None
    poll_interval_s: int
    latitude: float | None = None
    longitude: float | None = None
    latest: Reading | None
    connection_id: str | None = None


class InverterPage(BaseModel):
    items: list[Inverter]
    next_cursor: str | None


class ReadingList(BaseModel):
    items: list[Reading]


class StreamToken(BaseModel):
    token: str
    expires_at: Timestamp


class InverterRecord(BaseModel):
    """The stored form: the public Inverter plus the poller's bookkeeping."""

    id: str
    tenant: str
    brand: Brand
    serial: str
    device_type: str | None
    name: str | None
    poll_interval_s: int
    created_at: datetime
    next_poll_at: datetime
    # Whose credentials poll it: a tenant's connection (`con_…`), or None for the stage's shared one.
    connection_id: str | None = None
    latest: Reading | None = None
    # Consecutive failed polls; drives the back-off and resets on the first success.
    failures: int = 0
    last_error: str | None = None
    last_polled_at: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    # History buckets still open (shared.telemetry.rollups): folded by the poller with each fresh reading.
    buckets: OpenBuckets | None = None

    def public(self) -> Inverter:
        return Inverter(id=self.id, brand=self.brand, serial=self.serial, device_type=self.device_type,
                        name=self.name, poll_interval_s=self.poll_interval_s, latitude=self.latitude,
                        longitude=self.longitude, latest=self.latest, connection_id=self.connection_id)


def utcnow() -> datetime:
    return datetime.now(UTC)
