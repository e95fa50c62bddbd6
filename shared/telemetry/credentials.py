"""Vendor credentials from references (`secret:`, `env:`, `ssm:`; see `shared.telemetry.settings`).

Read with Powertools' parameters utility, as `shared.stage_secret` reads the stage secret: the JSON secret
and SSM SecureStrings are fetched once per CACHE_TTL_S and execution environment, so that a rotated
credential is picked up without a redeploy. Values are never logged: errors name the reference, not the value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

logger = Logger(child=True)
CACHE_TTL_S = 300.0


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
        except (GetParameterError, TransformParameterError, ValueError, KeyError) as exc:
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
            document: Any = parameters.get_secret(self.secret_arn, transform="json", max_age=int(CACHE_TTL_S))
            if not isinstance(document, dict):
                raise ValueError("the stage secret is not a JSON object")
            return str(document.get(name) or "") or None
        if scheme == "ssm":
            return str(parameters.get_parameter(name, decrypt=True, max_age=int(CACHE_TTL_S)) or "") or None
        raise ValueError(f"unknown credential scheme {scheme!r}")
