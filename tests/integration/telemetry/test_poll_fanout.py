"""One poll against the sandbox, with many Redis subscribers watching: one vendor request per due device
(counted by the sandbox's /_stats), every reading stored (latest + history) and then published once to
each subscriber with the replay-log entry id as its id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from functions.sandbox.vendor import SandboxVendor
from shared.channels import Keys
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate, InverterRecord, utcnow
from shared.telemetry.reading_store import ReadingStore
from shared.telemetry.registry import register
from shared.telemetry.runtime import PollSettings, open_poller
from tests.integration.telemetry.conftest import REDIS_URL, Tables

pytestmark = pytest.mark.integration

SUBSCRIBERS = 10


def register_sandbox(store: InverterStore, tenant: str, kinds: list[str]) -> list[InverterRecord]:
    return [register(store, tenant, InverterCreate(brand=Brand.sandbox, serial=f"SBX-{tenant}-{n}", device_type=kind,
                                                   poll_interval_s=5)) for n, kind in enumerate(kinds)]


async def test_each_poll_is_one_vendor_request_per_device_however_many_watch(
        tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]]) -> None:
    # Given three sandbox inverters of two device types, and ten subscribers on each one's channel
    url, vendor = sandbox(0.2)
    devices = register_sandbox(InverterStore(tables.inverters), "fanout", ["hybrid", "string", "hybrid"])
    client: Any = aioredis.Redis.from_url(REDIS_URL)
    watchers = []
    for d in devices:
        for _ in range(SUBSCRIBERS):
            pubsub = client.pubsub()
            await pubsub.subscribe(Keys(redis_prefix).inverter_channel(d.id))
            await pubsub.get_message(timeout=1)  # the subscribe confirmation
            watchers.append((d.id, pubsub))
    adapters = {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}
    settings = PollSettings(tables.inverters, tables.readings, REDIS_URL, adapters, keys=Keys(redis_prefix))
    t0 = utcnow().replace(microsecond=0) + timedelta(seconds=1)  # after registration; whole ms for the store

    async with open_poller(settings) as (poller, _):
        # When two polls run, five seconds apart
        first = await poller.cycle(now=t0)
        # past the sandbox's per-device interval, and the string type's one-second clock resolution
        await asyncio.sleep(1.1)
        second = await poller.cycle(now=t0 + timedelta(seconds=5))

    # Then the vendor saw exactly one request per device per poll, batched by device type
    assert vendor.stats()["requests"] == {d.serial: 2 for d in devices}
    assert vendor.stats()["rate_limited"] == 0
    assert [first.vendor_calls, second.vendor_calls] == [2, 2]
    assert [first.vendors["sandbox"].published, second.vendors["sandbox"].published] == [3, 3]
    # And every subscriber got each reading once, enveloped with the id of its replay-log entry
    for inverter_id, pubsub in watchers:
        got = [await pubsub.get_message(ignore_subscribe_messages=True, timeout=2) for _ in range(2)]
        assert all(m is not None for m in got)
        envelopes = [json.loads(m["data"]) for m in got if m]
        assert [e["data"]["inverter_id"] for e in envelopes] == [inverter_id, inverter_id]
        log = await client.xrange(Keys(redis_prefix).inverter_log(inverter_id))
        assert [e["id"] for e in envelopes] == [entry_id.decode() for entry_id, _ in log]
        assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None
        await pubsub.aclose()
    # And DynamoDB holds the latest reading on the inverter and both in the history
    for d in devices:
        stored = InverterStore(tables.inverters).get(d.tenant, d.id)
        history = ReadingStore(tables.readings).history(d.id, since=None, limit=10)
        assert stored.latest is not None and len(history) == 2
        assert history[-1] == stored.latest
        assert stored.next_poll_at == t0 + timedelta(seconds=10) and stored.failures == 0
    await client.aclose()
