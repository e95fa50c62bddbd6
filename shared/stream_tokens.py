"""Short-lived stream tokens: an HMAC-signed (tenant, inverter, expiry) that lets a browser open one
inverter's event stream without holding the tenant's API key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from shared.errors import Forbidden, Unauthorized

DEFAULT_TTL = timedelta(minutes=15)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str, tenant: str, inverter_id: str, now: datetime | None = None,
          ttl: timedelta = DEFAULT_TTL) -> tuple[str, datetime]:
    expires = (now or datetime.now(UTC)) + ttl
    payload = _b64(json.dumps({"t": tenant, "i": inverter_id, "e": int(expires.timestamp())},
                              separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"st_{payload}.{sig}", expires


def verify(secret: str, token: str, inverter_id: str, now: datetime | None = None) -> str:
    """The tenant the token was issued to. Unauthorized when forged or expired; Forbidden when it was
    issued for another inverter."""
    try:
        payload, sig = token.removeprefix("st_").split(".", 1)
        expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            raise Unauthorized("invalid stream token")
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized("invalid stream token") from exc
    if int(claims["e"]) < (now or datetime.now(UTC)).timestamp():
        raise Unauthorized("stream token expired")
    if claims["i"] != inverter_id:
        raise Forbidden("this stream token is for another inverter")
    return str(claims["t"])


def looks_like_stream_token(credential: str) -> bool:
    return credential.startswith("st_")
