"""Fan-out of new readings through Redis, after they are stored in DynamoDB.

Per reading, the replay-log-then-publish protocol of `shared.streaming.fanout` on the inverter's log
and exact channel (`shared.channels.Keys`). Pipelined, a few hundred readings per round trip: 10,000
readings cost ~40 round trips, not 30,000.

Best effort by design: DynamoDB holds the truth, so a Redis outage is logged and the poll goes on; the
next poll publishes its own fresh readings once Redis is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from shared.channels import REPLAY_MAXLEN, UNPREFIXED, Keys
from shared.streaming import fanout
from shared.telemetry.models import Reading

if TYPE_CHECKING:
    import redis.asyncio as aioredis

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
    def __init__(self, client: aioredis.Redis, keys: Keys = UNPREFIXED, maxlen: int = REPLAY_MAXLEN) -> None:
        self.redis = client
        self.keys = keys
        self.maxlen = maxlen

    async def publish(self, readings: Sequence[Reading]) -> int:
        import redis

        published = 0
        for start in range(0, len(readings), CHUNK):
            chunk = readings[start:start + CHUNK]
            posts = [fanout.Post(self.keys.inverter_log(r.inverter_id), (self.keys.inverter_channel(r.inverter_id),),
                                 r.model_dump_json()) for r in chunk]
            try:
                await fanout.apublish(self.redis, posts, maxlen=self.maxlen, ttl_s=LOG_TTL_S)
            except redis.RedisError as exc:
                logger.error("readings stored but not published", extra={
                    "error": f"{type(exc).__name__}: {exc}"[:200], "unpublished": len(readings) - published,
                    "inverter_ids": [r.inverter_id for r in chunk[:20]]})
                return published
            published += len(chunk)
        return published
