"""What a fresh local stack starts with: tenant `dev` with its API key, and demo inverters."""

from __future__ import annotations

import importlib

from shared.config import env
from shared.tenants import TenantStore


def seed(dev_api_key: str) -> None:
    TenantStore(env().tenants_table).add_key("dev", dev_api_key)
    try:
        telemetry = importlib.import_module("shared.telemetry.seed")
    except ModuleNotFoundError:
        return
    telemetry.seed_demo_inverters("dev")
