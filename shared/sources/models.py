"""Pydantic models of the sources API (SPEC §3 "Inbound webhooks"): what a caller sends and reads back. What the
ingest path needs of them (a destination, the ingest answer) is `shared.sources.destinations`, re-exported here."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.jobs.models import Strict
from shared.sources.destinations import MAX_EVENT_BYTES as MAX_EVENT_BYTES  # re-exported for the API's callers
from shared.sources.destinations import Destination as Destination
from shared.sources.destinations import IngestResult as IngestResult
from shared.sources.verify import Scheme, standard_webhooks_key
from shared.timestamps import Rfc3339, Timestamp

MAX_DESTINATIONS = 10
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class VerifySpec(Strict):
    scheme: Scheme = Field(strict=False)
    secret: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    header: Annotated[str, Field(pattern=_HEADER_NAME.pattern)] | None = None
    tolerance_s: int = Field(default=300, ge=1, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> VerifySpec:
        if self.scheme is not Scheme.hmac_sha256 and self.header is not None:
            raise ValueError("header is for scheme hmac-sha256 only")
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
        return self


class VerifyView(BaseModel):
    """The verification settings as every read shows them: never the secret."""

    scheme: Scheme
    tolerance_s: int
    header: str | None = None


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

    @field_validator("name", "verify", "destinations", "dedup_window_s", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        # As a schedule's PATCH: null was taken as "leave it" and answered 200 with nothing changed.
        if v is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return v


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


class ReplayedEvent(BaseModel):
    job_ids: list[str]


class RangeReplay(Strict):
    since: Rfc3339
    until: Rfc3339 | None = None
    window_s: int = Field(default=60, ge=0, le=86_400)

    @model_validator(mode="after")
    def _ordered(self) -> RangeReplay:
        if self.until is not None and self.until < self.since:
            raise ValueError("until is before since")
        return self


class RangeReplayResult(BaseModel):
    replayed: int
