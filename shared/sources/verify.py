"""Provider signature schemes for inbound webhooks: each checks a request's signature against the source's
secret, refuses stale timestamps where the scheme signs one, and names the provider's event id and type.

    scheme              signature header(s)                          signed bytes                 id / type
    stripe              Stripe-Signature: t=…,v1=hex[,v1=hex…]       "<t>.<body>", key = secret   body id / body type
    standard-webhooks   webhook-id, webhook-timestamp,               "<id>.<ts>.<body>",          webhook-id / body type
                        webhook-signature: v1,b64[ v1,b64…]          key = base64(whsec_…)
    github              X-Hub-Signature-256: sha256=hex              body                         X-GitHub-Delivery /
                                                                                                  X-GitHub-Event
    shopify             X-Shopify-Hmac-Sha256: base64                body                         X-Shopify-Webhook-Id /
                                                                                                  X-Shopify-Topic
    hmac-sha256         <named header>: hex (optionally "sha256=…")  body                         body hash / body type
    none                —                                            —                            body hash / body type

Every digest is compared with `hmac.compare_digest`. Several signatures in one header (secret rotation) pass
when any one matches. GitHub, Shopify and plain HMAC sign no timestamp: replays of those are caught by the
event-id dedup window instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Unauthorized


class Scheme(StrEnum):
    stripe = "stripe"
    standard_webhooks = "standard-webhooks"
    github = "github"
    shopify = "shopify"
    hmac_sha256 = "hmac-sha256"
    none = "none"


class SignatureRejected(Unauthorized):
    title, slug = "Signature rejected", "signature-rejected"


@dataclass(frozen=True)
class Verified:
    """What a valid request says about itself: the provider's event id (None: dedup by body hash) and type."""

    provider_event_id: str | None
    event_type: str | None


# Headers that describe the event (not the transport): forwarded to destinations as they came.
EVENT_HEADERS: dict[Scheme, tuple[str, ...]] = {
    Scheme.stripe: ("stripe-signature",),
    Scheme.standard_webhooks: (),
    Scheme.github: ("x-github-event", "x-github-delivery", "x-github-hook-id", "x-hub-signature-256",
                    "x-github-hook-installation-target-id", "x-github-hook-installation-target-type"),
    Scheme.shopify: ("x-shopify-topic", "x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-hmac-sha256",
                     "x-shopify-shop-domain", "x-shopify-api-version", "x-shopify-triggered-at"),
    Scheme.hmac_sha256: (),
    Scheme.none: (),
}


def body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _body_field(body: bytes, name: str) -> str | None:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    value = doc.get(name) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 256 else None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    if not value:
        raise SignatureRejected(f"missing {name} header")
    return value


def _fresh(timestamp: str, tolerance_s: int, now: float, what: str) -> int:
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise SignatureRejected(f"{what} timestamp is not an integer") from exc
    if abs(now - ts) > tolerance_s:
        raise SignatureRejected(f"{what} timestamp is outside the {tolerance_s} s tolerance")
    return ts


def _any_match(expected: bytes | str, candidates: list[str]) -> bool:
    want = expected if isinstance(expected, str) else expected.decode()
    # Every candidate is compared, matched or not, so timing tells nothing about which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), want.encode())
    return matched


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
    return key


def _stripe(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: int, now: float) -> Verified:
    pairs = [item.split("=", 1) for item in _header(headers, "stripe-signature").split(",")]
    timestamps = [p[1].strip() for p in pairs if len(p) == 2 and p[0].strip() == "t"]
    signatures = [p[1].strip() for p in pairs if len(p) == 2 and p[0].strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise SignatureRejected("Stripe-Signature needs one t= and at least one v1=")
    ts = _fresh(timestamps[0], tolerance_s, now, "Stripe-Signature")
    expected = _mac(secret.encode(), str(ts).encode() + b"." + body).hex()
    if not _any_match(expected, signatures):
        raise SignatureRejected("no Stripe-Signature v1 signature matches")
    return Verified(_body_field(body, "id"), _body_field(body, "type"))


def _standard_webhooks(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: int,
                       now: float) -> Verified:
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    ts = _fresh(timestamp, tolerance_s, now, "webhook-timestamp")
    expected = base64.b64encode(_mac(standard_webhooks_key(secret), f"{msg_id}.{ts}.".encode() + body)).decode()
    candidates = [sig.partition(",")[2] for sig in _header(headers, "webhook-signature").split()
                  if sig.startswith("v1,")]
    if not _any_match(expected, candidates):
        raise SignatureRejected("no v1 webhook-signature matches")
    return Verified(msg_id[:256], _body_field(body, "type"))


def _github(secret: str, headers: Mapping[str, str], body: bytes) -> Verified:
    scheme, _, digest = _header(headers, "x-hub-signature-256").partition("=")
    if scheme != "sha256" or not _any_match(_mac(secret.encode(), body).hex(), [digest]):
        raise SignatureRejected("X-Hub-Signature-256 does not match")
    return Verified(headers.get("x-github-delivery") or None, headers.get("x-github-event") or None)


def _shopify(secret: str, headers: Mapping[str, str], body: bytes) -> Verified:
    expected = base64.b64encode(_mac(secret.encode(), body)).decode()
    if not _any_match(expected, [_header(headers, "x-shopify-hmac-sha256").strip()]):
        raise SignatureRejected("X-Shopify-Hmac-Sha256 does not match")
    return Verified(headers.get("x-shopify-webhook-id") or None, headers.get("x-shopify-topic") or None)


def _hmac_hex(secret: str, header: str, headers: Mapping[str, str], body: bytes) -> Verified:
    given = _header(headers, header.lower()).strip().removeprefix("sha256=").lower()
    if not _any_match(_mac(secret.encode(), body).hex(), [given]):
        raise SignatureRejected(f"{header} does not match")
    return Verified(None, _body_field(body, "type"))


def verify(scheme: Scheme, secret: str | None, headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance_s: int = 300, header: str | None = None) -> Verified:
    """Check one request; raise SignatureRejected (401) unless it is authentic and fresh.

    `headers` must have lower-case names (API Gateway's payload 2.0 gives them so)."""
    if scheme is Scheme.none:
        return Verified(None, _body_field(body, "type"))
    if not secret:
        raise SignatureRejected("the source has no secret")
    if scheme is Scheme.stripe:
        return _stripe(secret, headers, body, tolerance_s, now)
    if scheme is Scheme.standard_webhooks:
        return _standard_webhooks(secret, headers, body, tolerance_s, now)
    if scheme is Scheme.github:
        return _github(secret, headers, body)
    if scheme is Scheme.shopify:
        return _shopify(secret, headers, body)
    return _hmac_hex(secret, header or "", headers, body)
