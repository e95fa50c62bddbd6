"""The replay-log-then-publish protocol, both halves: how publishers (the worker's job events, the
poller's readings) write, and how the stream app's hub reads what they published.

Per event: `XADD <log> MAXLEN ~ <cap> * data=<json>` (the replay window for Last-Event-ID) and
`EXPIRE <log>`, then `PUBLISH <channel> {"id": <entry id>, "data": <json>}` on each of its exact
channels. The stream entry id is the SSE event id, so a subscriber drops what it already replayed from
the log: no gap and no duplicate at the seam. Two pipelined round trips for any number of events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Post:
    """One event: the log it is appended to, the channels it is published on, its JSON."""

    log: str
    channels: tuple[str, ...]
    data: str


def envelope(entry_id: str | bytes, data_json: str) -> str:
    """A published message: the replay-log entry id (the SSE event id) and the JSON payload."""
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return json.dumps({"id": eid, "data": json.loads(data_json)}, separators=(",", ":"))


def open_envelope(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """The entry id and payload of a published message; ValueError/KeyError/TypeError if malformed."""
    message = json.loads(raw)
    data = message["data"]
    if not isinstance(data, dict):
        raise TypeError("envelope data is not an object")
    return str(message["id"]), data


def _append(pipe: Any, posts: Sequence[Post], maxlen: int, ttl_s: int) -> None:
    for post in posts:
        pipe.xadd(post.log, {"data": post.data}, maxlen=maxlen, approximate=True)
        pipe.expire(post.log, ttl_s)


def _announce(pipe: Any, posts: Sequence[Post], entry_ids: Sequence[Any]) -> None:
    for post, entry_id in zip(posts, entry_ids, strict=True):
        message = envelope(entry_id, post.data)
        for channel in post.channels:
            pipe.publish(channel, message)


def publish(client: redis.Redis, posts: Sequence[Post], *, maxlen: int, ttl_s: int) -> None:
    """Log, then publish (synchronous client). Raises redis.RedisError; callers decide how best effort."""
    pipe = client.pipeline(transaction=False)
    _append(pipe, posts, maxlen, ttl_s)
    entry_ids = pipe.execute()[0::2]
    pipe = client.pipeline(transaction=False)
    _announce(pipe, posts, entry_ids)
    pipe.execute()


async def apublish(client: aioredis.Redis, posts: Sequence[Post], *, maxlen: int, ttl_s: int) -> None:
    """Log, then publish (asyncio client). Raises redis.RedisError."""
    pipe = client.pipeline(transaction=False)
    _append(pipe, posts, maxlen, ttl_s)
    entry_ids = (await pipe.execute())[0::2]
    pipe = client.pipeline(transaction=False)
    _announce(pipe, posts, entry_ids)
    await pipe.execute()
