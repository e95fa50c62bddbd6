"""Status events of the worker, in process (moto's mock_aws, real Redis for nothing but the harness): every
claim publishes `running`, not only the first, so a watcher of a retried job sees each run start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.jobs.engine import Worker
from shared.jobs.models import Job
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]


class Recorded:
    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def publish(self, tenant: str, job: Job) -> None:
        assert tenant == TENANT
        self.jobs.append(job)


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


async def test_every_claim_publishes_running_with_the_attempts_so_far(w: World) -> None:
    events = Recorded()
    worker = Worker(w.store, w.queue, w.tenants, events=events)
    # Given a job that dies at its one attempt, then is retried by hand and dies again
    job = w.submit("http://target.test/status/503", retry={"max_attempts": 1})
    await w.pump(worker)
    w.service.restart(TENANT, job.id)
    await w.pump(worker)
    # Then each run began with its own `running` event, in order, with that claim's attempts so far
    mine = [(j.status.value, j.attempts, j.run) for j in events.jobs if j.id == job.id]
    assert mine == [("running", 0, 0), ("dead", 1, 0), ("running", 1, 1), ("dead", 2, 1)]
    assert events.jobs[-1].run_attempts == 1
