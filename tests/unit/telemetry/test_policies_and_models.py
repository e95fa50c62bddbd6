"""Poll policies (vendor minimum intervals, anchored due times, jittered device back-off) and the
validation of what a caller may register."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.telemetry.models import Brand, InverterCreate, Reading
from shared.telemetry.policies import DeviceBackoff, effective_interval, next_due
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


def test_create_applies_brand_defaults() -> None:
    assert InverterCreate.model_validate({"brand": "sandbox", "serial": "SBX-1"}).device_type == "hybrid"
    assert InverterCreate.model_validate({"brand": "enphase", "serial": "1234567"}).device_type == "system"


@pytest.mark.parametrize("body", [
    {"brand": "sandbox", "serial": "A", "colour": "red"},  # unknown field
    {"brand": "solarmax", "serial": "A"},
    {"brand": "sandbox", "serial": ""},
    {"brand": "sandbox", "serial": "bad serial!"},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": 4},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": 86401},
    {"brand": "sandbox", "serial": "A", "poll_interval_s": "60"},  # strict: no numeric strings
    {"brand": "sandbox", "serial": "A", "device_type": "sph"},
    {"brand": "growatt", "serial": "OZD0849010"},  # Growatt needs its device type
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
