"""Poll policies (vendor minimum intervals, anchored due times, jittered device back-off) and the
validation of what a caller may register."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import Unprocessable
from shared.telemetry.connections import Device
from shared.telemetry.models import Brand, InverterCreate, Reading
from shared.telemetry.policies import DeviceBackoff, effective_interval, next_due
from shared.telemetry.registry import resolve_device_type
from tests.unit.telemetry.helpers import T0


def test_vendor_minimum_raises_the_requested_interval() -> None:
    assert effective_interval(Brand.sandbox, 5) == 5
    assert effective_interval(Brand.growatt, 60) == 300
    assert effective_interval(Brand.enphase, 3600) == 3600


def test_next_due_is_anchored_on_the_cycle_not_the_response() -> None:
    assert next_due(T0, 5) == T0 + timedelta(seconds=5)


@pytest.mark.parametrize("seed", range(20))
def test_backoff_never_sooner_than_the_interval_nor_retry_after_and_capped(seed: int) -> None:
    rng, backoff = random.Random(seed), DeviceBackoff(cap_s=3600)
    delays = [backoff.delay_s(60, n, rng) for n in range(1, 12)]
    assert all(60 <= d <= 3600 for d in delays)
    assert 60 <= delays[0] <= 120 and 120 <= delays[1] <= 240  # equal jitter on a doubling ceiling
    assert backoff.delay_s(60, 1, rng, retry_after_s=900) == 900


def test_backoff_spreads_devices_that_failed_together() -> None:
    rng = random.Random(1)
    delays = {round(DeviceBackoff().delay_s(300, 3, rng)) for _ in range(50)}
    assert len(delays) > 40


def test_device_type_comes_from_discovery_when_the_vendor_names_it() -> None:
    found = Device(serial="OZD0849010", device_type="storage")
    assert resolve_device_type(Brand.growatt, "OZD0849010", None, found) == "storage"
    assert resolve_device_type(Brand.growatt, "OZD0849010", "storage", found) == "storage"
    with pytest.raises(Unprocessable, match="storage"):
        resolve_device_type(Brand.growatt, "OZD0849010", "min", found)  # contradicts the vendor


def test_device_type_defaults_only_where_the_vendor_does_not_say() -> None:
    unsaid = Device(serial="SBX-1", device_type=None)
    assert resolve_device_type(Brand.sandbox, "SBX-1", None, unsaid) == "hybrid"
    assert resolve_device_type(Brand.sandbox, "SBX-1", "string", unsaid) == "string"
    with pytest.raises(Unprocessable, match="device_type"):
        resolve_device_type(Brand.growatt, "X1", None, Device(serial="X1", device_type=None))


@pytest.mark.parametrize("body", [
    {"brand": "sandbox", "serial": "A", "colour": "red"},  # unknown field
    {"brand": "solarmax", "serial": "A"},
    {"brand": "sandbox", "serial": ""},
    {"brand": "sandbox", "serial": "bad serial!"},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": 4},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": 86401},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": "60"},  # strict: no numeric strings
    {"brand": "sandbox", "serial": "A", "device_type": "sph"},
    {"brand": "enphase", "serial": "abc"},
])
def test_create_rejects(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InverterCreate.model_validate(body)


def test_reading_rejects_impossible_values_and_naive_times() -> None:
    with pytest.raises(ValidationError):
        Reading(inverter_id="i", ts=T0, battery_soc_pct=120)
    with pytest.raises(ValidationError):
        Reading(inverter_id="i", ts=T0.replace(tzinfo=None))
    assert Reading(inverter_id="i", ts=T0).model_dump()["pv_power_w"] is None
