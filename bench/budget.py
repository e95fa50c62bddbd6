"""A simulated day of SolarEdge polling: the daily budget planner against SolarEdge's limits.

The real Poller, planner (`shared.telemetry.budget`) and ledger, and the sandbox's SolarEdge face in process
(its counters are SolarEdge's: 300 requests a day per key and per site, 429 past either), all on one
simulated clock from 00:00 to 24:00 UTC, a cycle every 60 s. Keys of different sizes (1 to 450 sites: one to
five bulk calls a round), some joining during the day, some with most of their budget already spent
elsewhere (another integration using the same key). The simulated physics is most of the run time, so the
fleet is small (349 sites); the arithmetic is the same for more.

`budget_violations`: requests the face refused for a budget plus counters past their limit on either side
(target 0). The same fleet without the planner (the limits' per-minute buckets only, every site due every
300 s as configured) is the same-run baseline over the first 12 h: `budget_violations_unplanned`.
`budget_utilization`: the share of the keys' poll budgets the planner spent (it should spend, not hoard).

    python -m bench.budget            # prints the figures as JSON
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from functions.sandbox.solaredge import account_sites
from functions.sandbox.vendor import SandboxVendor
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.adapters.solaredge import SolarEdgeAdapter
from shared.telemetry.budget import LocalLedger
from shared.telemetry.models import Brand, InverterRecord, Reading
from shared.telemetry.policies import LIMITS
from shared.telemetry.poller import Poller
from shared.telemetry.ratelimit import LocalTokenBucket

DAY = datetime(2026, 6, 21, tzinfo=UTC)
# (sites, joins at hour, requests already spent today by someone else)
FLEET = [(1, 0, 0), (3, 0, 0), (120, 0, 0), (120, 12, 0), (3, 0, 200), (101, 6, 250), (1, 23, 0)]
TICK_S = 60
UNPLANNED_HOURS = 12  # the baseline's violations are plain well before the day ends


class _Store:
    def __init__(self, records: list[InverterRecord]) -> None:
        self.records = {r.id: r for r in records}

    def due(self, before: datetime, limit: int) -> list[InverterRecord]:
        return [r for r in self.records.values() if r.next_poll_at <= before][:limit]

    def save_poll_state(self, records: list[InverterRecord]) -> int:
        self.records.update({r.id: r for r in records})
        return 1

    def append(self, readings: list[Reading]) -> int:
        return len(readings)


class _Publisher:
    async def publish(self, readings: list[Reading]) -> int:
        return len(readings)


class _Connections:
    def __init__(self, adapters: Mapping[str, Adapter]) -> None:
        self.by_id = adapters

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        return {c: a for c, a in self.by_id.items() if c in connection_ids}


class _Clock:
    def __init__(self) -> None:
        self.at = DAY

    def __call__(self) -> float:
        return self.at.timestamp()


async def _day(planned: bool) -> dict[str, Any]:
    clock, limits = _Clock(), LIMITS[Brand.solaredge]
    assert limits.daily is not None
    vendor = SandboxVendor(token="t", clock=clock, solaredge_sites=max(n for n, _, _ in FLEET),
                           solaredge_daily=limits.daily.per_credential)

    def handle(request: httpx.Request) -> httpx.Response:
        a = vendor.handle(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()},
                          request.content, request.url.query.decode())
        return httpx.Response(a.status, content=a.json(), headers=a.headers)

    ledger, records, adapters = LocalLedger(), [], {}
    for k, (sites, hour, spent) in enumerate(FLEET):
        key, joins = f"se-fleet-{k:02d}", DAY + timedelta(hours=hour)
        vendor.solaredge.sites = sites
        for s in account_sites(key, sites):
            records.append(InverterRecord(id=f"inv_{k}_{s}", tenant=f"t{k}", brand=Brand.solaredge, serial=s,
                                          device_type="site", name=None, poll_interval_s=limits.min_poll_interval_s,
                                          created_at=joins, next_poll_at=joins, connection_id=f"con_{k}"))
        adapters[f"con_{k}"] = SolarEdgeAdapter("http://sandbox", key)
        # Someone else's integration spent part of the key's day: on the vendor's count and, as another
        # Steadfast poller would have, on the ledger's
        vendor.solaredge.spent[f"{key}|{DAY:%Y-%m-%d}"] = spent
        ledger.counts[f"{{solaredge}}:key:con_{k}:{DAY:%Y-%m-%d}"] = spent
    vendor.solaredge.sites = max(n for n, _, _ in FLEET)
    store = _Store(records)
    poller = Poller(inverters=store, readings=store, publisher=_Publisher(),  # type: ignore[arg-type]
                    limiter=LocalTokenBucket(clock=clock), adapters={},
                    http=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
                    connections=_Connections(adapters), ledger=ledger,
                    limits={**LIMITS, Brand.solaredge: limits if planned else replace(limits, daily=None)})
    calls = readings = over_budget = 0
    end = DAY + timedelta(days=1) if planned else DAY + timedelta(hours=UNPLANNED_HOURS)
    while clock.at < end:
        report = await poller.cycle(now=clock.at)
        v = report.vendors.get("solaredge")
        if v:
            calls, readings, over_budget = calls + v.vendor_calls, readings + v.readings, over_budget + v.over_budget
        clock.at += timedelta(seconds=TICK_S)
    face = vendor.solaredge
    day = f"{DAY:%Y-%m-%d}"
    past = sum(1 for k, n in face.spent.items() if k.endswith(day) and n > face.daily_limit)
    keys = [f"se-fleet-{k:02d}|{day}" for k in range(len(FLEET))]
    poll_budget = sum(limits.daily.for_polls - spent for _, _, spent in FLEET)
    polled = sum(face.spent.get(k, 0) for k in keys) - sum(spent for _, _, spent in FLEET)
    return {"violations": face.rate_limited + past, "refused_429": face.rate_limited, "counters_past_limit": past,
            "vendor_calls": calls, "readings": readings, "postponed_devices": over_budget,
            "utilization": round(polled / poll_budget, 3), "sites": len(records), "keys": len(FLEET)}


def run() -> dict[str, Any]:
    planned, unplanned = asyncio.run(_day(True)), asyncio.run(_day(False))
    return {"budget_violations": planned["violations"], "budget_violations_unplanned": unplanned["violations"],
            "budget_utilization": planned["utilization"],
            "budget_details": {"planned": planned, "unplanned": unplanned, "fleet": FLEET, "tick_s": TICK_S}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
