"""The poller function's composition root: its settings (read once) and collaborators, built once per
execution environment. Only the handler module imports it."""

from __future__ import annotations

import os
from functools import cache

from shared.config import Env, env
from shared.telemetry.credentials import Credentials
from shared.telemetry.runtime import PollSettings
from shared.telemetry.settings import TelemetryEnv, telemetry_env


def settings() -> Env:
    return env()


def telemetry_settings() -> TelemetryEnv:
    return telemetry_env()


@cache
def credentials() -> Credentials:
    return Credentials(os.environ, telemetry_settings().secret_arn)


def poll_settings() -> PollSettings:
    """Built per invocation: adapters resolve credentials through the cache, so a rotated one is picked
    up without a cold start. The Redis client lives for one invocation's event loop (`open_poller`)."""
    return PollSettings.from_env(settings(), telemetry_settings(), credentials())


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    credentials.cache_clear()
