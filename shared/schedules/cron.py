"""Five-field cron in an IANA time zone, evaluated by cronsim, with the SPEC's daylight-saving rules.

cronsim was chosen over croniter because it already does what the SPEC asks on real zone data (both
checked on America/New_York, 2027): a local time skipped by the spring-forward gap fires once at the
first instant after the gap (02:30 → 03:00 EDT), and a fixed local time that occurs twice at fall-back
fires once (croniter fires 01:30 twice). Expressions whose hour is a wildcard keep their real-time
cadence through the repeated hour (`*/30 * * * *` fires every 30 minutes of elapsed time); under a fixed
hour every local time follows the rules above, whatever the minute field (`_expression`).

One guard is ours: started from inside the repeated hour, cronsim can answer the first occurrence of
that hour, which lies *before* the start; `fire_times` only yields instants strictly after `after`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

MAX_CRON_LENGTH = 256


class CronError(ValueError):
    """A cron expression or time zone that cannot be evaluated; the message is for the caller."""


@cache
def _iana() -> frozenset[str]:
    # The IANA names (tzdata's list, or the system's): not the system's `localtime`, `posix/…` or `right/…`.
    return frozenset(available_timezones()) - {"localtime", "Factory"}


def zone(name: str) -> ZoneInfo:
    if name not in _iana() and name != "UTC":
        raise CronError(f"unknown time zone {name[:64]!r} (use an IANA name such as Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CronError(f"unknown time zone {name[:64]!r} (use an IANA name such as Europe/Berlin)") from exc


def check(cron: str, timezone: str) -> None:
    """Raise CronError unless `cron` is a five-field expression that fires at least once in `timezone`."""
    zone(timezone)
    if len(cron) > MAX_CRON_LENGTH:
        raise CronError(f"cron expression longer than {MAX_CRON_LENGTH} characters")
    fields = cron.split()
    if len(fields) != 5:
        raise CronError(f"cron needs five fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    try:
        it = CronSim(" ".join(fields), datetime(2000, 1, 1, tzinfo=UTC))
        next(it)
    except CronSimError as exc:
        raise CronError(f"invalid cron expression {cron!r}: {exc}") from exc
    except StopIteration as exc:
        raise CronError(f"cron expression {cron!r} never fires") from exc


def _expression(cron: str) -> str:
    """The expression as cronsim is given it. cronsim (as Debian cron) applies the daylight-saving rules only
    when neither the minute nor the hour field starts with `*`, so a minute wildcard or step under a fixed
    hour (`*/30 1 * * *`) fired 01:00 and 01:30 twice at fall-back and not at all in a spring-forward gap.
    The SPEC's rules hold for every local time an expression names unless its hour is a wildcard, so such a
    minute is written as the range it stands for (`*` as `0-59`, `*/30` as `0-59/30`): the same times."""
    fields = cron.split()
    if len(fields) == 5 and fields[0].startswith("*") and not fields[1].startswith("*"):
        fields[0] = "0-59" + fields[0][1:]
    return " ".join(fields)


def fire_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The fire times (UTC, whole minutes) strictly after `after`, in order."""
    tz = zone(timezone)
    after = after.astimezone(UTC)
    for local in CronSim(_expression(cron), after.astimezone(tz)):
        t = local.astimezone(UTC)
        if t > after:
            yield t


def next_fire(cron: str, timezone: str, after: datetime) -> datetime | None:
    return next(fire_times(cron, timezone, after), None)


def next_runs(cron: str, timezone: str, after: datetime, n: int = 5) -> list[datetime]:
    out: list[datetime] = []
    for t in fire_times(cron, timezone, after):
        out.append(t)
        if len(out) == n:
            break
    return out
