"""Garbage collection for the local cloud's long-lived servers (moto, and the HTTP API's function processes): a
full collection walks only what is new.

CPython's cyclic collector runs a full (generation 2) collection whenever the objects that survived since the
last one reach a quarter of those it kept then, and each walks every tracked object of the process. moto keeps
every DynamoDB item and SQS message as Python objects, so a full collection grows with the tables: one took
176.8 ms (wall, 2026-12-04, 50 ingests/s on a loaded 2-core machine) in the DynamoDB moto while every request
waited on it, and was the slowest ingest of that second (254 ms). Here what is alive after start-up, and again
after every full collection, is frozen (`gc.freeze`): moved out of the collector's reach, so that the next full
collection walks only the objects made since. Reference counting still frees whatever is dropped, frozen or
not; what a freeze keeps from the collector is only cyclic garbage among objects that were alive at a freeze,
which a server holding tables and queues hardly makes, nor an API process whose invocations last milliseconds.
The streaming app, whose sessions live for minutes, keeps the default.
"""

from __future__ import annotations

import gc
from typing import Any


def _after(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def freeze_survivors() -> None:
    """Freeze what is alive now and after every full collection; idempotent."""
    gc.freeze()
    if _after not in gc.callbacks:
        gc.callbacks.append(_after)
