"""Priorities with aging (SPEC §3 `priority`): which waiting job goes first, and why nothing starves.

A job is `high`, `normal` (the default) or `low`. A job that has waited `aging_s`
(`STEADFAST_PRIORITY_AGING_S`, 300) moves up a level, and again after each further `aging_s`, up to `high`.
Among jobs at the same level, the one that reached that level first goes first.

That whole rule is one static number per job, its **rank** `since - level * aging_s` (lower goes first):
a job's effective level at time `t` is `min(high, floor((t - rank) / aging_s))`, so ordering by rank orders
by effective level, and within a level by the moment the job reached it. A sorted set scored by rank (the
flow-control waiting room, `shared.jobs.flow`) therefore needs no re-scoring as jobs age. The price of one
static number: a low job waits at most `2 * aging_s` behind high jobs that arrive after it, plus the work
that was already ahead of it.
"""

from __future__ import annotations

import math

from shared.jobs.models import Priority

LEVELS: dict[Priority, int] = {Priority.low: 0, Priority.normal: 1, Priority.high: 2}
BY_LEVEL: dict[int, Priority] = {v: k for k, v in LEVELS.items()}
TOP = LEVELS[Priority.high]
DEFAULT_AGING_S = 300.0


def effective_priority(priority: Priority, waited_s: float, aging_s: float = DEFAULT_AGING_S) -> Priority:
    """The level a job of `priority` has after waiting `waited_s`: one up per `aging_s`, capped at high."""
    steps = math.floor(max(0.0, waited_s) / aging_s) if aging_s > 0 else 0
    return BY_LEVEL[min(TOP, LEVELS[priority] + steps)]


def rank(priority: Priority, since: float, aging_s: float = DEFAULT_AGING_S) -> float:
    """The job's place in a waiting line (lower first), from when it started waiting (`since`, seconds)."""
    return since - LEVELS[priority] * aging_s
