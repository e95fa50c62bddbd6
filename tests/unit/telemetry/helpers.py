"""Builders shared by the telemetry unit tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.telemetry.adapters.base import Failure, FailureKind, Outcome
from shared.telemetry.models import Brand, InverterRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def device(serial: str, brand: Brand = Brand.sandbox, device_type: str | None = "hybrid", *,
           interval: int = 60, inverter_id: str | None = None) -> InverterRecord:
    return InverterRecord(id=inverter_id or f"inv_{serial.lower()}", tenant="t1", brand=brand, serial=serial,
                          device_type=device_type, name=None, poll_interval_s=interval, created_at=T0, next_poll_at=T0)


def kind(outcome: Outcome | None) -> FailureKind | None:
    """The failure kind of an outcome; None for a reading."""
    return outcome.kind if isinstance(outcome, Failure) else None
