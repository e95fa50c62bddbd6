"""Fault injection for chaos tests: `STEADFAST_FAULTS="after_claim:0.05,after_call:0.05,before_ack:0.05"`
makes the process die (as SIGKILL would: no cleanup, no finally) at those points with that probability.
Unset in every deployed stage; the local cloud passes it through only when a test sets it."""

from __future__ import annotations

import os
import random

POINTS = ("after_claim", "after_call", "before_ack")


class Faults:
    def __init__(self, spec: str, rng: random.Random | None = None) -> None:
        self.rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, rate = part.partition(":")
            if name not in POINTS:
                raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
            self.rates[name] = float(rate or 1)
        self.rng = rng or random.Random()

    def point(self, name: str) -> None:
        rate = self.rates.get(name)
        if rate and self.rng.random() < rate:
            os._exit(137)
