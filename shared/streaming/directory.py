"""What the stream app needs to know about inverters: who owns one, its latest reading, and a tenant's
list for the dashboard. A narrow port, so that the stream app does not depend on how telemetry stores
inverters: `shared.streaming.dynamo_directory` implements it on the telemetry inverter table, and
`CachedDirectory` below coalesces its lookups; `MemoryDirectory` is for tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any, Protocol

from shared.pages import PageQuery

Owner = tuple[str, dict[str, Any] | None]


class InverterDirectory(Protocol):
    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        """(tenant, latest reading as JSON or None), or None for an unknown inverter."""

    def page(self, tenant: str, query: PageQuery) -> dict[str, Any]:
        """A page of the tenant's inverters as `GET /v1/inverters` shows it (SPEC §3 Inverter, with `latest`)."""


class MemoryDirectory:
    """For tests and benchmarks."""

    def __init__(self) -> None:
        self.inverters: dict[str, tuple[str, dict[str, Any]]] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        self.lookups = 0

    def add(self, tenant: str, inverter: dict[str, Any], latest: dict[str, Any] | None = None) -> None:
        self.inverters[inverter["id"]] = (tenant, inverter)
        if latest is not None:
            self.latest[inverter["id"]] = latest

    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        self.lookups += 1
        hit = self.inverters.get(inverter_id)
        return None if hit is None else (hit[0], self.latest.get(inverter_id))

    def page(self, tenant: str, query: PageQuery) -> dict[str, Any]:
        items = [{**inv, "latest": self.latest.get(i)} for i, (t, inv) in self.inverters.items() if t == tenant]
        return {"items": items[:query.limit], "next_cursor": None}


class CachedDirectory:
    """Coalesces lookups for a second: a reconnect storm of a thousand browsers on one inverter costs one
    DynamoDB read, and a snapshot at most a second old is still the latest poll (polls are ≥ 5 s apart)."""

    def __init__(self, inner: InverterDirectory, ttl_s: float = 1.0, max_entries: int = 10_000) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Owner | None]] = {}

    def owner_and_latest(self, inverter_id: str) -> Owner | None:
        now = time.monotonic()
        hit = self._cache.get(inverter_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self.inner.owner_and_latest(inverter_id)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[inverter_id] = (now + self.ttl_s, value)
        return value

    def page(self, tenant: str, query: PageQuery) -> dict[str, Any]:
        return self.inner.page(tenant, query)
