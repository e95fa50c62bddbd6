"""The job state machine (`shared.jobs.record`): every transition the table allows sets and clears what it
says (lease, next attempt, counters), every other one raises IllegalTransition, and the table's data
agrees with the transitions (no status reachable that the table forbids)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict
from shared.jobs.models import TERMINAL, JobSpec, Result, Status
from shared.jobs.record import HELD_BY_KEY, MAY_FOLLOW, TRANSITIONS, IllegalTransition, JobRecord, sources_of

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
LEASE = timedelta(seconds=60)
OK = Result(status_code=200, headers={}, body="ok", duration_ms=3)


def job(status: Status = Status.pending, **fields: object) -> JobRecord:
    spec = JobSpec.model_validate({"request": {"url": "https://a.example/x"}, "fallbacks": [{"url": "https://b.example/x"}]})
    base = JobRecord.submitted("job_1", "t", spec, NOW)
    return base.model_copy(update={"status": status, **fields})


def running(**fields: object) -> JobRecord:
    return job().claimed(NOW, LEASE, "w1").model_copy(update=fields)


def test_submitted_is_pending_and_due_or_waiting_without_a_due_time() -> None:
    assert job().status is Status.pending and job().next_attempt_at == NOW
    held = JobRecord.submitted("job_2", "t", job().spec, NOW, waiting_on=frozenset({"job_1"}))
    assert held.status is Status.waiting and held.next_attempt_at is None
    released = held.released(LATER)
    assert released.status is Status.pending and released.next_attempt_at == LATER


def test_claim_takes_a_lease_and_counts_the_claim() -> None:
    r = running()
    assert (r.status, r.lease_until, r.lease_owner, r.claims) == (Status.running, NOW + LEASE, "w1", 1)


def test_every_way_out_of_running_frees_the_lease() -> None:
    outs: list[Callable[[JobRecord], JobRecord]] = [
        lambda r: r.deferred(LATER, 3), lambda r: r.attempted(LATER, 2.5, "HTTP 503", None),
        lambda r: r.failed_over(LATER, "HTTP 503", None), lambda r: r.finished(Status.completed, LATER, None, OK),
        lambda r: r.finished(Status.failed, LATER, "HTTP 410", None), lambda r: r.dead_lettered(LATER, "crash"),
        lambda r: r.cancelled(LATER),
    ]
    for out in outs:
        after = out(running())
        assert after.lease_until is None and after.lease_owner is None and after.updated_at == LATER


def test_attempt_transitions_count_and_schedule() -> None:
    retry = running().attempted(LATER, 2.5, "HTTP 503", None)
    assert (retry.status, retry.attempts, retry.target_attempts) == (Status.retrying, 1, 1)
    assert retry.next_attempt_at == LATER + timedelta(seconds=2.5) and retry.last_delay_ms == 2500
    over = running(target_attempts=4, last_delay_ms=900).failed_over(LATER, "HTTP 503", None)
    assert (over.target_index, over.target_attempts, over.last_delay_ms, over.next_attempt_at) == (1, 0, None, LATER)
    done = running(last_error="HTTP 503").finished(Status.completed, LATER, "ignored", OK)
    assert (done.status, done.last_error, done.result, done.next_attempt_at) == (Status.completed, None, OK, None)


def test_deferral_is_not_a_crash_and_keeps_retrying_status_after_an_attempt() -> None:
    d = running().deferred(LATER, 4)
    assert (d.status, d.claims, d.next_attempt_at) == (Status.pending, 0, LATER + timedelta(seconds=4))
    assert running(attempts=2).deferred(LATER, 1).status is Status.retrying


def test_restart_is_a_new_run_on_the_first_target() -> None:
    dead = running(target_index=1, target_attempts=5, claims=7).finished(Status.dead, NOW, "HTTP 503", None)
    again = dead.restarted(LATER, 10)
    assert (again.status, again.run, again.target_index, again.target_attempts, again.claims) == (
        Status.pending, 1, 0, 0, 0)
    assert again.next_attempt_at == LATER + timedelta(seconds=10) and again.attempts == dead.attempts


def test_cancel_records_why() -> None:
    c = job(Status.waiting).cancelled(LATER, "dependency job_0 ended dead")
    assert c.status is Status.cancelled and c.last_error == "dependency job_0 ended dead"


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_jobs_take_no_attempt_claim_or_cancel(status: Status) -> None:
    r = job(status)
    for change in (lambda: r.claimed(NOW, LEASE, "w"), lambda: r.cancelled(NOW), lambda: r.deferred(NOW, 1),
                   lambda: r.attempted(NOW, 1, None, None), lambda: r.released(NOW)):
        with pytest.raises(IllegalTransition):
            change()


def test_illegal_transitions_are_conflicts_and_name_the_job() -> None:
    with pytest.raises(Conflict, match="job_1"):
        job(Status.pending).finished(Status.completed, NOW, None, OK)  # an attempt needs a claim
    with pytest.raises(IllegalTransition):
        job(Status.completed).restarted(NOW)
    with pytest.raises(IllegalTransition):
        running(target_index=1).failed_over(NOW, None, None)  # no target after the last fallback
    with pytest.raises(IllegalTransition):
        job(Status.waiting).claimed(NOW, LEASE, "w")  # a held job is never claimed


def test_the_table_is_consistent() -> None:
    assert set(MAY_FOLLOW) == set(Status)
    assert all(not MAY_FOLLOW[s] - {Status.pending} for s in TERMINAL)  # only a restart leaves a terminal state
    assert sources_of("claimed") == {Status.pending, Status.retrying, Status.running}
    assert Status.waiting not in sources_of("claimed")
    assert all(frm and to for frm, to in TRANSITIONS.values())


def test_a_new_job_of_a_key_is_placed_once_and_held_behind_a_live_one() -> None:
    spec = JobSpec.model_validate({"request": {"url": "https://a.example/x"}, "ordering_key": "k"})
    new = JobRecord.submitted("job_3", "t", spec, NOW)
    head = new.placed(1, behind=False)
    assert (head.status, head.ordering_seq, head.waiting_on, head.next_attempt_at) == (Status.pending, 1, set(), NOW)
    held = new.placed(2, behind=True)
    assert (held.status, held.waiting_on, held.next_attempt_at) == (Status.waiting, {HELD_BY_KEY}, None)
    ended = new.cancelled(NOW, "dependency job_0 ended failed").placed(2, behind=True)
    assert (ended.status, ended.ordering_seq, ended.waiting_on) == (Status.cancelled, 2, set())
    with pytest.raises(IllegalTransition):
        head.placed(3, behind=False)
    with pytest.raises(IllegalTransition):
        job().placed(1, behind=False)  # no ordering key
