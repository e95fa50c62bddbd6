"""What every vendor adapter is: a batching rule, a request builder and a payload parser.

An adapter turns one vendor response into one outcome per device of the batch. Vendor quirks (field
names per device type, units, time zones, status codes, error envelopes) stay inside the adapter; the
poller only sees `Reading`s and `Failure`s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import httpx

from shared.telemetry.models import Brand, InverterRecord, Reading

_QUERY = re.compile(r"\?\S*")


class FailureKind(StrEnum):
    rate_limited = "rate_limited"
    vendor_error = "vendor_error"  # the vendor said no (auth, unknown device, 5xx, error code)
    transport = "transport"  # timeout, connection refused
    bad_payload = "bad_payload"  # the vendor answered something this adapter cannot read


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    detail: str
    retry_after_s: float | None = None


Outcome = Reading | Failure


@dataclass
class BatchResult:
    """One vendor response, per device; `vendor_retry_after_s` is set when the vendor throttled the whole
    account (not one device), so that every invocation stops calling it for that long."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by inverter id
    vendor_retry_after_s: float | None = None


class PayloadError(ValueError):
    """A payload that does not match the vendor's documented shape."""


class Adapter(Protocol):
    @property
    def brand(self) -> Brand: ...

    def batches(self, devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
        """Split due devices into requests the vendor accepts."""
        ...

    async def fetch(self, http: httpx.AsyncClient, batch: Sequence[InverterRecord], now: datetime,
                    timeout_s: float) -> BatchResult:
        """Call the vendor once for `batch`. Never raises for what the vendor or the network did."""
        ...


def chunk(devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
    return [list(devices[i:i + size]) for i in range(0, len(devices), size)]


def by_device_type(devices: Sequence[InverterRecord], size: int) -> list[list[InverterRecord]]:
    """Batches of one device type each: vendors that batch serials take one type per request."""
    groups: dict[str, list[InverterRecord]] = {}
    for d in devices:
        groups.setdefault(d.device_type or "", []).append(d)
    return [b for _, group in sorted(groups.items()) for b in chunk(group, size)]


def fail_all(batch: Sequence[InverterRecord], failure: Failure) -> dict[str, Outcome]:
    return {d.id: failure for d in batch}


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta form only; vendors here never send the HTTP-date form)."""
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def transport_failure(exc: httpx.HTTPError) -> Failure:
    # A query string may hold a credential (Enphase sends its API key as `?key=`): never keep one.
    detail = _QUERY.sub("?…", f"{type(exc).__name__}: {exc}")
    return Failure(FailureKind.transport, detail[:200])


def number(raw: object, scale: float = 1.0) -> float | None:
    """A vendor number (they send floats, ints and numeric strings) or PayloadError."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise PayloadError(f"expected a number, got {raw!r}")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"expected a number, got {str(raw)[:40]!r}") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise PayloadError("not a finite number")
    return value * scale


class VendorRefused(Exception):
    """The vendor refused the credentials (or the request): `reason` is its own words, for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:300]


class VendorUnreachable(Exception):
    """No usable answer (transport error, 5xx, a payload we cannot read): nothing to say about the
    credentials either way."""


def first_of(raw: Mapping[str, object], *names: str) -> object:
    """The first of `names` present and non-empty in `raw`: vendors return other names than they document
    (Growatt's `deviceSn` vs `sn`, `calendar` vs `timeCalendar`)."""
    for name in names:
        value = raw.get(name)
        if value is not None and value != "":
            return value
    return None
