"""Continuations and the worker's plug-in points, in process (moto's mock_aws, real Redis): a plugin's
followup note is written with the terminal state, paid after the commit and deleted; one whose worker failed
to pay it is resumed by the sweeper; attempt hooks run around the call; a caller-chosen job id creates one
job however often it is submitted, and system labels are merged over the caller's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from shared.errors import Unavailable, Unprocessable
from shared.jobs.callbacks import Callbacks
from shared.jobs.continuations import Continuations, Effect, Followup
from shared.jobs.engine import Worker
from shared.jobs.hooks import AttemptContext
from shared.jobs.models import JobSpec, Status, utcnow
from shared.jobs.record import JobRecord
from shared.jobs.service import JobService
from shared.jobs.sweeper import Sweeper
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"


class Notes:
    """A test continuation: every ending owes one note; paying it records the job id (failing `failures` times)."""

    kind = "note"

    def __init__(self, failures: int = 0) -> None:
        self.paid: list[str] = []
        self.failures = failures

    def owed(self, record: JobRecord) -> Sequence[Effect]:
        return [Followup(kind=self.kind, job_id=record.id, tenant=record.tenant, run=record.run,
                         created_at=record.updated_at, data={"status": record.status.value})]

    def work(self, followup: Followup, ctx: Continuations) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("the worker died here")
        self.paid.append(f"{followup.job_id}:{followup.data['status']}")


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def worker(w: World, notes: Notes, **kw: object) -> Worker:
    return Worker(w.store, w.queue, w.tenants, continuations=[Callbacks(), notes], **kw)  # type: ignore[arg-type]


async def test_a_followup_is_written_with_the_ending_paid_after_it_and_deleted(w: World) -> None:
    notes = Notes()
    job = w.submit(f"{URL}/ok")
    await w.pump(worker(w, notes))
    assert notes.paid == [f"{job.id}:completed"]
    assert w.store.followups_due(utcnow() + timedelta(days=1), 10) == []


async def test_an_unpaid_followup_is_resumed_by_the_sweeper_once(w: World) -> None:
    notes = Notes(failures=1)
    job = w.submit(f"{URL}/status/410")
    await w.pump(worker(w, notes))
    assert w.store.get_record(job.id).status is Status.failed  # type: ignore[union-attr]
    assert notes.paid == [] and len(w.store.followups_due(utcnow() + timedelta(days=1), 10)) == 1
    sweeper = Sweeper(w.store, w.queue, continuations=[Callbacks(), notes])
    assert sweeper.sweep(utcnow())["followups"] == 0  # within the grace the worker may still be paying it
    assert sweeper.sweep(utcnow() + timedelta(minutes=2))["followups"] == 1
    assert sweeper.sweep(utcnow() + timedelta(minutes=3))["followups"] == 0
    assert notes.paid == [f"{job.id}:failed"]


def test_a_cancel_owes_its_followups_too(w: World) -> None:
    notes = Notes()
    job = w.submit(f"{URL}/ok", delay_s=600)
    JobService(w.store, w.queue, allow_private_targets=True, continuations=[notes]).cancel(TENANT, job.id)
    assert notes.paid == [f"{job.id}:cancelled"]


async def test_attempt_hooks_run_around_the_call(w: World) -> None:
    seen: list[str] = []

    class Around:
        @asynccontextmanager
        async def around(self, ctx: AttemptContext) -> AsyncIterator[None]:
            seen.append(f"enter {ctx.attempt} {ctx.record.status.value} {len(w.target.calls)}")
            yield
            seen.append(f"exit {len(w.target.calls)}")

    w.submit(f"{URL}/ok")
    await w.pump(worker(w, Notes(), hooks=[Around()]))
    assert seen == ["enter 1 running 0", "exit 1"]


def test_a_caller_chosen_id_creates_one_job(w: World) -> None:
    spec = JobSpec.model_validate({"request": {"url": f"{URL}/ok"}, "labels": {"team": "a", "schedule_id": "x"}})
    labels = {"schedule_id": "sch_1", "scheduled_for": "2026-12-01T21:00:00Z"}
    first = w.service.submit(TENANT, spec, job_id="job_sch_1_202612012100", labels=labels)
    again = w.service.submit(TENANT, spec, job_id="job_sch_1_202612012100", labels=labels)
    assert not first.replayed and again.replayed and again.job.id == first.job.id
    assert first.job.spec.labels == {"team": "a", "schedule_id": "sch_1", "scheduled_for": "2026-12-01T21:00:00Z"}
    assert w.queued_job_ids() == [first.job.id]
    with pytest.raises(Unprocessable):
        w.service.submit(TENANT, spec, job_id="not-a-job-id")
