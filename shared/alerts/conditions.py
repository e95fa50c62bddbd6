"""Whether a rule's condition holds for an inverter now, and since when: pure functions of the
inverter's stored state (latest reading, poll failures), so that a device that sends nothing is judged
as well as one that does.

    offline        not heard from: the last poll failed (a vendor rate limit is no sign of life or death),
                   the vendor reports the device offline, or it has had nothing newer for longer than
                   STALE_AFTER(poll interval); since = the last reading (or the registration)
    fault          the latest reading's status is `fault` (a battery discharging is not one: adapters map
                   vendor codes to statuses, and storage "discharging" is normal)
    battery_below  the latest state of charge is below the threshold
    no_production  no PV power while the sun is at least SUN_UP_DEGREES above the horizon at the
                   inverter's latitude/longitude, judged at the reading's time

`holds` is None where the state cannot tell (no reading, no state of charge, no coordinates, a reading
too old to judge production by): the evaluator then leaves an incident as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.alerts.models import AlertRule, Condition
from shared.alerts.sun import sun_is_up
from shared.telemetry.models import DeviceStatus, InverterRecord

# PV power at or below this counts as none (inverters report a few watts of noise at night).
NO_PV_W = 5.0


def stale_after(poll_interval_s: int) -> timedelta:
    """Two missed polls and a minute's slack: vendor clouds refresh on their own cadence (Growatt ~5 min)."""
    return timedelta(seconds=2 * poll_interval_s + 60)


@dataclass(frozen=True)
class Observation:
    holds: bool | None
    since: datetime | None = None


UNKNOWN = Observation(None)


def observe(rule: AlertRule, device: InverterRecord, now: datetime) -> Observation:
    latest = device.latest
    if rule.condition == Condition.offline:
        heard = latest.ts if latest else device.created_at
        failed = device.failures > 0 and not (device.last_error or "").startswith("rate_limited")
        reported = latest is not None and latest.status == DeviceStatus.offline
        stale = now - heard > stale_after(device.poll_interval_s)
        return Observation(failed or reported or stale, heard)
    if latest is None:
        return UNKNOWN
    if rule.condition == Condition.fault:
        return Observation(latest.status == DeviceStatus.fault, latest.ts)
    if rule.condition == Condition.battery_below:
        if latest.battery_soc_pct is None or rule.threshold is None:
            return UNKNOWN
        return Observation(latest.battery_soc_pct < rule.threshold, latest.ts)
    # no_production
    if (device.latitude is None or device.longitude is None or latest.pv_power_w is None
            or now - latest.ts > stale_after(device.poll_interval_s)):
        return UNKNOWN
    sun = sun_is_up(device.latitude, device.longitude, latest.ts)
    return Observation(sun and latest.pv_power_w <= NO_PV_W, latest.ts)
