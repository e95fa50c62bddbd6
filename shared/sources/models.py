"""Pydantic models of the sources API (SPEC §3 "Inbound webhooks"): what a caller sends and reads back."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.jobs.models import RetrySpec, Strict, Url, check_url
from shared.sources.verify import Scheme, standard_webhooks_key
from shared.timestamps import Timestamp

MAX_EVENT_BYTES = 256 * 1024
MAX_DESTINATIONS = 10
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.:/*-]{1,128}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def default_retry() -> RetrySpec:
    """A provider's event is worth retrying for longer than a job's default: ~1 day at a 1 h cap."""
    return RetrySpec(max_attempts=30, base_delay_s=1, max_delay_s=3600)


class VerifySpec(Strict):
    scheme: Scheme
    secret: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    header: Annotated[str, Field(pattern=_HEADER_NAME.pattern)] | None = None
    tolerance_s: int = Field(default=300, ge=1, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> VerifySpec:
        if self.scheme is Scheme.none:
            if self.secret is not None:
                raise ValueError("scheme none takes no secret")
            return self
        if self.secret is None:
            raise ValueError(f"scheme {self.scheme.value} needs a secret")
        if self.scheme is Scheme.standard_webhooks:
            standard_webhooks_key(self.secret)
        if self.scheme is Scheme.hmac_sha256 and self.header is None:
            raise ValueError("scheme hmac-sha256 needs the header that carries the hex digest")
        if self.scheme is not Scheme.hmac_sha256 and self.header is not None:
            raise ValueError("header is for scheme hmac-sha256 only")
        return self


class VerifyView(BaseModel):
    """The verification settings as every read shows them: never the secret."""

    scheme: Scheme
    tolerance_s: int
    header: str | None = None


class Destination(Strict):
    url: Url
    event_types: list[Annotated[str, Field(pattern=_EVENT_TYPE.pattern)]] = Field(default_factory=list,
                                                                                  max_length=50)
    retry: RetrySpec = Field(default_factory=default_retry)

    _url = field_validator("url")(check_url)

    @field_validator("event_types")
    @classmethod
    def _wildcards(cls, v: list[str]) -> list[str]:
        for pattern in v:
            if "*" in pattern[:-1]:
                raise ValueError(f"{pattern!r}: '*' is allowed only at the end (a suffix wildcard)")
        return v

    def accepts(self, event_type: str | None) -> bool:
        """No filter: every event. Otherwise an exact type, or a prefix ending in `*`."""
        if not self.event_types:
            return True
        if event_type is None:
            return False
        return any(event_type.startswith(p[:-1]) if p.endswith("*") else event_type == p for p in self.event_types)


Name = Annotated[str, Field(min_length=1, max_length=128)]
DedupWindow = Annotated[int, Field(ge=0, le=30 * 86_400)]


class SourceSpec(Strict):
    """What a caller sends to `POST /v1/sources`."""

    name: Name
    verify: VerifySpec
    destinations: list[Destination] = Field(min_length=1, max_length=MAX_DESTINATIONS)
    dedup_window_s: DedupWindow = 86_400


class SourcePatch(Strict):
    """`PATCH /v1/sources/{id}`: any of these; a new `verify` replaces the old one (secret included)."""

    name: Name | None = None
    verify: VerifySpec | None = None
    destinations: list[Destination] | None = Field(default=None, min_length=1, max_length=MAX_DESTINATIONS)
    dedup_window_s: DedupWindow | None = None


class Source(BaseModel):
    id: str
    name: str
    ingest_url: str
    verify: VerifyView
    destinations: list[Destination]
    dedup_window_s: int
    created_at: Timestamp
    updated_at: Timestamp


class SourcePage(BaseModel):
    items: list[Source]
    next_cursor: str | None = None


class EventSummary(BaseModel):
    id: str
    source_id: str
    received_at: Timestamp
    provider_event_id: str | None
    event_type: str | None
    duplicates: int
    job_ids: list[str]
    content_type: str | None = None
    size: int = 0


class EventDetail(EventSummary):
    headers: dict[str, str]
    body: str


class EventPage(BaseModel):
    items: list[EventSummary]
    next_cursor: str | None = None


class IngestResult(BaseModel):
    event_id: str
    duplicate: bool


class ReplayedEvent(BaseModel):
    job_ids: list[str]


class RangeReplay(Strict):
    since: datetime
    until: datetime | None = None
    window_s: int = Field(default=60, ge=0, le=86_400)

    @model_validator(mode="after")
    def _ordered(self) -> RangeReplay:
        for value in (self.since, self.until):
            if value is not None and value.tzinfo is None:
                raise ValueError("since and until need a time zone (RFC 3339)")
        if self.until is not None and self.until < self.since:
            raise ValueError("until is before since")
        return self


class RangeReplayResult(BaseModel):
    replayed: int
