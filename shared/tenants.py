"""Tenants and their API keys. Keys are stored only as SHA-256 digests: a key is 32 random bytes, so a
fast hash is safe here (no dictionary to attack), and a stolen table reveals no usable key."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Unauthorized, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_CACHE_TTL_S = 60.0
# A tenant's name is part of DynamoDB keys (`TENANT#…`), Redis channels and log fields: nothing that could
# read as a separator there, no spaces.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def tenant_name(name: str) -> str:
    """`name` if it may name a tenant, else a ValueError that says what may."""
    if not TENANT_NAME.fullmatch(name):
        raise ValueError(f"invalid tenant name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "sk_live_" + secrets.token_urlsafe(32)


def looks_like_api_key(credential: str) -> bool:
    """Whether a credential has the form of an API key (`sk_…`): what must never be put into a URL."""
    return credential.startswith("sk_")


def bearer(authorization: str | None) -> str:
    """The credential of an `Authorization: Bearer …` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <api key>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    return token.strip()


class TenantStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()
        # Warm Lambdas answer repeat callers without a DynamoDB read; a revoked key lives ≤ the TTL.
        self._cache: dict[str, tuple[str, float]] = {}
        self._secrets: dict[str, tuple[str | None, float]] = {}

    def add_key(self, tenant: str, api_key: str) -> None:
        self.db.put_item(TableName=self.table, Item=aws.to_item({
            "pk": f"KEY#{digest(api_key)}", "sk": "KEY", "tenant": tenant_name(tenant), "prefix": api_key[:10],
            "created_at": int(time.time())}))

    def tenant_for(self, api_key: str) -> str:
        h = digest(api_key)
        hit = self._cache.get(h)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        try:
            item = self.db.get_item(TableName=self.table, Key=aws.to_item({"pk": f"KEY#{h}", "sk": "KEY"})).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("the key store is unavailable") from exc
        if item is None:
            raise Unauthorized("unknown API key")
        tenant = str(aws.from_item(item)["tenant"])
        self._cache[h] = (tenant, time.monotonic() + KEY_CACHE_TTL_S)
        return tenant

    def signing_secret(self, tenant: str) -> str | None:
        """The tenant's Standard Webhooks secret (`whsec_…`), if it has one; cached like keys."""
        hit = self._secrets.get(tenant)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        item = self.db.get_item(TableName=self.table, Key=aws.to_item({"pk": f"TENANT#{tenant}", "sk": "TENANT"}),
                                ).get("Item")
        secret = (str(aws.from_item(item).get("signing_secret") or "") or None) if item else None
        self._secrets[tenant] = (secret, time.monotonic() + KEY_CACHE_TTL_S)
        return secret

    def set_signing_secret(self, tenant: str, secret: str) -> None:
        self.db.put_item(TableName=self.table, Item=aws.to_item(
            {"pk": f"TENANT#{tenant_name(tenant)}", "sk": "TENANT", "signing_secret": secret}))
