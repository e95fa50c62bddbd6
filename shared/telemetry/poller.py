"""One poll cycle: read what is due, call each vendor within its limits, store, then publish.

    due (by_next_poll index, a query per shard)
      └─ per vendor, concurrently: per connection (whose credentials: a tenant's, or the stage's shared
         one), batches (≤ batch_size serials, one device type each)
           └─ per batch, ≤ max_concurrent in flight per vendor: a token from the credential's bucket and
              one from the vendor-wide bucket (where the vendor has one), and for a vendor with a daily
              budget (SolarEdge) one unit of the credential's and each site's budget of the day
              (shared.telemetry.budget) → one HTTP request; the devices are next due when the rest of
              the day's budget, spread over the rest of the day, allows
      └─ per device: Reading → latest + history; Failure → back off (next_poll_at moves out, jittered)
    store (BatchWriteItem) ──then── publish (XADD + PUBLISH)

The poller polls devices, never viewers: however many browsers watch an inverter, it is one request
per due device (or one per batch of devices) per cycle. A batch that cannot get a token within
`max_wait_s` is deferred, untouched, to the next cycle (its devices stay due); a vendor that throttles
the account is blocked in the shared bucket and not called again until the cooldown ends. Nothing a
vendor sends can crash a cycle: adapters turn every answer into outcomes, and an adapter that raises
anyway fails only its batch.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from shared.telemetry import rollups
from shared.telemetry.adapters.base import Adapter, BatchResult, Failure, FailureKind, fail_all
from shared.telemetry.budget import BudgetLedger, Grant, LocalLedger, day_of, next_day, planned_interval_s
from shared.telemetry.models import Brand, InverterRecord, Reading, utcnow
from shared.telemetry.policies import DUE_SLACK, LIMITS, DeviceBackoff, VendorLimits, next_due
from shared.telemetry.publish import ReadingPublisher
from shared.telemetry.ratelimit import RateLimiter
from shared.telemetry.rollup_store import ClosedBucket

if TYPE_CHECKING:
    import httpx

logger = Logger(child=True)


class PollState(Protocol):
    """What the poller needs of the inverter store (`InverterStore`)."""

    def due(self, before: datetime, limit: int) -> list[InverterRecord]: ...

    def save_poll_state(self, records: list[InverterRecord]) -> int: ...


class ConnectionAdapters(Protocol):
    """Adapters built from tenants' connections (`shared.telemetry.connection_adapters`)."""

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        """An adapter per connection that still exists; a missing one is left out."""
        ...


class History(Protocol):
    """What the poller needs of the reading store (`ReadingStore`)."""

    def append(self, readings: Sequence[Reading]) -> int: ...


class Rollups(Protocol):
    """Where closed history buckets go (`RollupStore`); the open ones ride on the inverter item."""

    def put_closed(self, closed: Sequence[ClosedBucket]) -> int: ...


class CycleObserver(Protocol):
    """Told after each cycle's store step which devices were due and their new state (the alert
    evaluator, shared.alerts.evaluator); what it raises is logged, never fails the cycle."""

    async def observe(self, devices: Sequence[InverterRecord], now: datetime) -> None: ...


@dataclass
class VendorReport:
    """Counts per vendor; the handler emits them as EMF metrics with a `vendor` dimension."""

    vendor_calls: int = 0
    rate_limited_calls: int = 0  # requests in which the vendor refused at least one device for rate
    rate_limited: int = 0  # devices the vendor refused for rate (per-device or account-wide)
    failures: int = 0  # devices that failed for any reason, rate limits included
    readings: int = 0  # new readings stored
    unchanged: int = 0  # the vendor had nothing newer than the latest we hold
    published: int = 0
    deferred: int = 0  # devices left due because no token came in time
    over_budget: int = 0  # devices not polled because the day's budget is spent (due again tomorrow)


@dataclass
class CycleReport:
    due: int = 0
    duration_s: float = 0.0
    # Seconds spent reading what is due, calling vendors, writing DynamoDB, publishing to Redis.
    phases: dict[str, float] = field(default_factory=dict)
    vendors: dict[str, VendorReport] = field(default_factory=lambda: defaultdict(VendorReport))

    @property
    def vendor_calls(self) -> int:
        return sum(v.vendor_calls for v in self.vendors.values())


@dataclass(frozen=True)
class Postponed:
    """Not polled, and not failed: the credential's or a site's daily budget is spent until `until`."""

    until: datetime


@dataclass
class Poller:
    inverters: PollState
    readings: History
    publisher: ReadingPublisher
    limiter: RateLimiter
    # The stage's shared connection per brand (inverters without a connection_id).
    adapters: Mapping[Brand, Adapter]
    http: httpx.AsyncClient
    connections: ConnectionAdapters | None = None
    limits: Mapping[Brand, VendorLimits] = field(default_factory=lambda: dict(LIMITS))
    backoff: DeviceBackoff = field(default_factory=DeviceBackoff)
    rng: random.Random = field(default_factory=random.Random)
    max_devices: int = 20_000
    max_wait_s: float = 2.0
    concurrency: int = 16
    rollups: Rollups | None = None
    observer: CycleObserver | None = None
    # Daily budgets' counters (vendors with `VendorLimits.daily`); shared in Redis by the runtime.
    ledger: BudgetLedger = field(default_factory=LocalLedger)
    # Per credential with a daily budget: the most requests one round of its devices took today. Devices
    # that fell out of phase (a batch deferred for a token) are polled in smaller rounds of their own; each
    # round still plans with the whole round's size, so that together they keep the planned rate.
    _round_size: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def cycle(self, now: datetime | None = None) -> CycleReport:
        started, now = time.perf_counter(), now or utcnow()
        report = CycleReport()
        lap = _Lap(report.phases)
        due = await asyncio.to_thread(self.inverters.due, now + DUE_SLACK, self.max_devices)
        report.due = len(due)
        lap("due")
        by_brand: dict[Brand, list[InverterRecord]] = defaultdict(list)
        for device in due:
            by_brand[device.brand].append(device)
        wanted = {d.connection_id for d in due if d.connection_id}
        tenant_adapters = await self.connections.adapters(wanted) if self.connections and wanted else {}
        plans: dict[str, float] = {}  # inverter id -> seconds until next due, where a daily budget plans it
        results = await asyncio.gather(*(self._poll_vendor(brand, devices, now, report.vendors[brand.value],
                                                           tenant_adapters, plans)
                                         for brand, devices in by_brand.items()))
        outcomes = {k: v for result in results for k, v in result.items()}
        lap("fetch")
        updated, fresh, closed = self._apply(due, outcomes, plans, now, report)
        await asyncio.to_thread(self.readings.append, fresh)
        if self.rollups is not None and closed:
            # Before the poll state: a crash in between repeats the same closed buckets, never loses one.
            await asyncio.to_thread(self.rollups.put_closed, closed)
        await asyncio.to_thread(self.inverters.save_poll_state, updated)
        lap("store")
        if self.observer is not None:
            try:
                await self.observer.observe(updated, now)
            except Exception:  # alerts are evaluated again next cycle; the poll itself stands
                logger.exception("alert evaluation failed")
            lap("alerts")
        brand_of = {d.id: d.brand.value for d in due}
        for brand, readings in _group(fresh, brand_of).items():
            report.vendors[brand].published += await self.publisher.publish(readings)
        lap("publish")
        report.duration_s = time.perf_counter() - started
        return report

    async def _poll_vendor(self, brand: Brand, devices: list[InverterRecord], now: datetime, report: VendorReport,
                           tenant_adapters: Mapping[str, Adapter],
                           plans: dict[str, float]) -> dict[str, Reading | Failure | Postponed]:
        limits = self.limits[brand]
        outcomes: dict[str, Reading | Failure | Postponed] = {}
        gate = asyncio.Semaphore(min(self.concurrency, limits.max_concurrent))
        closed: set[str] = set()  # credentials the vendor throttled during this cycle
        granted: dict[str, list[tuple[list[InverterRecord], Grant]]] = defaultdict(list)  # daily budgets
        rounds: dict[str, int] = {}  # requests one poll of a credential's due devices takes
        by_credential: dict[str | None, list[InverterRecord]] = defaultdict(list)
        for device in devices:
            by_credential[device.connection_id].append(device)

        async def run(credential: str, adapter: Adapter, batch: list[InverterRecord]) -> None:
            async with gate:
                if credential in closed or not await self._tokens(credential, limits):
                    report.deferred += len(batch)
                    return
                if limits.daily is not None:
                    grant = await self.ledger.spend(credential, [d.serial for d in batch], now, limits.daily)
                    if not grant.granted:
                        report.over_budget += len(batch)
                        outcomes.update({d.id: Postponed(next_day(now)) for d in batch})
                        logger.warning("daily budget spent; due again tomorrow", extra={
                            "vendor": brand.value, "credential": credential, "spent": grant.credential_spent,
                            "site_spent": grant.site_spent, "devices": len(batch)})
                        return
                    granted[credential].append((batch, grant))
                report.vendor_calls += 1
                try:
                    result = await adapter.fetch(self.http, batch, now, limits.timeout_s)
                except Exception as exc:  # an adapter bug fails its batch, never the cycle
                    logger.exception("adapter raised", extra={"vendor": brand.value, "batch": len(batch)})
                    result = BatchResult(fail_all(batch, Failure(FailureKind.bad_payload, type(exc).__name__)))
                if any(isinstance(o, Failure) and o.kind == FailureKind.rate_limited for o in result.outcomes.values()):
                    report.rate_limited_calls += 1
                if result.vendor_retry_after_s is not None:
                    closed.add(credential)
                    await self.limiter.block(credential, result.vendor_retry_after_s)
                    logger.warning("vendor throttled the account", extra={
                        "vendor": brand.value, "credential": credential, "cooldown_s": result.vendor_retry_after_s})
                outcomes.update(result.outcomes)

        runs = []
        for connection_id, group in by_credential.items():
            adapter = tenant_adapters.get(connection_id) if connection_id else self.adapters.get(brand)
            if adapter is None:  # no credentials (not configured, or the connection was deleted): back off
                why = "the connection no longer exists" if connection_id else "vendor credentials not configured"
                outcomes.update(fail_all(group, Failure(FailureKind.vendor_error, why)))
                continue
            # The shared connection keeps the bucket named after the vendor alone.
            credential = f"{brand.value}:{connection_id}" if connection_id else brand.value
            batches = adapter.batches(group, limits.batch_size)
            rounds[credential] = len(batches)
            runs += [run(credential, adapter, b) for b in batches]
        await asyncio.gather(*runs)
        if limits.daily is not None:
            # One plan per credential, from its last grant of the cycle: its devices stay due together, so
            # a round keeps taking `rounds` requests instead of drifting into more, smaller ones.
            today = day_of(now)
            for credential, grants in granted.items():
                last = max((g for _, g in grants), key=lambda g: g.credential_spent)
                day, seen = self._round_size.get(credential, (today, 0))
                size = max(rounds[credential], seen if day == today else 0)
                self._round_size[credential] = (today, size)
                for batch, _ in grants:
                    for d in batch:
                        plans[d.id] = planned_interval_s(now, d.poll_interval_s, last, limits.daily, size)
        return outcomes

    async def _tokens(self, credential: str, limits: VendorLimits) -> bool:
        """A token from the credential's bucket, then from the vendor-wide one where there is one."""
        if not await self._token(credential, limits):
            return False
        wide = limits.vendor_wide()
        return wide is None or await self._token(credential.split(":")[0] + ":all", wide)

    async def _token(self, bucket: str, limits: VendorLimits) -> bool:
        waited = 0.0
        while (wait := await self.limiter.acquire(bucket, limits)) > 0:
            if waited + wait > self.max_wait_s:
                return False
            await asyncio.sleep(wait)
            waited += wait
        return True

    def _apply(self, due: Sequence[InverterRecord], outcomes: Mapping[str, Reading | Failure | Postponed],
               plans: Mapping[str, float], now: datetime,
               report: CycleReport) -> tuple[list[InverterRecord], list[Reading], list[ClosedBucket]]:
        """The new poll state of every device that got an outcome, the readings newer than its latest,
        and the history buckets those readings closed."""
        updated: list[InverterRecord] = []
        fresh: list[Reading] = []
        closed: list[ClosedBucket] = []
        for device in due:
            outcome, vendor = outcomes.get(device.id), report.vendors[device.brand.value]
            if outcome is None:
                continue  # deferred: stays due
            if isinstance(outcome, Postponed):
                updated.append(device.model_copy(update={"next_poll_at": outcome.until}))
                continue
            if isinstance(outcome, Reading):
                newer = device.latest is None or outcome.ts > device.latest.ts
                buckets = device.buckets
                if newer:
                    fresh.append(outcome)
                    vendor.readings += 1
                    buckets, done = rollups.fold(device.buckets, outcome, device.latest)
                    closed += [(device.id, step, bucket) for step, bucket in done]
                else:
                    vendor.unchanged += 1
                updated.append(device.model_copy(update={
                    "latest": outcome if newer else device.latest, "buckets": buckets, "failures": 0,
                    "last_error": None, "last_polled_at": now,
                    "next_poll_at": next_due(now, plans.get(device.id, device.poll_interval_s))}))
                continue
            failures = device.failures + 1
            delay = max(self.backoff.delay_s(device.poll_interval_s, failures, self.rng, outcome.retry_after_s),
                        plans.get(device.id, 0.0))  # a failed call spent its budget as well
            vendor.failures += 1
            if outcome.kind == FailureKind.rate_limited:
                vendor.rate_limited += 1
            logger.warning("poll failed", extra={
                "inverter_id": device.id, "vendor": device.brand.value, "kind": outcome.kind.value,
                "detail": outcome.detail, "failures": failures, "retry_in_s": round(delay, 1)})
            updated.append(device.model_copy(update={
                "failures": failures, "last_error": f"{outcome.kind.value}: {outcome.detail}"[:300],
                "last_polled_at": now, "next_poll_at": now + timedelta(seconds=delay)}))
        return updated, fresh, closed


class _Lap:
    def __init__(self, into: dict[str, float]) -> None:
        self.into, self.at = into, time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.into[phase], self.at = round(now - self.at, 3), now


def _group(readings: Sequence[Reading], brand_of: Mapping[str, str]) -> dict[str, list[Reading]]:
    groups: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        groups[brand_of[r.inverter_id]].append(r)
    return groups
