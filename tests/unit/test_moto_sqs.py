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


def test_the_visible_messages_are_listed_as_moto_lists_them() -> None:
    # Given a queue holding visible, delayed, in-flight and again-visible messages
    backend = sqs_backends["123456789012"]["us-east-1"]
    backend.create_queue("listing")
    queue = backend.get_queue("listing")
    sent = [backend.send_message("listing", f"m{i}", delay_seconds=30 if i % 4 == 1 else 0) for i in range(12)]
    sent[2].change_visibility(60)  # in flight for a minute
    sent[3].change_visibility(0)   # received, then released at once
    sent[6].visible_at = sent[6].delayed_until = 0.0
    # When both list what a receive may take, Then they list the same messages in the same order
    ours = moto_server._listed(queue)
    assert ours == [m for m in queue._messages if m.visible and not m.delayed]
    assert [m.body for m in ours] == ["m0", "m3", "m4", "m6", "m7", "m8", "m10", "m11"]
