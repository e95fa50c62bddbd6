"""The stream app end to end over HTTP on real Redis: access control with problem details, snapshot,
live readings, resume with Last-Event-ID across the replay/live seam, one Redis subscription for many
clients, surviving a killed Redis connection, job status streams, slow-client drops and the deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from shared import stream_tokens
from shared.channels import UNPREFIXED as channels
from shared.jobs.models import Status
from shared.streaming.fanout import envelope
from tests.integration.streaming.conftest import REDIS_URL, SECRET, Event, Served, sse_events, take, uid

pytestmark = pytest.mark.integration


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def publish(r: aioredis.Redis, channel: str, log: str, data: dict[str, Any]) -> str:
    """What the poller and the worker do: XADD to the replay log, then PUBLISH the envelope."""
    body = json.dumps(data)
    entry = await r.xadd(log, {"data": body}, maxlen=1000, approximate=True)
    await r.expire(log, 600)
    await r.publish(channel, envelope(entry, body))
    return entry.decode() if isinstance(entry, bytes) else str(entry)


async def reading(r: aioredis.Redis, inverter_id: str, n: int) -> str:
    return await publish(r, channels.inverter_channel(inverter_id), channels.inverter_log(inverter_id),
                         {"inverter_id": inverter_id, "pv_power_w": n})


def inverter(served: Served, tenant: str = "acme") -> tuple[str, str]:
    inverter_id = uid("inv")
    served.inverters.add(tenant, {"id": inverter_id}, {"inverter_id": inverter_id, "pv_power_w": 0})
    return inverter_id, stream_tokens.issue(SECRET, tenant, inverter_id)[0]


async def wait_until(check: Callable[[], Any], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_access_control_answers_with_problem_details(serve: Callable[..., Served]) -> None:
    served = serve()
    served.tenants.keys.update({"sk_acme": "acme", "sk_other": "other"})
    inverter_id, token = inverter(served)
    _, other_token = inverter(served)
    async with httpx.AsyncClient(base_url=served.url) as client:
        cases: dict[int, list[tuple[str, dict[str, str]]]] = {
            # An API key in a URL is refused whether or not it is valid: it would end up in logs.
            400: [(f"/v1/inverters/{inverter_id}/events?access_token=sk_unknown", {}),
                  (f"/v1/inverters/{inverter_id}/events?access_token=sk_acme", {}),
                  ("/v1/jobs/job_nope/events?access_token=sk_acme", {}),
                  ("/v1/tenant/jobs/events?api_key=sk_acme", {}),
                  ("/v1/dashboard/jobs?access_token=sk_acme", {})],
            401: [(f"/v1/inverters/{inverter_id}/events", {}),
                  (f"/v1/inverters/{inverter_id}/events?access_token=st_bad.sig", {}),
                  # Neither a stream token nor an API key: no valid token, not a key in the URL
                  (f"/v1/inverters/{inverter_id}/events?access_token=garbage", {}),
                  ("/v1/inverters/inv_nope/events?access_token=garbage", {}),
                  (f"/v1/inverters/{inverter_id}/events", {"authorization": "Bearer sk_unknown"})],
            403: [(f"/v1/inverters/{inverter_id}/events?access_token={other_token}", {})],
            404: [(f"/v1/inverters/{inverter_id}/events", {"authorization": "Bearer sk_other"}),
                  ("/v1/inverters/inv_nope/events", {"authorization": "Bearer sk_acme"}),
                  # A valid token for an inverter that does not exist: unknown, not forbidden
                  (f"/v1/inverters/inv_nope/events?access_token={token}", {}),
                  ("/v1/jobs/job_nope/events", {"authorization": "Bearer sk_acme"})],
        }
        for status, requests in cases.items():
            for path, headers in requests:
                response = await client.get(path, headers=headers)
                assert response.status_code == status, path
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["status"] == status


async def test_two_clients_share_one_subscription_and_see_the_same_readings(
        serve: Callable[..., Served], r: aioredis.Redis) -> None:
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    inverter_id, token = inverter(served)
    channel = channels.inverter_channel(inverter_id)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        url = f"/v1/inverters/{inverter_id}/events"
        async with client.stream("GET", url, params={"access_token": token}) as a, \
                client.stream("GET", url, headers={"authorization": "Bearer sk_acme"}) as b:
            assert a.headers["content-type"].startswith("text/event-stream")
            ea, eb = sse_events(a), sse_events(b)
            assert [e.event for e in await take(ea, 1)] == ["snapshot"]
            assert [e.event for e in await take(eb, 1)] == ["snapshot"]
            await wait_until(lambda: served.hub.clients == 2 and channel in served.hub._confirmed)
            assert (await r.pubsub_numsub(channel))[0][1] == 1  # one Redis subscription for both
            ids = [await reading(r, inverter_id, n) for n in range(3)]
            got_a, got_b = await take(ea, 3), await take(eb, 3)
            assert [e.id for e in got_a] == [e.id for e in got_b] == ids
            assert [json.loads(e.data)["pv_power_w"] for e in got_a] == [0, 1, 2]
    await wait_until(lambda: served.hub.clients == 0)
    await wait_until(lambda: channel not in served.hub._channels)
    await asyncio.sleep(0.2)
    assert (await r.pubsub_numsub(channel))[0][1] == 0  # unsubscribed when the last client left


async def test_resume_with_last_event_id_replays_what_was_missed_then_goes_live(
        serve: Callable[..., Served], r: aioredis.Redis) -> None:
    served = serve()
    inverter_id, token = inverter(served)
    ids = [await reading(r, inverter_id, n) for n in range(4)]
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, client.stream(
            "GET", f"/v1/inverters/{inverter_id}/events", params={"access_token": token},
            headers={"last-event-id": ids[1]}) as response:
        events = sse_events(response)
        first = await take(events, 2)
        # No snapshot on a resume (SPEC §4): it would repeat as a reading
        assert [(e.event, e.id) for e in first] == [("reading", ids[2]), ("reading", ids[3])]
        live = await reading(r, inverter_id, 4)
        assert [e.id for e in await take(events, 1)] == [live]


async def test_a_killed_redis_connection_loses_no_reading(serve: Callable[..., Served], r: aioredis.Redis) -> None:
    served = serve(heartbeat_s=0.3)
    inverter_id, token = inverter(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, client.stream(
            "GET", f"/v1/inverters/{inverter_id}/events", params={"access_token": token}) as response:
        events = sse_events(response)
        await take(events, 1)
        await wait_until(lambda: served.hub.clients == 1 and bool(served.hub._confirmed))
        before = await reading(r, inverter_id, 1)
        # Kill only this test's hub connection (other test runs share the Redis server).
        mine = [c for c in await r.client_list(_type="pubsub") if c.get("name") == served.hub_name]
        assert len(mine) == 1
        await r.client_kill_filter(_id=mine[0]["id"])
        during = await reading(r, inverter_id, 2)  # nobody subscribed: only the replay log has it
        got = await take(events, 2, timeout_s=10)
        after = await reading(r, inverter_id, 3)
        got += await take(events, 1, timeout_s=10)
        assert [e.id for e in got] == [before, during, after]


async def test_job_stream_sends_current_state_then_changes_until_terminal(
        serve: Callable[..., Served], r: aioredis.Redis) -> None:
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.running, attempts=1)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, client.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers={"authorization": "Bearer sk_acme"}) as response:
        events = sse_events(response)
        [current] = await take(events, 1)
        assert (current.event, json.loads(current.data)["status"]) == ("status", "running")
        await wait_until(lambda: channels.job_channel(job_id) in served.hub._confirmed)
        for status, attempts in ((Status.retrying, 1), (Status.completed, 2)):
            job = served.jobs.put("acme", job_id, status, attempts).public().model_dump(mode="json")
            await publish(r, channels.job_channel(job_id), channels.job_log(job_id), job)
        rest: list[Event] = [e async for e in events if isinstance(e, Event)]  # ends after `completed`
        assert [json.loads(e.data)["status"] for e in rest] == ["retrying", "completed"]


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
        serve: Callable[..., Served], r: aioredis.Redis) -> None:
    served = serve(queue_size=64)
    inverter_id, token = inverter(served)
    # A raw socket that never reads: its TCP buffers fill, its sends stall, its queue overflows.
    _, writer = await asyncio.open_connection("127.0.0.1", int(served.url.rsplit(":", 1)[1]))
    writer.write(f"GET /v1/inverters/{inverter_id}/events?access_token={token} HTTP/1.1\r\n"
                 f"Host: x\r\n\r\n".encode())
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as client, client.stream(
            "GET", f"/v1/inverters/{inverter_id}/events", params={"access_token": token}) as response:
        events = sse_events(response)
        await take(events, 1)
        await wait_until(lambda: served.hub.clients == 2 and bool(served.hub._confirmed))
        # 20 MB: more than loopback's socket buffers hold for the silent client (a 4 MB send buffer
        # and the receiver's window) plus its 64-message queue;
        # paced so that this test's own client, sharing the GIL with the server thread, keeps up.
        big, sent = "x" * 100_000, []
        reading_task = asyncio.create_task(take(events, 200, timeout_s=60))
        for n in range(200):
            sent.append(await publish(r, channels.inverter_channel(inverter_id), channels.inverter_log(inverter_id),
                                      {"n": n, "pad": big}))
            await asyncio.sleep(0.02)
        got = await reading_task
        assert [e.id for e in got] == sent
        await wait_until(lambda: served.hub.clients == 1, timeout_s=10)
    writer.close()


async def test_a_stream_ends_cleanly_at_its_deadline(serve: Callable[..., Served]) -> None:
    served = serve(heartbeat_s=0.2, max_stream_s=0.5)
    inverter_id, token = inverter(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, client.stream(
            "GET", f"/v1/inverters/{inverter_id}/events", params={"access_token": token}) as response:
        seen = [e async for e in sse_events(response)]  # returns: the response ended
    assert any(isinstance(e, str) and "keep-alive" in e for e in seen)
    assert any(isinstance(e, Event) and e.event == "snapshot" for e in seen)


async def test_a_reconnect_cut_off_before_the_end_gets_what_it_missed_then_the_stream_ends(
        serve: Callable[..., Served], r: aioredis.Redis) -> None:
    # Given a job that ended while its client was away: its log holds pending, running, completed
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    record = served.jobs.put("acme", job_id, Status.completed, attempts=1)
    done = record.public().model_dump(mode="json")
    ids = [await publish(r, channels.job_channel(job_id), channels.job_log(job_id), {**done, "status": status})
           for status in ("pending", "running", "completed")]
    headers = {"authorization": "Bearer sk_acme"}
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        # When EventSource reconnects with the id of the first event it had (header or query)
        for resumed in ({"headers": {**headers, "last-event-id": ids[0]}},
                        {"headers": headers, "params": {"last_event_id": ids[0]}}):
            async with client.stream("GET", f"/v1/jobs/{job_id}/events", **resumed) as response:  # type: ignore[arg-type]
                assert response.status_code == 200
                got = [e async for e in sse_events(response) if isinstance(e, Event)]  # returns: the stream ended
            # Then it gets the missed events with their ids, the terminal status last, and no repeat of its own
            assert [(e.id, json.loads(e.data)["status"]) for e in got] == [(ids[1], "running"), (ids[2], "completed")]
        # and a reconnect that had the terminal event still gets 204
        resumed_at_end = await client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "last-event-id": ids[2]})
        assert resumed_at_end.status_code == 204


async def test_a_reconnect_to_an_ended_job_stream_gets_204(serve: Callable[..., Served]) -> None:
    # Given a job that has ended, whose stream a client saw up to its terminal event
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.completed, attempts=1)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        # When EventSource reconnects with its Last-Event-ID
        resumed = await client.get(f"/v1/jobs/{job_id}/events",
                                   headers={"authorization": "Bearer sk_acme", "last-event-id": "5-0"})
        # Then it gets 204 (and stops); a first connect still gets the terminal state once
        assert resumed.status_code == 204
        async with client.stream("GET", f"/v1/jobs/{job_id}/events",
                                 headers={"authorization": "Bearer sk_acme"}) as first:
            [state] = await take(sse_events(first), 1)
        assert json.loads(state.data)["status"] == "completed"
