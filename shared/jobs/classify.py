"""Which failures are worth retrying. Everything not named retryable is permanent."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import BlockedTarget
from shared.jobs.models import Outcome, RetryOn

# Retry-After is honoured only where RFC 9110 gives it that meaning for a failure.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def classify_status(status_code: int, retry_on: Sequence[RetryOn]) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.success
    family = f"{status_code // 100}xx"
    if status_code in retry_on or family in retry_on:
        return Outcome.retryable
    return Outcome.permanent


def classify_exception(exc: BaseException) -> tuple[Outcome, str]:
    """An exception raised by a call as (outcome, a short description safe to store and show)."""
    import httpx

    if isinstance(exc, BlockedTarget):
        return Outcome.permanent, f"blocked target: {exc.detail}"
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.retryable, f"timeout: {type(exc).__name__}"
    if isinstance(exc, httpx.TooManyRedirects | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Outcome.permanent, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TransportError):
        return Outcome.retryable, f"connection error: {type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return Outcome.retryable, f"connection error: {type(exc).__name__}: {exc}"
    return Outcome.permanent, f"{type(exc).__name__}: {exc}"
