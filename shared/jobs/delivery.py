"""One outbound call of a job: the request, the delivery headers, and what came back.

httpx (with httpcore, certifi and the guarded backend) is imported by `make_client`, when the worker's
first batch builds its client, not when the engine is imported: the worker's first invocation pays it.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared import signing
from shared.envelope import SealedValueInvalid
from shared.errors import Unavailable
from shared.jobs import credentials
from shared.jobs.backoff import parse_retry_after
from shared.jobs.classify import RETRY_AFTER_STATUSES, classify_exception, classify_status
from shared.jobs.models import MAX_RESULT_BODY_BYTES, Outcome, Result
from shared.jobs.record import JobRecord
from shared.redaction import redact_headers

if TYPE_CHECKING:
    import httpx

USER_AGENT = "Steadfast/0.1 (+https://steadfast.dev)"
_KEPT_RESPONSE_HEADERS = 50


@dataclass(frozen=True)
class CallOutcome:
    outcome: Outcome
    duration_ms: int
    status_code: int | None = None
    result: Result | None = None
    error: str | None = None
    retry_after_s: float | None = None


def make_client(allow_private_targets: bool) -> httpx.AsyncClient:
    """One client for a whole batch. Redirects are not followed: every hop would need the SSRF check,
    and a job's target is expected to be the final URL."""
    import certifi
    import httpcore
    import httpx

    from shared.guarded_backend import GuardedBackend

    transport = httpx.AsyncHTTPTransport(retries=0)
    if not allow_private_targets:
        # httpx exposes no hook for the network backend; the pool is rebuilt with the guarded one.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()), max_connections=100,
            network_backend=GuardedBackend())
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False,
                             limits=httpx.Limits(max_connections=100), headers={"user-agent": USER_AGENT})


def delivery_headers(record: JobRecord, attempt_n: int, body: str, signing_secret: str | None) -> dict[str, str]:
    """The headers of the call: the target's own, credentials opened (the only place that sees them), then
    Steadfast's delivery headers."""
    _, target_headers = record.spec.target(record.target_index)
    opened = credentials.open_headers(record.tenant, record.id, target_headers)
    out = {**opened, "Idempotency-Key": record.id, "Steadfast-Attempt": str(attempt_n)}
    if signing_secret:
        out |= signing.headers(signing_secret, record.id, body)
    return out


async def call(client: httpx.AsyncClient, record: JobRecord, attempt_n: int, signing_secret: str | None,
               now: datetime) -> CallOutcome:
    import httpx

    spec = record.spec
    url, _ = spec.target(record.target_index)
    body = spec.request.body or ""
    start = time.perf_counter()
    try:
        headers = delivery_headers(record, attempt_n, body, signing_secret)
    except SealedValueInvalid:
        return CallOutcome(Outcome.permanent, 0, error="a sealed credential header does not open with this stage's key")
    except Unavailable as exc:
        return CallOutcome(Outcome.retryable, 0, error=f"credential headers cannot be opened now: {exc.detail}")
    timeout = httpx.Timeout(spec.request.timeout_s, connect=min(5.0, spec.request.timeout_s))
    try:
        async with client.stream(spec.request.method.value, url, headers=headers,
                                 content=body.encode() if spec.request.body is not None else None,
                                 timeout=timeout) as response:
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_RESULT_BODY_BYTES:
                    break
    except Exception as exc:
        outcome, error = classify_exception(exc)
        return CallOutcome(outcome, int((time.perf_counter() - start) * 1000), error=error)
    duration_ms = int((time.perf_counter() - start) * 1000)
    outcome = classify_status(response.status_code, spec.retry.retry_on)
    retry_after = (parse_retry_after(response.headers.get("retry-after"), now)
                   if response.status_code in RETRY_AFTER_STATUSES else None)
    result = Result(
        status_code=response.status_code,
        # Stored as every read shows them: a target's Set-Cookie or token header is never readable back.
        headers=redact_headers(dict(list(response.headers.items())[:_KEPT_RESPONSE_HEADERS])),
        body=bytes(raw[:MAX_RESULT_BODY_BYTES]).decode("utf-8", errors="replace"),
        body_truncated=len(raw) > MAX_RESULT_BODY_BYTES, duration_ms=duration_ms)
    failure: str | None = None if outcome is Outcome.success else f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400 and outcome is Outcome.permanent:
        failure = f"HTTP {response.status_code}: redirect not followed (Location: {response.headers.get('location')})"
    return CallOutcome(outcome, duration_ms, response.status_code, result, failure, retry_after)
