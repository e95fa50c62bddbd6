"""Vendor credentials from references (`secret:`, `env:`, `ssm:`; see `shared.telemetry.settings`).

Values are held in memory for CACHE_TTL_S, so that a rotated credential is picked up without a
redeploy, and never logged: errors name the reference, not the value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger(child=True)
CACHE_TTL_S = 300.0


@cache
def _client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


class Credentials:
    def __init__(self, environ: Mapping[str, str], secret_arn: str | None = None) -> None:
        self.environ = environ
        self.secret_arn = secret_arn
        self._cache: dict[str, tuple[str | None, float]] = {}

    def resolve(self, ref: str) -> str | None:
        """The credential a reference names, or None (logged) when it is missing or unreadable."""
        hit = self._cache.get(ref)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        scheme, _, name = ref.partition(":")
        try:
            value = self._lookup(scheme, name)
        except (ClientError, BotoCoreError, ValueError, KeyError) as exc:
            logger.error("credential unreadable", extra={"ref": ref, "error": type(exc).__name__})
            value = None
        if value is None:
            logger.info("credential not configured", extra={"ref": ref})
        self._cache[ref] = (value, time.monotonic() + CACHE_TTL_S)
        return value

    def _lookup(self, scheme: str, name: str) -> str | None:
        if scheme == "env":
            return self.environ.get(name) or None
        if scheme == "secret":
            if not self.secret_arn:
                return self.environ.get(name.upper()) or None
            raw = _client("secretsmanager").get_secret_value(SecretId=self.secret_arn)["SecretString"]
            return str(json.loads(raw).get(name) or "") or None
        if scheme == "ssm":
            return str(_client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]) or None
        raise ValueError(f"unknown credential scheme {scheme!r}")
