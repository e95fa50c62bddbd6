"""The issue's "done when" on the whole local stack (`steadfast dev`): the seeded sandbox inverters get a
newer latest reading every poll, visible through the API, and every vendor request becomes exactly one
stored reading, with no request refused by the sandbox's rate limit (its /_stats counts them)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_seeded_inverters_produce_a_reading_every_poll(api: httpx.Client, stack: StackState) -> None:
    # Given the stack seeded three sandbox inverters for tenant dev, each polled once already (the sandbox's
    # counters so far: earlier tests of the session may have spent a device's rate limit on purpose)
    start = httpx.get(f"{stack.sandbox_url}/_stats").json()
    def demo() -> list[dict[str, Any]]:
        return [i for i in api.get("/v1/inverters").json()["items"] if i["serial"].startswith("SBX-DEMO-")]

    first = wait_for(demo, lambda items: len(items) == 3 and all(i["latest"] for i in items), timeout_s=90)
    assert {i["latest"]["inverter_id"] for i in first} == {i["id"] for i in first}

    # When the poller runs again, then every inverter shows a newer reading
    def latest_ts() -> dict[str, str]:
        return {i["id"]: api.get(f"/v1/inverters/{i['id']}").json()["latest"]["ts"] for i in first}

    later = wait_for(latest_ts, lambda ts: all(ts[i["id"]] > i["latest"]["ts"] for i in first), timeout_s=30)
    assert all(later[i["id"]] > i["latest"]["ts"] for i in first)

    # And the sandbox refused no request meanwhile, and every reading it served became one stored reading
    # (`served`, not `requests`: earlier tests of the session take a device offline or spend its limit on purpose)
    before = httpx.get(f"{stack.sandbox_url}/_stats").json()
    history = {i["id"]: api.get(f"/v1/inverters/{i['id']}/readings", params={"limit": 1000}).json()["items"]
               for i in first}
    after = httpx.get(f"{stack.sandbox_url}/_stats").json()
    assert before["rate_limited"] == after["rate_limited"] == start["rate_limited"]
    for i in first:
        assert before["served"][i["serial"]] <= len(history[i["id"]]) <= after["served"][i["serial"]]
        assert len(history[i["id"]]) >= 2
