"""The local moto's SQS retention check (`local.moto_server._retained`) keeps and expires messages exactly as
moto's own, which computes every queue attribute to read one."""

from __future__ import annotations

import pytest
from moto.sqs.models import sqs_backends

from local import moto_server


@pytest.mark.parametrize("age_s", [0, 59, 61, 86_400 * 5])
@pytest.mark.parametrize("retention_s", [60, 86_400 * 4])
def test_retention_is_judged_as_moto_judges_it(age_s: int, retention_s: int) -> None:
    # Given a queue with a retention period and a message sent age_s ago
    backend = sqs_backends["123456789012"]["us-east-1"]
    name = f"retention-{age_s}-{retention_s}"
    backend.create_queue(name, MessageRetentionPeriod=str(retention_s))
    message = backend.send_message(name, "x")
    message.sent_timestamp -= age_s * 1000
    # When both decide whether it is still retained, Then they agree, and the old one is gone
    ours = moto_server._retained(backend, name, message)
    assert ours == moto_server._MOTO_RETAINED(backend, name, message)
    assert ours == (age_s < retention_s)
