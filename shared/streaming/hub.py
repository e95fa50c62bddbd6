"""One Redis pub/sub connection per process, fanned out to every local SSE client.

    Redis ──SUBSCRIBE job:a inverter:b──▶ Hub._read ──▶ Subscription (bounded) ──▶ one SSE response
                                                     └▶ Subscription (bounded) ──▶ another response

A browser never costs a Redis connection: channels are SUBSCRIBEd when their first local client
arrives and UNSUBSCRIBEd when the last one leaves. Exact channels only (ElastiCache Serverless refuses
PSUBSCRIBE). Each message is parsed and SSE-encoded once per process, whatever the number of clients.

Signals reach a subscription through its queue, in order with the messages:
  READY      the SUBSCRIBE is in effect in Redis; read the replay log now, nothing published from here
             on can be missed
  HEARTBEAT  the hub's tick (no per-connection timers): time for a comment line and a deadline check
and `next()` raises `Closed(reason)` when the subscription ends: `slow` (its queue overflowed: the
client is dropped and reconnects with Last-Event-ID instead of slowing the others), `resync` (the
Redis connection dropped, so messages may have been missed: resubscribe and replay from the log),
`shutdown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.backoff import AbstractBackoff, FullJitterBackoff
from redis.exceptions import RedisError

from shared import redis_client
from shared.streaming.fanout import open_envelope
from shared.streaming.replay import parse_id
from shared.streaming.sse import encode_event

log = logging.getLogger(__name__)


class Signal(Enum):
    READY = "ready"
    HEARTBEAT = "heartbeat"


class Closed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, eq=False)
class Message:
    """A published envelope, decoded once and shared by every client of the channel."""

    channel: str
    id: str
    data: dict[str, Any]
    # The id as a comparable pair, parsed once here rather than once per client (None if malformed).
    key: tuple[int, int] | None = None
    _frames: dict[str, bytes] = field(default_factory=dict)

    def frame(self, event: str) -> bytes:
        frame = self._frames.get(event)
        if frame is None:
            frame = self._frames[event] = encode_event(event, json.dumps(self.data, separators=(",", ":")),
                                                       self.id)
        return frame


Item = Message | Signal


class Subscription:
    """One client's view of one channel: a bounded queue without a lock or a timer of its own."""

    __slots__ = ("_hub", "_items", "_reason", "_waiter", "channel", "maxlen", "on_drop")

    def __init__(self, hub: Hub, channel: str, maxlen: int) -> None:
        self._hub = hub
        self.channel = channel
        self.maxlen = maxlen
        # A list, not a deque: queues are short, and an empty deque costs 600 bytes per client.
        self._items: list[Item] = []
        self._waiter: asyncio.Future[None] | None = None
        self._reason: str | None = None
        # Called when the client is dropped as too slow: its task is usually stuck in a send that
        # waits for the socket to drain, so it cannot notice by itself.
        self.on_drop: Callable[[], None] | None = None

    def push(self, item: Item) -> None:
        if self._reason is not None:
            return
        if item is Signal.HEARTBEAT and self._items:
            return  # a client with queued data needs no keep-alive
        if len(self._items) >= self.maxlen:
            self.close("slow")
            self._hub._leave(self)
            if self.on_drop is not None:
                self.on_drop()
            return
        self._items.append(item)
        self._wake()

    def close(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
            self._items.clear()
            self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def next(self) -> Item:
        while not self._items:
            if self._reason is not None:
                raise Closed(self._reason)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Hub:
    def __init__(self, redis_url: str, *, queue_size: int = 256, heartbeat_s: float = 10.0,
                 backoff: AbstractBackoff | None = None, client_name: str = "steadfast-stream-hub") -> None:
        # A connection of its own, outside any pool: redis-py pools cap at 100 connections and the
        # subscriber must never wait behind (or starve) replay reads. Named, for CLIENT LIST.
        self._pool = redis_client.stream_pool(redis_url, client_name=client_name)
        if heartbeat_s <= 0 or queue_size < 1:
            raise ValueError("heartbeat_s must be > 0 and queue_size ≥ 1")
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        # Reconnect delays with full jitter (0.1 s doubling to 5 s), so that many processes do not
        # reconnect in step.
        self.backoff = backoff or FullJitterBackoff(cap=5.0, base=0.1)
        self._channels: dict[str, set[Subscription]] = {}
        self._confirmed: set[str] = set()
        self._inflight: dict[str, int] = {}
        self._outbox: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()
        self._conn: AbstractConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()
        self.messages = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="hub-reader"),
                       asyncio.create_task(self._tick(), name="hub-ticker")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_all("shutdown")
        await self._pool.disconnect()

    @property
    def clients(self) -> int:
        return sum(len(s) for s in self._channels.values())

    # -- subscriptions ---------------------------------------------------------------------------
    def join(self, channel: str) -> Subscription:
        """A new subscription to `channel`; READY arrives once Redis has confirmed the SUBSCRIBE.
        Pair with `leave`."""
        sub = Subscription(self, channel, self.queue_size)
        subs = self._channels.get(channel)
        if subs is None:
            subs = self._channels[channel] = set()
            self._outbox.put_nowait(("SUBSCRIBE", channel))
        elif channel in self._confirmed:
            sub.push(Signal.READY)
        subs.add(sub)
        return sub

    def leave(self, sub: Subscription) -> None:
        sub.close("left")
        self._leave(sub)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub = self.join(channel)
        try:
            yield sub
        finally:
            self.leave(sub)

    def _leave(self, sub: Subscription) -> None:
        subs = self._channels.get(sub.channel)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self._channels[sub.channel]
            self._confirmed.discard(sub.channel)
            self._outbox.put_nowait(("UNSUBSCRIBE", sub.channel))

    def _close_all(self, reason: str) -> None:
        channels, self._channels = self._channels, {}
        self._confirmed.clear()
        for subs in channels.values():
            for sub in subs:
                sub.close(reason)

    # -- Redis -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while True:
            conn: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                # Whatever was queued belongs to the old connection; one SUBSCRIBE covers every
                # channel that has clients now (including those that joined during the outage).
                self._outbox = asyncio.Queue()
                self._inflight.clear()
                self._conn = conn
                if self._channels:
                    await self._send(conn, ("SUBSCRIBE", *self._channels))
                failures = 0
                self.connected.set()
                log.info("hub connected to redis", extra={"channels": len(self._channels)})
                # Either side failing ends the connection: a dead writer would otherwise leave the
                # reader waiting for PING replies that were never sent.
                tasks = {asyncio.create_task(self._read(conn)), asyncio.create_task(self._write(conn))}
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                for task in done:
                    task.result()
            except (TimeoutError, RedisError, OSError) as exc:
                log.warning("hub lost redis", extra={"error": repr(exc), "failures": failures})
            finally:
                was_live = self.connected.is_set()
                self.connected.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
                # Anything published while we were away is only in the replay logs: every client
                # resubscribes and replays from its last id. (A failed connect changes nothing: the
                # clients are still waiting for READY.)
                if was_live:
                    self._close_all("resync")
            await asyncio.sleep(self.backoff.compute(failures))
            failures += 1

    async def _send(self, conn: AbstractConnection, command: tuple[str, ...]) -> None:
        if command[0] == "SUBSCRIBE":
            for ch in command[1:]:
                self._inflight[ch] = self._inflight.get(ch, 0) + 1
        await conn.send_command(*command, check_health=False)

    async def _write(self, conn: AbstractConnection) -> None:
        while True:
            await self._send(conn, await self._outbox.get())

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            # The ticker PINGs every heartbeat, so silence for three of them means a dead peer.
            reply = await conn.read_response(timeout=self.heartbeat_s * 3, disconnect_on_error=False,
                                             push_request=True)
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            kind = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            channel = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            if kind == "message":
                self._dispatch(channel, reply[2])
            elif kind == "subscribe":
                self._confirm(channel)

    def _confirm(self, channel: str) -> None:
        left = self._inflight.get(channel, 1) - 1
        if left > 0:
            self._inflight[channel] = left
            return
        self._inflight.pop(channel, None)
        subs = self._channels.get(channel)
        # Only the last outstanding SUBSCRIBE of a channel makes it live: an UNSUBSCRIBE may sit between.
        if subs is not None and channel not in self._confirmed:
            self._confirmed.add(channel)
            for sub in subs:
                sub.push(Signal.READY)

    def _dispatch(self, channel: str, raw: bytes) -> None:
        if channel not in self._confirmed:
            return
        subs = self._channels.get(channel)
        if not subs:
            return
        try:
            entry_id, data = open_envelope(raw)
            message = Message(channel, entry_id, data, parse_id(entry_id))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed message dropped", extra={"channel": channel})
            return
        self.messages += 1
        for sub in tuple(subs):
            sub.push(message)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self._conn is not None:
                self._outbox.put_nowait(("PING",))
            for subs in tuple(self._channels.values()):
                for sub in tuple(subs):
                    sub.push(Signal.HEARTBEAT)
