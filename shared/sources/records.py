"""The stored forms of a source and of its events: the public models plus what only the server keeps (the
sealed secret, the tenant, the delivery plan), and ids."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from shared.jobs.models import RetrySpec
from shared.redaction import redact_headers
from shared.sources.destinations import Destination
from shared.sources.verify import Scheme

if TYPE_CHECKING:
    # The API's views of a source and its events: built by the API's reads only (shared.sources.models).
    from shared.sources.models import EventDetail, EventSummary, Source


def new_source_id() -> str:
    return f"src_{secrets.token_hex(10)}"


def new_event_id(now: datetime) -> str:
    # Millisecond time first: ids sort by arrival, so the event log is a range of sort keys.
    return f"evt_{int(now.timestamp() * 1000):012x}{secrets.token_hex(10)}"


def event_id_floor(at: datetime) -> str:
    """The smallest event id received at or after `at` (range replay reads the sort keys between two)."""
    return f"evt_{int(at.timestamp() * 1000):012x}"


def delivery_job_id(event_id: str, destination: int) -> str:
    """The job that delivers `event_id` to destination number `destination`: derived, never drawn, so that
    storing the plan twice (a retried request, a healed crash) can only ever name the same job."""
    digest = hashlib.sha256(f"{event_id}#{destination}".encode()).hexdigest()[:20]
    return f"job_{event_id[4:16]}{digest}"


def replay_job_id(event_id: str, destination: int) -> str:
    digest = hashlib.sha256(f"{event_id}#{destination}#{secrets.token_hex(8)}".encode()).hexdigest()[:20]
    return f"job_{time.time_ns() // 1_000_000:012x}{digest}"


class SourceRecord(BaseModel):
    id: str
    tenant: str
    name: str
    scheme: Scheme
    tolerance_s: int
    header: str | None
    sealed_secret: str | None
    destinations: list[Destination]
    dedup_window_s: int
    created_at: datetime
    updated_at: datetime

    def public(self, api_url: str) -> Source:
        from shared.sources.models import Source, VerifyView

        return Source(id=self.id, name=self.name, ingest_url=f"{api_url.rstrip('/')}/v1/ingest/{self.id}",
                      verify=VerifyView(scheme=self.scheme, tolerance_s=self.tolerance_s, header=self.header),
                      destinations=self.destinations, dedup_window_s=self.dedup_window_s,
                      created_at=self.created_at, updated_at=self.updated_at)


class Delivery(BaseModel):
    """One destination an event goes to, fixed when the event is stored."""

    job_id: str
    url: str
    retry: RetrySpec


class EventRecord(BaseModel):
    id: str
    source_id: str
    tenant: str
    received_at: datetime
    provider_event_id: str | None
    dedup_key: str
    event_type: str | None
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    duplicates: int = 0
    job_ids: list[str]

    def summary(self) -> EventSummary:
        from shared.sources.models import EventSummary

        return EventSummary(id=self.id, source_id=self.source_id, received_at=self.received_at,
                            provider_event_id=self.provider_event_id, event_type=self.event_type,
                            duplicates=self.duplicates, job_ids=self.job_ids, content_type=self.content_type,
                            size=len(self.body))

    def detail(self) -> EventDetail:
        from shared.sources.models import EventDetail

        # The provider's signature is a credential of the event: anyone who reads it could replay the body.
        return EventDetail(**self.summary().model_dump(), headers=redact_headers(self.headers),
                           body=self.body.decode("utf-8", errors="replace"))
