"""The ingest path's source cache (shared.sources.ingest) meets a secret rotation: a request signed with the new
secret is refused once by the cached secret, then checked against a fresh read instead of being a 401 for up to
SOURCE_CACHE_S; refusals re-read a source at most once a second, so bad signatures cost no read each."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.sources import ingest
from shared.sources.destinations import Destination
from shared.sources.ingest import Ingestor
from shared.sources.records import SourceRecord
from shared.sources.verify import Scheme, SignatureRejected

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@dataclass
class Stored:
    event_id: str
    duplicate: bool = False


@dataclass
class FakeStore:
    secret: str
    reads: int = 0
    events: list[Any] = field(default_factory=list)

    def find(self, source_id: str) -> SourceRecord:
        self.reads += 1
        return SourceRecord(id=source_id, tenant="acme", name="gh", scheme=Scheme.github, tolerance_s=300,
                            header=None, sealed_secret=self.secret, destinations=[Destination(
                                url="https://app.example.com/hook")], dedup_window_s=0, created_at=T0, updated_at=T0)

    def store_event(self, event: Any, jobs: list[Any], **_: Any) -> Stored:
        self.events.append(event)
        return Stored(event.id)


class FakeQueue:
    def send(self, *_: Any) -> None:
        return None


class PlainOpener:
    def open(self, sealed: str, context: Mapping[str, str]) -> str:
        return sealed


def signed(secret: str, body: bytes) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_a_rotated_secret_is_taken_at_the_first_request_signed_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ingest.time, "monotonic", lambda: clock[0])
    store = FakeStore("old")
    ingestor = Ingestor(store, FakeQueue(), PlainOpener())  # type: ignore[arg-type]
    body = b'{"a": 1}'
    ingestor.ingest("src_1", signed("old", body), body, now=T0)
    assert store.reads == 1

    # When the secret is rotated (PATCH) and the provider signs with the new one at once
    store.secret = "new"
    clock[0] += 1.5
    ingestor.ingest("src_1", signed("new", body), body, now=T0)
    assert store.reads == 2 and len(store.events) == 2

    # Then the old secret no longer passes, and a flood of bad signatures re-reads at most once a second
    for _ in range(20):
        clock[0] += 0.01
        with pytest.raises(SignatureRejected):
            ingestor.ingest("src_1", signed("old", body), body, now=T0)
    assert store.reads == 2
    clock[0] += 1.0
    with pytest.raises(SignatureRejected):
        ingestor.ingest("src_1", signed("bogus", body), body, now=T0)
    assert store.reads == 3 and len(store.events) == 2
