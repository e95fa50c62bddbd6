"""The hub's bookkeeping without Redis: bounded queues, slow-client drops, SUBSCRIBE confirmation and
fan-out, driven through the same methods the reader task calls."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.streaming.hub import Closed, Hub, Message, Signal, Subscription


def envelope(entry_id: str, **data: object) -> bytes:
    return json.dumps({"id": entry_id, "data": data}).encode()


@pytest.fixture
def hub() -> Hub:
    return Hub("redis://127.0.0.1:1/0", queue_size=4)  # never started: no connection is made


async def test_a_channel_is_live_only_after_redis_confirms_the_subscribe(hub: Hub) -> None:
    async with hub.subscribe("c") as sub:
        hub._dispatch("c", envelope("1-0", v=1))  # before confirmation: Redis cannot have sent it to us
        hub._inflight["c"] = 1
        hub._confirm("c")
        hub._dispatch("c", envelope("2-0", v=2))
        assert await sub.next() is Signal.READY
        msg = await sub.next()
        assert isinstance(msg, Message) and msg.id == "2-0" and msg.data == {"v": 2}


async def test_one_message_reaches_every_client_of_the_channel_encoded_once(hub: Hub) -> None:
    async with hub.subscribe("c") as a, hub.subscribe("c") as b, hub.subscribe("other") as c:
        hub._inflight.update({"c": 1, "other": 1})
        hub._confirm("c")
        hub._confirm("other")
        hub._dispatch("c", envelope("5-0", pv=1))
        for sub in (a, b):
            assert await sub.next() is Signal.READY
        ma, mb = await a.next(), await b.next()
        assert ma is mb  # shared, so the SSE frame is encoded once for all clients
        assert isinstance(ma, Message) and ma.frame("reading") == b'event: reading\nid: 5-0\ndata: {"pv":1}\n\n'
        assert await c.next() is Signal.READY
        assert not c._items


async def test_the_last_client_leaving_unsubscribes_and_a_late_join_waits_for_the_new_subscribe(hub: Hub) -> None:
    async with hub.subscribe("c"):
        hub._inflight["c"] = 1
        hub._confirm("c")
    assert "c" not in hub._channels
    assert [hub._outbox.get_nowait() for _ in range(2)] == [("SUBSCRIBE", "c"), ("UNSUBSCRIBE", "c")]
    async with hub.subscribe("c") as again:
        # Between UNSUBSCRIBE and the new SUBSCRIBE, Redis may still confirm an older SUBSCRIBE:
        # only the last outstanding confirmation makes the channel live.
        hub._inflight["c"] = 2
        hub._confirm("c")
        assert not again._items
        hub._confirm("c")
        assert await again.next() is Signal.READY


async def test_a_slow_client_is_dropped_without_affecting_the_others(hub: Hub) -> None:
    async with hub.subscribe("c") as slow, hub.subscribe("c") as fast:
        hub._inflight["c"] = 1
        hub._confirm("c")
        received = []
        for n in range(10):
            hub._dispatch("c", envelope(f"{n}-0", n=n))
            received.append(await fast.next())
        with pytest.raises(Closed) as closed:  # at once: what it had queued is discarded
            await slow.next()
        assert closed.value.reason == "slow"
        assert slow not in hub._channels["c"]  # no longer fanned out to
        assert len([m for m in received if isinstance(m, Message)]) == 9  # READY came first


async def test_heartbeats_coalesce_and_wake_a_waiting_client() -> None:
    sub = Subscription(Hub("redis://127.0.0.1:1/0"), "c", maxlen=2)
    waiter = asyncio.create_task(sub.next())
    await asyncio.sleep(0)
    sub.push(Signal.HEARTBEAT)
    assert await waiter is Signal.HEARTBEAT
    sub.push(Signal.HEARTBEAT)
    sub.push(Signal.HEARTBEAT)
    assert len(sub._items) == 1


async def test_a_redis_outage_tells_every_client_to_resync(hub: Hub) -> None:
    async with hub.subscribe("c") as sub:
        hub._close_all("resync")
        with pytest.raises(Closed) as closed:
            await sub.next()
        assert closed.value.reason == "resync"
    assert hub.clients == 0


def test_malformed_messages_are_dropped(hub: Hub) -> None:
    hub._channels["c"] = set()
    hub._confirmed.add("c")
    hub._dispatch("c", b"not json")
    assert hub.messages == 0


async def test_an_unreachable_redis_keeps_the_hub_retrying_until_stopped() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = Hub(f"redis://127.0.0.1:{port}/0", heartbeat_s=0.05)
    await hub.start()
    async with hub.subscribe("c") as sub:
        await asyncio.sleep(0.3)
        assert not hub.connected.is_set()
        assert await sub.next() is Signal.HEARTBEAT  # streams stay alive while Redis is away
    await hub.stop()
    assert all(t.done() for t in hub._tasks)


def test_settings_that_would_spin_are_refused() -> None:
    with pytest.raises(ValueError, match="heartbeat_s"):
        Hub("redis://127.0.0.1:1/0", heartbeat_s=0)
