"""Inbound signature schemes against the real thing: events signed by the official `stripe` and `standardwebhooks`
packages, GitHub's published test vector, a Shopify digest made by openssl, plus tampering, rotation and staleness."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import stripe

from shared.sources.verify import Scheme, SignatureRejected, body_hash, verify

STRIPE_SECRET = "whsec_test_7a1c2b3d4e5f"
SW_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
EVENT = json.dumps({"id": "evt_1PzX", "type": "payment_intent.succeeded", "data": {"object": {"amount": 4200,
                    "note": "grüße"}}}, ensure_ascii=False).encode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"stripe-signature": header}


def test_stripe_event_signed_by_the_official_library_verifies() -> None:
    verified = verify(Scheme.stripe, STRIPE_SECRET, stripe_headers(EVENT), EVENT, now=time.time())

    assert verified.provider_event_id == "evt_1PzX"
    assert verified.event_type == "payment_intent.succeeded"


def test_stripe_accepts_any_v1_during_secret_rotation() -> None:
    # Given: Stripe signs with both the old and the new secret while a secret rolls
    ts = int(time.time())
    old = stripe_headers(EVENT, "whsec_old_secret", ts)["stripe-signature"]
    new = stripe_headers(EVENT, STRIPE_SECRET, ts)["stripe-signature"]
    header = f"{old},v1={new.split('v1=')[1]}"

    # Then: the source holding the new secret accepts it
    assert verify(Scheme.stripe, STRIPE_SECRET, {"stripe-signature": header}, EVENT, now=ts).provider_event_id


@pytest.mark.parametrize("tamper", [
    lambda b: b.replace(b"4200", b"4201"),
    lambda b: b + b" ",
    lambda b: b"",
])
def test_stripe_refuses_a_tampered_body(tamper) -> None:  # type: ignore[no-untyped-def]
    headers = stripe_headers(EVENT)

    with pytest.raises(SignatureRejected):
        verify(Scheme.stripe, STRIPE_SECRET, headers, tamper(EVENT), now=time.time())


def test_stripe_refuses_a_stale_or_future_timestamp_even_when_signed() -> None:
    now = time.time()
    stale = stripe_headers(EVENT, timestamp=int(now) - 301)
    future = stripe_headers(EVENT, timestamp=int(now) + 301)

    for headers in (stale, future):
        with pytest.raises(SignatureRejected, match="tolerance"):
            verify(Scheme.stripe, STRIPE_SECRET, headers, EVENT, now=now, tolerance_s=300)
    assert verify(Scheme.stripe, STRIPE_SECRET, stale, EVENT, now=now, tolerance_s=600).provider_event_id


@pytest.mark.parametrize("header", ["", "t=1", "v1=abc", "garbage", "t=abc,v1=00"])
def test_stripe_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(SignatureRejected):
        verify(Scheme.stripe, STRIPE_SECRET, {"stripe-signature": header} if header else {}, EVENT, now=time.time())


def test_stripe_library_agrees_with_what_we_accept_and_refuse() -> None:
    headers = stripe_headers(EVENT)
    stripe.WebhookSignature.verify_header(EVENT.decode(), headers["stripe-signature"], STRIPE_SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(EVENT.decode() + " ", headers["stripe-signature"], STRIPE_SECRET, 300)


def sw_headers(body: bytes, msg_id: str = "msg_2a7b", secret: str = SW_SECRET,
               when: datetime | None = None) -> dict[str, str]:
    when = when or datetime.now(UTC)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, when, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature}


def test_standard_webhooks_event_signed_by_the_official_library_verifies() -> None:
    verified = verify(Scheme.standard_webhooks, SW_SECRET, sw_headers(EVENT), EVENT, now=time.time())

    assert verified.provider_event_id == "msg_2a7b"
    assert verified.event_type == "payment_intent.succeeded"


def test_standard_webhooks_accepts_any_of_several_signatures() -> None:
    headers = sw_headers(EVENT)
    other = sw_headers(EVENT, secret="whsec_" + base64.b64encode(b"another-key-of-32-bytes-length!!").decode())
    headers["webhook-signature"] = f"{other['webhook-signature']} {headers['webhook-signature']}"

    assert verify(Scheme.standard_webhooks, SW_SECRET, headers, EVENT, now=time.time()).provider_event_id


def test_standard_webhooks_refuses_tampering_a_changed_id_and_staleness() -> None:
    now = time.time()
    good = sw_headers(EVENT)
    stale = sw_headers(EVENT, when=datetime.fromtimestamp(now - 3600, UTC))

    with pytest.raises(SignatureRejected):
        verify(Scheme.standard_webhooks, SW_SECRET, good, EVENT + b"x", now=now)
    with pytest.raises(SignatureRejected):
        verify(Scheme.standard_webhooks, SW_SECRET, {**good, "webhook-id": "msg_other"}, EVENT, now=now)
    with pytest.raises(SignatureRejected, match="tolerance"):
        verify(Scheme.standard_webhooks, SW_SECRET, stale, EVENT, now=now)
    with pytest.raises(SignatureRejected, match="missing"):
        verify(Scheme.standard_webhooks, SW_SECRET, {"webhook-id": "x"}, EVENT, now=now)


def test_our_outbound_signer_and_the_official_verifier_agree_with_the_inbound_check() -> None:
    # The official verifier accepts what we accept: the same bytes, the same secret.
    headers = sw_headers(EVENT)
    standardwebhooks.Webhook(SW_SECRET).verify(EVENT, headers)
    assert verify(Scheme.standard_webhooks, SW_SECRET, headers, EVENT, now=time.time())


def test_github_published_test_vector() -> None:
    # docs.github.com, "Validating webhook deliveries" → "Testing the webhook payload validation"
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    headers = {"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
               "x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}

    verified = verify(Scheme.github, secret, headers, body, now=time.time())

    assert (verified.provider_event_id, verified.event_type) == ("72d3162e-cc78-11e3-81ab-4c9367dc0958", "push")
    with pytest.raises(SignatureRejected):
        verify(Scheme.github, secret, headers, b"Hello, World?", now=time.time())
    with pytest.raises(SignatureRejected):
        verify(Scheme.github, secret, {**headers, "x-hub-signature-256": "sha1=757107ea"}, body, now=time.time())


def test_shopify_digest_made_by_openssl() -> None:
    # printf '{"id":1,"email":"jon@example.com"}' | openssl dgst -sha256 -hmac shpss_test_secret -binary | base64
    body = b'{"id":1,"email":"jon@example.com"}'
    headers = {"x-shopify-hmac-sha256": "sFJsHqCMhAcsylhrTH8pTuy1Mu3aig1pmCGePi52/64=",
               "x-shopify-topic": "orders/create", "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}

    verified = verify(Scheme.shopify, "shpss_test_secret", headers, body, now=time.time())

    assert (verified.provider_event_id, verified.event_type) == ("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                                                                 "orders/create")
    with pytest.raises(SignatureRejected):
        verify(Scheme.shopify, "another_secret", headers, body, now=time.time())


def test_generic_hmac_hex_in_a_named_header() -> None:
    body = b'{"type":"invoice.paid"}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()

    for value in (digest, digest.upper(), f"sha256={digest}"):
        verified = verify(Scheme.hmac_sha256, "s3cret", {"x-signature": value}, body, now=0, header="X-Signature")
        assert verified == verified.__class__(None, "invoice.paid")
    with pytest.raises(SignatureRejected, match="missing"):
        verify(Scheme.hmac_sha256, "s3cret", {"x-other": digest}, body, now=0, header="X-Signature")


def test_none_accepts_anything_and_body_hash_is_stable() -> None:
    assert verify(Scheme.none, None, {}, b"plain text", now=0).event_type is None
    assert body_hash(b"a") == body_hash(b"a") != body_hash(b"b")
