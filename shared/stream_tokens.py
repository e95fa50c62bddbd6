"""Short-lived stream tokens: HMAC-signed claims that let a browser open an event stream without putting
the tenant's API key into a URL (EventSource cannot send headers; a URL ends up in logs and history).

Two scopes, never interchangeable: an inverter token (`POST /v1/inverters/{id}/stream-token`) opens that
inverter's readings; a jobs token (`POST /v1/stream-token`) opens this tenant's job and tenant streams."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from shared.errors import Forbidden, NotFound, Unauthorized
from shared.telemetry.models import StreamToken

DEFAULT_TTL = timedelta(minutes=15)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _whole_seconds(expires: datetime) -> datetime:
    # The claim holds whole seconds: `expires_at` says the same instant, so the token opens until then.
    return expires.replace(microsecond=0)


def issue(secret: str, tenant: str, inverter_id: str, now: datetime | None = None,
          ttl: timedelta = DEFAULT_TTL) -> tuple[str, datetime]:
    expires = _whole_seconds((now or datetime.now(UTC)) + ttl)
    payload = _b64(json.dumps({"t": tenant, "i": inverter_id, "e": int(expires.timestamp())},
                              separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"st_{payload}.{sig}", expires


JOBS_SCOPE = "jobs"


def issue_jobs(secret: str, tenant: str, now: datetime | None = None,
               ttl: timedelta = DEFAULT_TTL) -> tuple[str, datetime]:
    """A token for this tenant's job streams (`/v1/jobs/{id}/events`, `/v1/tenant/jobs/events`) only."""
    expires = _whole_seconds((now or datetime.now(UTC)) + ttl)
    payload = _b64(json.dumps({"t": tenant, "s": JOBS_SCOPE, "e": int(expires.timestamp())},
                              separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"st_{payload}.{sig}", expires


def _claims(secret: str, token: str, now: datetime | None) -> dict[str, object]:
    """The verified claims. Unauthorized when forged, malformed (any bytes at all) or expired."""
    try:
        payload, sig = token.removeprefix("st_").split(".", 1)
        expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
        # Bytes, not str: compare_digest refuses non-ASCII strings with a TypeError (a 500 on bad input).
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise Unauthorized("invalid stream token")
        claims = json.loads(_unb64(payload))
        if not isinstance(claims, dict) or int(claims["e"]) < (now or datetime.now(UTC)).timestamp():
            raise Unauthorized("stream token expired")
    except (ValueError, UnicodeError, KeyError, TypeError) as exc:
        raise Unauthorized("invalid stream token") from exc
    return claims


def verify(secret: str, token: str, inverter_id: str, now: datetime | None = None) -> str:
    """The tenant the token was issued to. Unauthorized when forged or expired; Forbidden when it was
    issued for another inverter, or for the job streams."""
    tenant, scope = holder(secret, token, now)
    if scope != inverter_id:
        raise Forbidden("this stream token is for another stream")
    return tenant


def holder(secret: str, token: str, now: datetime | None = None) -> tuple[str, str | None]:
    """The tenant the token was issued to and the inverter it opens (None: a jobs token). Unauthorized when
    forged or expired. For a stream route that must tell an unknown inverter (404) from another one (403)."""
    claims = _claims(secret, token, now)
    inverter = claims.get("i")
    return str(claims["t"]), inverter if isinstance(inverter, str) else None


def verify_jobs(secret: str, token: str, now: datetime | None = None) -> str:
    """The tenant of a jobs token; Forbidden for an inverter's token."""
    claims = _claims(secret, token, now)
    if claims.get("s") != JOBS_SCOPE:
        raise Forbidden("this stream token is for an inverter's stream, not the job streams")
    return str(claims["t"])


def looks_like_stream_token(credential: str) -> bool:
    return credential.startswith("st_")


# -- the two routes that issue them (the API's, and the same routes of the stream app for the dashboard) --
def for_inverter(secret: str, tenant: str, inverter_id: str, owner: str | None) -> StreamToken:
    """`POST /v1/inverters/{id}/stream-token`: `owner` is the inverter's tenant as the caller's store read it
    (None: no such inverter); another tenant's inverter is indistinguishable from a missing one."""
    if owner != tenant:
        raise NotFound(f"no inverter {inverter_id!r}")
    token, expires_at = issue(secret, tenant, inverter_id)
    return StreamToken(token=token, expires_at=expires_at)


def for_jobs(secret: str, tenant: str) -> StreamToken:
    """`POST /v1/stream-token`: this tenant's job and tenant streams."""
    token, expires_at = issue_jobs(secret, tenant)
    return StreamToken(token=token, expires_at=expires_at)

