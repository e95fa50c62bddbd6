"""History and alerts on the whole local stack (`steadfast dev`): the series route agrees with the raw
readings it was folded from; an offline incident opens once after for_s and resolves once, each
delivered once, as a job, to a loopback receiver that is down for 5 s when the opening is sent; and
another tenant sees none of it on any route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for
from tests.integration.telemetry.conftest import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


class Receiver:
    """A loopback webhook receiver that records every POST; started late to play a receiver that is down."""

    def __init__(self, port: int) -> None:
        self.port, self.calls = port, []  # type: tuple[int, list[dict[str, Any]]]
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def start(self) -> None:
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                calls.append({"body": json.loads(body), "attempt": int(self.headers.get("steadfast-attempt", 0)),
                              "idempotency_key": self.headers.get("idempotency-key")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def of(self, state: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["body"]["state"] == state]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def cli(stack: StackState, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "STEADFAST_HOME": stack.home}, check=True)
    return out.stdout.strip()


def register(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    serial = f"SBX-HIST-{uuid.uuid4().hex[:8]}"
    response = api.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "poll_interval_s": 5, **extra})
    assert response.status_code == 201, response.text
    inverter: dict[str, Any] = response.json()
    return inverter


def set_offline(stack: StackState, serial: str, offline: bool) -> None:
    httpx.post(f"{stack.sandbox_url}/_control/offline", json={"serial": serial, "offline": offline}).raise_for_status()


def test_the_series_agrees_with_the_raw_readings(api: httpx.Client) -> None:
    # Given an inverter polled every 5 s for a while
    inverter = register(api, latitude=52.52, longitude=13.40)
    assert (inverter["latitude"], inverter["longitude"]) == (52.52, 13.40)
    path = f"/v1/inverters/{inverter['id']}"
    wait_for(lambda: api.get(f"{path}/readings").json()["items"], lambda items: len(items) >= 4, timeout_s=90)

    # When the series is read around a read of the raw readings, with no poll in between
    def consistent() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        before = api.get(f"{path}/series", params={"step": "5m"}).json()["items"]
        raw = api.get(f"{path}/readings", params={"limit": 1000}).json()["items"]
        after = api.get(f"{path}/series", params={"step": "5m"}).json()["items"]
        # equal before and after, and holding every raw reading: no poll cycle was half-way meanwhile
        return (after, raw) if before == after and sum(p["samples"] for p in after) == len(raw) else None

    found = wait_for(consistent, lambda v: v is not None, timeout_s=30, every_s=0.5)
    assert found is not None
    series, raw = found

    # Then every bucket holds the readings of its five minutes, with their means
    assert sum(p["samples"] for p in series) == len(raw)
    for point in series:
        start = _epoch(point["ts"])
        members = [r for r in raw if start <= _epoch(r["ts"]) < start + 300]
        assert point["samples"] == len(members)
        assert point["pv_power_w"] == pytest.approx(sum(r["pv_power_w"] for r in members) / len(members), abs=1e-2)
        assert point["battery_soc_pct"] == pytest.approx(
            sum(r["battery_soc_pct"] for r in members) / len(members), abs=1e-2)
    # And the energy of the buckets is what the lifetime counter moved from the first reading to the last
    assert sum(p["energy_kwh"] for p in series) == pytest.approx(
        raw[-1]["energy_total_kwh"] - raw[0]["energy_total_kwh"], abs=1e-6)
    # And the coarser steps hold the same readings
    for step in ("1h", "1d"):
        assert sum(p["samples"] for p in api.get(f"{path}/series", params={"step": step}).json()["items"]) >= len(raw)


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("params", [{"step": "2m"}, {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                                    {"from": "yesterday"}, {"from": "2026-01-01T00:00:00"},
                                    {"step": "5m", "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}])
def test_a_bad_series_window_is_a_422_problem(api: httpx.Client, params: dict[str, str]) -> None:
    inverter = api.get("/v1/inverters").json()["items"][0]
    response = api.get(f"/v1/inverters/{inverter['id']}/series", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_offline_incident_opens_once_and_resolves_once_through_a_receiver_outage(
        api: httpx.Client, stack: StackState, receiver: Receiver) -> None:
    # Given an inverter with a reading and an offline rule (for_s 10) notifying a receiver that is down
    inverter = register(api)
    wait_for(lambda: api.get(f"/v1/inverters/{inverter['id']}").json()["latest"], bool, timeout_s=60)
    rule = api.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "offline", "for_s": 10,
                                             "notify_url": receiver.url})
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]

    def incidents(state: str) -> list[dict[str, Any]]:
        items = api.get("/v1/incidents", params={"state": state}).json()["items"]
        return [i for i in items if i["rule_id"] == rule_id]

    # When the device goes dark
    set_offline(stack, inverter["serial"], True)
    dark_at = time.time()
    opened = wait_for(lambda: incidents("open"), bool, timeout_s=90)
    assert len(opened) == 1
    # not before the condition (since: the last reading, before the device went dark) held for for_s
    held = _epoch(opened[0]["opened_at"]) - _epoch(opened[0]["since"])
    assert held >= 10 and _epoch(opened[0]["since"]) <= dark_at
    # and the receiver comes up only 5 s after the incident opened
    time.sleep(5)
    receiver.start()

    # Then the opening arrives, once, after the engine retried it
    wait_for(lambda: receiver.of("open"), bool, timeout_s=60)
    first = receiver.of("open")[0]
    assert first["body"] | {"reading": None, "since": None} == {
        "rule_id": rule_id, "incident_id": opened[0]["id"], "inverter_id": inverter["id"], "condition": "offline",
        "state": "open", "since": None, "reading": None}
    assert first["body"]["reading"]["inverter_id"] == inverter["id"]
    # the engine retried it through the outage: every attempt before the delivered one failed retryably
    attempts = wait_for(lambda: api.get(f"/v1/jobs/{first['idempotency_key']}/attempts").json()["items"],
                        lambda items: len(items) >= first["attempt"], timeout_s=30)
    assert len(attempts) == first["attempt"] and all(a["outcome"] == "retryable" for a in attempts[:-1])

    # When the device reports again, the incident resolves, and that is delivered once too
    set_offline(stack, inverter["serial"], False)
    # (the device's polls back off while it fails: the next one may be minutes away)
    resolved = wait_for(lambda: incidents("resolved"), bool, timeout_s=300)
    assert [i["id"] for i in resolved] == [opened[0]["id"]] and incidents("open") == []
    wait_for(lambda: receiver.of("resolved"), bool, timeout_s=60)
    time.sleep(6)  # more poll cycles: no re-evaluation sends anything again
    assert len(receiver.of("open")) == 1 and len(receiver.of("resolved")) == 1
    assert receiver.of("resolved")[0]["body"]["incident_id"] == opened[0]["id"]
    assert len({c["idempotency_key"] for c in receiver.calls}) == 2  # two jobs, one per transition


def test_another_tenants_history_rules_and_incidents_are_invisible(api: httpx.Client, stack: StackState) -> None:
    # Given tenant dev's inverter and rule, and a second tenant
    inverter = api.get("/v1/inverters").json()["items"][0]
    rule = api.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "battery_below",
                                             "threshold": 5, "for_s": 60, "notify_url": "http://127.0.0.1:9/x"})
    assert rule.status_code == 201, rule.text
    key = cli(stack, "keys", "create", "--tenant", f"other-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}) as other:
        # Then every route answers the other tenant as if none of it existed
        assert other.get(f"/v1/inverters/{inverter['id']}/series").status_code == 404
        assert other.get("/v1/alert-rules").json()["items"] == []
        assert other.get("/v1/incidents").json()["items"] == []
        assert other.delete(f"/v1/alert-rules/{rule.json()['id']}").status_code == 404
        refused = other.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "offline",
                                                      "notify_url": "https://example.com/hook"})
        assert refused.status_code == 422 and "inverter_id" in refused.text
    assert api.delete(f"/v1/alert-rules/{rule.json()['id']}").status_code == 204
    assert rule.json()["id"] not in {r["id"] for r in api.get("/v1/alert-rules").json()["items"]}


@pytest.mark.parametrize("body", [
    {"condition": "battery_below", "notify_url": "https://example.com/h"},  # no threshold
    {"condition": "offline", "threshold": 5, "notify_url": "https://example.com/h"},
    {"condition": "offline", "for_s": 86401, "notify_url": "https://example.com/h"},
    {"condition": "offline", "for_s": -1, "notify_url": "https://example.com/h"},
    {"condition": "sunburn", "notify_url": "https://example.com/h"},
    {"condition": "offline", "notify_url": "ftp://example.com/h"},
    {"condition": "offline", "notify_url": "https://example.com/h", "extra": 1},
])
def test_a_bad_rule_is_a_422_problem(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/v1/alert-rules", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
