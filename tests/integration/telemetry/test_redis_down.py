"""Redis is the fast path, DynamoDB the truth: with Redis unreachable a poll still stores its readings
(latest and history) and logs what it could not publish; once Redis is back, the next poll publishes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from functions.sandbox.vendor import SandboxVendor
from shared.channels import Keys
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate, utcnow
from shared.telemetry.reading_store import ReadingStore
from shared.telemetry.registry import register
from shared.telemetry.runtime import PollSettings, open_poller
from tests.integration.telemetry.conftest import REDIS_URL, Tables

pytestmark = pytest.mark.integration

DOWN = "redis://127.0.0.1:1/0"


async def test_readings_reach_dynamodb_without_redis_and_publish_again_once_it_is_back(
        tables: Tables, redis_prefix: str, sandbox: Callable[[float], tuple[str, SandboxVendor]],
        caplog: pytest.LogCaptureFixture) -> None:
    url, _ = sandbox(0.1)
    store = InverterStore(tables.inverters)
    d = register(store, redis_prefix.strip(":"), InverterCreate(brand=Brand.sandbox, serial="SBX-RD-1",
                                                                poll_interval_s=5))
    adapters = {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)}
    t0 = utcnow().replace(microsecond=0) + timedelta(seconds=1)  # after registration; whole ms for the store

    # Given Redis is down, when a poll runs
    with caplog.at_level(logging.ERROR):
        settings = PollSettings(tables.inverters, tables.readings, DOWN, adapters, keys=Keys(redis_prefix))
        async with open_poller(settings) as (p, _):
            down = await p.cycle(now=t0)
    # Then the reading is stored, and the failure to publish is logged with the device
    assert down.vendors["sandbox"].readings == 1 and down.vendors["sandbox"].published == 0
    assert store.get(d.tenant, d.id).latest is not None
    assert len(ReadingStore(tables.readings).history(d.id, None, 10)) == 1
    logged = [r for r in caplog.records if r.getMessage() == "readings stored but not published"]
    assert logged and d.id in logged[0].inverter_ids  # type: ignore[attr-defined]

    # When Redis is back, the next poll publishes its reading
    client: Any = aioredis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(Keys(redis_prefix).inverter_channel(d.id))
    await pubsub.get_message(timeout=1)
    await asyncio.sleep(0.2)
    settings = PollSettings(tables.inverters, tables.readings, REDIS_URL, adapters, keys=Keys(redis_prefix))
    async with open_poller(settings) as (p, _):
        up = await p.cycle(now=t0 + timedelta(seconds=5))
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert up.vendors["sandbox"].published == 1 and message is not None
    latest = store.get(d.tenant, d.id).latest
    assert latest is not None and json.loads(message["data"])["data"] == json.loads(latest.model_dump_json())
    await pubsub.aclose()
    await client.aclose()
