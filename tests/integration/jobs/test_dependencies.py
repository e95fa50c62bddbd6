"""Jobs that depend on jobs, in process (moto's mock_aws, real Redis, the engine pumped message by message):
a diamond runs its join once after both sides, a child is queued the moment its last parent completes,
a failed parent cancels its subtree transitively (nothing in it called) unless it said "run", unknown
parents are refused, 50 parents fit DynamoDB's transaction limit, 120 children of one parent are all
released once even when the worker dies half-way, and workflows: atomic, Kahn-ordered, one status."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import Unavailable, Unprocessable
from shared.jobs.links import Links
from shared.jobs.models import JobSpec, Status, utcnow
from shared.jobs.record import JobRecord
from shared.jobs.sweeper import Sweeper
from shared.jobs.workflows import WorkflowService, WorkflowSpec
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def child(w: World, path: str, *parents: JobRecord, **spec: Any) -> JobRecord:
    return w.submit(f"{URL}{path}", depends_on=[p.id for p in parents], **spec)


def status(w: World, job: JobRecord) -> Status:
    record = w.store.get_record(job.id)
    assert record is not None
    return record.status


async def drain(w: World, rounds: int = 6) -> None:
    worker = w.worker()
    for _ in range(rounds):
        if not await w.pump(worker):
            return


async def drain_until(w: World, done: Callable[[], bool], timeout_s: float = 60) -> None:
    """Pump until `done()`, waiting out an empty receive: delayed messages become visible later."""
    worker, deadline = w.worker(), time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        if not await w.pump(worker):
            await asyncio.sleep(0.1)


async def test_a_diamond_runs_its_join_once_after_both_sides(w: World) -> None:
    a = w.submit(f"{URL}/a")
    b, c = child(w, "/b", a), child(w, "/c", a)
    d = child(w, "/d", b, c)
    assert (status(w, b), status(w, d)) == (Status.waiting, Status.waiting)
    assert w.queued_job_ids() == [a.id]  # only the root is queued
    await drain(w)
    paths = [call.url.path for call in w.target.calls]
    assert sorted(paths[:1]) == ["/a"] and sorted(paths[1:3]) == ["/b", "/c"] and paths[3:] == ["/d"]
    assert {status(w, j) for j in (a, b, c, d)} == {Status.completed}


async def test_a_child_is_queued_the_moment_its_last_parent_completes(w: World) -> None:
    a = w.submit(f"{URL}/a")
    b = child(w, "/b", a)
    w.messages(visibility=0)
    await w.pump(w.worker())
    # No sweep ran: the parent's terminal write released and enqueued the child itself.
    assert status(w, b) is Status.pending and w.queued_job_ids() == [b.id]
    released = w.store.get_record(b.id)
    assert released is not None and released.waiting_on == frozenset()


async def test_a_failed_parent_cancels_its_subtree_and_calls_nothing_in_it(w: World) -> None:
    a = w.submit(f"{URL}/status/410")
    b = child(w, "/b", a)
    c = child(w, "/c", b)
    runs = child(w, "/runs", a, on_dependency_failure="run")
    await drain(w)
    assert status(w, a) is Status.failed
    assert (status(w, b), status(w, c)) == (Status.cancelled, Status.cancelled)
    assert w.store.get_record(b.id).last_error == f"dependency {a.id} ended failed"  # type: ignore[union-attr]
    assert w.store.get_record(c.id).last_error == f"dependency {b.id} ended cancelled"  # type: ignore[union-attr]
    assert status(w, runs) is Status.completed
    assert [call.url.path for call in w.target.calls] == ["/status/410", "/runs"]


async def test_cancelling_a_parent_cancels_its_dependents(w: World) -> None:
    a = w.submit(f"{URL}/a", delay_s=600)
    b = child(w, "/b", a)
    w.service.cancel(TENANT, a.id)
    assert status(w, b) is Status.cancelled


def test_parents_are_checked_at_submit(w: World) -> None:
    with pytest.raises(Unprocessable, match="job_nope"):
        w.submit(f"{URL}/x", depends_on=["job_nope"])
    other = w.service.submit("other-tenant", JobSpec.model_validate({"request": {"url": f"{URL}/o"}})).job
    with pytest.raises(Unprocessable, match=other.id):
        w.submit(f"{URL}/x", depends_on=[other.id])  # another tenant's job does not exist here
    with pytest.raises(ValueError, match="twice"):
        JobSpec.model_validate({"request": {"url": f"{URL}/x"}, "depends_on": ["job_1", "job_1"]})


async def test_parents_that_already_ended_release_or_cancel_at_once(w: World) -> None:
    ok, bad = w.submit(f"{URL}/ok"), w.submit(f"{URL}/status/404")
    await drain(w)
    assert status(w, child(w, "/x", ok)) is Status.pending
    late = child(w, "/y", ok, bad)
    assert status(w, late) is Status.cancelled
    assert w.store.get_record(late.id).last_error == f"dependency {bad.id} ended failed"  # type: ignore[union-attr]


async def test_fifty_parents_fit_the_transaction_limit(w: World) -> None:
    parents = [w.submit(f"{URL}/p{i}", delay_s=1) for i in range(50)]
    join = child(w, "/join", *parents)
    record = w.store.get_record(join.id)
    assert record is not None and len(record.waiting_on) == 50
    assert all(join.id in Links(w.store).dependents_of(p.id) for p in parents)
    # The parents' 1 s delay passes at its own pace for each message: an empty receive is not the end.
    await drain_until(w, lambda: status(w, join) is Status.completed)
    assert status(w, join) is Status.completed
    assert {status(w, p) for p in parents} == {Status.completed}


async def test_a_big_fan_out_survives_a_worker_dying_half_way(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    root = w.submit(f"{URL}/root")
    children = [child(w, f"/c{i}", root) for i in range(120)]
    w.messages(visibility=0)
    done = Links.dependency_done
    calls = {"n": 0}

    def dies_at_60(self: Links, *args: Any) -> JobRecord | None:
        calls["n"] += 1
        if calls["n"] == 60:
            raise Unavailable("the worker died here")
        return done(self, *args)

    monkeypatch.setattr(Links, "dependency_done", dies_at_60)
    await w.pump(w.worker())
    assert sum(status(w, c) is Status.pending for c in children) == 59
    monkeypatch.setattr(Links, "dependency_done", done)
    assert Sweeper(w.store, w.queue).sweep(utcnow() + timedelta(minutes=2))["followups"] == 1
    assert {status(w, c) for c in children} == {Status.pending}
    queued: set[str] = set()
    while batch := w.messages(visibility=60):
        queued |= {json.loads(m["Body"])["job_id"] for m in batch}
    assert queued == {c.id for c in children}  # none lost (a repeat send is harmless: the claim decides)


def workflows(w: World) -> WorkflowService:
    return WorkflowService(w.service.terminals, allow_private_targets=True)


def spec(*jobs: dict[str, Any]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"jobs": [{"request": {"url": f"{URL}/{j['ref']}"}, **j} for j in jobs],
                                        "labels": {"team": "x"}})


async def test_a_workflow_runs_as_a_graph_and_reports_one_status(w: World) -> None:
    wf = workflows(w).submit(TENANT, spec({"ref": "d", "depends_on": ["b", "c"]}, {"ref": "a"},
                                          {"ref": "b", "depends_on": ["a"]}, {"ref": "c", "depends_on": ["a"]}))
    assert wf.status == "running" and [j.ref for j in wf.jobs] == ["d", "a", "b", "c"]
    assert all(j.job.workflow_id == wf.id for j in wf.jobs)
    ids = {j.ref: j.job.id for j in wf.jobs}
    assert wf.jobs[0].job.depends_on == [ids["b"], ids["c"]] and wf.jobs[1].job.depends_on == []
    await drain(w)
    assert [c.url.path for c in w.target.calls][-1] == "/d" and len(w.target.calls) == 4
    after = workflows(w).get(TENANT, wf.id)
    assert after.status == "completed" and after.labels == {"team": "x"}
    listed, _ = w.store.page(TENANT, None, 50, None, ("workflow_id", wf.id))
    assert {r.id for r in listed} == set(ids.values())


async def test_a_failing_workflow_job_fails_the_workflow(w: World) -> None:
    wf = workflows(w).submit(TENANT, spec({"ref": "a", "request": {"url": f"{URL}/status/400"}},
                                          {"ref": "b", "depends_on": ["a"]}))
    await drain(w)
    assert workflows(w).get(TENANT, wf.id).status == "failed"


@pytest.mark.parametrize(("jobs", "named"), [
    ([{"ref": "a", "depends_on": ["c"]}, {"ref": "b", "depends_on": ["a"]}, {"ref": "c", "depends_on": ["b"]}],
     "a -> c -> b -> a"),
    ([{"ref": "a", "depends_on": ["ghost"]}], "ghost"),
    ([{"ref": "a"}, {"ref": "a"}], "duplicate refs: a"),
])
def test_a_bad_graph_is_refused_and_nothing_is_created(w: World, jobs: list[dict[str, Any]], named: str) -> None:
    with pytest.raises(Unprocessable, match=named):
        workflows(w).submit(TENANT, spec(*jobs))
    assert w.store.page(TENANT, None, 10, None) == ([], None)
