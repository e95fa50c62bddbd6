"""The inverter routes' collaborators, built once per execution environment from its environment."""

from __future__ import annotations

from functools import cache

from shared.config import env
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.reading_store import ReadingStore


@cache
def inverter_store() -> InverterStore:
    return InverterStore(env().inverters_table)


@cache
def reading_store() -> ReadingStore:
    return ReadingStore(env().readings_table)
