"""A per-tenant cap on open streams, across every instance of the stream app (SPEC §3 limits).

Each open stream holds a slot: a member of the tenant's sorted set in Redis, scored with the moment it
expires (the stream's longest life plus a margin), so the slot of an instance that died mid-stream frees
itself. Taking a slot is one Lua call (count live slots, refuse at the cap, add), atomic across instances.
Redis unreachable: the stream opens without a slot (the hub will wait for Redis anyway).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from shared.errors import SteadfastError

logger = Logger(child=True)

_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class TooManyStreams(SteadfastError):
    status, title, slug = 429, "Too many streams", "too-many-streams"


@dataclass
class StreamSlots:
    redis: Any  # redis.asyncio.Redis
    limit: int = 100
    ttl_s: float = 900.0
    prefix: str = "streams:tenant:"

    async def acquire(self, tenant: str) -> str | None:
        """A slot id for one more stream of `tenant`; TooManyStreams at the cap; None without Redis."""
        slot, now = secrets.token_hex(8), time.time()
        try:
            taken = await self.redis.eval(_TAKE, 1, self.prefix + tenant, now, now + self.ttl_s, self.limit, slot,
                                          int(self.ttl_s) + 60)
        except Exception as exc:  # the cap is protection, not a dependency: open the stream
            logger.warning("stream cap unavailable; stream opened", extra={"tenant": tenant,
                                                                          "error": type(exc).__name__})
            return None
        if not int(taken):
            raise TooManyStreams(f"this tenant already has {self.limit} open streams; close one or retry later")
        return slot

    async def release(self, tenant: str, slot: str | None) -> None:
        if slot is None:
            return
        try:
            await self.redis.zrem(self.prefix + tenant, slot)
        except Exception:  # expires on its own
            logger.info("stream slot not released; it expires", extra={"tenant": tenant})
