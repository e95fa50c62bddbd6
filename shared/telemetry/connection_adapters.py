"""The poller's adapters for tenants' connections. Every cycle reads the connections it is about to poll
(`find_many`: one BatchGetItem per 100, eventually consistent), so that a deleted connection's credentials
are never used after the cycle that follows its DELETE; the credentials themselves are opened only when a
connection is new to this process, its sealed blob changed, or its opened form is CACHE_TTL_S old, so a cycle
makes no KMS call (the envelope caches its data keys too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from shared.errors import Unavailable
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.settings import TelemetryEnv
from shared.telemetry.vault import Vault
from shared.telemetry.vendors import VENDORS, base_url

logger = Logger(child=True)
CACHE_TTL_S = 300.0


@dataclass
class ConnectionAdapterCache:
    store: ConnectionStore
    vault: Vault
    tenv: TelemetryEnv
    ttl_s: float = CACHE_TTL_S
    _cache: dict[str, tuple[Adapter | None, float, str]] = field(default_factory=dict)

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        if not connection_ids:
            return {}
        now = time.monotonic()
        try:
            records = await asyncio.to_thread(self.store.find_many, connection_ids)
        except Unavailable:
            # The table is away (and with it where readings go): poll with what is open, not with what expired.
            logger.warning("connections could not be read; polling with the credentials already open")
            return {c: hit[0] for c in connection_ids
                    if (hit := self._cache.get(c)) is not None and hit[1] > now and hit[0] is not None}
        for gone in connection_ids - records.keys():
            self._cache.pop(gone, None)  # deleted: its credentials leave this process's memory too
        adapters: dict[str, Adapter] = {}
        for connection_id, record in records.items():
            hit = self._cache.get(connection_id)
            if hit is None or hit[1] <= now or hit[2] != record.sealed_credentials:
                adapter: Adapter | None = None
                try:
                    creds = self.vault.open(record.tenant, record.id, record.brand.value, record.sealed_credentials)
                    adapter = VENDORS[record.brand].adapter(base_url(record.brand, self.tenv), creds)
                except Exception as exc:  # a blob that does not open fails its devices, not the cycle
                    logger.error("connection credentials do not open", extra={
                        "connection_id": connection_id, "error": type(exc).__name__})
                hit = (adapter, now + self.ttl_s, record.sealed_credentials)
                self._cache[connection_id] = hit
            if hit[0] is not None:
                adapters[connection_id] = hit[0]
        return adapters
