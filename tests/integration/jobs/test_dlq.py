"""Dead letters through the CLI a user would type: `steadfast dlq list` shows them, `steadfast dlq redrive`
sends them back spread at random over the window (never one burst), and each runs again with fresh
attempts. A redirect is never followed: the job fails without a second request."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime

import httpx
import pytest

from local.launch import ROOT
from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def cli(stack: StackState, *args: str, key: str | None = None) -> str:
    env = {**os.environ, "STEADFAST_HOME": stack.home, **({"STEADFAST_API_KEY": key} if key else {})}
    out = subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout


def test_dead_letters_are_listed_and_redriven_over_the_window(stack: StackState) -> None:
    key = cli(stack, "keys", "create", "--tenant", f"dlq-{uuid.uuid4().hex[:6]}").strip()
    with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}, timeout=30) as api:
        ids = [api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/500"},
                                          "retry": {"max_attempts": 1}}).json()["id"] for _ in range(8)]

        def dead() -> set[str]:
            return {j["id"] for j in api.get("/v1/jobs", params={"status": "dead", "limit": 50}).json()["items"]}

        assert wait_for(dead, lambda d: d == set(ids), 60) == set(ids)
        listed = cli(stack, "dlq", "list", key=key)
        assert all(i in listed for i in ids) and "HTTP 500" in listed

        assert cli(stack, "dlq", "redrive", "--window", "8", key=key).startswith("redriven: 8")
        again = wait_for(lambda: [api.get(f"/v1/jobs/{i}").json() for i in ids],
                         lambda js: all(j["status"] == "dead" and j["attempts"] == 2 for j in js), 60)
        assert [(j["status"], j["attempts"]) for j in again] == [("dead", 2)] * 8
        # The second attempts started at random moments over the window, not in one burst.
        starts = [datetime.fromisoformat(api.get(f"/v1/jobs/{i}/attempts").json()["items"][1]["started_at"])
                  for i in ids]
        spread = (max(starts) - min(starts)).total_seconds()
        assert 1.0 < spread <= 8.0 + 5.0, starts
        assert "the dead-letter queue is empty" not in cli(stack, "dlq", "list", key=key)


def test_a_redirect_is_not_followed(api: httpx.Client, stack: StackState) -> None:
    job = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/302"}}).json()
    done = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(), lambda j: j["status"] == "failed", 60)
    assert done["status"] == "failed" and done["attempts"] == 1
    assert "redirect not followed" in done["last_error"]
