"""History rollups: folding readings into 5 min / 1 h / 1 d buckets agrees with the raw readings, a
re-delivered reading never counts twice, and energy comes from the counters the vendor reports."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Unprocessable
from shared.telemetry.history import window
from shared.telemetry.models import Reading
from shared.telemetry.rollups import Bucket, OpenBuckets, Step, bucket_start, energy_delta_kwh, fold, merge

T0 = datetime(2026, 6, 1, 10, 58, 0, tzinfo=UTC)


def readings(n: int, every_s: int = 20, seed: int = 1) -> list[Reading]:
    rng = random.Random(seed)
    total, out = 1000.0, []
    for i in range(n):
        total += rng.uniform(0, 0.05)
        out.append(Reading(inverter_id="inv_x", ts=T0 + timedelta(seconds=every_s * i),
                           pv_power_w=rng.uniform(0, 5000), grid_power_w=rng.uniform(-3000, 3000),
                           battery_soc_pct=rng.uniform(0, 100) if i % 3 else None, energy_total_kwh=round(total, 3)))
    return out


def fold_all(rs: list[Reading]) -> tuple[OpenBuckets, dict[Step, list[Bucket]]]:
    state, previous = None, None
    closed: dict[Step, list[Bucket]] = {s: [] for s in Step}
    for r in rs:
        state, done = fold(state, r, previous)
        for step, bucket in done:
            closed[step].append(bucket)
        previous = r
    assert state is not None
    return state, closed


def test_buckets_agree_with_the_raw_readings_they_came_from() -> None:
    rs = readings(400)  # 10:58 to 13:11, every 20 s
    state, closed = fold_all(rs)
    for step in Step:
        points = merge(closed[step], state, step, 0, 2**40)
        assert sum(p.samples for p in points) == len(rs)
        for p in points:
            members = [r for r in rs if bucket_start(r.ts, step) == int(p.ts.timestamp())]
            assert p.samples == len(members)
            assert p.pv_power_w == pytest.approx(sum(r.pv_power_w or 0 for r in members) / len(members), abs=1e-3)
            socs = [r.battery_soc_pct for r in members if r.battery_soc_pct is not None]
            assert p.battery_soc_pct == (pytest.approx(sum(socs) / len(socs), abs=1e-3) if socs else None)
            assert p.load_power_w is None  # never reported: null, not 0
        # Energy per bucket sums to what the lifetime counter moved over the whole run
        assert sum(p.energy_kwh for p in points) == pytest.approx(
            (rs[-1].energy_total_kwh or 0) - (rs[0].energy_total_kwh or 0), abs=1e-6)
    assert [p.ts.minute for p in merge(closed[Step.hour], state, Step.hour, 0, 2**40)] == [0, 0, 0, 0]


def test_a_redelivered_reading_folds_nothing() -> None:
    rs = readings(30)
    state, _ = fold_all(rs)
    again, done = fold(state, rs[-1], rs[-2])
    assert again == state and done == []
    older, done = fold(state, rs[5], rs[4])
    assert older == state and done == []


def test_a_closed_bucket_is_what_the_open_state_alone_determines() -> None:
    rs = readings(30, every_s=30)  # crosses 11:00 and several 5-minute boundaries
    before, _ = fold_all(rs[:-1])
    _, first = fold(before, rs[-1], rs[-2])
    _, repeated = fold(before, rs[-1], rs[-2])  # the cycle again after a crash before the poll state was saved
    assert first == repeated


def test_energy_from_the_lifetime_counter_then_the_day_counter_then_power() -> None:
    a = Reading(inverter_id="i", ts=T0, energy_total_kwh=10.0, energy_today_kwh=5.0, pv_power_w=1000)
    b = Reading(inverter_id="i", ts=T0 + timedelta(minutes=6), energy_total_kwh=10.1, energy_today_kwh=5.2,
                pv_power_w=3000)
    assert energy_delta_kwh(a, b) == pytest.approx(0.1)
    day_only = [r.model_copy(update={"energy_total_kwh": None}) for r in (a, b)]
    assert energy_delta_kwh(*day_only) == pytest.approx(0.2)
    reset = day_only[1].model_copy(update={"energy_today_kwh": 0.05})
    assert energy_delta_kwh(day_only[0], reset) == pytest.approx(0.05)
    power_only = [r.model_copy(update={"energy_total_kwh": None, "energy_today_kwh": None}) for r in (a, b)]
    assert energy_delta_kwh(*power_only) == pytest.approx(2000 * 0.1 / 1000)
    assert energy_delta_kwh(None, b) == 0.0


@pytest.mark.parametrize(("start", "end", "step", "message"), [
    (T0, T0 - timedelta(hours=1), Step.hour, "before"),
    (T0 - timedelta(days=40), T0, Step.five_minutes, "at most"),
    (T0.replace(tzinfo=None), T0, Step.hour, "time zone"),
])
def test_a_window_that_is_not_one_is_refused(start: datetime, end: datetime, step: Step, message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        window(step, start, end)


def test_the_default_window_fits_the_step() -> None:
    first, last = window(Step.five_minutes, None, T0)
    assert last - first == pytest.approx(24 * 3600, abs=300)
    assert first % 300 == 0
