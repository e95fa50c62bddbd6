"""Ordering keys through the public API on the local cloud (moto server, Redis, the deployed handlers in their
own processes) with a real loopback target: a key whose second job fails twice (503) is called
1,2,2,2,3,4,5 and never 3 before 2 has ended; two keys are called side by side; the key lists its jobs; the
CLI submits with --ordering-key; a bad key is a 422 problem."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.harness import serve
from local.launch import ROOT
from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
TERMINAL = {"completed", "failed", "dead", "cancelled"}


@dataclass
class Ordered:
    """Records each call (key, n, start, end); answers 503 to the first `fails` calls of (key, n) in `flaky`."""

    flaky: dict[tuple[str, int], int] = field(default_factory=dict)
    calls: list[tuple[str, int, float, float]] = field(default_factory=list)

    async def call(self, request: Request) -> Response:
        body = json.loads(await request.body())
        key, n, started = body["key"], int(body["n"]), time.time()
        await asyncio.sleep(0.15)
        self.calls.append((key, n, started, time.time()))
        if self.flaky.get((key, n), 0) > 0:
            self.flaky[(key, n)] -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"ok": True})

    def sequence(self, key: str) -> list[int]:
        return [n for k, n, _, _ in sorted(self.calls, key=lambda c: c[2]) if k == key]


@pytest.fixture
def target() -> Iterator[tuple[Ordered, str]]:
    ordered = Ordered()
    with serve(Starlette(routes=[Route("/call", ordered.call, methods=["POST"])])) as url:
        yield ordered, url


def submit(api: httpx.Client, url: str, key: str, n: int) -> dict[str, Any]:
    r = api.post("/v1/jobs", json={
        "request": {"url": f"{url}/call", "body": json.dumps({"key": key, "n": n}),
                    "headers": {"content-type": "application/json"}},
        "retry": {"base_delay_s": 0.2, "max_delay_s": 1, "jitter": "none"}, "ordering_key": key})
    assert r.status_code == 202, r.text
    return dict(r.json())


def ended(api: httpx.Client, ids: list[str], timeout_s: float = 120) -> list[dict[str, Any]]:
    return list(wait_for(lambda: [api.get(f"/v1/jobs/{i}").json() for i in ids],
                         lambda jobs: all(j["status"] in TERMINAL for j in jobs), timeout_s))


def test_a_retrying_head_blocks_its_key_and_two_keys_interleave(
        api: httpx.Client, target: tuple[Ordered, str]) -> None:
    ordered, url = target
    a_key, b_key = f"a-{time.time_ns()}", f"b-{time.time_ns()}"
    ordered.flaky[(a_key, 2)] = 2
    jobs: dict[str, list[dict[str, Any]]] = {a_key: [], b_key: []}
    for n in range(1, 6):
        for key in (a_key, b_key):
            jobs[key].append(submit(api, url, key, n))
    assert [j["status"] for j in jobs[a_key]][1:] == ["waiting"] * 4
    assert all(j["ordering_key"] == a_key for j in jobs[a_key])
    final = {key: ended(api, [j["id"] for j in js]) for key, js in jobs.items()}
    assert all(j["status"] == "completed" for js in final.values() for j in js), final
    assert ordered.sequence(a_key) == [1, 2, 2, 2, 3, 4, 5]
    assert ordered.sequence(b_key) == [1, 2, 3, 4, 5]
    for key, js in final.items():  # each job's first call began after the one before it had ended
        for before, after in itertools.pairwise(js):
            first = api.get(f"/v1/jobs/{after['id']}/attempts").json()["items"][0]
            assert datetime.fromisoformat(before["updated_at"]) <= datetime.fromisoformat(first["started_at"])
        calls = sorted((c for c in ordered.calls if c[0] == key), key=lambda c: c[2])
        assert all(earlier[3] <= later[2] for earlier, later in itertools.pairwise(calls))  # one at a time
    a_calls = [c for c in ordered.calls if c[0] == a_key]
    b_calls = [c for c in ordered.calls if c[0] == b_key]
    # in parallel: each key was called while the other was still under way
    assert min(c[2] for c in b_calls) < max(c[2] for c in a_calls)
    assert min(c[2] for c in a_calls) < max(c[2] for c in b_calls)
    listed = api.get("/v1/jobs", params={"ordering_key": a_key}).json()["items"]
    assert [j["id"] for j in listed] == [j["id"] for j in reversed(jobs[a_key])]


def test_the_cli_submits_with_an_ordering_key(api: httpx.Client, stack: StackState) -> None:
    key = f"cli-{time.time_ns()}"
    env = {**os.environ, "STEADFAST_API_URL": stack.api_url, "STEADFAST_API_KEY": stack.dev_api_key}
    out = [subprocess.run([sys.executable, "-m", "local.cli", "jobs", "submit", f"{stack.demo_target_url}/flaky",
                           "--ordering-key", key, "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60) for _ in range(2)]
    assert all(o.returncode == 0 for o in out), [o.stderr for o in out]
    ids = [o.stdout.strip() for o in out]
    jobs = ended(api, ids)
    assert [j["ordering_key"] for j in jobs] == [key, key] and {j["status"] for j in jobs} == {"completed"}


@pytest.mark.parametrize("key", ["x" * 129, "with space", ""])
def test_a_bad_ordering_key_is_a_problem(api: httpx.Client, key: str) -> None:
    r = api.post("/v1/jobs", json={"request": {"url": "https://example.com"}, "ordering_key": key})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "ordering_key" in json.dumps(r.json()["errors"])
    assert api.get("/v1/jobs", params={"ordering_key": "k", "workflow_id": "wf_x"}).status_code == 400
