"""A SolarEdge-Monitoring-API-shaped face of the sandbox, with SolarEdge's limits enforced, so that the
SolarEdge adapter and the poller's daily budget run locally against HTTP:

    GET /v2/sites                        header X-API-Key: se-<name>   (discovery)
         → {"sites": [{"siteId", "name", "status": "Active", "peakPower"}]}
    GET /v2/sites/{id}/overview          → {"siteId", "lastUpdateTime" (RFC 3339), "currentPower": {"power": W},
                                            "lastDayData": {"energy": Wh}, "lifeTimeData": {"energy": Wh}}
    GET /v2/sites/{id},{id},…/overview   (2 to 100 sites) → {"sitesOverviews": {"count", "siteEnergyList":
                                            [{"siteId", "siteOverview": {…as above without siteId}}]}}

A key `se-<name>` (4 to 64 letters, digits, '-' or '_') is an account with `sites` sites (default 3,
STEADFAST_SANDBOX_SOLAREDGE_SITES), numeric ids derived from the key's hash; any other key → 403, a site
of another key → 403 (problem documents, as SolarEdge's V2 answers).

Limits, as SolarEdge documents them, per UTC day of the sandbox's clock: `daily_limit` requests per key
(every call, the site list included) and `daily_limit` per site (a bulk call costs 1 of each of its
sites'), 429 beyond; `max_concurrent` (3) calls in flight per client IP, 429 beyond (the ASGI app holds each
call for `latency_s` so that concurrency is observable). `stats()` counts what was spent and refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.sandbox.physics import Simulator, site_for

KEY = re.compile(r"^se-[A-Za-z0-9_-]{4,64}$")
OVERVIEW = re.compile(r"^/v2/sites/([0-9,]{1,1200})/overview$")
MAX_BULK = 100
Answer = tuple[int, dict[str, Any], dict[str, str]]


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def account_sites(key: str, sites: int) -> list[str]:
    base = 1_000_000 + int(hashlib.sha256(key.encode()).hexdigest()[:5], 16)
    return [f"{base}{n:03d}" for n in range(1, sites + 1)]


@dataclass
class SolarEdgeFace:
    clock: Callable[[], float]
    devices: dict[str, Simulator]
    requests: dict[str, int]  # the vendor's per-serial counter (GET /_stats)
    daily_limit: int = 300
    sites: int = 3
    max_concurrent: int = 3
    latency_s: float = 0.05
    spent: dict[str, int] = field(default_factory=dict)  # "<key or site>|<day>" -> requests
    rate_limited: int = 0
    concurrency_refused: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0

    def owns(self, path: str) -> bool:
        return path == "/v2/sites" or bool(OVERVIEW.match(path))

    # -- concurrency: the ASGI app calls these around `handle` -------------------------------------------
    def enter(self, client_ip: str) -> bool:
        if self.in_flight.get(client_ip, 0) >= self.max_concurrent:
            self.concurrency_refused += 1
            return False
        self.in_flight[client_ip] = self.in_flight.get(client_ip, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[client_ip])
        return True

    def leave(self, client_ip: str) -> None:
        self.in_flight[client_ip] = max(0, self.in_flight.get(client_ip, 0) - 1)

    def busy(self) -> Answer:
        return 429, problem(429, "Too Many Requests", f"at most {self.max_concurrent} concurrent calls per IP"), {}

    # -- the API -------------------------------------------------------------------------------------------
    def handle(self, path: str, headers: dict[str, str]) -> Answer:
        key = headers.get("x-api-key", "")
        if not KEY.match(key):
            return 403, problem(403, "Forbidden", "Invalid API key"), {}
        day = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        mine = account_sites(key, self.sites)
        if path == "/v2/sites":
            if not self._spend([key], day):
                return self._over(day)
            return 200, {"sites": [{"siteId": int(s), "name": f"Sandbox site {s[-3:]}", "status": "Active",
                                    "peakPower": 6.0} for s in mine]}, {}
        match = OVERVIEW.match(path)
        assert match is not None
        ids = [s for s in match.group(1).split(",") if s]
        if not ids or len(ids) > MAX_BULK:
            return 400, problem(400, "Bad Request", f"1 to {MAX_BULK} site ids"), {}
        foreign = [s for s in ids if s not in mine]
        if foreign:
            return 403, problem(403, "Forbidden", f"site {foreign[0]} is not accessible with this key"), {}
        ids = list(dict.fromkeys(ids))
        if not self._spend([key, *ids], day):
            return self._over(day)
        for s in ids:
            self.requests[s] = self.requests.get(s, 0) + 1
        if len(ids) == 1:
            return 200, {"siteId": int(ids[0]), **self._overview(ids[0])}, {}
        return 200, {"sitesOverviews": {"count": len(ids), "siteEnergyList": [
            {"siteId": int(s), "siteOverview": self._overview(s)} for s in ids]}}, {}

    def _spend(self, counters: list[str], day: str) -> bool:
        if any(self.spent.get(f"{c}|{day}", 0) >= self.daily_limit for c in counters):
            return False
        for c in counters:
            self.spent[f"{c}|{day}"] = self.spent.get(f"{c}|{day}", 0) + 1
        return True

    def _over(self, day: str) -> Answer:
        self.rate_limited += 1
        return 429, problem(429, "Too Many Requests", f"daily limit of {self.daily_limit} requests reached for "
                                                      f"{day}"), {}

    def _overview(self, site: str) -> dict[str, Any]:
        now = self.clock()
        sim = self.devices.get(site)
        if sim is None:
            sim = self.devices[site] = Simulator.start(site_for(site, False), now)
        v = sim.advance(now)
        return {"lastUpdateTime": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "currentPower": {"power": round(v["ac_w"], 1)}, "lastDayData": {"energy": round(v["energy_today_wh"])},
                "lifeTimeData": {"energy": round(v["energy_total_wh"])}}

    def stats(self) -> dict[str, Any]:
        return {"spent": dict(self.spent), "rate_limited": self.rate_limited,
                "concurrency_refused": self.concurrency_refused, "max_in_flight": self.max_in_flight}
