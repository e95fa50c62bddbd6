"""The daily budget against the sandbox's SolarEdge face over loopback: the real Poller, the real Redis ledger,
moto's inverters table. The face counts as SolarEdge does (per key and per site per UTC day, 3 calls in flight
per IP) and answers 429 past either; the poller must never earn one. The day is walked with the cycle's
`now` (the rest of today), the sandbox keeps real time: both count the same UTC day."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis

from functions.sandbox.solaredge import account_sites
from functions.sandbox.vendor import SandboxVendor
from shared.channels import Keys
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.adapters.solaredge import SolarEdgeAdapter
from shared.telemetry.budget import DailyBudget, RedisLedger, credential_key, day_of, next_day
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterRecord
from shared.telemetry.policies import LIMITS
from shared.telemetry.poller import Poller
from shared.telemetry.publish import NoPublisher
from shared.telemetry.ratelimit import LocalTokenBucket
from shared.telemetry.reading_store import ReadingStore
from tests.integration.telemetry.conftest import REDIS_URL, Tables, serve_vendor

pytestmark = pytest.mark.integration
# 35 sites in bulk calls of 10 (SolarEdge takes 100; fewer keeps moto quick): four calls a round, one more
# than may be in flight at once
DAILY, SITES, BULK, KEY = 40, 35, 10, "se-budget-home"
LIMITS_HERE = {**LIMITS, Brand.solaredge: replace(LIMITS[Brand.solaredge], batch_size=BULK,
                                                  daily=DailyBudget(DAILY, DAILY, 2))}


@pytest.fixture
def solaredge() -> Iterator[tuple[str, SandboxVendor]]:
    with serve_vendor(SandboxVendor(token="t", solaredge_daily=DAILY, solaredge_sites=SITES,
                                    solaredge_latency_s=0.3)) as served:
        yield served


class Connections:
    def __init__(self, adapters: Mapping[str, Adapter]) -> None:
        self.by_id = adapters

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        return {c: a for c, a in self.by_id.items() if c in connection_ids}


def poller(tables: Tables, url: str, client: aioredis.Redis, prefix: str, http: httpx.AsyncClient) -> Poller:
    """A poller as one invocation builds it: its own ledger object, the counters in Redis."""
    return Poller(inverters=InverterStore(tables.inverters), readings=ReadingStore(tables.readings),
                  publisher=NoPublisher(), limiter=LocalTokenBucket(), adapters={}, http=http,
                  connections=Connections({"con_home": SolarEdgeAdapter(url, KEY)}), limits=LIMITS_HERE,
                  ledger=RedisLedger(client, prefix=Keys(prefix).daily_budgets()))


async def test_a_day_of_polls_never_earns_a_429_and_the_spent_counter_outlives_the_poller(
        tables: Tables, redis_prefix: str, solaredge: tuple[str, SandboxVendor]) -> None:
    url, vendor = solaredge
    start = datetime.now(UTC).replace(microsecond=0)
    if next_day(start) - start < timedelta(minutes=10):
        pytest.skip("too close to the end of the UTC day to walk it")
    store = InverterStore(tables.inverters)
    store.save_poll_state([InverterRecord(
        id=f"inv_budget_{site}", tenant="tenant-a", brand=Brand.solaredge, serial=site, device_type="site", name=None,
        poll_interval_s=300, created_at=start, next_poll_at=start, connection_id="con_home")
        for site in account_sites(KEY, SITES)])
    client = aioredis.Redis.from_url(REDIS_URL)
    async with httpx.AsyncClient() as http:
        first = poller(tables, url, client, redis_prefix, http)
        now, calls = start, 0
        while now < next_day(start) - timedelta(seconds=1):
            report = await first.cycle(now=now)
            calls += report.vendor_calls
            soonest = min(r.next_poll_at for r in store.due(start + timedelta(days=3), 1000))
            now = max(now + timedelta(seconds=60), soonest)
        spent = int(await client.get(credential_key(Keys(redis_prefix).daily_budgets(), "solaredge:con_home",
                                                    day_of(start))) or 0)
        stats = vendor.solaredge.stats()
        # Never refused for the day, nor for concurrency: four calls a round, at most three in flight
        assert stats["rate_limited"] == 0 and stats["concurrency_refused"] == 0 and stats["max_in_flight"] == 3
        # The budget for polls (40 less a reserve of 2) is spent, never more: in rounds of four (a batch that
        # waited too long for a token goes in a round of its own, planned at the same rate)
        assert spent == calls == stats["spent"][f"{KEY}|{day_of(start)}"] and DAILY - 2 - 4 < spent <= DAILY - 2
        # A new invocation (a fresh ledger object) reads the same counter. Forced to poll every site once
        # more today, it gets the budget's last two requests and postpones the rest to the next UTC day
        late = min(now, next_day(start) - timedelta(seconds=1))
        store.save_poll_state([r.model_copy(update={"next_poll_at": late})
                               for r in store.due(start + timedelta(days=3), 1000)])
        report = await poller(tables, url, client, redis_prefix, http).cycle(now=late)
        left = DAILY - 2 - spent
        assert report.vendor_calls == left and report.vendors["solaredge"].over_budget >= SITES - left * BULK
        assert vendor.solaredge.stats()["rate_limited"] == 0
        postponed = [r for r in store.due(start + timedelta(days=3), 1000) if r.next_poll_at == next_day(start)]
        assert len(postponed) == report.vendors["solaredge"].over_budget and all(r.failures == 0 for r in postponed)
        assert int(await client.get(credential_key(Keys(redis_prefix).daily_budgets(), "solaredge:con_home",
                                                   day_of(start))) or 0) == DAILY - 2
    await client.aclose()


async def test_the_face_enforces_what_the_planner_keeps(solaredge: tuple[str, SandboxVendor]) -> None:
    url, vendor = solaredge
    sites = ",".join(account_sites(KEY, SITES)[:2])
    async with httpx.AsyncClient() as http:
        # Four at once from one IP: the fourth is refused
        answers = await asyncio.gather(*(http.get(f"{url}/v2/sites/{sites}/overview", headers={"X-API-Key": KEY})
                                         for _ in range(4)))
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 429]
        # Past the key's daily limit: 429 with a problem document
        for _ in range(DAILY):
            last = await http.get(f"{url}/v2/sites", headers={"X-API-Key": KEY})
        assert last.status_code == 429 and "daily limit" in last.json()["detail"]
    assert vendor.solaredge.stats()["rate_limited"] >= 1
