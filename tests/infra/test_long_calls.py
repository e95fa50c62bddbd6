"""Long calls in the template: the worker's Lambda timeout holds a call of the longest `request.timeout_s`,
the queue's visibility outlasts six such invocations, and the lease a heartbeat renews is short against both."""

from __future__ import annotations

from shared.config import Env
from shared.jobs.heartbeat import BEATS_PER_LEASE
from shared.jobs.models import MAX_TIMEOUT_S
from shared.topology import JOBS_QUEUE
from tests.infra.conftest import Synthesized


def test_the_worker_holds_a_fifteen_minute_call_under_a_short_lease(synth: Synthesized) -> None:
    worker = synth.function("worker")["Properties"]
    queue = synth.raw["Resources"][synth.logical_id(synth.stack.messaging.queues[JOBS_QUEUE.name].queue)]
    visibility = queue["Properties"]["VisibilityTimeout"]
    assert worker["Timeout"] >= MAX_TIMEOUT_S == 900
    assert visibility >= 6 * worker["Timeout"]
    lease = Env.model_validate({}).lease_s
    assert lease == 60 and lease * BEATS_PER_LEASE <= worker["Timeout"]
    assert "STEADFAST_LEASE_S" not in worker["Environment"]["Variables"]  # the default applies in AWS
