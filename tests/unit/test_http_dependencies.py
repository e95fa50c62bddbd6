"""httpx's transport (httpcore) asks for sniffio on every lock and event it sets up; without it each ask is a
failed import, which Python does not remember, so every request searched sys.path again. Every function that
ships httpx ships sniffio, and here the ask is answered from sys.modules."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from httpcore._synchronization import current_async_library

from shared.topology import FUNCTIONS


class _Recorder:
    """A meta path finder that finds nothing and remembers what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        self.asked.append(name)
        return None


def test_every_function_with_httpx_ships_sniffio() -> None:
    for fn in FUNCTIONS:
        names = {r.split("==")[0] for r in fn.requirements}
        assert "httpx" not in names or "sniffio" in names, fn.name


def test_httpcore_finds_its_async_library_without_searching_for_a_module() -> None:
    recorder = _Recorder()
    sys.meta_path.insert(0, recorder)
    try:
        async def ask() -> list[str]:
            return [current_async_library() for _ in range(3)]

        assert asyncio.run(ask()) == ["asyncio"] * 3
    finally:
        sys.meta_path.remove(recorder)
    assert recorder.asked == []
