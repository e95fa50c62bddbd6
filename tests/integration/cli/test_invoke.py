"""`steadfast invoke poller` while the whole local stack runs (its own poller cycles every 2 s): it waits for
the running cycle's lease and polls (SPEC §1: "runs one poll now"), prints only the result (the function's
JSON logs go to .steadfast/logs/ unless --verbose), and a streaming app is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def steadfast(stack: StackState, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEADFAST_HOME": stack.home}
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_invoke_poller_polls_now_beside_the_running_stack_and_keeps_logs_out(stack: StackState) -> None:
    for _ in range(3):  # each run meets the stack's own cycles at another point of their 2 s rhythm
        out = steadfast(stack, "invoke", "poller")
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)  # nothing but the result: no JSON log line before or after it
        assert summary["cycles"] == 1 and out.stderr == ""
    log = Path(stack.home) / "logs" / "invoke-poller.log"
    assert '"poll done"' in log.read_text()
    verbose = steadfast(stack, "invoke", "poller", "--verbose")
    assert verbose.returncode == 0 and '"poll done"' in verbose.stdout


def test_invoke_refuses_a_streaming_app_in_one_line(stack: StackState) -> None:
    out = steadfast(stack, "invoke", "stream")
    assert out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "served over HTTP" in out.stderr


def test_invoke_with_an_event_file_that_is_missing_or_not_json_says_so_in_one_line(stack: StackState,
                                                                                   tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    for path, says in ((str(tmp_path / "absent.json"), "cannot read"), (str(bad), "is not JSON")):
        out = steadfast(stack, "invoke", "worker", "--event", path)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith("steadfast: ") and says in out.stderr, out.stderr


def test_invoke_worker_without_an_event_runs_it_once(stack: StackState) -> None:
    # The worker's synthetic event was `{"Records": []}`, which Powertools' batch processor refuses
    # (UnexpectedBatchTypeError): `steadfast invoke worker` always failed.
    # The stack is shared: a batch other tests left queued may be what it takes, and a job of it may fail.
    out = steadfast(stack, "invoke", "worker")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {"batchItemFailures"} and isinstance(answer["batchItemFailures"], list), answer
    assert "Traceback" not in out.stderr and "UnexpectedBatchTypeError" not in out.stderr, out.stderr


def test_invoke_once_takes_one_batch_and_deletes_what_did_not_fail(stack: StackState,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from local.sources import LaneSource, invoke_once
    from shared.topology import function

    for name, value in stack.function_env.items():
        monkeypatch.setenv(name, value)
    sqs = stack.aws_client("sqs")
    url = sqs.create_queue(QueueName=f"invoke-once-{os.urandom(4).hex()}")["QueueUrl"]
    lanes = [LaneSource("normal", url, 2)]
    seen: list[list[str]] = []

    def handler(event: dict[str, object], _context: object) -> dict[str, object]:
        records = event["Records"]
        assert isinstance(records, list)
        seen.append([r["body"] for r in records])
        return {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}

    assert invoke_once(function("worker"), handler, lanes) is None  # nothing waits: nothing is invoked
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    assert invoke_once(function("worker"), handler, lanes) is not None
    assert len(seen) == 1 and sorted(seen[0]) == ["m0", "m1", "m2"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # the failed one is back in the queue (in flight until its visibility ends), the two others deleted
    assert int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"]) == 1
    sqs.delete_queue(QueueUrl=url)


def test_invoke_ingest_without_an_event_sends_its_own_route_a_synthetic_request(stack: StackState) -> None:
    # Every HTTP function was given `GET /v1/health`: the ingest function read it as a POST for source ''
    # and answered 404 "no source ''" for the instance /v1/health, a path it does not serve.
    out = steadfast(stack, "invoke", "ingest")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    result = json.loads(out.stdout)
    problem = json.loads(result["body"])
    assert result["statusCode"] == 404 and result["headers"]["content-type"] == "application/problem+json"
    assert problem["instance"] == "/v1/ingest/src_synthetic" and problem["detail"] == "no source 'src_synthetic'"
    assert out.stderr.startswith("steadfast: ") and out.stderr.strip().count("\n") == 0
    assert "POST /v1/ingest/src_synthetic" in out.stderr and "--event" in out.stderr
    submit = steadfast(stack, "invoke", "submit")  # the API's own health route, as before
    assert submit.returncode == 0 and json.loads(json.loads(submit.stdout)["body"]) == {"status": "ok"}
