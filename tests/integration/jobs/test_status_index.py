"""The status index (issue 15): a job's entry sits in its tenant's live partition from submit until it ends,
so a claim, a retry or a deferral moves no index entry; it moves once, to its terminal status. A list of one
live status reads the live partition and keeps that status, reading on when a page holds too few of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.jobs.models import Status, utcnow
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = pytest.mark.integration
URL = "https://target.test/ok"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def index_key(w: World, job_id: str) -> tuple[str, str]:
    item = w.store.db.get_item(TableName=w.store.table, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
                               ConsistentRead=True)["Item"]
    return item["tenant_status_pk"]["S"], item["updated_sk"]["S"]


def ids(records: list[object]) -> list[str]:
    return [r.id for r in records]  # type: ignore[attr-defined]


def test_a_claim_and_a_retry_move_no_status_entry_and_the_end_moves_it_once(w: World) -> None:
    job = w.submit(URL)
    submitted = index_key(w, job.id)
    assert submitted[0] == f"T#{TENANT}#live"
    now = utcnow()
    claimed = w.store.claim(job.id, TENANT, now, timedelta(seconds=30), "w1")
    assert claimed is not None and index_key(w, job.id) == submitted
    retrying = claimed.attempted(now, 0, "HTTP 503", None)
    assert w.store.defer(retrying, "w1") and index_key(w, job.id) == submitted
    again = w.store.claim(job.id, TENANT, now + timedelta(seconds=1), timedelta(seconds=30), "w2")
    assert again is not None
    done = again.finished(Status.completed, now + timedelta(seconds=2), None, None)
    w.store.transition(done, {Status.running}, what="finish")
    assert index_key(w, job.id)[0] == f"T#{TENANT}#completed"
    assert ids(w.store.page(TENANT, Status.completed, 10, None)[0]) == [job.id]


def test_a_live_status_page_reads_past_jobs_of_other_live_statuses(w: World) -> None:
    running = w.submit(URL)
    assert w.store.claim(running.id, TENANT, utcnow(), timedelta(seconds=30), "w1") is not None
    pending = [w.submit(URL) for _ in range(4)]  # newer: the first index page holds only these
    page, cursor = w.store.page(TENANT, Status.running, 2, None)
    assert ids(page) == [running.id] and cursor is None
    # Pages of pending jobs, newest submit first, two at a time, without a job twice or missed
    first, cursor = w.store.page(TENANT, Status.pending, 2, None)
    assert cursor is not None
    second, cursor = w.store.page(TENANT, Status.pending, 2, cursor)
    rest: list[object] = []
    if cursor is not None:
        rest, cursor = w.store.page(TENANT, Status.pending, 2, cursor)
    assert ids(first) + ids(second) + ids(rest) == [j.id for j in reversed(pending)] and cursor is None
