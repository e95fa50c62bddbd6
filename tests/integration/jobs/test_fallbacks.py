"""Fallback targets: when a target's attempts are exhausted the next one is tried with fresh attempts (a
primary provider, then a second, then a third), and the job records which target finally answered."""

from __future__ import annotations

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_the_third_target_answers_after_two_are_exhausted(api: httpx.Client, stack: StackState) -> None:
    t = stack.demo_target_url
    r = api.post("/v1/jobs", json={
        "request": {"url": f"{t}/status/503"},
        "retry": {"max_attempts": 2, "base_delay_s": 0.1, "max_delay_s": 0.5},
        "fallbacks": [{"url": f"{t}/status/500"}, {"url": f"{t}/slow?ms=5"}],
    })
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    done = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(),
                    lambda j: j["status"] in {"completed", "failed", "dead"}, 90)
    assert (done["status"], done["target_index"], done["attempts"]) == ("completed", 2, 5)
    history = api.get(f"/v1/jobs/{job_id}/attempts").json()["items"]
    assert [(a["target_index"], a["outcome"]) for a in history] == [
        (0, "retryable"), (0, "retryable"), (1, "retryable"), (1, "retryable"), (2, "success")]
    assert done["result"]["status_code"] == 200
