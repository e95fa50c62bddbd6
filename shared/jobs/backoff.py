"""Backoff policies: how long to wait before attempt n+1. Small, pure, randomness injected.

Each policy answers `delay(attempt, previous)` in seconds, where `attempt` counts the failures so far
(1 after the first failure) and `previous` is the last delay it gave (decorrelated jitter needs it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from shared.jobs.models import Jitter, RetrySpec


class Backoff(Protocol):
    def delay(self, attempt: int, previous: float | None = None) -> float: ...


def _exp(base: float, cap: float, attempt: int) -> float:
    # min() before the power would overflow at large attempt counts.
    return min(cap, base * float(2 ** min(attempt - 1, 62)))


@dataclass(frozen=True)
class NoJitter:
    """base·2ⁿ capped: predictable, but clients that failed together retry together (herds)."""

    base: float
    cap: float

    def delay(self, attempt: int, previous: float | None = None) -> float:
        return _exp(self.base, self.cap, attempt)


@dataclass(frozen=True)
class FullJitter:
    """uniform(0, base·2ⁿ): fewest calls under contention (AWS's recommendation); may retry at once."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        return self.rng.uniform(0, _exp(self.base, self.cap, attempt))


@dataclass(frozen=True)
class EqualJitter:
    """half fixed, half random: never retries immediately, at the price of more total calls than full."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        v = _exp(self.base, self.cap, attempt)
        return v / 2 + self.rng.uniform(0, v / 2)


@dataclass(frozen=True)
class DecorrelatedJitter:
    """uniform(base, 3·previous) capped: grows from the last delay rather than the attempt count."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        prev = self.base if previous is None else max(previous, self.base)
        return min(self.cap, self.rng.uniform(self.base, prev * 3))


def policy(jitter: Jitter, base: float, cap: float, rng: random.Random | None = None) -> Backoff:
    r = rng or random.Random()
    match jitter:
        case Jitter.none:
            return NoJitter(base, cap)
        case Jitter.full:
            return FullJitter(base, cap, r)
        case Jitter.equal:
            return EqualJitter(base, cap, r)
        case Jitter.decorrelated:
            return DecorrelatedJitter(base, cap, r)


def for_retry(spec: RetrySpec, rng: random.Random | None = None) -> Backoff:
    return policy(spec.jitter, spec.base_delay_s, spec.max_delay_s, rng)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_delay(backoff: Backoff, attempt: int, previous: float | None, retry_after: float | None,
               cap: float) -> float:
    """The policy's delay, or the server's Retry-After when it asks for longer; never beyond `cap`."""
    d = backoff.delay(attempt, previous)
    if retry_after is not None:
        d = max(d, retry_after)
    return min(d, cap)
