"""The poller's adapters for tenants' connections: each connection's credentials opened once and kept in
process memory for CACHE_TTL_S, so that a poll cycle costs one BatchGetItem per 100 new connections and no
KMS call per poll (the envelope caches its data keys too). A deleted connection stops being polled when
its entry expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

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
    _cache: dict[str, tuple[Adapter | None, float]] = field(default_factory=dict)

    async def adapters(self, connection_ids: set[str]) -> Mapping[str, Adapter]:
        now = time.monotonic()
        missing = {c for c in connection_ids if (hit := self._cache.get(c)) is None or hit[1] <= now}
        if missing:
            records = await asyncio.to_thread(self.store.find_many, missing)
            for connection_id in missing:
                record = records.get(connection_id)
                adapter: Adapter | None = None
                if record is not None:
                    try:
                        creds = self.vault.open(record.tenant, record.id, record.brand.value,
                                                record.sealed_credentials)
                        adapter = VENDORS[record.brand].adapter(base_url(record.brand, self.tenv), creds)
                    except Exception as exc:  # a blob that does not open fails its devices, not the cycle
                        logger.error("connection credentials do not open", extra={
                            "connection_id": connection_id, "error": type(exc).__name__})
                self._cache[connection_id] = (adapter, now + self.ttl_s)
        return {c: a for c in connection_ids if (a := self._cache[c][0]) is not None}
