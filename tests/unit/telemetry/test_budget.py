"""The daily budget planner (SolarEdge: 300 requests a day per key and per site) over simulated days: the real
Poller, planner and ledger, the sandbox's SolarEdge face (which answers 429 past its limits) in process,
and one injected clock for all of them. A day is spent evenly, never exceeded, a late start polls faster,
a spent budget waits for the next UTC day without counting as a failure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import httpx
import pytest

from functions.sandbox.solaredge import account_sites
from functions.sandbox.vendor import SandboxVendor
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.adapters.solaredge import SolarEdgeAdapter
from shared.telemetry.budget import DailyBudget, Grant, LocalLedger, next_day, planned_interval_s
from shared.telemetry.models import Brand, InverterRecord
from shared.telemetry.policies import LIMITS
from shared.telemetry.poller import Poller
from shared.telemetry.ratelimit import LocalTokenBucket
from tests.unit.telemetry.test_poller import Published, Store

DAY = datetime(2026, 12, 2, tzinfo=UTC)
BUDGET = LIMITS[Brand.solaredge].daily
assert BUDGET is not None


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


class Connections:
    def __init__(self, adapters: Mapping[str, Adapter]) -> None:
        self.by_id = adapters

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        return {c: a for c, a in self.by_id.items() if c in connection_ids}


def world(keys: dict[str, int], start: datetime, interval_s: int = 300,
          ledger: LocalLedger | None = None) -> tuple[Poller, Store, SandboxVendor, Clock]:
    """Connections `con_<key>` with `keys[key]` sites each, registered at `start`."""
    clock = Clock(start)
    vendor = SandboxVendor(token="token", clock=clock, solaredge_sites=max(keys.values()),
                           solaredge_daily=BUDGET.per_credential)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = vendor.handle(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()},
                               request.content, request.url.query.decode())
        return httpx.Response(answer.status, content=answer.json(), headers=answer.headers)

    records = [InverterRecord(id=f"inv_{key}_{site}", tenant=key, brand=Brand.solaredge, serial=site,
                              device_type="site", name=None, poll_interval_s=interval_s, created_at=start,
                              next_poll_at=start, connection_id=f"con_{key}")
               for key, n in keys.items() for site in account_sites(f"se-{key}", n)]
    store = Store(records)
    adapters = {f"con_{key}": SolarEdgeAdapter("http://sandbox", f"se-{key}") for key in keys}
    poller = Poller(inverters=store, readings=store, publisher=Published(), limiter=LocalTokenBucket(clock=clock),
                    adapters={}, http=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
                    connections=Connections(adapters), ledger=ledger or LocalLedger())
    return poller, store, vendor, clock


async def run_until(poller: Poller, store: Store, clock: Clock, end: datetime, tick_s: int = 60) -> list[datetime]:
    """A cycle every `tick_s` (jumping idle stretches) until `end`; the times of cycles that called the vendor."""
    called: list[datetime] = []
    while clock.at < end:
        report = await poller.cycle(now=clock.at)
        if report.vendor_calls:
            called.append(clock.at)
        soonest = min(r.next_poll_at for r in store.records.values())
        step = max(tick_s, -(-(soonest - clock.at).total_seconds() // tick_s) * tick_s)
        clock.at += timedelta(seconds=step)
    return called


def test_the_interval_spreads_what_is_left_over_what_is_left_of_the_day() -> None:
    budget = DailyBudget(per_credential=300, per_site=300, reserve=10)
    # Midnight, 1 request spent, 3 requests a round: 86,400 s × 3 / 289 left ≈ 897 s
    assert planned_interval_s(DAY, 300, Grant(True, 1, 1), budget, 3) == pytest.approx(86_400 * 3 / 289)
    # One request a round for a single site: the configured 300 s stands (288 a day fit)
    assert planned_interval_s(DAY, 300, Grant(True, 1, 1), budget, 1) == 300
    # 18:00 with the budget untouched: 6 h for 289, the configured interval again
    assert planned_interval_s(DAY.replace(hour=18), 300, Grant(True, 1, 1), budget, 3) == 300
    # The site's own budget binds: 12:00, 290 of its 300 spent → 43,200 s / 10
    assert planned_interval_s(DAY.replace(hour=12), 60, Grant(True, 20, 290), budget, 1) == 4_320
    # Nothing left for another round: next due when the day turns
    assert planned_interval_s(DAY.replace(hour=23), 300, Grant(True, 289, 100), budget, 3) == 3_600
    assert next_day(DAY.replace(hour=23, minute=59)) == DAY + timedelta(days=1)


async def test_the_ledger_refuses_past_either_limit_and_spends_nothing_then() -> None:
    ledger, budget = LocalLedger(), DailyBudget(per_credential=5, per_site=3, reserve=1)
    grants = [await ledger.spend("solaredge:con_a", ["1", "2"], DAY, budget) for _ in range(4)]
    assert [g.granted for g in grants] == [True, True, True, False]  # the sites' 3 bind first
    assert ledger.spent("solaredge:con_a", DAY) == 3
    assert (await ledger.spend("solaredge:con_a", ["9"], DAY, budget)).granted  # 4 of the key's 4 for polls
    assert not (await ledger.spend("solaredge:con_a", ["8"], DAY, budget)).granted
    # The site budget is the vendor's, whatever key asks: another key cannot spend site 1 either
    assert not (await ledger.spend("solaredge:con_b", ["1"], DAY, budget)).granted
    # A new UTC day, whole budgets
    assert (await ledger.spend("solaredge:con_a", ["1"], DAY + timedelta(days=1), budget)).granted


async def test_a_simulated_day_spends_the_budget_evenly_and_never_past_it() -> None:
    # 150 sites on one key: two bulk calls a round; unplanned, a round every 300 s would need 576 a day
    poller, store, vendor, clock = world({"home": 150}, DAY)
    called = await run_until(poller, store, clock, DAY + timedelta(days=1))
    spent = LocalLedger.spent(poller.ledger, "solaredge:con_home", DAY)  # type: ignore[arg-type]
    assert vendor.solaredge.rate_limited == 0  # the vendor never refused
    assert spent <= BUDGET.for_polls and spent >= BUDGET.for_polls - 3  # the budget is used, not hoarded
    assert vendor.solaredge.spent[f"se-home|{DAY:%Y-%m-%d}"] == spent
    gaps = [(b - a).total_seconds() for a, b in pairwise(called)]
    assert min(gaps) >= 540 and max(gaps) <= 660  # ≈ 86,400 × 2 / 290 = 596 s apart all day long
    assert called[-1] >= DAY + timedelta(hours=23)  # still polling late in the evening
    # Every site got a reading in each round
    assert set(vendor.stats()["requests"].values()) == {len(called)}
    assert all(r.failures == 0 for r in store.records.values())


async def test_a_late_start_polls_faster_and_a_spent_budget_waits_for_tomorrow_without_failing() -> None:
    ledger = LocalLedger()
    # Another process spent most of the key's day already: the counter is the ledger's, not the poller's
    for _ in range(280):
        await ledger.spend("solaredge:con_late", ["0"], DAY, BUDGET)
    poller, store, vendor, clock = world({"late": 150}, DAY.replace(hour=18), ledger=ledger)
    called = await run_until(poller, store, clock, DAY + timedelta(hours=30))
    # The last 10 over the last 6 h, two calls a round: a round every 6 h × 2 / 8 left = 5,400 s, the fifth
    # one planned for midnight (a new day: whole budgets)
    assert ledger.spent("solaredge:con_late", DAY) == BUDGET.for_polls - 2
    today = [t for t in called if t < DAY + timedelta(days=1)]
    assert [(t - today[0]).total_seconds() for t in today] == [0, 5_400, 10_800, 16_200]
    # Past the budget: postponed to midnight, no failure, no 429
    assert vendor.solaredge.rate_limited == 0
    assert all(r.failures == 0 and r.last_error is None for r in store.records.values())
    assert called[len(today)] == DAY + timedelta(days=1)  # the new day's first round at 00:00
    # Fresh day: a round every 300 s × 2 calls ≈ 596 s apart
    tomorrow = called[len(today):]
    assert 580 <= (tomorrow[1] - tomorrow[0]).total_seconds() <= 660


async def test_two_keys_are_planned_apart_and_a_refused_batch_is_not_called() -> None:
    ledger = LocalLedger()
    for _ in range(BUDGET.for_polls):
        await ledger.spend("solaredge:con_spent", ["x"], DAY, BUDGET)
    poller, store, vendor, clock = world({"spent": 3, "fresh": 3}, DAY.replace(hour=12), ledger=ledger)
    report = await poller.cycle(now=clock.at)
    assert report.vendors["solaredge"].vendor_calls == 1 and report.vendors["solaredge"].over_budget == 3
    spent = [r for r in store.records.values() if r.connection_id == "con_spent"]
    assert all(r.next_poll_at == DAY + timedelta(days=1) and r.latest is None for r in spent)
    assert f"se-spent|{DAY:%Y-%m-%d}" not in vendor.solaredge.spent
