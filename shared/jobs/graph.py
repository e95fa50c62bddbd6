"""The dependency graph of a workflow, pure: refs checked (unknown, duplicate) and ordered by Kahn's
algorithm so that every job comes after the jobs it depends on; a cycle is refused naming its refs."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from shared.errors import Unprocessable


def topological_order(refs: Sequence[str], depends_on: Mapping[str, Sequence[str]]) -> list[str]:
    """`refs` in an order where each comes after everything it depends on (Kahn's algorithm).

    Raises Unprocessable, whose detail names the refs, for a duplicate ref, a dependency on a ref that is
    not in the workflow, a job that depends on itself, or a cycle (the refs left on it)."""
    seen: set[str] = set()
    duplicates = sorted({r for r in refs if r in seen or seen.add(r)})  # type: ignore[func-returns-value]
    if duplicates:
        raise Unprocessable(f"duplicate refs: {', '.join(duplicates)}")
    unknown = sorted({d for r in refs for d in depends_on.get(r, ()) if d not in seen})
    if unknown:
        raise Unprocessable(f"depends_on names refs that are not in the workflow: {', '.join(unknown)}")
    indegree = {r: len(set(depends_on.get(r, ()))) for r in refs}
    children: dict[str, list[str]] = {r: [] for r in refs}
    for r in refs:
        for d in set(depends_on.get(r, ())):
            children[d].append(r)
    ready = deque(r for r in refs if indegree[r] == 0)
    out: list[str] = []
    while ready:
        r = ready.popleft()
        out.append(r)
        for c in children[r]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(out) < len(refs):
        cycle = _a_cycle({r for r in refs if indegree[r] > 0}, depends_on)
        raise Unprocessable(f"depends_on has a cycle: {' -> '.join(cycle)}")
    return out


def _a_cycle(stuck: set[str], depends_on: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle among the refs Kahn's algorithm could not order: walk dependencies until one repeats."""
    path: list[str] = []
    at = min(stuck)
    while at not in path:
        path.append(at)
        at = min(d for d in depends_on.get(at, ()) if d in stuck)
    return [*path[path.index(at):], at]
