"""A stand-in benchmark module for test_bench_stops.py: starts processes the way real modules do (a server in
its own process group, a stack in a session of its own with a child, an orphan, one that ignores SIGTERM),
writes their pids to $BENCH_TEST_PIDS, then sleeps (or returns at once when $BENCH_TEST_MODE is "finish")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]
# A "stack": a session of its own whose child shares its group (local.launch.start_stack's shape).
STACK = [sys.executable, "-c", "import subprocess, sys, time\n"
         f"p = subprocess.Popen({SLEEP!r})\nprint(p.pid, flush=True)\ntime.sleep(300)\n"]


def run() -> dict[str, Any]:
    pids = [subprocess.Popen(SLEEP).pid]  # like moto_stack's server: same group as the module
    stack = subprocess.Popen(STACK, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert stack.stdout is not None
    pids += [stack.pid, int(stack.stdout.readline())]
    # An orphan: its parent exits at once, so it is reparented (to the runner, a subreaper).
    detached = f"{sys.executable} -c 'import time; time.sleep(300)' >/dev/null 2>&1 & echo $!"
    orphan = subprocess.run(["sh", "-c", detached], capture_output=True, text=True, check=True)
    pids.append(int(orphan.stdout))
    # Deaf to SIGTERM, in a session of its own: only SIGKILL after the grace stops it.
    pids.append(subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300"], start_new_session=True).pid)
    Path(os.environ["BENCH_TEST_PIDS"]).write_text(" ".join(map(str, pids)) + "\nready\n")
    if os.environ.get("BENCH_TEST_MODE") != "finish":
        time.sleep(300)
    return {"spawner_pids": len(pids)}
