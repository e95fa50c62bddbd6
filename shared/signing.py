"""Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature: v1,<base64
HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`, with the secret given as `whsec_<base64 key>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TOLERANCE_S = 5 * 60


class InvalidSignature(Exception):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def verify(secret: str, msg_id: str, timestamp: str, body: str, signature_header: str,
           now: float | None = None) -> None:
    """Raise InvalidSignature unless one of the header's space-separated `v1,` signatures matches and
    the timestamp is within the tolerance (replay protection)."""
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise InvalidSignature("webhook-timestamp is not an integer") from exc
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_S:
        raise InvalidSignature("webhook-timestamp outside the tolerance")
    expected = sign(secret, msg_id, ts, body)
    for candidate in signature_header.split(" "):
        if hmac.compare_digest(candidate, expected):
            return
    raise InvalidSignature("no matching signature")
