"""History beyond the raw readings' TTL: per inverter, buckets of 5 min, 1 h and 1 d, folded as readings arrive.

    fresh reading ──fold──▶ open buckets (one per step; on the inverter item, written with its poll state)
                              └─ a reading of a later bucket closes the open one ──▶ rollups table (BatchWriteItem)
    series(from, to, step) = closed buckets (one query) + the open one (the inverter item, read anyway)

Why the open buckets live on the inverter item: the poller already reads and rewrites that item every
poll, so folding a reading costs no read and no extra write; only a closed bucket is a write of its own
(one per inverter per 5 minutes, hour and day, 25 to a BatchWriteItem), never a scan and never an
UpdateItem per reading.

Idempotent by construction. A reading at or before a bucket's last folded time stamp folds nothing, so a
re-delivered reading never counts twice; a closed bucket is written as a full put of a value the open
state alone determines, so a cycle repeated after a crash (closed bucket written, poll state not) writes
the same item again. Means are per field over the readings that carry the field; `energy_kwh` is the
energy produced between the previous reading and each reading of the bucket (the lifetime counter's
delta, else the day counter's, else the PV power integrated over short gaps). Buckets are aligned to
UTC; a bucket without readings does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared.timestamps import Timestamp

if TYPE_CHECKING:  # models imports this module (the inverter item carries the open buckets)
    from shared.telemetry.models import Reading

FIELDS = ("pv_power_w", "ac_power_w", "grid_power_w", "load_power_w", "battery_power_w", "battery_soc_pct")
# A gap longer than this is not integrated from power (the device may have been off for most of it).
MAX_INTEGRATION_GAP = timedelta(minutes=15)


class Step(StrEnum):
    five_minutes = "5m"
    hour = "1h"
    day = "1d"

    @property
    def seconds(self) -> int:
        return STEP_SECONDS[self]


STEP_SECONDS: dict[Step, int] = {Step.five_minutes: 300, Step.hour: 3600, Step.day: 86_400}
# Kept well beyond the raw readings' 7 days: 5-minute buckets for 40 days, hours for 400, days for 10 years.
RETENTION: dict[Step, timedelta] = {Step.five_minutes: timedelta(days=40), Step.hour: timedelta(days=400),
                                    Step.day: timedelta(days=3660)}


class Bucket(BaseModel):
    """Sums and counts of one bucket, compact because it rides on every inverter item."""

    model_config = ConfigDict(extra="forbid")

    start: int  # epoch seconds, a multiple of the step
    last_ms: int  # the last folded reading's time stamp: nothing at or before it folds again
    n: int = 0
    sums: list[float] = Field(default_factory=lambda: [0.0] * len(FIELDS))
    counts: list[int] = Field(default_factory=lambda: [0] * len(FIELDS))
    energy_kwh: float = 0.0

    def folded(self, reading: Reading, energy_kwh: float) -> Bucket:
        sums, counts = list(self.sums), list(self.counts)
        for i, name in enumerate(FIELDS):
            value = getattr(reading, name)
            if value is not None:
                sums[i] += value
                counts[i] += 1
        return Bucket(start=self.start, last_ms=_ms(reading.ts), n=self.n + 1, sums=sums, counts=counts,
                      energy_kwh=self.energy_kwh + energy_kwh)

    def point(self) -> SeriesPoint:
        means = {name: (round(self.sums[i] / self.counts[i], 3) if self.counts[i] else None)
                 for i, name in enumerate(FIELDS)}
        return SeriesPoint(ts=datetime.fromtimestamp(self.start, UTC), energy_kwh=round(self.energy_kwh, 6),
                           samples=self.n, **means)


class OpenBuckets(BaseModel):
    """The bucket of each step that the latest reading fell into, still accepting readings."""

    model_config = ConfigDict(extra="forbid")

    buckets: dict[Step, Bucket] = Field(default_factory=dict)


class SeriesPoint(BaseModel):
    ts: Timestamp
    pv_power_w: float | None = None
    ac_power_w: float | None = None
    grid_power_w: float | None = None
    load_power_w: float | None = None
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None
    energy_kwh: float
    samples: int


class Series(BaseModel):
    items: list[SeriesPoint]


Closed = tuple[Step, Bucket]


def bucket_start(ts: datetime, step: Step) -> int:
    epoch = int(ts.timestamp())
    return epoch - epoch % step.seconds


def energy_delta_kwh(previous: Reading | None, reading: Reading) -> float:
    """What the device produced from `previous` to `reading`; 0 when the counters cannot tell."""
    if previous is None or reading.ts <= previous.ts:
        return 0.0
    before, now = previous.energy_total_kwh, reading.energy_total_kwh
    if before is not None and now is not None and now >= before:
        return now - before
    before, now = previous.energy_today_kwh, reading.energy_today_kwh
    if before is not None and now is not None:
        return now - before if now >= before else now  # the day counter reset at the site's midnight
    gap = reading.ts - previous.ts
    if previous.pv_power_w is not None and reading.pv_power_w is not None and gap <= MAX_INTEGRATION_GAP:
        mean_w = max(0.0, (previous.pv_power_w + reading.pv_power_w) / 2)
        return mean_w * gap.total_seconds() / 3_600_000
    return 0.0


def fold(state: OpenBuckets | None, reading: Reading, previous: Reading | None) -> tuple[OpenBuckets, list[Closed]]:
    """The open buckets after `reading`, and the buckets it closed (to be written)."""
    energy = energy_delta_kwh(previous, reading)
    buckets = dict(state.buckets) if state else {}
    closed: list[Closed] = []
    ms = _ms(reading.ts)
    for step in Step:
        start, current = bucket_start(reading.ts, step), buckets.get(step)
        if current is not None and (ms <= current.last_ms or start < current.start):
            continue  # already folded (a re-delivery), or older than the open bucket
        if current is not None and start > current.start:
            closed.append((step, current))
            current = None
        buckets[step] = (current or Bucket(start=start, last_ms=0)).folded(reading, energy)
    return OpenBuckets(buckets=buckets), closed


def merge(closed: list[Bucket], state: OpenBuckets | None, step: Step, start: int, end: int) -> list[SeriesPoint]:
    """Closed buckets in [start, end) plus the open one, oldest first; the open one wins a tie (it is newer)."""
    by_start = {b.start: b for b in closed if start <= b.start < end}
    current = state.buckets.get(step) if state else None
    if current is not None and start <= current.start < end:
        by_start[current.start] = current
    return [by_start[k].point() for k in sorted(by_start)]


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
