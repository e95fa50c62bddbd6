"""Registering inverters, independent of HTTP (the API's create, the local stack's demo seed).

Whose device it is comes from the vendor: the serial must be one the connection's account lists
(discovery), and the device type is the one the vendor names, never a guess. Only where the vendor does
not say (the sandbox's shared account makes a device the type it is first asked for) does the caller's
type, or the brand's default, stand.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from shared.problems import field_problem
from shared.telemetry.connections import Device
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import DEFAULT_DEVICE_TYPE, DEVICE_TYPES, Brand, InverterCreate, InverterRecord, utcnow
from shared.telemetry.policies import effective_interval


def new_inverter_id() -> str:
    # Millisecond time first, like the job ids: ids sort by creation.
    return f"inv_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def resolve_device_type(brand: Brand, serial: str, requested: str | None, found: Device) -> str:
    """The type to store: the vendor's where it names one (a contradicting request → 422)."""
    if found.device_type:
        if requested and requested != found.device_type:
            raise field_problem("device_type", f"device_type {requested!r} contradicts the vendor: {serial} is a "
                                               f"{found.device_type!r} device")
        return found.device_type
    chosen = requested or DEFAULT_DEVICE_TYPE.get(brand)
    if chosen is None:
        raise field_problem("device_type", f"device_type is required for {brand} {serial} (the vendor did not name "
                                           f"it): one of {', '.join(sorted(DEVICE_TYPES[brand]))}")
    return chosen


def register(store: InverterStore, tenant: str, spec: InverterCreate, found: Device | None = None,
             now: datetime | None = None) -> InverterRecord:
    """A new inverter, due for its first poll at once. `found`: the device as discovery listed it (None
    only for callers that vouch for the serial themselves, as the demo seed does). Conflict when the
    tenant has that serial already, or, under the shared connection, another tenant has it."""
    now = now or utcnow()
    device_type = resolve_device_type(spec.brand, spec.serial, spec.device_type,
                                      found or Device(serial=spec.serial, device_type=None))
    record = InverterRecord(id=new_inverter_id(), tenant=tenant, brand=spec.brand, serial=spec.serial,
                            device_type=device_type, name=spec.name or (found.name if found else None),
                            poll_interval_s=effective_interval(spec.brand, spec.poll_interval_s),
                            created_at=now, next_poll_at=now, latitude=spec.latitude, longitude=spec.longitude,
                            connection_id=spec.connection_id)
    return store.create(record)
