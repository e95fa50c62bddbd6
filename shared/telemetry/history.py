"""The series route's logic (SPEC §3 History), independent of HTTP: check the window, read the closed
buckets, add the open one from the inverter item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.errors import Unprocessable
from shared.problems import field_errors
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import InverterRecord, utcnow
from shared.telemetry.rollup_store import RollupStore
from shared.telemetry.rollups import Series, Step, bucket_start, merge

# At most this many buckets per request: 34 days of 5-minute buckets, 13 months of hours, decades of days.
MAX_BUCKETS = 10_000
# Without `from`: the window each step is made for (the dashboard's 24 h, 7 d and 30 d views).
DEFAULT_WINDOW: dict[Step, timedelta] = {Step.five_minutes: timedelta(hours=24), Step.hour: timedelta(days=7),
                                         Step.day: timedelta(days=30)}


def _field(name: str, message: str) -> Unprocessable:
    # A query parameter's problem, in the shape every other one has (`{parameter, in, detail, type}`).
    return Unprocessable(message, errors=field_errors([{"loc": ("query", name), "msg": message,
                                                        "type": "value_error"}]))


def require_zone(name: str, value: datetime | None) -> None:
    """422 for a time query parameter without a zone (`since`, `from`, `to`): RFC 3339 times carry one."""
    if value is not None and value.tzinfo is None:
        raise _field(name, f"{name} needs a time zone (RFC 3339, e.g. 2026-11-22T10:00:00Z)")


def window(step: Step, start: datetime | None, end: datetime | None, now: datetime | None = None) -> tuple[int, int]:
    """[first bucket start, end) in epoch seconds; 422 for a window that is not one."""
    require_zone("from", start)
    require_zone("to", end)
    end = end or now or utcnow()
    if start is None:
        try:
            start = end - DEFAULT_WINDOW[step]
        except OverflowError:  # a `to` in the first days of year 1: the default window starts with the calendar
            start = datetime.min.replace(tzinfo=UTC)
    if start >= end:
        raise _field("from", "from must be before to")
    first, last = bucket_start(start, step), int(end.timestamp())
    if (last - first) / step.seconds > MAX_BUCKETS:
        raise _field("from", f"at most {MAX_BUCKETS} buckets of {step.value} per request: narrow from/to "
                             "or take a longer step")
    return first, last


class SeriesReader:
    """A tenant's inverter's series (the dashboard's history views): another tenant's is a NotFound."""

    def __init__(self, inverters: InverterStore, rollups: RollupStore) -> None:
        self.inverters, self.rollups = inverters, rollups

    def read(self, tenant: str, inverter_id: str, step: Step, start: datetime | None = None,
             end: datetime | None = None) -> Series:
        return series(self.rollups, self.inverters.get(tenant, inverter_id), step, start, end)


def series(store: RollupStore, inverter: InverterRecord, step: Step, start: datetime | None,
           end: datetime | None) -> Series:
    first, last = window(step, start, end)
    closed = store.closed(inverter.id, step, first, last)
    return Series(items=merge(closed, inverter.buckets, step, first, last))
