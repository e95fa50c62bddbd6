"""SQS limits on the stack (moto refuses what AWS refuses): a Retry-After of a day never makes the worker ask
SQS for a visibility beyond 12 h from receipt (the message is acknowledged and the sweeper takes the long
wait over), and a redrive deletes the DLQ messages of the jobs it sends back, so the DLQ (and its alarm)
holds only what is still dead."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from local.stack import StackState
from shared.jobs.queue import JobMessage
from tests.conftest import wait_for
from tests.integration.jobs.test_dlq import cli

pytestmark = pytest.mark.integration


def sqs(stack: StackState) -> object:
    return stack.aws_client("sqs")


def test_a_retry_after_of_a_day_goes_to_the_sweeper_not_to_sqs(stack: StackState, api: httpx.Client) -> None:
    # Given a target that answers 429 with Retry-After: one day
    r = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/retry-after?s=86400&fail=5"},
                                   "retry": {"max_delay_s": 7 * 24 * 3600}})
    job_id = r.json()["id"]
    job = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] == "retrying", 60)
    # Then the job waits a day, in the store
    assert job["status"] == "retrying" and job["attempts"] == 1
    due = datetime.fromisoformat(job["next_attempt_at"].replace("Z", "+00:00"))
    assert due - datetime.now(UTC) > timedelta(hours=23)
    # And the worker handed the wait to the sweeper instead of asking SQS (which refuses > 12 h)
    log = Path(stack.home, "logs", "worker.log")
    lines = wait_for(lambda: [ln for ln in log.read_text().splitlines() if job_id in ln],
                     lambda ls: any("sweeper enqueues the job" in ln for ln in ls), 30)
    assert any("sweeper enqueues the job" in ln for ln in lines), lines
    assert not any("refused the visibility" in ln or "InvalidParameterValue" in ln for ln in lines)


def test_a_redrive_drains_the_dlq_messages_it_redrives(stack: StackState) -> None:
    key = cli(stack, "keys", "create", "--tenant", f"drain-{uuid.uuid4().hex[:6]}").strip()
    client = sqs(stack)
    dlq = stack.function_env["JOBS_DLQ_URL"]
    with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {key}"}, timeout=30) as api:
        ids = [api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/500"},
                                          "retry": {"max_attempts": 1}}).json()["id"] for _ in range(3)]
        wait_for(lambda: [api.get(f"/v1/jobs/{i}").json()["status"] for i in ids], lambda s: s == ["dead"] * 3, 60)

        def in_dlq() -> set[str]:
            seen: set[str] = set()
            for _ in range(30):
                got = client.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=1,  # type: ignore[attr-defined]
                                             WaitTimeSeconds=0).get("Messages", [])
                if not got:
                    break
                seen |= {job_id for m in got if (job_id := _job_id(m["Body"]))}
            return seen & set(ids)

        assert wait_for(in_dlq, lambda s: s == set(ids), 30) == set(ids)
        time.sleep(1.5)  # what in_dlq() received is visible again
        # When they are redriven through the API (spread over two minutes: they are not dead again soon)
        assert api.post("/v1/dlq/redrive", json={"window_s": 120}).json() == {"redriven": 3}
        # Then their DLQ messages are gone (until they die again, which their target makes them do)
        remaining = in_dlq()
        statuses = [api.get(f"/v1/jobs/{i}").json()["status"] for i in ids]
        assert remaining <= {i for i, s in zip(ids, statuses, strict=True) if s == "dead"}, (remaining, statuses)


def _job_id(body: str) -> str | None:
    """The job of a DLQ message; None for the unreadable bodies that other tests quarantine there."""
    try:
        return JobMessage.model_validate_json(body).job_id
    except ValueError:
        return None
