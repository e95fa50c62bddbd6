"""Event sessions: what one SSE client receives, as encoded frames, independent of the web framework.

Every session follows the same order so that nothing falls between replay and live:
  1. join the hub's channel (SUBSCRIBE) and wait for READY — from then on nothing published is missed,
  2. catch up from the source of truth (the replay log, or the job store) and note the last id seen,
  3. forward live messages, dropping any whose id is not newer than the last id already sent.
After a Redis reconnect the hub says `resync` and the session goes round again from step 1, so a
client never notices an outage shorter than its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from shared import channels
from shared.jobs.models import TERMINAL, Status
from shared.streaming import sse
from shared.streaming.hub import Closed, Hub, Item, Message, Signal
from shared.streaming.replay import ReplayLog, parse_id

log = logging.getLogger(__name__)
JobLoader = Callable[[], Awaitable[dict[str, Any]]]


async def follow(hub: Hub, channel: str, deadline: float) -> AsyncIterator[Item]:
    """READY, messages and heartbeats of `channel` until `deadline` (loop time), resubscribing after a
    Redis reconnect (which yields READY again). Ends when the client is dropped as too slow."""
    loop = asyncio.get_running_loop()
    while True:
        async with hub.subscribe(channel) as sub:
            while True:
                try:
                    item = await sub.next()
                except Closed as closed:
                    if closed.reason == "resync":
                        break
                    log.info("stream closed", extra={"channel": channel, "reason": closed.reason})
                    return
                if item is Signal.HEARTBEAT and loop.time() >= deadline:
                    return
                yield item


async def inverter_events(hub: Hub, replay: ReplayLog, inverter_id: str, snapshot: dict[str, Any] | None,
                          last_event_id: str | None, deadline: float) -> AsyncIterator[bytes]:
    """SPEC §4: retry, snapshot, replayed readings after Last-Event-ID, then live readings."""
    yield sse.retry()
    if snapshot is not None:
        yield sse.encode_event("snapshot", json.dumps(snapshot, separators=(",", ":")))
    channel, log_key = channels.inverter_channel(inverter_id), channels.inverter_log(inverter_id)
    last_id = last_event_id if parse_id(last_event_id) else None
    last = parse_id(last_id)
    async with contextlib.aclosing(follow(hub, channel, deadline)) as items:
        async for item in items:
            if isinstance(item, Message):
                pid = parse_id(item.id)
                if last is not None and (pid is None or pid <= last):
                    continue  # already replayed
                yield item.frame("reading")
                last_id, last = item.id, pid
            elif item is Signal.HEARTBEAT:
                yield sse.HEARTBEAT
            else:
                try:
                    if last_id is None:
                        # No history wanted: start after whatever the log holds now (the snapshot).
                        last_id = await replay.tail(log_key)
                    else:
                        for entry in await replay.after(log_key, last_id):
                            yield sse.encode_event("reading", json.dumps(entry.data, separators=(",", ":")),
                                                   entry.id)
                            last_id = entry.id
                except RedisError as exc:
                    # The browser comes back in `retry` ms with its last id; nothing is lost.
                    log.warning("replay failed; closing the stream", extra={"error": repr(exc)})
                    return
                last = parse_id(last_id)


def _terminal(job: dict[str, Any]) -> bool:
    try:
        return Status(job.get("status")) in TERMINAL
    except ValueError:
        return False


async def job_events(hub: Hub, replay: ReplayLog, job_id: str, load_job: JobLoader,
                     deadline: float) -> AsyncIterator[bytes]:
    """SPEC §4: the job's current state, then every change, until a terminal status.

    A status event is a whole Job, not a delta, so a reconnecting client needs no replay: the current
    state read from the store after subscribing is complete."""
    yield sse.retry()
    channel, log_key = channels.job_channel(job_id), channels.job_log(job_id)
    sent: dict[str, Any] | None = None
    last: tuple[int, int] | None = None
    async with contextlib.aclosing(follow(hub, channel, deadline)) as items:
        async for item in items:
            if isinstance(item, Message):
                pid = parse_id(item.id)
                if (last is not None and (pid is None or pid <= last)) or item.data == sent:
                    continue
                yield item.frame("status")
                sent, last = item.data, pid
            elif item is Signal.HEARTBEAT:
                yield sse.HEARTBEAT
                continue
            else:
                try:
                    # The log's tail first, then the store: a change in between arrives live (id > tail).
                    tail = await replay.tail(log_key)
                except RedisError as exc:
                    log.warning("job log unreadable; closing the stream", extra={"error": repr(exc)})
                    return
                job = await load_job()
                last = parse_id(tail)
                if job != sent:
                    yield sse.encode_event("status", json.dumps(job, separators=(",", ":")), tail)
                    sent = job
            if sent is not None and _terminal(sent):
                return


async def tenant_job_events(hub: Hub, tenant: str, deadline: float) -> AsyncIterator[bytes]:
    """Every status change of a tenant's jobs, live only (`event: job`): the dashboard reloads its list
    on (re)connect, so there is nothing to replay."""
    yield sse.retry()
    async with contextlib.aclosing(follow(hub, channels.tenant_jobs_channel(tenant), deadline)) as items:
        async for item in items:
            if isinstance(item, Message):
                yield item.frame("job")
            elif item is Signal.HEARTBEAT:
                yield sse.HEARTBEAT
            else:
                yield sse.comment("live")
