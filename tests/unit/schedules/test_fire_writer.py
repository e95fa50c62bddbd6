"""The fire writer against a scripted DynamoDB client: how fires are cut into transactions (100 actions at
most), and what a cancelled transaction's reasons do to each fire (dropped, retried as the move alone, sent
again, retried after a conflict, given up on), and that a failed batch does not hide the others'."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.errors import Unavailable
from shared.jobs.models import JobSpec
from shared.jobs.record import JobRecord
from shared.schedules import fires as fires_module
from shared.schedules.fires import Fire, FireWriter
from shared.schedules.record import ScheduleRecord, fire_job_id

AT = datetime(2027, 6, 1, 12, 1, tzinfo=UTC)
SPEC = JobSpec.model_validate({"request": {"url": "https://example.com/hook"}})


def fire(i: int, job: bool = True) -> Fire:
    s = ScheduleRecord(id=f"sch_{i:04d}", tenant="t", cron="* * * * *", timezone="UTC", job=SPEC,
                       created_at=AT, updated_at=AT, next_fire_at=AT)
    j = JobRecord.submitted(fire_job_id(s.id, AT), "t", SPEC, AT) if job else None
    return Fire(s, AT, AT + timedelta(minutes=1), j)


def cancelled(*codes: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")


class Script:
    """A DynamoDB client whose TransactWriteItems answers from a function of the call's actions."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(TransactItems)
            n = len(self.calls)
        error = self.answer(TransactItems, n)
        if error is not None:
            raise error
        return {}


def writer(db: Script, sleeps: list[float] | None = None) -> FireWriter:
    return FireWriter(db, "schedules", "jobs", sleep=(sleeps if sleeps is not None else []).append)  # type: ignore[arg-type]


def ids(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(kind, (op.get("Item") or op["Key"])["pk"]["S"]) for a in items for kind, op in a.items()]


def test_fires_go_fifty_to_a_transaction_and_a_skip_is_one_action() -> None:
    db = Script(lambda items, n: None)
    won = writer(db).write([fire(i) for i in range(120)] + [fire(1000 + i, job=False) for i in range(30)])
    assert len(won) == 150
    assert sorted(len(c) for c in db.calls) == sorted([100, 100, 70])  # 50 + 50 + (20 fires + 30 skips)


def test_a_cancelled_transaction_drops_the_lost_fire_moves_the_existing_job_and_resends_the_rest() -> None:
    # A's move failed (another writer fired it), only B's put failed (its job exists), C was a bystander
    def answer(items: list[dict[str, Any]], n: int) -> ClientError | None:
        return cancelled("None", "ConditionalCheckFailed", "ConditionalCheckFailed", "None", "None", "None") \
            if n == 1 else None

    db = Script(answer)
    a, b, c = fire(1), fire(2), fire(3)
    won = writer(db).write([a, b, c])
    assert ids(db.calls[1]) == [("Update", "SCH#sch_0002"), ("Put", f"JOB#{c.job.id}"),  # type: ignore[union-attr]
                                ("Update", "SCH#sch_0003")]
    by_id = {f.schedule.id: f for f in won}
    assert set(by_id) == {"sch_0002", "sch_0003"}
    assert by_id["sch_0002"].existed and by_id["sch_0002"].job is None
    assert by_id["sch_0003"].job == c.job and not by_id["sch_0003"].existed
    # the move alone still names the existing job as the schedule's last run
    assert db.calls[1][0]["Update"]["ExpressionAttributeValues"][":job"] == {"S": b.job.id}  # type: ignore[union-attr]


def test_a_conflict_is_retried_with_backoff_and_then_written() -> None:
    db = Script(lambda items, n: cancelled("TransactionConflict", "None") if n == 1 else None)
    sleeps: list[float] = []
    assert len(writer(db, sleeps).write([fire(1)])) == 1
    assert len(db.calls) == 2 and len(sleeps) == 1


def test_cancellations_without_progress_end_after_the_retries_and_leave_the_fires_due() -> None:
    db = Script(lambda items, n: cancelled("None", "None"))
    sleeps: list[float] = []
    assert writer(db, sleeps).write([fire(1)]) == []
    assert len(db.calls) == fires_module.RETRIES + 1 and len(sleeps) == fires_module.RETRIES


def test_a_refused_fire_is_dropped_and_the_others_written() -> None:
    db = Script(lambda items, n: cancelled("ValidationError", "None", "None", "None") if n == 1 else None)
    won = writer(db).write([fire(1), fire(2)])
    assert [f.schedule.id for f in won] == ["sch_0002"]


def test_a_failed_batch_does_not_hide_the_written_ones_but_all_failing_raises() -> None:
    def answer(items: list[dict[str, Any]], n: int) -> ClientError | None:
        first = items[0]["Put"]["Item"]["pk"]["S"]
        return ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "TransactWriteItems") \
            if first == f"JOB#{fire(0).job.id}" else None  # type: ignore[union-attr]

    won = writer(Script(answer)).write([fire(i) for i in range(100)])
    assert len(won) == 50 and all(int(f.schedule.id[4:]) >= 50 for f in won)
    failing = Script(lambda items, n: ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}},
                                                  "TransactWriteItems"))
    with pytest.raises(Unavailable):
        writer(failing).write([fire(i) for i in range(100)])
