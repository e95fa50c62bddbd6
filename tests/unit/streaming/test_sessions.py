"""Feeds and `pump` with a hub driven by hand and an in-memory replay log: the order of events, the
seam between replay and live (no gap, no duplicate), resync after a Redis outage, and the deadline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.streaming.hub import Hub, Signal
from shared.streaming.replay import Entry
from shared.streaming.sessions import Feed, InverterFeed, JobFeed, pump


class FakeReplay:
    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    async def after(self, log: str, last_id: str) -> list[Entry]:
        return [e for e in self.entries if tuple(map(int, e.id.split("-"))) > tuple(map(int, last_id.split("-")))]

    async def since(self, log: str, first_id: str) -> list[Entry]:
        return [e for e in self.entries if tuple(map(int, e.id.split("-"))) >= tuple(map(int, first_id.split("-")))]

    async def tail(self, log: str) -> str | None:
        return self.entries[-1].id if self.entries else None

    async def tail_entry(self, log: str) -> Entry | None:
        return self.entries[-1] if self.entries else None


def publish(hub: Hub, channel: str, entry_id: str, **data: Any) -> None:
    hub._dispatch(channel, json.dumps({"id": entry_id, "data": data}).encode())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def confirm(hub: Hub, channel: str) -> None:
    hub._inflight[channel] = 1
    hub._confirm(channel)


def events(frames: list[bytes]) -> list[tuple[str, str | None, str]]:
    """(event, id, data) of every event frame, comments and retry left out."""
    out = []
    for frame in frames:
        fields = dict(line.split(": ", 1) for line in frame.decode().strip().split("\n") if not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], fields.get("id"), fields["data"]))
    return out


async def run(hub: Hub, feed: Feed, deadline: float = 1e12) -> tuple[asyncio.Task[None], list[bytes]]:
    frames: list[bytes] = []

    async def write(frame: bytes) -> None:
        frames.append(frame)

    task = asyncio.create_task(pump(hub, feed, deadline, write))
    await settle()
    return task, frames


async def test_resume_replays_the_missed_readings_then_goes_live_without_snapshot_or_duplicates() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    replay = FakeReplay([Entry("1-0", {"n": 1}), Entry("2-0", {"n": 2}), Entry("3-0", {"n": 3})])
    feed = InverterFeed(replay, "inv_a", {"n": 3}, last_event_id="1-0")  # type: ignore[arg-type]
    task, frames = await run(hub, feed)
    confirm(hub, "inverter:inv_a")
    # Published while the replay was being read: 3-0 is both in the log and live.
    publish(hub, "inverter:inv_a", "3-0", n=3)
    publish(hub, "inverter:inv_a", "4-0", n=4)
    await settle()
    assert frames[0] == b"retry: 3000\n\n"
    assert events(frames) == [("reading", "2-0", '{"n":2}'),
                              ("reading", "3-0", '{"n":3}'), ("reading", "4-0", '{"n":4}')]
    task.cancel()


async def test_a_new_client_gets_the_log_tail_as_snapshot_and_continues_after_it() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    replay = FakeReplay([Entry("7-0", {"n": 7})])
    feed = InverterFeed(replay, "inv_b", {"n": 6}, None)  # type: ignore[arg-type]
    task, frames = await run(hub, feed)
    replay.entries.append(Entry("8-0", {"n": 8}))  # published before our SUBSCRIBE took effect
    confirm(hub, "inverter:inv_b")
    await settle()
    publish(hub, "inverter:inv_b", "8-0", n=8)  # the same one, live: not sent twice
    publish(hub, "inverter:inv_b", "9-0", n=9)
    await settle()
    assert events(frames) == [("snapshot", "7-0", '{"n":7}'), ("reading", "8-0", '{"n":8}'),
                              ("reading", "9-0", '{"n":9}')]
    task.cancel()


async def test_with_an_empty_log_the_stored_latest_is_the_snapshot_and_everything_after_is_new() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    task, frames = await run(hub, InverterFeed(FakeReplay([]), "inv_e", {"n": 1}, None))  # type: ignore[arg-type]
    confirm(hub, "inverter:inv_e")
    await settle()
    publish(hub, "inverter:inv_e", "5-0", n=5)
    await settle()
    assert events(frames) == [("snapshot", None, '{"n":1}'), ("reading", "5-0", '{"n":5}')]
    task.cancel()


async def test_after_a_redis_outage_the_feed_resubscribes_and_replays_what_it_missed() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    replay = FakeReplay([Entry("1-0", {"n": 1})])
    task, frames = await run(hub, InverterFeed(replay, "inv_c", None, None))  # type: ignore[arg-type]
    confirm(hub, "inverter:inv_c")
    publish(hub, "inverter:inv_c", "2-0", n=2)
    await settle()
    hub._close_all("resync")
    replay.entries += [Entry("2-0", {"n": 2}), Entry("3-0", {"n": 3})]  # 3-0 was published during the outage
    await settle()
    confirm(hub, "inverter:inv_c")
    await settle()
    assert [e[1] for e in events(frames)] == ["1-0", "2-0", "3-0"]  # snapshot, live, replayed
    assert not task.done()
    task.cancel()


async def test_job_feed_sends_the_current_state_then_changes_and_ends_at_a_terminal_status() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    state = {"id": "job_1", "status": "running", "attempts": 1}

    async def load() -> dict[str, Any]:
        return dict(state)

    task, frames = await run(hub, JobFeed(FakeReplay([Entry("4-0", state)]), "job_1", load))  # type: ignore[arg-type]
    confirm(hub, "job:job_1")
    await settle()
    publish(hub, "job:job_1", "4-0", **state)  # the state already sent: dropped
    publish(hub, "job:job_1", "5-0", id="job_1", status="retrying", attempts=1)
    publish(hub, "job:job_1", "6-0", id="job_1", status="completed", attempts=2)
    await asyncio.wait_for(task, 1)
    assert [(e[0], json.loads(e[2])["status"]) for e in events(frames)] == [
        ("status", "running"), ("status", "retrying"), ("status", "completed")]


async def test_job_feed_of_a_finished_job_sends_it_once_and_ends() -> None:
    hub = Hub("redis://127.0.0.1:1/0")

    async def load() -> dict[str, Any]:
        return {"id": "job_2", "status": "dead"}

    task, frames = await run(hub, JobFeed(FakeReplay([]), "job_2", load))  # type: ignore[arg-type]
    confirm(hub, "job:job_2")
    await asyncio.wait_for(task, 1)
    assert len(events(frames)) == 1


def job_log(job_id: str) -> list[Entry]:
    return [Entry("4-0", {"id": job_id, "status": "pending", "attempts": 0, "updated_at": "2026-12-04T10:00:00.000Z"}),
            Entry("5-0", {"id": job_id, "status": "running", "attempts": 0, "updated_at": "2026-12-04T10:00:01.000Z"}),
            Entry("6-0", {"id": job_id, "status": "retrying", "attempts": 1, "updated_at": "2026-12-04T10:00:02.000Z"})]


def resumed(job_id: str, last_event_id: str, log: list[Entry] | None = None) -> tuple[JobFeed, list[Entry]]:
    """A feed of `job_id` resumed at `last_event_id` over `log` (default `job_log`), its store at the log's end."""
    entries = log if log is not None else job_log(job_id)

    async def load() -> dict[str, Any]:
        return dict(entries[-1].data)

    return JobFeed(FakeReplay(entries), job_id, load, last_event_id=last_event_id), entries  # type: ignore[arg-type]


def complete(hub: Hub, job_id: str) -> None:
    publish(hub, f"job:{job_id}", "7-0", id=job_id, status="completed", attempts=2, updated_at="2026-12-04T10:00:03Z")


async def test_a_resumed_job_feed_sends_only_what_came_after_its_id_then_goes_live() -> None:
    # Given a running job whose client saw its stream up to 5-0 (running)
    hub = Hub("redis://127.0.0.1:1/0")
    feed, log = resumed("job_3", "5-0")
    task, frames = await run(hub, feed)
    confirm(hub, "job:job_3")
    await settle()
    publish(hub, "job:job_3", "6-0", **log[-1].data)  # replayed already: not again
    complete(hub, "job_3")
    await asyncio.wait_for(task, 1)
    # Then: no snapshot, no repeat of 5-0, the missed 6-0 with its own id, then live until the end
    assert [(e[1], json.loads(e[2])["status"]) for e in events(frames)] == [("6-0", "retrying"), ("7-0", "completed")]


async def test_a_job_feed_resumed_at_its_latest_event_repeats_nothing() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    task, frames = await run(hub, resumed("job_4", "6-0")[0])
    confirm(hub, "job:job_4")
    await settle()
    assert events(frames) == []
    complete(hub, "job_4")
    await asyncio.wait_for(task, 1)
    assert [e[1] for e in events(frames)] == ["7-0"]


async def test_a_job_feed_cut_off_before_the_end_replays_up_to_the_terminal_status_and_ends() -> None:
    # Given a job that completed while its client was away since 4-0
    hub = Hub("redis://127.0.0.1:1/0")
    log = [*job_log("job_5"), Entry("7-0", {"id": "job_5", "status": "completed", "attempts": 2,
                                            "updated_at": "2026-12-04T10:00:03.000Z"})]
    feed, _ = resumed("job_5", "4-0", log)
    assert await feed.behind(log[-1].data)
    task, frames = await run(hub, feed)
    confirm(hub, "job:job_5")
    await asyncio.wait_for(task, 1)
    assert [(e[1], json.loads(e[2])["status"]) for e in events(frames)] == [
        ("5-0", "running"), ("6-0", "retrying"), ("7-0", "completed")]
    # One that saw the end is not behind (the app answers it 204); nor is an id the log cannot place
    for seen in ("7-0", "99-0", "garbage"):
        assert not await resumed("job_5", seen, log)[0].behind(log[-1].data)


async def test_a_job_feed_resumed_with_an_id_it_cannot_place_starts_as_a_new_client() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    # A forged id from the future would otherwise drop every live change as "already sent"
    task, frames = await run(hub, resumed("job_6", "99-0")[0])
    confirm(hub, "job:job_6")
    await settle()
    complete(hub, "job_6")
    await asyncio.wait_for(task, 1)
    assert [(e[1], json.loads(e[2])["status"]) for e in events(frames)] == [("6-0", "retrying"), ("7-0", "completed")]


async def test_heartbeats_become_comments_and_the_deadline_ends_the_stream() -> None:
    hub = Hub("redis://127.0.0.1:1/0")
    loop = asyncio.get_running_loop()
    task, frames = await run(hub, InverterFeed(FakeReplay([]), "inv_d", None, None),  # type: ignore[arg-type]
                             deadline=loop.time() + 0.05)
    confirm(hub, "inverter:inv_d")
    await settle()
    for sub in hub._channels["inverter:inv_d"]:
        sub.push(Signal.HEARTBEAT)
    await settle()
    assert frames[-1] == b": keep-alive\n\n"
    await asyncio.sleep(0.06)
    for sub in hub._channels["inverter:inv_d"]:
        sub.push(Signal.HEARTBEAT)
    await asyncio.wait_for(task, 1)
    assert hub.clients == 0
