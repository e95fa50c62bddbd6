"""Heavy third-party packages imported on first use instead of at a cold start.

`install()` puts a finder in front of `sys.meta_path` that hands the listed top-level packages out
through `importlib.util.LazyLoader`: `import redis` binds a module whose code runs at its first
attribute access, so a handler module can `import redis` (or httpx) at the top as usual and an
invocation that never publishes an event or calls out never pays for it. The functions' package
(`functions/__init__.py`) installs it, so every handler and every module added to one later gets it
without doing anything.

Only a plain `import X` stays lazy: `from X import y` and `import X.sub` read the package at once (the
import system needs its `__path__`), which is the same as without the finder — correct, just not cheaper.
A package that must not be lazy (it patches something at import) stays off the list.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

# What a cold start need not pay for (each ≈ 0.3–0.7× `import boto3` under CPython 3.12): Redis is only
# touched when an event is published or a lock taken, httpx when a target or vendor is called.
HEAVY = ("redis", "httpx")


class _LazyFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def install(names: Sequence[str] = HEAVY) -> None:
    """Make `names` lazy for the rest of this interpreter (idempotent; already imported ones stay as they are)."""
    if not any(isinstance(f, _LazyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LazyFinder(frozenset(names)))
