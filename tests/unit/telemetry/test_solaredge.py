"""The SolarEdge adapter against the sandbox's SolarEdge face (in process): discovery, the single and bulk
overviews, and the face's limits as SolarEdge documents them (daily per key and per site, 429 beyond)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from functions.sandbox.solaredge import account_sites
from functions.sandbox.vendor import SandboxVendor
from shared.telemetry.adapters import solaredge
from shared.telemetry.adapters.base import Failure, FailureKind, VendorRefused
from shared.telemetry.models import Brand, Reading
from tests.unit.telemetry.helpers import device

NOON = datetime(2026, 6, 21, 11, 0, tzinfo=UTC).timestamp()


def client(vendor: SandboxVendor) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        a = vendor.handle(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()},
                          request.content, request.url.query.decode())
        return httpx.Response(a.status, content=a.json(), headers=a.headers)
    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_discovery_lists_the_keys_sites_and_refuses_a_bad_key_with_its_reason() -> None:
    vendor = SandboxVendor(token="t", clock=lambda: NOON)
    found = await solaredge.discover(client(vendor), "http://s", {"api_key": "se-home"}, None)
    assert [d.serial for d in found] == account_sites("se-home", 3) and {d.device_type for d in found} == {"site"}
    with pytest.raises(VendorRefused, match="Invalid API key"):
        await solaredge.discover(client(vendor), "http://s", {"api_key": "nope"}, None)


async def test_one_bulk_request_reads_many_sites_and_costs_one_of_the_keys_budget() -> None:
    vendor = SandboxVendor(token="t", clock=lambda: NOON, solaredge_sites=150)
    sites = [device(s, Brand.solaredge, "site") for s in account_sites("se-home", 150)]
    adapter = solaredge.SolarEdgeAdapter("http://s", "se-home")
    batches = adapter.batches(sites, 100)
    assert [len(b) for b in batches] == [100, 50]
    results = [await adapter.fetch(client(vendor), b, datetime.now(UTC), 5) for b in batches]
    readings = [o for r in results for o in r.outcomes.values()]
    assert len(readings) == 150 and all(isinstance(o, Reading) and o.energy_total_kwh for o in readings)
    assert {o.inverter_id for o in readings} == {d.id for d in sites}
    assert vendor.solaredge.spent["se-home|2026-06-21"] == 2  # two requests of the key's 300
    one = await adapter.fetch(client(vendor), sites[:1], datetime.now(UTC), 5)  # the single form
    assert isinstance(one.outcomes[sites[0].id], Reading)


async def test_the_face_refuses_past_the_daily_limit_and_another_keys_site() -> None:
    vendor = SandboxVendor(token="t", clock=lambda: NOON, solaredge_daily=3)
    site = device(account_sites("se-home", 3)[0], Brand.solaredge, "site")
    adapter = solaredge.SolarEdgeAdapter("http://s", "se-home")
    outcomes = [(await adapter.fetch(client(vendor), [site], datetime.now(UTC), 5)) for _ in range(4)]
    assert [isinstance(o.outcomes[site.id], Reading) for o in outcomes] == [True, True, True, False]
    refused = outcomes[-1]
    failure = refused.outcomes[site.id]
    assert isinstance(failure, Failure) and failure.kind == FailureKind.rate_limited
    assert refused.vendor_retry_after_s == solaredge.THROTTLE_COOLDOWN_S  # the key is closed, not retried
    other = await solaredge.SolarEdgeAdapter("http://s", "se-other").fetch(client(vendor), [site],
                                                                           datetime.now(UTC), 5)
    bad = other.outcomes[site.id]
    assert isinstance(bad, Failure) and bad.kind == FailureKind.vendor_error and "not accessible" in bad.detail
