"""Which header values are credentials, and how every read shows them: one pattern for the whole platform.

A header whose name looks like a credential (Authorization, Cookie, Set-Cookie, API keys, tokens, secrets,
passwords, signatures and HMACs such as `X-Shopify-Hmac-Sha256`, sessions) is shown as `"[redacted]"` in
every read of a job (API, lists, the dashboard JSON, both job streams and the Redis replay log they read,
callback bodies, logs) and of an inbound event's stored headers (`GET /v1/sources/{id}/events/{event_id}`).
Its value is stored sealed (`shared.jobs.credentials`) and opened only to build the call to the target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.jobs.models import Job

REDACTED = "[redacted]"
SECRET_HEADER = re.compile(
    r"authorization|cookie|api[-_]?key|apikey|token|secret|password|passwd|signature|hmac|session|credential"
    r"|private[-_]?key|access[-_]?key|^x-amz-security|^x-csrf|^x-xsrf",
    re.IGNORECASE)


def is_secret_header(name: str) -> bool:
    return SECRET_HEADER.search(name) is not None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with every credential-like value replaced by `[redacted]`."""
    return {k: REDACTED if is_secret_header(k) else v for k, v in headers.items()}


def redact_job(job: Job) -> Job:
    """The job as every read shows it: credential-like headers of the request, of each fallback and of
    the target's response (`Set-Cookie`) replaced by `[redacted]`."""
    result = job.result.model_copy(update={"headers": redact_headers(job.result.headers)}) if job.result else None
    return job.model_copy(update={
        "request": job.request.model_copy(update={"headers": redact_headers(job.request.headers)}),
        "fallbacks": [f if f.headers is None else f.model_copy(update={"headers": redact_headers(f.headers)})
                      for f in job.fallbacks],
        "result": result})
