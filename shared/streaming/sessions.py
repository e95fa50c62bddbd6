"""Event sessions: what one SSE client receives, as encoded frames, independent of the web framework.

Every feed follows the same order so that nothing falls between catch-up and live:
  1. join the hub's channel (SUBSCRIBE) and wait for READY — from then on nothing published is missed,
  2. catch up from the source of truth (the replay log, or the job store) and note the last id sent,
  3. forward live messages, dropping any whose id is not newer than the last id already sent.
After a Redis reconnect the hub says `resync` and `pump` goes round again from step 1, so a client
never notices an outage shorter than its stream.

The hot path (a live message to a thousand clients) is a plain loop with one synchronous `accept`
per client: no generator layers, and the frame is encoded once per process (`Message.frame`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from shared.channels import UNPREFIXED, Keys
from shared.errors import SteadfastError
from shared.jobs.models import TERMINAL, Status
from shared.streaming import sse
from shared.streaming.hub import Closed, Hub, Message, Signal
from shared.streaming.replay import Entry, ReplayLog, parse_id

log = logging.getLogger(__name__)
Write = Callable[[bytes], Awaitable[None]]
JobLoader = Callable[[], Awaitable[dict[str, Any]]]


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


class Feed:
    """One client's stream of one channel. Subclasses say how to catch up and what to forward."""

    channel: str
    finished = False

    async def opening(self) -> list[bytes]:
        """The first frames, before the feed joins its channel."""
        return [sse.retry()]

    async def catch_up(self) -> list[bytes]:
        return []

    def accept(self, message: Message) -> bytes | None:
        raise NotImplementedError


async def pump(hub: Hub, feed: Feed, deadline: float, write: Write,
               on_drop: Callable[[], None] | None = None) -> None:
    """Run `feed` until it finishes, the deadline passes (checked at each heartbeat), the client is
    dropped as too slow (`on_drop` is called then, e.g. to cancel a send stuck on a full socket), or
    `write` fails because the client left."""
    loop = asyncio.get_running_loop()
    try:
        first = await feed.opening()
    except (RedisError, SteadfastError) as exc:
        log.warning("stream not started", extra={"error": repr(exc)})
        return
    for opening in first:
        await write(opening)
    while not feed.finished:
        # join/leave rather than `async with hub.subscribe`: no context-manager objects per client.
        sub = hub.join(feed.channel)
        sub.on_drop = on_drop
        try:
            while not feed.finished:
                try:
                    item = await sub.next()
                except Closed as closed:
                    if closed.reason == "resync":
                        break
                    log.info("stream closed: %s", closed.reason, extra={"channel": feed.channel})
                    return
                if isinstance(item, Message):
                    frame = feed.accept(item)
                    if frame is not None:
                        await write(frame)
                elif item is Signal.HEARTBEAT:
                    if loop.time() >= deadline:
                        return
                    await write(sse.HEARTBEAT)
                else:
                    try:
                        frames = await feed.catch_up()
                    except (RedisError, SteadfastError) as exc:
                        # The browser comes back in `retry` ms with its last id; nothing is lost.
                        log.warning("catch-up failed; closing the stream", extra={"error": repr(exc)})
                        return
                    for caught_up in frames:
                        await write(caught_up)
        finally:
            hub.leave(sub)


class InverterFeed(Feed):
    """SPEC §4: retry, then a snapshot for a new client or the readings after Last-Event-ID from the
    replay log for a resuming one, then live.

    The snapshot is the log's newest entry (the stored `latest` only when the log is empty), so that
    a new client's starting point is exact: it continues after that entry's id. A snapshot read from
    DynamoDB could be older than the log's tail, and readings in between would be lost."""

    def __init__(self, replay: ReplayLog, inverter_id: str, stored_latest: dict[str, Any] | None,
                 last_event_id: str | None, keys: Keys = UNPREFIXED) -> None:
        self.replay = replay
        self.channel = keys.inverter_channel(inverter_id)
        self.log = keys.inverter_log(inverter_id)
        self.stored_latest = stored_latest
        self.last = parse_id(last_event_id)
        self.last_id = last_event_id if self.last else None

    async def opening(self) -> list[bytes]:
        frames = [sse.retry()]
        if self.last_id is not None:
            # A resuming client (SPEC §4) gets no snapshot, only what came after its id: a snapshot
            # would repeat as a reading, a duplicate and out-of-order point for a client that plots it.
            return frames
        tail = await self.replay.tail_entry(self.log)
        snapshot = tail.data if tail else self.stored_latest
        # A new client: the snapshot carries its log id, and live readings continue after it. With an
        # empty log everything published from now on is new ("0-0").
        self.last_id = tail.id if tail else "0-0"
        self.last = parse_id(self.last_id)
        if snapshot is not None:
            frames.append(sse.encode_event("snapshot", _json(snapshot), tail.id if tail else None))
        return frames

    async def catch_up(self) -> list[bytes]:
        assert self.last_id is not None
        entries = await self.replay.after(self.log, self.last_id)
        if entries:
            self.last_id = entries[-1].id
            self.last = parse_id(self.last_id)
        return [sse.encode_event("reading", _json(e.data), e.id) for e in entries]

    def accept(self, message: Message) -> bytes | None:
        pid = message.key
        if self.last is not None and (pid is None or pid <= self.last):
            return None  # already replayed
        self.last_id, self.last = message.id, pid
        return message.frame("reading")


def _terminal(job: dict[str, Any]) -> bool:
    try:
        return Status(str(job.get("status"))) in TERMINAL
    except ValueError:
        return False


class JobFeed(Feed):
    """SPEC §4: the job's current state, then every change, until a terminal status.

    A status event carries the whole Job, not a delta, so a new client needs no history: the state read
    from the store after subscribing is complete. A resuming client (Last-Event-ID) gets only what came
    after its id, from the job's replay log: the changes it missed, in order and with their own ids (the
    terminal one included, so a client cut off just before it still learns how the job ended), and no
    repeat of the state it already has. An id the log cannot place (not an entry id, or newer than the
    log's tail: forged, or the log expired) is read as a new client's connect."""

    def __init__(self, replay: ReplayLog, job_id: str, load_job: JobLoader, keys: Keys = UNPREFIXED,
                 last_event_id: str | None = None) -> None:
        self.replay = replay
        self.channel = keys.job_channel(job_id)
        self.log = keys.job_log(job_id)
        self.load_job = load_job
        self.sent: dict[str, Any] | None = None
        self.last: tuple[int, int] | None = None
        self.resume_id = self.client_id = last_event_id if parse_id(last_event_id) else None

    async def missed(self) -> list[Entry] | None:
        """The log's entries from the client's Last-Event-ID on, that entry first when the log still holds it
        (what the client has), or None for a new client or an id this log cannot place."""
        resume = parse_id(self.resume_id)
        if resume is None or self.resume_id is None:
            return None
        tail = parse_id(await self.replay.tail(self.log))
        if tail is None or resume > tail:
            return None
        return await self.replay.since(self.log, self.resume_id)

    async def behind(self, job: dict[str, Any]) -> bool:
        """Whether a resuming client missed anything of `job` (its current state): a logged change after its
        id, or a change the log did not get."""
        entries = await self.missed()
        if not entries:
            return False
        newer = [e for e in entries if parse_id(e.id) != parse_id(self.client_id)]
        return bool(newer) or str(job.get("updated_at", "")) > str(entries[-1].data.get("updated_at", ""))

    async def catch_up(self) -> list[bytes]:
        if self.resume_id is not None:
            entries, self.resume_id = await self.missed(), None  # a later catch-up goes on from what was sent
            if entries is not None:
                return await self._resume(entries)
        # The log's tail before the store: a change in between arrives live, with an id after the tail.
        tail = await self.replay.tail(self.log)
        job = await self.load_job()
        self.last = parse_id(tail)
        return [f for f in [self._send(job, tail)] if f is not None]

    async def _resume(self, entries: list[Entry]) -> list[bytes]:
        """Replay what came after the client's id (SPEC §4: no snapshot), up to a terminal status."""
        frames = []
        for entry in entries:
            self.last = parse_id(entry.id)
            if entry.id == entries[0].id and self.last == parse_id(self.client_id):
                self.sent = entry.data  # the client's own last event: it has it
                continue
            self.sent, self.finished = entry.data, _terminal(entry.data)
            frames.append(sse.encode_event("status", _json(entry.data), entry.id))
            if self.finished:
                return frames
        # A change the log missed (Redis was away when it was published) is in the store, and newer.
        job = await self.load_job()
        if self.sent is None or str(job.get("updated_at", "")) > str(self.sent.get("updated_at", "")):
            frames += [f for f in [self._send(job, entries[-1].id if entries else None)] if f is not None]
        return frames

    def accept(self, message: Message) -> bytes | None:
        pid = message.key
        if self.last is not None and (pid is None or pid <= self.last):
            return None
        self.last = pid
        return self._send(message.data, message.id, message)

    def _send(self, job: dict[str, Any], event_id: str | None, message: Message | None = None) -> bytes | None:
        if job == self.sent:
            return None
        self.sent = job
        self.finished = _terminal(job)
        return message.frame("status") if message else sse.encode_event("status", _json(job), event_id)


class TenantJobsFeed(Feed):
    """Every status change of a tenant's jobs, live only (`event: job`): the dashboard reloads its list
    on (re)connect, so there is nothing to replay."""

    def __init__(self, tenant: str, keys: Keys = UNPREFIXED) -> None:
        self.channel = keys.tenant_jobs_channel(tenant)

    async def catch_up(self) -> list[bytes]:
        return [sse.comment("live")]

    def accept(self, message: Message) -> bytes | None:
        return message.frame("job")
