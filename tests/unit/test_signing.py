"""Standard Webhooks signatures, checked against the specification's published test vector."""

from __future__ import annotations

import pytest

from local.client import verify_webhook
from shared import signing

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = '{"test": 2432232314}'


def test_published_vector() -> None:
    assert signing.sign(SECRET, MSG_ID, TS, BODY) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_accepts_a_fresh_signature_and_rejects_tampering() -> None:
    headers = signing.headers(SECRET, MSG_ID, BODY)
    verify_webhook(SECRET, headers, BODY)
    with pytest.raises(signing.InvalidSignature):
        verify_webhook(SECRET, headers, BODY + " ")
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SECRET, MSG_ID, str(TS), BODY, signing.sign(SECRET, MSG_ID, TS, BODY))  # too old


def test_verify_finds_the_matching_signature_among_several() -> None:
    good = signing.sign(SECRET, MSG_ID, TS, BODY)
    signing.verify(SECRET, MSG_ID, str(TS), BODY, f"v1,bm90IGl0 {good}", now=TS + 1)
