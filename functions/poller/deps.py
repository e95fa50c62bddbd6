"""The poller function's composition root: its settings (read once) and collaborators, built once per
execution environment. Only the handler module imports it."""

from __future__ import annotations

import os
from functools import cache

from shared.config import Env, env
from shared.envelope import sealer
from shared.telemetry.connection_adapters import ConnectionAdapterCache
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.credentials import Credentials
from shared.telemetry.runtime import PollSettings
from shared.telemetry.settings import TelemetryEnv, telemetry_env
from shared.telemetry.vault import Vault


def settings() -> Env:
    return env()


def telemetry_settings() -> TelemetryEnv:
    return telemetry_env()


@cache
def credentials() -> Credentials:
    return Credentials(os.environ, telemetry_settings().secret_arn)


@cache
def connection_adapters() -> ConnectionAdapterCache:
    """Tenants' connections, their credentials opened once and reused across invocations."""
    e = settings()
    return ConnectionAdapterCache(ConnectionStore(e.inverters_table), Vault(sealer(e)), telemetry_settings())


def poll_settings() -> PollSettings:
    """Built per invocation: adapters resolve credentials through the cache, so a rotated one is picked
    up without a cold start. The Redis client lives for one invocation's event loop (`open_poller`)."""
    return PollSettings.from_env(settings(), telemetry_settings(), credentials(), connection_adapters())


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    credentials.cache_clear()
    connection_adapters.cache_clear()
