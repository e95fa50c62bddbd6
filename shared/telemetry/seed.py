"""Demo inverters for the local stack (called by `local.seed` once the tables exist)."""

from __future__ import annotations

from shared.config import env
from shared.errors import Conflict
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, Inverter, InverterCreate
from shared.telemetry.registry import register

DEMO_SERIAL = "SBX-DEMO-{:04d}"


def seed_demo_inverters(tenant: str, count: int = 3, store: InverterStore | None = None) -> list[Inverter]:
    """Sandbox inverters for a demo tenant, polled every 5 s; idempotent (existing ones are returned).

    Hybrid (PV, battery, meter) and string (PV only) sites alternate, so that the dashboard shows both
    shapes. Call it once the tables exist, with the function environment pointing at them."""
    store = store or InverterStore(env().inverters_table)
    out: list[Inverter] = []
    for n in range(1, count + 1):
        serial, device_type = DEMO_SERIAL.format(n), "string" if n % 2 == 0 else "hybrid"
        spec = InverterCreate(brand=Brand.sandbox, serial=serial, device_type=device_type,
                              name=f"Demo {device_type} {n}", poll_interval_s=5)
        try:
            out.append(register(store, tenant, spec).public())
        except Conflict:
            existing = store.find_serial(tenant, Brand.sandbox, serial)
            if existing is not None:
                out.append(existing.public())
    return out
