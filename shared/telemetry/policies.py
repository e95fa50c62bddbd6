"""Small, pure policies of the poller: each vendor's limits, when a device is next due, how a failing
device backs off. Randomness is injected so that tests can pin it."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.telemetry.budget import DailyBudget
from shared.telemetry.models import Brand


@dataclass(frozen=True)
class VendorLimits:
    """What a vendor allows. `rate_per_s`/`burst` shape a token bucket shared by every poller
    invocation (one token per HTTP request, however many serials it carries)."""

    batch_size: int
    min_poll_interval_s: int
    # Per credential (a token, an API key), as the vendor counts an account's requests.
    rate_per_s: float
    burst: int
    # How long one request may take before the device counts as failed.
    timeout_s: float = 10.0
    # For the whole stage, whatever the credential (a vendor that counts per client IP or per app):
    # None where the vendor counts per credential only.
    vendor_rate_per_s: float | None = None
    vendor_burst: int | None = None
    # Requests in flight at once to this vendor (SolarEdge: 3 concurrent per IP).
    max_concurrent: int = 16
    # A daily request budget per credential and per site (SolarEdge), planned by shared.telemetry.budget;
    # None where the vendor counts per minute only.
    daily: DailyBudget | None = None

    def vendor_wide(self) -> VendorLimits | None:
        """The stage-wide bucket's shape, when the vendor has one."""
        if self.vendor_rate_per_s is None:
            return None
        return replace(self, rate_per_s=self.vendor_rate_per_s, burst=self.vendor_burst or 1)


LIMITS: dict[Brand, VendorLimits] = {
    # Ours: generous, so that a 10,000-device poll measures the poller rather than a quota.
    # Per credential as before, and a stage-wide bucket standing in for a per-IP limit.
    Brand.sandbox: VendorLimits(batch_size=100, min_poll_interval_s=5, rate_per_s=50, burst=100, timeout_s=5,
                                vendor_rate_per_s=500, vendor_burst=1000, max_concurrent=32),
    # OpenAPI v4 takes up to 100 serials per queryLastData and refreshes a device about every 5 min;
    # its docs give no request quota ("different interfaces have different time limits": code 102),
    # so one request per 2 s is a conservative guess, tunable here.
    Brand.growatt: VendorLimits(batch_size=100, min_poll_interval_s=300, rate_per_s=0.5, burst=2),
    # v4 free plan: 10 requests/minute and 1,000/month, one system per summary request. The monthly
    # quota allows one system polled every ~45 min; 15 min suits a paid plan's 5-min telemetry.
    Brand.enphase: VendorLimits(batch_size=1, min_poll_interval_s=900, rate_per_s=10 / 60, burst=10),
    # Monitoring API: 300 requests a day per key and per site, planned over the day (shared.telemetry.budget);
    # 3 concurrent requests per IP; the bulk overview takes up to 100 sites for one request of the key's
    # budget (and one of each site's). Every 5 min at most: 288 a day, inside one site's 300; a key with
    # more than 100 sites (two bulk calls a round) is spread out by the planner.
    Brand.solaredge: VendorLimits(batch_size=100, min_poll_interval_s=300, rate_per_s=1, burst=3, max_concurrent=3,
                                  daily=DailyBudget(per_credential=300, per_site=300, reserve=10)),
}

# A device whose due time falls within this much of the poll is taken now: the schedule fires with a
# little jitter, and skipping a device by a few milliseconds would halve its cadence. Kept well inside
# the early arrival a vendor tolerates (the sandbox: 20 % of its 5 s interval), so that taking a device
# early never earns a 429.
DUE_SLACK = timedelta(milliseconds=500)


def effective_interval(brand: Brand, requested_s: int) -> int:
    """The caller's interval, raised to what the vendor permits."""
    return max(requested_s, LIMITS[brand].min_poll_interval_s)


def next_due(cycle_at: datetime, interval_s: float) -> datetime:
    """Anchor on the cycle's time, not the response's, so that a device keeps the schedule's cadence
    instead of drifting by one request latency per poll."""
    return cycle_at + timedelta(seconds=interval_s)


@dataclass(frozen=True)
class DeviceBackoff:
    """Equal jitter on a doubling delay: between half and all of min(cap, interval·2^failures).

    Never sooner than the normal interval (a failing device is never polled faster than a healthy one)
    nor than the vendor's Retry-After; jitter spreads devices that failed together (one vendor outage)
    so that they do not come back in one burst."""

    cap_s: float = 6 * 3600

    def delay_s(self, interval_s: int, failures: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, interval_s * 2 ** min(failures, 20))
        delay = max(float(interval_s), ceiling / 2 + rng.uniform(0, ceiling / 2))
        return float(max(delay, retry_after_s or 0.0))
