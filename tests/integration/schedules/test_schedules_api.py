"""Schedules through the running local stack (`steadfast dev`), as a user meets them: the API's
create/read/edit/delete with `next_runs`, 422 problem JSON for a bad cron, zone or job spec, another
tenant's schedule as a 404, `trigger` as one extra job, the CLI, and one real-time case: the local
cloud's scheduler turns a `* * * * *` schedule's next minute into exactly one pending job within seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import httpx
import pytest

from local.launch import ROOT
from local.stack import StackState
from shared.schedules.record import fire_job_id
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def cli(stack: StackState, *args: str, key: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEADFAST_HOME": stack.home, **({"STEADFAST_API_KEY": key} if key else {})}
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=check)


@pytest.fixture(scope="module")
def tenant_api(stack: StackState) -> httpx.Client:
    key = cli(stack, "keys", "create", "--tenant", f"sch-{uuid.uuid4().hex[:6]}").stdout.strip()
    return httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}, timeout=30)


def job(stack: StackState, path: str = "/status/200") -> dict[str, object]:
    return {"request": {"url": f"{stack.demo_target_url}{path}"}}


def test_a_schedule_is_created_read_edited_and_deleted(stack: StackState, tenant_api: httpx.Client) -> None:
    r = tenant_api.post("/v1/schedules", json={"cron": "30 2 * * *", "timezone": "America/New_York",
                                               "job": job(stack), "name": "nightly"})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["id"].startswith("sch_") and r.headers["location"] == f"/v1/schedules/{s['id']}"
    assert (s["cron"], s["timezone"], s["overlap"], s["paused"], s["name"]) == (
        "30 2 * * *", "America/New_York", "allow", False, "nightly")
    assert len(s["next_runs"]) == 5 and all(t.endswith("Z") for t in s["next_runs"])
    assert s["last_run_at"] is None and s["last_job_id"] is None
    assert tenant_api.get(f"/v1/schedules/{s['id']}").json()["next_runs"] == s["next_runs"]
    assert s["id"] in [x["id"] for x in tenant_api.get("/v1/schedules").json()["items"]]
    # Pause, resume and a new cron through PATCH
    paused = tenant_api.patch(f"/v1/schedules/{s['id']}", json={"paused": True}).json()
    assert paused["paused"] is True and paused["next_runs"] == []
    edited = tenant_api.patch(f"/v1/schedules/{s['id']}", json={"paused": False, "cron": "0 9 * * MON",
                                                                "timezone": "Europe/Berlin"}).json()
    first = datetime.fromisoformat(edited["next_runs"][0])
    assert edited["paused"] is False and first.weekday() == 0 and first.hour in (7, 8)  # 09:00 CET/CEST
    # Delete: 204, then 404 problem JSON
    assert tenant_api.delete(f"/v1/schedules/{s['id']}").status_code == 204
    gone = tenant_api.get(f"/v1/schedules/{s['id']}")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(("body", "fragment"), [
    ({"cron": "61 * * * *"}, "invalid cron"),
    ({"cron": "* * * *"}, "five fields"),
    ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"cron": "* * * * *", "job": {"request": {"url": "ftp://example.com/x"}}}, "http"),
    ({"cron": "* * * * *", "job": {"request": {"url": "https://example.com"}, "retry": {"max_attempts": 0}}}, ""),
    ({"cron": "* * * * *", "job": {"request": {"url": "https://example.com", "timeout_s": 901}}}, ""),
    ({"cron": "* * * * *", "surprise": 1}, ""),
])
def test_a_bad_cron_zone_or_job_spec_is_a_422_problem(stack: StackState, tenant_api: httpx.Client,
                                                      body: dict[str, object], fragment: str) -> None:
    r = tenant_api.post("/v1/schedules", json={"job": job(stack), **body})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert fragment in r.text
    assert tenant_api.patch("/v1/schedules/sch_missing", json={"cron": "61 * * * *"}).status_code in (404, 422)


def test_a_job_spec_with_parents_that_do_not_exist_is_refused_when_written(
        stack: StackState, tenant_api: httpx.Client, api: httpx.Client) -> None:
    # A parent that is none of this tenant's jobs (an unknown id, another tenant's job) is a 422 naming it, as
    # POST /v1/jobs answers; it was accepted, and then every fire was refused by the job service, in the log only.
    theirs = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"}}).json()["id"]
    for parent in ("job_nope", theirs):
        spec = {**job(stack), "depends_on": [parent]}
        r = tenant_api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": spec})
        assert r.status_code == 422, r.text
        assert [e["pointer"] for e in r.json()["errors"]] == ["/job/depends_on/0"] and parent in r.json()["detail"]
    s = tenant_api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": job(stack)}).json()
    r = tenant_api.patch(f"/v1/schedules/{s['id']}", json={"job": {**job(stack), "depends_on": ["job_nope"]}})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/job/depends_on/0", r.text
    # a parent of its own is taken
    mine = tenant_api.post("/v1/jobs", json=job(stack)).json()["id"]
    r = tenant_api.patch(f"/v1/schedules/{s['id']}", json={"job": {**job(stack), "depends_on": [mine]}})
    assert r.status_code == 200 and r.json()["job"]["depends_on"] == [mine], r.text


def test_another_tenants_schedule_is_a_404(stack: StackState, tenant_api: httpx.Client, api: httpx.Client) -> None:
    s = tenant_api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": job(stack)}).json()
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/trigger")):
        r = api.request(method, f"/v1/schedules/{s['id']}{path}", json={"paused": True} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
    assert s["id"] not in [x["id"] for x in api.get("/v1/schedules").json()["items"]]
    assert tenant_api.get(f"/v1/schedules/{s['id']}").json()["paused"] is False


def test_trigger_runs_the_job_once_now_and_becomes_the_last_run(stack: StackState, tenant_api: httpx.Client) -> None:
    s = tenant_api.post("/v1/schedules", json={"cron": "0 0 1 1 *", "job": job(stack)}).json()
    r = tenant_api.post(f"/v1/schedules/{s['id']}/trigger")
    assert r.status_code == 202, r.text
    j = r.json()
    assert j["labels"]["schedule_id"] == s["id"] and j["labels"]["scheduled_for"].endswith("Z")
    done = wait_for(lambda: tenant_api.get(f"/v1/jobs/{j['id']}").json(), lambda x: x["status"] == "completed", 60)
    assert done["status"] == "completed"
    after = tenant_api.get(f"/v1/schedules/{s['id']}").json()
    assert after["last_job_id"] == j["id"] and after["next_runs"] == s["next_runs"]


def test_credential_headers_are_never_returned_and_reach_the_target_when_it_runs(
        stack: StackState, tenant_api: httpx.Client) -> None:
    marker = uuid.uuid4().hex
    secrets = {"Authorization": f"Bearer tok-{marker}", "X-Api-Key": f"k-{marker}"}
    body = {"cron": "0 0 1 1 *", "job": {"request": {"url": f"{stack.demo_target_url}/status/200",
                                                     "headers": {**secrets, "X-Trace": "visible"}}}}
    # Given a schedule whose job carries credentials: every read shows them as the jobs API does
    created = tenant_api.post("/v1/schedules", json=body)
    assert created.status_code == 201, created.text
    s = created.json()
    assert s["job"]["request"]["headers"] == {**dict.fromkeys(secrets, "[redacted]"), "X-Trace": "visible"}
    reads = [created.text, tenant_api.get(f"/v1/schedules/{s['id']}").text, tenant_api.get("/v1/schedules").text,
             tenant_api.patch(f"/v1/schedules/{s['id']}", json={"name": "renamed"}).text]
    # And the stored item holds them sealed
    kw = {"endpoint_url": stack.aws_endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    item = boto3.client("dynamodb", **kw).get_item(TableName=stack.function_env["SCHEDULES_TABLE"],
                                                   Key={"pk": {"S": f"SCH#{s['id']}"}, "sk": {"S": "SCH"}})
    assert "sf1." in json.dumps(item["Item"])
    reads.append(json.dumps(item["Item"]))
    # When it runs (trigger), the target gets the credentials in plaintext
    j = tenant_api.post(f"/v1/schedules/{s['id']}/trigger").json()
    done = wait_for(lambda: tenant_api.get(f"/v1/jobs/{j['id']}").json(), lambda x: x["status"] == "completed", 60)
    assert done["status"] == "completed", done
    [call] = httpx.get(f"{stack.demo_target_url}/_calls", params={"key": j["id"]}).json()["calls"]
    assert {k: call["headers"][k.lower()] for k in secrets} == secrets
    reads += [json.dumps(j), json.dumps(done)]
    reads += [p.read_text(errors="replace") for p in (Path(stack.home) / "logs").glob("*.log")]
    for text in reads:
        assert marker not in text
    tenant_api.delete(f"/v1/schedules/{s['id']}")


def test_the_cli_creates_lists_pauses_resumes_triggers_and_deletes(stack: StackState) -> None:
    key = cli(stack, "keys", "create", "--tenant", f"schcli-{uuid.uuid4().hex[:6]}").stdout.strip()
    sid = cli(stack, "schedules", "create", "*/15 * * * *", f"{stack.demo_target_url}/status/200",
              "--tz", "Europe/Berlin", "--name", "quarterly", "-q", key=key).stdout.strip()
    assert sid.startswith("sch_")
    assert sid in cli(stack, "schedules", "list", key=key).stdout
    assert "paused" in cli(stack, "schedules", "pause", sid, key=key).stdout
    assert "next 20" in cli(stack, "schedules", "resume", sid, key=key).stdout
    assert '"cron": "*/15 * * * *"' in cli(stack, "schedules", "get", sid, key=key).stdout
    assert "job_" in cli(stack, "schedules", "trigger", sid, key=key).stdout
    assert "deleted" in cli(stack, "schedules", "delete", sid, key=key).stdout
    bad = cli(stack, "schedules", "create", "0 25 * * *", "https://example.com", key=key, check=False)
    assert bad.returncode == 1 and "422" in bad.stderr and "Traceback" not in bad.stderr


def test_the_local_cloud_fires_the_next_minute_once_within_seconds(stack: StackState,
                                                                   tenant_api: httpx.Client) -> None:
    # Given a `* * * * *` schedule (the one real-time case: the rest of the fire path runs on a set clock)
    s = tenant_api.post("/v1/schedules", json={"cron": "* * * * *", "job": job(stack)}).json()
    fire = datetime.fromisoformat(s["next_runs"][0])
    job_id = fire_job_id(s["id"], fire)
    # When its next minute comes, the stack's scheduler creates the fire time's job
    got = wait_for(lambda: tenant_api.get(f"/v1/jobs/{job_id}"), lambda r: r.status_code == 200, 75, every_s=0.25)
    assert got.status_code == 200, got.text
    fired = got.json()
    # Then it is labelled, was created within seconds of the fire time, and runs
    assert fired["labels"] == {"schedule_id": s["id"], "scheduled_for": fire.strftime("%Y-%m-%dT%H:%M:%SZ")}
    lag = (datetime.fromisoformat(fired["created_at"]) - fire).total_seconds()
    assert 0 <= lag < 5, lag
    done = wait_for(lambda: tenant_api.get(f"/v1/jobs/{job_id}").json(), lambda x: x["status"] == "completed", 60)
    assert done["status"] == "completed"
    after = tenant_api.get(f"/v1/schedules/{s['id']}").json()
    assert after["last_job_id"] == job_id and datetime.fromisoformat(after["next_runs"][0]) > fire
    tenant_api.delete(f"/v1/schedules/{s['id']}")
    assert datetime.now(UTC) > fire
