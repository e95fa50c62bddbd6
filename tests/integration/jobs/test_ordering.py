"""Ordering keys, in process (moto's mock_aws, real Redis, the engine pumped message by message): one key's
jobs run one at a time in accepted order and only its head is ever queued; a retrying head blocks its key;
two keys run side by side; a cancelled waiting job never blocks its key; a job with parents and a key waits
for both; a worker that dies between the terminal write and the release is healed by the sweeper; the key
lists its jobs newest first; batches and workflows place their jobs in keys too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.errors import Unavailable
from shared.jobs.batch import BatchRequest, BatchService
from shared.jobs.callbacks import Callbacks
from shared.jobs.continuations import Continuations, Followup
from shared.jobs.dependents import Dependents
from shared.jobs.engine import Worker
from shared.jobs.models import Job, JobSpec, Status, utcnow
from shared.jobs.ordering import KeyState, OrderingKeys, Sequences
from shared.jobs.record import HELD_BY_KEY, JobRecord
from shared.jobs.sweeper import Sweeper
from shared.jobs.workflows import WorkflowService, WorkflowSpec
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"
FAST = {"retry": {"base_delay_s": 0, "max_attempts": 5}}


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def keyed(w: World, path: str, key: str = "order-1", **spec: Any) -> JobRecord:
    return w.submit(f"{URL}{path}", ordering_key=key, **{**FAST, **spec})


def record(w: World, job: JobRecord | Job) -> JobRecord:
    r = w.store.get_record(job.id)
    assert r is not None
    return r


async def drain(w: World, worker: Worker | None = None, rounds: int = 30) -> None:
    worker = worker or w.worker()
    for _ in range(rounds):
        if not await w.pump(worker):
            return


def fails_first(n: int, path: str) -> Any:
    """A target that answers 503 to the first `n` calls of `path`, 200 to everything else."""
    seen = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == path and seen["n"] < n:
            seen["n"] += 1
            return httpx.Response(503, json={"error": "busy"})
        return httpx.Response(200, json={"ok": True})
    return answer


async def test_a_key_runs_in_accepted_order_and_a_retrying_head_blocks_it(w: World) -> None:
    w.target.answer = fails_first(2, "/2")
    jobs = [keyed(w, f"/{i}") for i in range(1, 6)]
    assert [j.status for j in jobs] == [Status.pending] + [Status.waiting] * 4
    assert [j.ordering_seq for j in jobs] == [1, 2, 3, 4, 5]
    assert w.queued_job_ids() == [jobs[0].id]  # only the head is queued
    await drain(w)
    assert [c.url.path for c in w.target.calls] == ["/1", "/2", "/2", "/2", "/3", "/4", "/5"]
    ended = [record(w, j) for j in jobs]
    assert {r.status for r in ended} == {Status.completed} and ended[1].attempts == 3
    starts = [w.store.attempts(TENANT, j.id)[0].started_at for j in jobs]
    assert all(ended[i].updated_at <= starts[i + 1] for i in range(4))  # each began after the one before ended


async def test_two_keys_run_side_by_side(w: World) -> None:
    a1, b1 = keyed(w, "/a1", "a"), keyed(w, "/b1", "b")
    a2, b2 = keyed(w, "/a2", "a"), keyed(w, "/b2", "b")
    assert sorted(w.queued_job_ids()) == sorted([a1.id, b1.id])
    await w.pump(w.worker())
    assert sorted(w.queued_job_ids()) == sorted([a2.id, b2.id])  # both released by their own head
    await drain(w)
    assert {record(w, j).status for j in (a1, a2, b1, b2)} == {Status.completed}


async def test_any_terminal_status_releases_the_next(w: World) -> None:
    first = keyed(w, "/status/410")
    second = keyed(w, "/ok")
    await drain(w)
    assert (record(w, first).status, record(w, second).status) == (Status.failed, Status.completed)


async def test_a_cancelled_waiting_job_never_blocks_its_key(w: World) -> None:
    head, middle, last = keyed(w, "/head", delay_s=600), keyed(w, "/middle"), keyed(w, "/last")
    w.service.cancel(TENANT, middle.id)
    assert record(w, last).status is Status.waiting  # still behind the head
    w.service.cancel(TENANT, head.id)  # the head ends: the key skips the cancelled one
    assert record(w, last).status is Status.pending and w.queued_job_ids() == [last.id]
    assert Sequences(w.store).state(TENANT, "order-1") == KeyState(seq=3, done=2)
    await drain(w)
    assert [c.url.path for c in w.target.calls] == ["/last"]
    assert Sequences(w.store).state(TENANT, "order-1") == KeyState(seq=3, done=3)


async def test_a_job_with_parents_and_a_key_waits_for_both(w: World) -> None:
    parent = w.submit(f"{URL}/parent", delay_s=600)
    head = keyed(w, "/head")
    both = keyed(w, "/both", depends_on=[parent.id])
    assert record(w, both).waiting_on == {parent.id, HELD_BY_KEY}
    await drain(w)  # the head completes: the key no longer holds it, its parent still does
    held = record(w, both)
    assert (record(w, head).status, held.status) == (Status.completed, Status.waiting)
    assert held.waiting_on == {parent.id}
    w.service.cancel(TENANT, parent.id)  # default on_dependency_failure: cancelled with its parent
    assert record(w, both).status is Status.cancelled
    after = keyed(w, "/after")
    assert after.status is Status.pending  # the key is idle again


async def test_a_head_waiting_on_its_parent_holds_its_key(w: World) -> None:
    parent = w.submit(f"{URL}/parent")
    head = keyed(w, "/head", depends_on=[parent.id])
    nxt = keyed(w, "/next")
    assert record(w, head).waiting_on == {parent.id} and record(w, nxt).waiting_on == {HELD_BY_KEY}
    assert w.queued_job_ids() == [parent.id]
    await drain(w)
    assert [c.url.path for c in w.target.calls] == ["/parent", "/head", "/next"]


class DiesOnce(OrderingKeys):
    """The worker dies after the terminal write, before the key's release is paid."""

    def __init__(self) -> None:
        self.died = False

    def work(self, followup: Followup, ctx: Continuations) -> None:
        if not self.died:
            self.died = True
            raise Unavailable("the worker died here")
        super().work(followup, ctx)


async def test_a_worker_dying_before_the_release_is_healed_by_the_sweeper(w: World) -> None:
    first, second = keyed(w, "/first"), keyed(w, "/second")
    dying = Worker(w.store, w.queue, w.tenants, continuations=[Callbacks(), Dependents(), DiesOnce()])
    await w.pump(dying)
    assert record(w, first).status is Status.completed and record(w, second).status is Status.waiting
    assert w.queued_job_ids() == []
    sweeper = Sweeper(w.store, w.queue)
    assert sweeper.sweep(utcnow())["followups"] == 0  # within the grace
    assert sweeper.sweep(utcnow() + timedelta(minutes=2))["followups"] == 1
    # queued by the release (and once more by this sweep, whose clock runs 2 minutes ahead: overdue)
    assert record(w, second).status is Status.pending and set(w.queued_job_ids()) == {second.id}
    assert sweeper.sweep(utcnow() + timedelta(minutes=3))["followups"] == 0
    await drain(w)
    assert [c.url.path for c in w.target.calls] == ["/first", "/second"]


def test_a_release_paid_twice_changes_nothing_twice(w: World) -> None:
    first, second, third = keyed(w, "/1", delay_s=600), keyed(w, "/2"), keyed(w, "/3")
    w.service.cancel(TENANT, first.id)
    sequences = Sequences(w.store)
    assert sequences.advance(TENANT, "order-1", utcnow()) is None  # second is released already
    assert record(w, second).status is Status.pending and record(w, third).status is Status.waiting
    assert sequences.state(TENANT, "order-1") == KeyState(seq=3, done=1)


def test_the_key_lists_its_jobs_newest_first(w: World) -> None:
    jobs = [keyed(w, f"/{i}") for i in range(5)]
    keyed(w, "/other", "other")
    sequences = Sequences(w.store)
    page, cursor = sequences.page(TENANT, "order-1", None, 3, None)
    assert [r.id for r in page] == [j.id for j in jobs[::-1][:3]] and cursor
    rest, end = sequences.page(TENANT, "order-1", None, 3, cursor)
    assert [r.id for r in rest] == [jobs[1].id, jobs[0].id] and end is None
    waiting, _ = sequences.page(TENANT, "order-1", Status.pending, 10, None)
    assert [r.id for r in waiting] == [jobs[0].id]
    assert sequences.page("someone-else", "order-1", None, 10, None) == ([], None)


def test_a_job_cancelled_at_submit_takes_its_place_ended(w: World) -> None:
    parent = w.submit(f"{URL}/p", delay_s=600)
    w.service.cancel(TENANT, parent.id)
    gone = keyed(w, "/gone", depends_on=[parent.id])
    assert gone.status is Status.cancelled and gone.ordering_seq == 1
    assert keyed(w, "/next").status is Status.pending  # the ended head was passed at once


async def test_batch_items_and_workflows_take_places_in_their_keys(w: World) -> None:
    head = keyed(w, "/head", delay_s=600)
    batch = BatchService(w.service).submit(TENANT, BatchRequest(jobs=[
        {"request": {"url": f"{URL}/b1"}, "ordering_key": "order-1"}, {"request": {"url": f"{URL}/plain"}}]))
    assert [i.job.status for i in batch.items if i.job] == [Status.waiting, Status.pending]
    wf = WorkflowService(w.service.terminals, allow_private_targets=True).submit(TENANT, WorkflowSpec.model_validate(
        {"jobs": [{"ref": "y", "request": {"url": f"{URL}/y"}, "depends_on": ["x"], "ordering_key": "order-1"},
                  {"ref": "x", "request": {"url": f"{URL}/x"}, "ordering_key": "order-1"}]}))
    seqs = {j.ref: record(w, j.job).ordering_seq for j in wf.jobs}
    assert seqs == {"x": 3, "y": 4}  # in the graph's order, behind the batch's item
    w.service.cancel(TENANT, head.id)
    await drain(w)
    paths = [c.url.path for c in w.target.calls]
    assert sorted(paths) == ["/b1", "/plain", "/x", "/y"] and [p for p in paths if p != "/plain"] == ["/b1", "/x", "/y"]


def test_a_bad_ordering_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ordering_key"):
        JobSpec.model_validate({"request": {"url": f"{URL}/x"}, "ordering_key": "x" * 129})
    with pytest.raises(ValueError, match="ordering_key"):
        JobSpec.model_validate({"request": {"url": f"{URL}/x"}, "ordering_key": "has space"})
