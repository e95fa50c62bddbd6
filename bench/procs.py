"""Every process the bench starts, found and stopped: the runner is a child subreaper, so nothing a module
starts escapes it, not even a local stack in a session of its own whose parent has died.

A module runs in a process group of its own (`bench.__main__.Child`), but what it starts may open further
sessions (`local.launch.start_stack` does, so that a stack can be stopped as one group). Process groups
alone therefore cannot find everything; the parent links can, as long as no orphan is reparented past
the runner — which PR_SET_CHILD_SUBREAPER guarantees. `descendants()` walks /proc from a root pid;
`stop_tree()` asks every group in a tree to stop (SIGTERM: the modules' and the stack's handlers clean
up), waits, then SIGKILLs whatever is left. PR_SET_PDEATHSIG makes the runner itself stop when its parent
(`make`) is killed, even with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Between SIGTERM and SIGKILL: a local stack stops its functions and moto in a few seconds.
GRACE_S = 15.0


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(option, value, 0, 0, 0) == 0)


def become_subreaper() -> bool:
    """Orphans of any descendant become this process's children instead of init's."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def stop_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Deliver `signum` to this process when its parent dies (make killed, a terminal closed)."""
    return _prctl(PR_SET_PDEATHSIG, signum)


def _parents() -> dict[int, int]:
    """pid → parent pid of every live (non-zombie) process."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) is parenthesised and may contain spaces: parse after its last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z":
            out[int(entry.name)] = int(fields[1])
    return out


def descendants(root: int) -> set[int]:
    """Live processes below `root` (not `root` itself), by parent links."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _signal_groups(pids: set[int], signum: int) -> None:
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    for group in groups - {os.getpgrp()}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)
    for pid in pids:  # a process in the runner's own group is not reached by the groups above
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def reap() -> None:
    """Collect every exited child (orphans reparented to a subreaper become zombies until waited for)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def stop_tree(pids: set[int], grace_s: float = GRACE_S) -> set[int]:
    """SIGTERM each process group among `pids`, wait up to `grace_s` for them to go, SIGKILL what is left
    (and whatever they started meanwhile). Returns the processes that still ran after the grace."""
    if not pids:
        return set()
    _signal_groups(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        reap()
        if not any(alive(p) for p in pids):
            return set()
        time.sleep(0.1)
    left = {p for p in pids if alive(p)}
    for pid in set(left):
        left |= descendants(pid)
    _signal_groups(left, signal.SIGKILL)
    for _ in range(50):
        reap()
        if not any(alive(p) for p in left):
            break
        time.sleep(0.1)
    return left
