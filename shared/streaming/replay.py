"""Reads from the capped replay logs (`XADD … MAXLEN ~ 1000`) that publishers write beside each
PUBLISH, so that a client coming back with Last-Event-ID gets what it missed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared import redis_client
from shared.channels import REPLAY_MAXLEN

# ASCII digits only (`\d` takes any script's digits, which int() reads and Redis refuses), whole string
# (`$` would let a trailing newline through), each part within Redis's 64-bit range.
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_MAX_PART = 2**64 - 1


def parse_id(entry_id: str | None) -> tuple[int, int] | None:
    """A stream entry id as a comparable pair, or None for anything that is not one (a forged header)."""
    if not entry_id or not _ENTRY_ID.fullmatch(entry_id):
        return None
    ms, seq = (int(part) for part in entry_id.split("-"))
    return (ms, seq) if ms <= _MAX_PART and seq <= _MAX_PART else None


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    data: dict[str, Any]


class ReplayLog:
    """XRANGE reads through a small blocking pool: a reconnect storm of thousands of clients queues for
    a few connections instead of hitting redis-py's 100-connection cap (or ElastiCache's limits)."""

    def __init__(self, redis_url: str, *, max_connections: int = 8, wait_s: float = 10.0) -> None:
        self.redis: Redis = redis_client.stream_reader(redis_url, max_connections=max_connections, wait_s=wait_s)

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)

    async def after(self, log: str, last_id: str) -> list[Entry]:
        """Entries newer than `last_id`, oldest first (at most the log's cap)."""
        rows: Any = await self.redis.xrange(log, min=f"({last_id}", max="+", count=REPLAY_MAXLEN * 2) or []
        return [_entry(eid, fields) for eid, fields in rows]

    async def since(self, log: str, first_id: str) -> list[Entry]:
        """Entries from `first_id` on (that one included when the log still holds it), oldest first."""
        rows: Any = await self.redis.xrange(log, min=first_id, max="+", count=REPLAY_MAXLEN * 2) or []
        return [_entry(eid, fields) for eid, fields in rows]

    async def tail(self, log: str) -> str | None:
        """The id of the newest entry."""
        entry = await self.tail_entry(log)
        return entry.id if entry else None

    async def tail_entry(self, log: str) -> Entry | None:
        """The newest entry: a new client's snapshot and starting point."""
        rows: Any = await self.redis.xrevrange(log, max="+", min="-", count=1) or []
        return _entry(rows[0][0], rows[0][1]) if rows else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(eid: bytes | str, fields: dict[Any, Any]) -> Entry:
    raw = fields.get(b"data", fields.get("data", b"{}"))
    return Entry(_text(eid), json.loads(raw))
