"""The one place Redis clients are made, with the project's two connection profiles.

- The *fast path* (publishers in the worker, sweeper, submit and poller; the worker's target protection;
  the poll lease and vendor buckets): short timeouts and a single retry without backoff, because Redis
  there is best effort and never worth stalling a job or a poll for (DynamoDB holds the truth).
- The *stream path* (the stream app's subscriber and replay reads): longer timeouts, since a stream
  waits for Redis anyway and a slow reply beats a dropped client.

Every key and channel a stack writes is named by `shared.channels.Keys`, whose prefix comes from the
stack (`shared.config.Env.redis_keys`).

redis-py is imported by the factory that makes a client, not here: importing this module costs nothing,
a function that never builds a client never loads redis, and the synchronous publishers (submit, worker,
sweeper, scheduler) never load its asyncio half (`redis.asyncio`, ≈0.6× a bare `import boto3` under
CPython 3.12). The first client built pays for the import, once per execution environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aioredis
    from redis.asyncio.connection import ConnectionPool

FAST_CONNECT_S = 0.5
FAST_READ_S = 0.5
STREAM_CONNECT_S = 3.0
STREAM_READ_S = 5.0


def client(url: str) -> redis.Redis:
    """A synchronous fast-path client."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=FAST_READ_S, socket_connect_timeout=FAST_CONNECT_S,
                                retry=Retry(NoBackoff(), 1))


def async_client(url: str) -> aioredis.Redis:
    """An asyncio fast-path client."""
    import redis.asyncio as aioredis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return aioredis.Redis.from_url(url, socket_timeout=FAST_READ_S, socket_connect_timeout=FAST_CONNECT_S,
                                   retry=Retry(NoBackoff(), 1))


def stream_pool(url: str, *, client_name: str | None = None) -> ConnectionPool:
    """Connections for a long-lived subscriber (the caller makes and owns each connection)."""
    from redis.asyncio.connection import ConnectionPool

    return ConnectionPool.from_url(url, socket_connect_timeout=STREAM_CONNECT_S, socket_timeout=STREAM_READ_S,
                                   client_name=client_name)


def stream_reader(url: str, *, max_connections: int, wait_s: float) -> aioredis.Redis:
    """Reads through a small blocking pool: a reconnect storm of thousands of clients queues for a few
    connections instead of hitting redis-py's 100-connection cap (or ElastiCache's limits)."""
    import redis.asyncio as aioredis
    from redis.asyncio.connection import BlockingConnectionPool

    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s,
                                           socket_connect_timeout=STREAM_CONNECT_S, socket_timeout=STREAM_READ_S)
    return aioredis.Redis(connection_pool=pool)


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at `url` (half a second at most)."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=FAST_CONNECT_S,
                                         socket_timeout=FAST_CONNECT_S).ping())
    except (redis.RedisError, ValueError, OSError):
        return False
