"""Runs one benchmark module's `run()` in this (fresh) interpreter and writes its figures as JSON.

    python -m bench._child bench.jitter OUT.json

`bench/__main__.py` runs every module this way: a module's environment variables, clients, caches and
event loops cannot leak into the next one, its logs (Powertools writes JSON to stdout) go to a log file
instead of the summary, and a module that hangs or crashes costs its own figures only.

SIGTERM (the runner stopping, or dying: PR_SET_PDEATHSIG) raises KeyboardInterrupt here, so the module's
own clean-up runs (`finally`, context managers: its moto server, its local stack) before the runner's
SIGKILL after a grace.
"""

from __future__ import annotations

import importlib
import json
import math
import signal
import sys
import traceback
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """JSON without NaN/Infinity (not JSON): a figure that could not be computed is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _interrupt(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up
    raise KeyboardInterrupt


def main(module: str, out: Path) -> int:
    from bench import procs

    signal.signal(signal.SIGTERM, _interrupt)
    procs.stop_with_parent(signal.SIGTERM)
    try:
        figures = importlib.import_module(module).run()
        payload: dict[str, Any] = {"ok": True, "figures": _clean(figures)}
    except BaseException:  # report every failure, KeyboardInterrupt included, then exit non-zero
        payload = {"ok": False, "error": traceback.format_exc()[-4000:]}
    out.write_text(json.dumps(payload, default=str))
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
