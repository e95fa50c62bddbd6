"""Dependencies and workflows through the public API on the local cloud: a diamond workflow calls its join
once, after both sides completed; a job naming an unknown parent, a cyclic or ill-referenced workflow are
422 problems naming what is wrong and create nothing; a dead parent's dependent ends cancelled uncalled;
jobs list by workflow; the CLI submits and reads a workflow file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.launch import ROOT
from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def calls(stack: StackState, job_id: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stack.demo_target_url}/_calls", params={"key": job_id}).json()["calls"])


def test_a_diamond_workflow_runs_its_join_after_both_sides(api: httpx.Client, stack: StackState) -> None:
    url = f"{stack.demo_target_url}/flaky?fail=0"
    r = api.post("/v1/workflows", json={"labels": {"run": "diamond"}, "jobs": [
        {"ref": "a", "request": {"url": url}},
        {"ref": "b", "request": {"url": url}, "depends_on": ["a"]},
        {"ref": "c", "request": {"url": f"{stack.demo_target_url}/flaky?fail=1"}, "depends_on": ["a"],
         "retry": {"base_delay_s": 0.2}},
        {"ref": "d", "request": {"url": url}, "depends_on": ["b", "c"]}]})
    assert r.status_code == 202, r.text
    wf = r.json()
    assert wf["id"].startswith("wf_") and r.headers["location"] == f"/v1/workflows/{wf['id']}"
    ids = {j["ref"]: j["job"]["id"] for j in wf["jobs"]}
    done = wait_for(lambda: api.get(f"/v1/workflows/{wf['id']}").json(), lambda w: w["status"] != "running", 90)
    assert done["status"] == "completed", done
    jobs = {j["ref"]: j["job"] for j in done["jobs"]}
    assert all(j["workflow_id"] == wf["id"] for j in jobs.values())
    d_calls = calls(stack, ids["d"])
    assert len(d_calls) == 1
    for side in ("b", "c"):
        assert datetime.fromisoformat(jobs[side]["updated_at"]) <= datetime.fromisoformat(
            api.get(f"/v1/jobs/{ids['d']}/attempts").json()["items"][0]["started_at"])
    listed = api.get("/v1/jobs", params={"workflow_id": wf["id"]}).json()["items"]
    assert {j["id"] for j in listed} == set(ids.values())


def test_a_dead_parent_cancels_its_dependent_uncalled(api: httpx.Client, stack: StackState) -> None:
    parent = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/500"},
                                        "retry": {"max_attempts": 2, "base_delay_s": 0.1}}).json()
    r = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/flaky?fail=0"},
                                   "depends_on": [parent["id"]]})
    # waiting, or already cancelled if the parent died before this submit (a loaded machine is slow to tell)
    assert r.status_code == 202 and r.json()["status"] in ("waiting", "cancelled")
    assert r.json()["depends_on"] == [parent["id"]]
    kid = wait_for(lambda: api.get(f"/v1/jobs/{r.json()['id']}").json(), lambda j: j["status"] == "cancelled", 60)
    assert kid["last_error"] == f"dependency {parent['id']} ended dead"
    assert calls(stack, kid["id"]) == []


@pytest.mark.parametrize(("body", "named"), [
    ({"jobs": [{"ref": "x", "request": {"url": "https://example.com"}, "depends_on": ["y"]},
               {"ref": "y", "request": {"url": "https://example.com"}, "depends_on": ["x"]}]}, "x -> y -> x"),
    ({"jobs": [{"ref": "x", "request": {"url": "https://example.com"}, "depends_on": ["nope"]}]}, "nope"),
    ({"jobs": [{"ref": "x", "request": {"url": "https://example.com"}},
               {"ref": "x", "request": {"url": "https://example.com"}}]}, "duplicate refs: x"),
])
def test_bad_workflows_are_problems_naming_the_refs(api: httpx.Client, body: dict[str, Any], named: str) -> None:
    r = api.post("/v1/workflows", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert named in r.json()["detail"]


def test_unknown_parents_and_workflows_are_refused(api: httpx.Client) -> None:
    r = api.post("/v1/jobs", json={"request": {"url": "https://example.com"}, "depends_on": ["job_unknown1"]})
    assert r.status_code == 422 and "job_unknown1" in r.json()["detail"]
    assert r.json()["errors"] == [{"pointer": "/depends_on/0", "detail": "no job job_unknown1"}]
    assert api.get("/v1/workflows/wf_nope").status_code == 404
    assert api.post("/v1/workflows", json={"jobs": []}).status_code == 422
    assert api.get("/v1/jobs", params={"workflow_id": "a", "schedule_id": "b"}).status_code == 400


def test_the_cli_submits_and_reads_a_workflow(stack: StackState, tmp_path: Path) -> None:
    env = {**os.environ, "STEADFAST_API_URL": stack.api_url, "STEADFAST_API_KEY": stack.dev_api_key}
    cli = [sys.executable, "-m", "local.cli"]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"jobs": [{"ref": "one", "request": {"url": f"{stack.demo_target_url}/flaky"}},
                                         {"ref": "two", "request": {"url": f"{stack.demo_target_url}/flaky"},
                                          "depends_on": ["one"]}]}))
    out = subprocess.run([*cli, "workflows", "submit", str(path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wf_id = out.stdout.split()[0]
    assert wf_id.startswith("wf_") and "two" in out.stdout
    got = subprocess.run([*cli, "workflows", "get", wf_id], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0 and wf_id in got.stdout
    path.write_text(json.dumps({"jobs": [{"ref": "a", "request": {"url": "https://example.com"},
                                          "depends_on": ["a"]}]}))
    bad = subprocess.run([*cli, "workflows", "submit", str(path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "a -> a" in bad.stderr and "Traceback" not in bad.stderr
