"""Connection credentials sealed at rest with the stage's envelope (`shared.envelope`: KMS data keys in
AWS, cached so that a poll does not call KMS per connection; a local key in the local stack).

The encryption context binds a sealed blob to its tenant, connection and brand, so that one copied onto
another connection does not open. Plaintext credentials exist only in memory, never in a log or a
response: errors say which connection, never what.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol


class Sealer(Protocol):
    def seal(self, plaintext: str, context: Mapping[str, str]) -> str: ...

    def open(self, sealed: str, context: Mapping[str, str]) -> str: ...


def _context(tenant: str, connection_id: str, brand: str) -> dict[str, str]:
    return {"purpose": "vendor-connection", "tenant": tenant, "connection": connection_id, "brand": brand}


class Vault:
    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def seal(self, tenant: str, connection_id: str, brand: str, credentials: Mapping[str, str]) -> str:
        return self.sealer.seal(json.dumps(dict(credentials), sort_keys=True),
                                _context(tenant, connection_id, brand))

    def open(self, tenant: str, connection_id: str, brand: str, sealed: str) -> dict[str, str]:
        raw = json.loads(self.sealer.open(sealed, _context(tenant, connection_id, brand)))
        return {str(k): str(v) for k, v in raw.items()}
