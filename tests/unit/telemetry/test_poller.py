"""The poll cycle's rules, against in-memory stores and a mock vendor: batching, back-off, vendor
throttling shared through the limiter, deferral when no token comes, unchanged readings, and that no
vendor answer or adapter bug crashes a cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.telemetry.adapters.base import Adapter
from shared.telemetry.adapters.growatt import GrowattAdapter
from shared.telemetry.adapters.sandbox import SandboxAdapter
from shared.telemetry.models import Brand, InverterRecord, Reading
from shared.telemetry.policies import LIMITS, VendorLimits
from shared.telemetry.poller import Poller
from shared.telemetry.ratelimit import LocalTokenBucket
from tests.unit.telemetry.helpers import T0, device, fixture


class Store:
    def __init__(self, records: Sequence[InverterRecord]) -> None:
        self.records = {r.id: r for r in records}
        self.history: list[Reading] = []

    def due(self, before: datetime, limit: int) -> list[InverterRecord]:
        return [r for r in self.records.values() if r.next_poll_at <= before][:limit]

    def save_poll_state(self, records: list[InverterRecord]) -> int:
        self.records.update({r.id: r for r in records})
        return 1

    def append(self, readings: Sequence[Reading]) -> int:
        self.history += readings
        return 1


class Published:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def publish(self, readings: Sequence[Reading]) -> int:
        self.readings += readings
        return len(readings)


def growatt_vendor(calls: list[httpx.Request], code: int = 0) -> Callable[[httpx.Request], httpx.Response]:
    """Answers queryLastData for whatever serials it is asked about, at a fixed calendar time."""
    template = fixture("growatt_v4_sph.json")["data"]["sph"][0]

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        serials = dict(httpx.QueryParams(request.content.decode()))["deviceSn"].split(",")
        return httpx.Response(200, json={"code": code, "message": "", "data": {
            "sph": [{**template, "serialNum": s} for s in serials]}})

    return handle


# Real batch sizes and intervals, but tokens plenty: these tests are not about the vendors' quotas.
FAST = {b: VendorLimits(batch_size=v.batch_size, min_poll_interval_s=v.min_poll_interval_s, rate_per_s=1000,
                        burst=1000) for b, v in LIMITS.items()}


def poller(store: Store, handler: Callable[[httpx.Request], httpx.Response], adapters: dict[Brand, Adapter] | None
           = None, **kwargs: Any) -> tuple[Poller, Published]:
    published = Published()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    kwargs.setdefault("limits", FAST)
    return Poller(inverters=store, readings=store, publisher=published, limiter=LocalTokenBucket(),
                  adapters=adapters if adapters is not None else {Brand.growatt: GrowattAdapter("https://g", "tok")},
                  http=http, **kwargs), published


def sph(n: int, interval: int = 300) -> list[InverterRecord]:
    return [device(f"SPH{i:04d}", Brand.growatt, "sph", interval=interval) for i in range(n)]


async def test_due_devices_are_fetched_in_batches_stored_then_published() -> None:
    calls: list[httpx.Request] = []
    store = Store(sph(250))
    p, published = poller(store, growatt_vendor(calls))
    report = await p.cycle(now=T0)
    assert len(calls) == 3 and report.vendor_calls == 3  # 100 + 100 + 50 serials
    assert report.vendors["growatt"].readings == 250 and len(store.history) == 250 == len(published.readings)
    assert all(r.next_poll_at == T0 + timedelta(seconds=300) and r.latest for r in store.records.values())
    # When polled again with nothing newer from the vendor, nothing is stored or published twice
    again = await p.cycle(now=T0 + timedelta(seconds=300))
    assert again.vendors["growatt"].unchanged == 250 and len(published.readings) == 250


async def test_account_throttle_blocks_the_vendor_for_every_later_batch_and_cycle() -> None:
    calls: list[httpx.Request] = []
    store = Store(sph(250))
    p, _ = poller(store, growatt_vendor(calls, code=102), concurrency=1)
    report = await p.cycle(now=T0)
    assert len(calls) == 1  # the first batch was throttled; the other two were not attempted
    assert report.vendors["growatt"].rate_limited == 100 and report.vendors["growatt"].deferred == 150
    assert report.vendors["growatt"].rate_limited_calls == 1
    throttled = [r for r in store.records.values() if r.failures]
    assert len(throttled) == 100 and all(r.next_poll_at >= T0 + timedelta(seconds=300) for r in throttled)
    later = await p.cycle(now=T0 + timedelta(seconds=5))
    assert len(calls) == 1 and later.vendors["growatt"].deferred == 150  # still closed: no request at all


async def test_failing_device_backs_off_with_growing_delays_and_recovers() -> None:
    answers = iter([500, 500, 200])
    body = fixture("growatt_v4_sph.json")

    def flaky(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json=body)

    store = Store([device("OZD0849010", Brand.growatt, "sph", interval=300)])
    p, _ = poller(store, flaky)
    now, delays = T0, []
    for _ in range(2):
        await p.cycle(now=now)
        record = next(iter(store.records.values()))
        delays.append((record.next_poll_at - now).total_seconds())
        now = record.next_poll_at
    assert record.failures == 2 and record.last_error == "vendor_error: HTTP 500"
    assert 300 <= delays[0] <= 600 and 600 <= delays[1] <= 1200
    await p.cycle(now=now)
    record = next(iter(store.records.values()))
    assert record.failures == 0 and record.last_error is None and record.latest is not None


async def test_bad_payload_is_logged_with_the_device_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    good = fixture("sandbox_hybrid.json")["data"]["SBX-DEMO-0001"]

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 0, "data": {"OK": good, "BAD": {**good, "pvW": None}}})

    ok, bad = device("OK"), device("BAD")
    store = Store([ok, bad])
    p, published = poller(store, vendor, adapters={Brand.sandbox: SandboxAdapter("http://sbx", "t")})
    with caplog.at_level(logging.WARNING):
        report = await p.cycle(now=T0)
    assert [r.inverter_id for r in published.readings] == [ok.id]
    assert report.vendors["sandbox"].failures == 1 and str(store.records[bad.id].last_error).startswith("bad_payload")
    logged = [r for r in caplog.records if getattr(r, "inverter_id", None) == bad.id]
    assert logged and logged[0].kind == "bad_payload"  # type: ignore[attr-defined]


async def test_an_adapter_that_raises_fails_its_batch_not_the_cycle() -> None:
    class Broken(GrowattAdapter):
        async def fetch(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("bug")

    store = Store([*sph(2), device("S1")])
    adapters: dict[Brand, Adapter] = {Brand.growatt: Broken("https://g", "t"),
                                      Brand.sandbox: SandboxAdapter("http://sbx", "t")}
    sandbox_body = {"code": 0, "data": {"S1": fixture("sandbox_hybrid.json")["data"]["SBX-DEMO-0001"]}}
    p, published = poller(store, lambda request: httpx.Response(200, json=sandbox_body), adapters)
    report = await p.cycle(now=T0)
    assert report.vendors["growatt"].failures == 2 and report.vendors["sandbox"].readings == 1
    assert len(published.readings) == 1


async def test_vendor_without_credentials_is_never_called() -> None:
    calls: list[httpx.Request] = []
    store = Store(sph(3))
    p, _ = poller(store, growatt_vendor(calls), adapters={})
    report = await p.cycle(now=T0)
    assert calls == [] and report.vendor_calls == 0 and report.vendors["growatt"].failures == 3
    assert all(r.next_poll_at > T0 for r in store.records.values())


async def test_batch_without_a_token_in_time_is_deferred_untouched() -> None:
    calls: list[httpx.Request] = []
    store = Store(sph(150))
    slow = {**FAST, Brand.growatt: VendorLimits(batch_size=100, min_poll_interval_s=300, rate_per_s=0.01, burst=1)}
    p, _ = poller(store, growatt_vendor(calls), limits=slow, max_wait_s=0.05)
    report = await p.cycle(now=T0)
    assert len(calls) == 1 and report.vendors["growatt"].deferred == 50
    assert sum(r.next_poll_at == T0 for r in store.records.values()) == 50  # still due, nothing recorded
