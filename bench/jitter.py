"""AWS's "Exponential Backoff And Jitter" contention simulation (Marc Brooker, AWS Architecture Blog,
2015), replayed with the project's own backoff policies (`shared.jobs.backoff`).

    python -m bench.jitter         # prints the figures as JSON; `run()` returns them

The model is the published simulator's (aws-samples/aws-arch-backoff-simulator,
`src/backoff_simulator.py`), rebuilt as a discrete-event simulation in virtual time:

- one row with a version number on a remote optimistic-concurrency (OCC) server; N clients start at
  t = 0 and each wants to update the row exactly once;
- a client reads the version, then writes with it; the write commits only if the version is still
  the one read (then the version moves on), otherwise the client backs off and starts over with a
  new read. So each "round" exactly one of the writes that raced on the same version wins;
- every message crosses the network with a delay of |Normal(10 ms, 2 ms)|;
- only writes are counted as calls (as published); the completion time is the instant the last
  client learns that its write committed;
- base 5 ms, cap 2 s, 100 trials per point, averaged.

The published `ExpoBackoff.expo(n)` is `base·2ⁿ` with n = 1 after the first failure, i.e. the first
sleep is 2·base; the project's policies number attempts so that the first delay is `base·2⁰`. The
simulation therefore asks the policy for `attempt + 1` (ATTEMPT_OFFSET), which gives exactly the
published sleep sequence (10, 20, 40 … ms, capped at 2 s). Decorrelated jitter does not use the
attempt number and starts from `base` in both. The published "no backoff" line has no counterpart
among the project's policies and is left out; "none" here is capped exponential backoff without
jitter (the published "Exponential").
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
from dataclasses import dataclass

from shared.jobs.backoff import Backoff, policy
from shared.jobs.models import Jitter

BASE_MS = 5.0
CAP_MS = 2000.0
NET_MEAN_MS = 10.0
NET_SD_MS = 2.0
TRIALS = 100
CLIENTS = (50, 100)
ATTEMPT_OFFSET = 1
SEED = 2015
POLICIES = (Jitter.none, Jitter.full, Jitter.equal, Jitter.decorrelated)

# Event kinds, in the order a client goes through them.
_READ, _WRITE, _REPLY = 0, 1, 2


@dataclass(frozen=True)
class Trial:
    calls: int
    time_ms: float


def simulate(backoff: Backoff, clients: int, rng: random.Random, attempt_offset: int = ATTEMPT_OFFSET) -> Trial:
    """One race of `clients` writers on one row, in virtual time (nothing sleeps)."""

    def net() -> float:
        return abs(rng.normalvariate(NET_MEAN_MS, NET_SD_MS))

    version = 0
    calls = 0
    now = 0.0
    seq = 0  # tie-breaker: events at the same instant are handled in the order they were scheduled
    failures = [0] * clients
    previous: list[float | None] = [None] * clients
    read_version = [0] * clients
    events: list[tuple[float, int, int, int, bool]] = []
    for c in range(clients):
        heapq.heappush(events, (net(), seq, _READ, c, False))
        seq += 1
    while events:
        now, _, kind, c, committed = heapq.heappop(events)
        if kind == _READ:
            # The server answers with the current version; the client sends its write on receipt.
            read_version[c] = version
            heapq.heappush(events, (now + net() + net(), seq, _WRITE, c, False))
        elif kind == _WRITE:
            calls += 1
            ok = read_version[c] == version
            if ok:
                version += 1
            heapq.heappush(events, (now + net(), seq, _REPLY, c, ok))
        elif not committed:
            failures[c] += 1
            sleep_s = backoff.delay(failures[c] + attempt_offset, previous[c])
            previous[c] = sleep_s
            heapq.heappush(events, (now + net() + sleep_s * 1000, seq, _READ, c, False))
        seq += 1
    return Trial(calls=calls, time_ms=now)


def run_policy(jitter: Jitter, clients: int, trials: int = TRIALS, seed: int = SEED) -> dict[str, float]:
    """Mean calls and completion time over `trials`, deterministic for a given seed."""
    rng = random.Random(f"{seed}:{jitter.value}:{clients}")
    # The project's policies take seconds; the simulation's clock is in milliseconds.
    backoff = policy(jitter, BASE_MS / 1000, CAP_MS / 1000, rng)
    results = [simulate(backoff, clients, rng) for _ in range(trials)]
    return {"calls": statistics.fmean(r.calls for r in results),
            "time_ms": statistics.fmean(r.time_ms for r in results)}


def run(trials: int = TRIALS, seed: int = SEED) -> dict[str, object]:
    out: dict[str, object] = {}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for clients in CLIENTS:
        for jitter in POLICIES:
            r = run_policy(jitter, clients, trials, seed)
            table.setdefault(str(clients), {})[jitter.value] = {k: round(v, 1) for k, v in r.items()}
            out[f"jitter_calls_{jitter.value}_{clients}"] = round(r["calls"], 1)
            out[f"jitter_time_ms_{jitter.value}_{clients}"] = round(r["time_ms"], 1)
        out[f"jitter_full_vs_none_calls_{clients}"] = round(
            table[str(clients)]["full"]["calls"] / table[str(clients)]["none"]["calls"], 3)
    out["jitter_details"] = {
        "model": "aws-samples/aws-arch-backoff-simulator: OCC read+write per attempt, |N(10 ms, 2 ms)| per hop, "
                 "calls = writes, time = last client's commit acknowledged",
        "base_ms": BASE_MS, "cap_ms": CAP_MS, "trials": trials, "seed": seed,
        "attempt_offset": ATTEMPT_OFFSET, "by_clients": table,
    }
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
