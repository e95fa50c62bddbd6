"""Fan-out of new readings through Redis, after they are stored in DynamoDB.

Per reading: `XADD inverter:<id>:log MAXLEN ~ REPLAY_MAXLEN * data=<reading json>` (the replay window
for Last-Event-ID), then `PUBLISH inverter:<id> {"id": <entry id>, "data": <reading>}` on the exact
channel (ElastiCache Serverless refuses pattern subscriptions). The stream entry id is the SSE event
id, so a subscriber can drop what it already replayed. Pipelined, a few hundred readings per round
trip: 10,000 readings cost ~40 round trips, not 30,000.

Best effort by design: DynamoDB holds the truth, so a Redis outage is logged and the poll goes on; the
next poll publishes its own fresh readings once Redis is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis
import redis.asyncio as aioredis
from aws_lambda_powertools import Logger

from shared import channels
from shared.telemetry.models import Reading

logger = Logger(child=True)
CHUNK = 500
# An inverter's log outlives its last reading by a day, then Redis drops it (e.g. a deleted device).
LOG_TTL_S = 24 * 3600


class ReadingPublisher(Protocol):
    async def publish(self, readings: Sequence[Reading]) -> int:
        """Publish; returns how many readings reached Redis. Never raises for Redis being down."""
        ...


class NoPublisher:
    """No Redis configured (e.g. a unit test of the store path)."""

    async def publish(self, readings: Sequence[Reading]) -> int:
        return 0


class RedisPublisher:
    def __init__(self, client: aioredis.Redis, maxlen: int = channels.REPLAY_MAXLEN) -> None:
        self.redis = client
        self.maxlen = maxlen

    async def publish(self, readings: Sequence[Reading]) -> int:
        published = 0
        for start in range(0, len(readings), CHUNK):
            chunk = [(r.inverter_id, r.model_dump_json()) for r in readings[start:start + CHUNK]]
            try:
                pipe = self.redis.pipeline(transaction=False)
                for inverter_id, data in chunk:
                    log = channels.inverter_log(inverter_id)
                    pipe.xadd(log, {"data": data}, maxlen=self.maxlen, approximate=True)
                    pipe.expire(log, LOG_TTL_S)
                entry_ids = (await pipe.execute())[0::2]
                pipe = self.redis.pipeline(transaction=False)
                for (inverter_id, data), entry_id in zip(chunk, entry_ids, strict=True):
                    pipe.publish(channels.inverter_channel(inverter_id), channels.envelope(entry_id, data))
                await pipe.execute()
            except redis.RedisError as exc:
                logger.error("readings stored but not published", extra={
                    "error": f"{type(exc).__name__}: {exc}"[:200], "unpublished": len(readings) - published,
                    "inverter_ids": [i for i, _ in chunk[:20]]})
                return published
            published += len(chunk)
        return published
