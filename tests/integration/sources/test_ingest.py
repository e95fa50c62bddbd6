"""Inbound webhooks end to end on the local cloud: provider events signed by the official `stripe` and
`standardwebhooks` packages come in through the public ingest route, are stored, deduplicated, filtered by
type and delivered byte for byte through the job engine, also across a destination outage; bad signatures,
stale timestamps, unknown sources and oversized bodies are refused with nothing stored; events replay."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import standardwebhooks
import stripe

from local.stack import StackState
from tests.conftest import wait_for
from tests.integration.sources.conftest import FAST_RETRY, Receiver, cli, create_source

pytestmark = pytest.mark.integration
TERMINAL = {"completed", "failed", "dead", "cancelled"}
STRIPE_SECRET = "whsec_" + os.urandom(12).hex()


def stripe_event(event_type: str = "payment_intent.succeeded", **data: Any) -> bytes:
    # Stripe's own layout: pretty-printed, non-ASCII kept; the signature is over exactly these bytes.
    event = {"id": f"evt_{os.urandom(8).hex()}", "object": "event", "type": event_type,
             "data": {"object": {"amount": 4200, "currency": "eur", "description": "Bestellung für Zoë", **data}}}
    return json.dumps(event, indent=2, ensure_ascii=False).encode()


def stripe_post(public: httpx.Client, source_id: str, body: bytes, secret: str = STRIPE_SECRET,
                timestamp: int | None = None) -> httpx.Response:
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return public.post(f"/v1/ingest/{source_id}", content=body,
                       headers={"stripe-signature": signature, "content-type": "application/json; charset=utf-8"})


def events(api: httpx.Client, source_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/v1/sources/{source_id}/events")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def finished(api: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    return dict(wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda j: j["status"] in TERMINAL, timeout_s))


@pytest.fixture
def public(stack: StackState) -> httpx.Client:
    """A client without an API key: what a provider has."""
    return httpx.Client(base_url=stack.api_url, timeout=30)


def stripe_source(api: httpx.Client, receiver: Receiver, path: str = "/hook", **extra: Any) -> dict[str, Any]:
    return create_source(api, {"scheme": "stripe", "secret": STRIPE_SECRET},
                         [{"url": f"{receiver.url}{path}", "retry": FAST_RETRY}], **extra)


def test_stripe_event_during_an_outage_is_delivered_exactly_once_when_the_app_is_back(
        api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    # Given a Stripe source forwarding to the tenant's app, and the app down (its port closed)
    source = stripe_source(api, receiver)
    body = stripe_event()
    receiver.stop()
    # When Stripe sends an event (signed by the official library) during the outage
    started, started_wall = time.monotonic(), time.time()
    r = stripe_post(public, source["id"], body)
    # Then Stripe is answered at once, from the stored event, while the app is still down
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 2
    assert r.json()["duplicate"] is False and r.json()["event_id"].startswith("evt_")
    [event] = events(api, source["id"])
    assert event["id"] == r.json()["event_id"] and event["event_type"] == "payment_intent.succeeded"
    assert event["provider_event_id"] == json.loads(body)["id"]
    # The app stays down for 5 s, and at least until a delivery attempt has met the closed port
    refused = wait_for(lambda: api.get(f"/v1/jobs/{event['job_ids'][0]}/attempts").json()["items"],
                       lambda items: len(items) >= 1, 60)
    assert refused[0]["outcome"] == "retryable" and refused[0]["status_code"] is None
    time.sleep(max(0.0, started + 5 - time.monotonic()))
    assert receiver.deliveries == []
    receiver.start()
    # And the app gets it once after it is back: the same bytes, content type and Stripe's signature header
    job = finished(api, event["job_ids"][0], 60)
    assert job["status"] == "completed", job
    assert job["labels"] == {"source_id": source["id"], "event_id": event["id"],
                             "event_type": "payment_intent.succeeded"}
    time.sleep(2)
    [delivery] = receiver.to("/hook")
    assert delivery.body == body
    assert delivery.headers["content-type"] == "application/json; charset=utf-8"
    assert delivery.headers["steadfast-event-id"] == event["id"]
    assert delivery.headers["idempotency-key"] == job["id"]
    assert delivery.at >= started_wall + 5


def test_a_provider_resending_the_same_event_gets_duplicate_and_nothing_is_delivered_again(
        api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    source = stripe_source(api, receiver)
    body = stripe_event()
    first = stripe_post(public, source["id"], body).json()
    # When Stripe retries the same event three more times (fresh signatures, as Stripe does)
    repeats = [stripe_post(public, source["id"], body, timestamp=int(time.time()) + i) for i in range(3)]
    # Then each repeat is acknowledged as the first event, and the app sees it once
    assert [r.status_code for r in repeats] == [200, 200, 200]
    assert all(r.json() == {"event_id": first["event_id"], "duplicate": True} for r in repeats)
    [event] = events(api, source["id"])
    assert event["duplicates"] == 3 and len(event["job_ids"]) == 1
    assert finished(api, event["job_ids"][0])["status"] == "completed"
    time.sleep(2)
    assert len(receiver.to("/hook")) == 1


def test_tampered_body_missing_signature_and_wrong_secret_are_refused_with_nothing_stored(
        api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    source = stripe_source(api, receiver)
    body = stripe_event()
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
    tampered = public.post(f"/v1/ingest/{source['id']}", content=body.replace(b"4200", b"1"),
                           headers={"stripe-signature": signature})
    missing = public.post(f"/v1/ingest/{source['id']}", content=body)
    wrong = stripe_post(public, source["id"], body, secret="whsec_not_the_one")

    for r in (tampered, missing, wrong):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 401 and STRIPE_SECRET not in r.text
    assert events(api, source["id"]) == []
    assert receiver.deliveries == []


def test_a_replayed_old_signed_request_is_refused(api: httpx.Client, public: httpx.Client,
                                                  receiver: Receiver) -> None:
    source = stripe_source(api, receiver)
    stale = stripe_post(public, source["id"], stripe_event(), timestamp=int(time.time()) - 600)

    assert stale.status_code == 401
    assert "tolerance" in stale.json()["detail"]
    assert events(api, source["id"]) == []


def test_unknown_source_is_404_and_an_oversized_body_is_413(api: httpx.Client, public: httpx.Client,
                                                            receiver: Receiver) -> None:
    source = stripe_source(api, receiver)
    unknown = stripe_post(public, "src_00000000000000000000", stripe_event())
    big = stripe_post(public, source["id"], stripe_event(pad="x" * (256 * 1024)))

    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
    assert events(api, source["id"]) == []


def test_event_types_route_each_event_to_the_destinations_that_want_it(
        api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    source = create_source(api, {"scheme": "stripe", "secret": STRIPE_SECRET}, [
        {"url": f"{receiver.url}/payments", "event_types": ["payment_intent.*"], "retry": FAST_RETRY},
        {"url": f"{receiver.url}/refunds", "event_types": ["charge.refunded"], "retry": FAST_RETRY},
        {"url": f"{receiver.url}/all", "retry": FAST_RETRY}])
    sent = {t: stripe_event(t) for t in ("payment_intent.succeeded", "charge.refunded", "customer.created")}
    for body in sent.values():
        assert stripe_post(public, source["id"], body).status_code == 200

    for event in events(api, source["id"]):
        for job_id in event["job_ids"]:
            assert finished(api, job_id)["status"] == "completed"
    assert [d.body for d in receiver.to("/payments")] == [sent["payment_intent.succeeded"]]
    assert [d.body for d in receiver.to("/refunds")] == [sent["charge.refunded"]]
    assert sorted(d.body for d in receiver.to("/all")) == sorted(sent.values())
    # And GET /v1/jobs?source_id= lists exactly this source's five delivery jobs
    by_source = api.get("/v1/jobs", params={"source_id": source["id"], "limit": 50})
    assert by_source.status_code == 200, by_source.text
    listed = by_source.json()["items"]
    assert sorted(j["id"] for j in listed) == sorted(j for e in events(api, source["id"]) for j in e["job_ids"])
    assert len(listed) == 5 and all(j["labels"]["source_id"] == source["id"] for j in listed)


def test_replay_one_event_and_a_time_range(api: httpx.Client, public: httpx.Client, receiver: Receiver,
                                           stack: StackState) -> None:
    source = stripe_source(api, receiver)
    bodies = [stripe_event() for _ in range(3)]
    since = datetime.now(UTC) - timedelta(seconds=1)
    for body in bodies:
        assert stripe_post(public, source["id"], body).status_code == 200
    wait_for(lambda: len(receiver.to("/hook")), lambda n: n == 3, 60)
    first = events(api, source["id"])[-1]
    # When one event is replayed, the CLI's way
    out = cli(stack, "events", "replay", source["id"], first["id"])
    assert out.returncode == 0, out.stderr
    [job_id] = out.stdout.split()
    # Then it is delivered again as a new job, and the event lists it
    assert finished(api, job_id)["status"] == "completed"
    assert job_id in api.get(f"/v1/sources/{source['id']}/events/{first['id']}").json()["job_ids"]
    assert len(receiver.to("/hook")) == 4
    # When the range is replayed over a 2 s window
    r = api.post(f"/v1/sources/{source['id']}/replay", json={"since": since.isoformat(), "window_s": 2})
    assert r.status_code == 202 and r.json() == {"replayed": 3}
    wait_for(lambda: len(receiver.to("/hook")), lambda n: n == 7, 60)
    assert sorted(d.body for d in receiver.to("/hook")[4:]) == sorted(bodies)


def test_standard_webhooks_source_signed_by_the_official_library(
        api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    source = create_source(api, {"scheme": "standard-webhooks", "secret": secret},
                           [{"url": f"{receiver.url}/sw", "retry": FAST_RETRY}])
    body = json.dumps({"type": "invoice.paid", "data": {"n": 1}}).encode()
    msg_id = f"msg_{os.urandom(6).hex()}"
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(time.time())),
               "content-type": "application/json"}
    headers["webhook-signature"] = standardwebhooks.Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC), body.decode())

    first = public.post(f"/v1/ingest/{source['id']}", content=body, headers=headers)
    again = public.post(f"/v1/ingest/{source['id']}", content=body, headers=headers)

    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    wait_for(lambda: len(receiver.to("/sw")), lambda n: n == 1, 60)
    assert receiver.to("/sw")[0].body == body


def test_github_source_dedups_by_delivery_id(api: httpx.Client, public: httpx.Client, receiver: Receiver) -> None:
    source = create_source(api, {"scheme": "github", "secret": "gh-secret"},
                           [{"url": f"{receiver.url}/gh", "event_types": ["push"], "retry": FAST_RETRY}])
    body = b'{"ref":"refs/heads/main"}'
    headers = {"x-hub-signature-256": "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest(),
               "x-github-event": "push", "x-github-delivery": os.urandom(8).hex(), "content-type": "application/json"}
    ping = {**headers, "x-github-event": "ping", "x-github-delivery": os.urandom(8).hex()}

    assert public.post(f"/v1/ingest/{source['id']}", content=body, headers=headers).json()["duplicate"] is False
    assert public.post(f"/v1/ingest/{source['id']}", content=body, headers=headers).json()["duplicate"] is True
    assert public.post(f"/v1/ingest/{source['id']}", content=body, headers=ping).status_code == 200
    wait_for(lambda: len(receiver.to("/gh")), lambda n: n == 1, 60)
    time.sleep(1.5)
    [delivery] = receiver.to("/gh")
    assert delivery.headers["x-github-event"] == "push"
    assert [e["event_type"] for e in events(api, source["id"])] == ["ping", "push"]


@pytest.mark.parametrize("provider", ["github", "shopify"])
def test_the_providers_signature_is_redacted_in_every_read(api: httpx.Client, public: httpx.Client,
                                                           receiver: Receiver, provider: str) -> None:
    # Given an event signed the provider's way
    source = create_source(api, {"scheme": provider, "secret": "sig-secret"},
                           [{"url": f"{receiver.url}/sig-{provider}", "retry": FAST_RETRY}])
    body = b'{"id": 1}'
    digest = hmac.new(b"sig-secret", body, hashlib.sha256)
    signature = ("x-hub-signature-256", "sha256=" + digest.hexdigest()) if provider == "github" else \
        ("x-shopify-hmac-sha256", base64.b64encode(digest.digest()).decode())
    headers = {signature[0]: signature[1], "content-type": "application/json",
               "x-github-event": "push", "x-github-delivery": os.urandom(8).hex(),
               "x-shopify-topic": "orders/create", "x-shopify-webhook-id": os.urandom(8).hex()}
    event_id = public.post(f"/v1/ingest/{source['id']}", content=body, headers=headers).json()["event_id"]
    # When the event and its delivery job are read
    detail = api.get(f"/v1/sources/{source['id']}/events/{event_id}").json()
    [job_id] = detail["job_ids"]
    job = api.get(f"/v1/jobs/{job_id}").json()
    # Then the signature shows as [redacted] in both, and the delivery itself still carries it
    assert detail["headers"][signature[0]] == "[redacted]", detail["headers"]
    assert job["request"]["headers"][signature[0]] == "[redacted]", job["request"]["headers"]
    assert signature[1] not in json.dumps(detail) + json.dumps(job)
    wait_for(lambda: len(receiver.to(f"/sig-{provider}")), lambda n: n == 1, 60)
    assert receiver.to(f"/sig-{provider}")[0].headers[signature[0]] == signature[1]
