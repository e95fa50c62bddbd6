"""Cross-tenant isolation on the whole local stack (`steadfast dev`): tenant A's inverters (one under the
stage's shared sandbox connection, one under A's own sandbox account) are invisible to tenant B on every
telemetry route of the API (latest, readings, series, stream token, alert rules, incidents) and of the
stream app (SSE stream, dashboard list, dashboard stream token and series), and unregistrable to B (409
under the shared connection, 422 through any connection B may use). A's own stream opens, so that each
refusal is one the test could have seen succeed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def other_tenant_key(stack: StackState) -> str:
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant",
                          f"tenant-b-{uuid.uuid4().hex[:6]}"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "STEADFAST_HOME": stack.home}, check=True)
    return out.stdout.strip()


def first_event(client: httpx.Client, path: str, **kwargs: Any) -> tuple[int, str]:
    """The status of an SSE request and, when it is a stream, its first lines up to the first event."""
    with client.stream("GET", path, timeout=20, **kwargs) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, r.text
        seen = []
        for line in r.iter_lines():
            seen.append(line)
            if line.startswith("event:"):
                break
        return 200, "\n".join(seen)


def test_tenant_b_can_neither_read_stream_nor_register_tenant_as_inverters(api: httpx.Client,
                                                                             stack: StackState) -> None:
    # Given tenant A's inverter under the shared connection, and one under A's own sandbox account
    serial = f"SBX-ISO-{uuid.uuid4().hex[:8]}"
    shared = api.post("/v1/inverters", json={"brand": "sandbox", "serial": serial, "poll_interval_s": 5})
    assert shared.status_code == 201, shared.text
    con = api.post("/v1/connections", json={"brand": "sandbox", "credentials": {
        "token": f"acct-iso-a-{uuid.uuid4().hex[:6]}"}})
    assert con.status_code == 201, con.text
    own_serial = con.json()["devices"][0]["serial"]
    own = api.post("/v1/inverters", json={"brand": "sandbox", "serial": own_serial, "connection_id": con.json()["id"],
                                          "poll_interval_s": 5})
    assert own.status_code == 201, own.text
    mine = [shared.json(), own.json()]
    for inverter in mine:
        wait_for(lambda i=inverter: api.get(f"/v1/inverters/{i['id']}").json()["latest"], bool, timeout_s=90)
    rule = api.post("/v1/alert-rules", json={"inverter_id": mine[0]["id"], "condition": "offline", "for_s": 3600,
                                             "notify_url": "http://127.0.0.1:9/never"})
    assert rule.status_code == 201, rule.text

    key_b = other_tenant_key(stack)
    headers_b = {"authorization": f"Bearer {key_b}"}
    with httpx.Client(base_url=stack.api_url, headers=headers_b, timeout=30) as b, \
            httpx.Client(base_url=stack.stream_url, timeout=30) as stream:
        # B's own inverter, for a stream token that is B's to hold
        b_con = b.post("/v1/connections", json={"brand": "sandbox", "credentials": {
            "token": f"acct-iso-b-{uuid.uuid4().hex[:6]}"}})
        assert b_con.status_code == 201, b_con.text
        b_inv = b.post("/v1/inverters", json={"brand": "sandbox", "serial": b_con.json()["devices"][0]["serial"],
                                              "connection_id": b_con.json()["id"]})
        assert b_inv.status_code == 201, b_inv.text
        b_token = b.post(f"/v1/inverters/{b_inv.json()['id']}/stream-token").json()["token"]

        # Control: A streams its own inverter (a snapshot first)
        a_token = api.post(f"/v1/inverters/{mine[0]['id']}/stream-token").json()["token"]
        status, text = first_event(stream, f"/v1/inverters/{mine[0]['id']}/events", params={"access_token": a_token})
        assert status == 200 and "event: snapshot" in text

        for inverter in mine:
            iid = inverter["id"]
            # The API: nothing of A's inverter, as if it did not exist
            for path in ("", "/readings", "/series"):
                r = b.get(f"/v1/inverters/{iid}{path}")
                assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
            assert b.post(f"/v1/inverters/{iid}/stream-token").status_code == 404
            assert b.post("/v1/alert-rules", json={"inverter_id": iid, "condition": "offline",
                                                   "notify_url": "https://example.com/h"}).status_code == 422
            # The stream app: B's API key → 404, and B's own inverter's token → 404 too (A's inverter is unknown to
            # B; 403 is for a token of another of the same tenant's inverters), no stream either way
            assert first_event(stream, f"/v1/inverters/{iid}/events", headers=headers_b)[0] == 404
            assert first_event(stream, f"/v1/inverters/{iid}/events", params={"access_token": b_token})[0] == 404
            assert stream.post(f"/v1/dashboard/inverters/{iid}/stream-token", headers=headers_b).status_code == 404
            assert stream.get(f"/v1/dashboard/inverters/{iid}/series", headers=headers_b).status_code == 404
        listed = {i["id"] for i in b.get("/v1/inverters").json()["items"]}
        dashboard = stream.get("/v1/dashboard/inverters", headers=headers_b)
        assert dashboard.status_code == 200
        on_dashboard = {i["id"] for i in dashboard.json()["items"]}
        assert listed == on_dashboard == {b_inv.json()["id"]}
        assert rule.json()["id"] not in {r["id"] for r in b.get("/v1/alert-rules").json()["items"]}
        assert b.get("/v1/incidents").json()["items"] == []
        assert b.get(f"/v1/connections/{con.json()['id']}").status_code == 404
        assert b.get(f"/v1/connections/{con.json()['id']}/devices").status_code == 404

        # Unregistrable: the shared serial is A's (409); A's account serial is seen neither by the shared
        # account, nor by B's account, nor through A's connection (not B's) → 422
        taken = b.post("/v1/inverters", json={"brand": "sandbox", "serial": serial})
        assert taken.status_code == 409, taken.text
        for body in ({"serial": own_serial}, {"serial": own_serial, "connection_id": b_con.json()["id"]},
                     {"serial": own_serial, "connection_id": con.json()["id"]}):
            refused = b.post("/v1/inverters", json={"brand": "sandbox", **body})
            assert refused.status_code in (404, 422), refused.text
        assert {i["id"] for i in b.get("/v1/inverters").json()["items"]} == {b_inv.json()["id"]}
    assert api.delete(f"/v1/alert-rules/{rule.json()['id']}").status_code == 204
