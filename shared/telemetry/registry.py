"""Registering inverters, independent of HTTP (the API's create, the local stack's demo seed)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import InverterCreate, InverterRecord, utcnow
from shared.telemetry.policies import effective_interval


def new_inverter_id() -> str:
    # Millisecond time first, like the job ids: ids sort by creation.
    return f"inv_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def register(store: InverterStore, tenant: str, spec: InverterCreate, now: datetime | None = None) -> InverterRecord:
    """A new inverter, due for its first poll at once. Conflict when the tenant has that serial already."""
    now = now or utcnow()
    record = InverterRecord(id=new_inverter_id(), tenant=tenant, brand=spec.brand, serial=spec.serial,
                            device_type=spec.device_type, name=spec.name,
                            poll_interval_s=effective_interval(spec.brand, spec.poll_interval_s),
                            created_at=now, next_poll_at=now, latitude=spec.latitude, longitude=spec.longitude)
    return store.create(record)
