"""The sandbox vendor's API, independent of any HTTP framework: the Starlette app (`app.py`) and the
Lambda handler (`handler.py`) both call `SandboxVendor.handle`.

Its contract, with the quirks of a real vendor cloud on purpose:

    POST /v1/devices/last-data          header X-Sandbox-Token: <token>
         Content-Type: application/x-www-form-urlencoded (JSON is refused with 415)
         deviceType=hybrid|string & serials=SN1,SN2,…   (1 to 100 serials, one device type per call)
      200 {"code": 0, "msg": "ok", "serverTime": <epoch s>, "data": {"SN1": {…}, "SN2": {"err": …}}}
          field names depend on the device type:
            hybrid  {"ts": epoch ms, "st": "NORMAL"|"STANDBY", "pvW", "acW", "gridW" (+import),
                     "loadW", "batW" (+charging), "socPct", "eDayWh" (Wh, integer), "eTotalKWh", "tempC"}
            string  {"time": "YYYY-MM-DD HH:MM:SS" in the site's civil time, "tzOffsetMin",
                     "status": 0 waiting | 1 normal, "ppv", "pac", "eToday" (kWh), "eTotal" (kWh),
                     "temperature"}   — no meter, so no grid, load or battery
          a serial over its rate limit: {"err": "rate_limited", "retryAfter": s}
          a serial first seen as the other type: {"err": "type_mismatch"}
      429 when every serial of the call is over its limit (Retry-After: whole seconds)
      401 bad token, 400 bad form ({"code": 10, …}), 413 more than 100 serials ({"code": 11, …})
    GET /v1/devices[?serial=SN]         header X-Sandbox-Token: <token>   (discovery)
      200 {"code": 0, "msg": "ok", "data": {"devices": [{"sn": …, "type": "hybrid"|"string"|null, "alias": …}]}}
    POST /v4/new-api/queryDeviceList|queryLastData   a Growatt-v4-shaped face (functions/sandbox/growatt.py)
    GET /v2/sites, GET /v2/sites/{id[,id…]}/overview   a SolarEdge-shaped face with SolarEdge's daily and
         concurrency limits (functions/sandbox/solaredge.py; STEADFAST_SANDBOX_SOLAREDGE_DAILY, default 300)
    GET /_stats  → {"requests": {"<serial>": n, …}, "served": {"<serial>": n, …}, "rate_limited": n}
                   (requests: every call naming a serial; served: the readings the last-data route answered)
    GET /_stats/solaredge → {"spent": {"<key or site>|<day>": n}, "rate_limited", "concurrency_refused",
         "max_in_flight"}   (the SolarEdge face's budgets)
    POST /_control/offline {"serial": "…", "offline": true|false}  → {"offline": [serials]}: an offline
         device answers {"err": "offline"} (as a vendor cloud that has lost it), so that tests and
         benchmarks can take a device away and bring it back
    GET /v1/health

Accounts. A token `acct-<name>` (4 to 64 letters, digits, '-' or '_' after the prefix) is an account of
its own: it sees `account_devices` simulated devices (default 3, STEADFAST_SANDBOX_ACCOUNT_DEVICES),
serials `SBXA-<8 hex of the token's hash>-NN`, hybrid and string alternating, and nothing else (another
serial answers {"err": "no_permission"}, as a real vendor leaves out what a token may not read). The
stage token (`token`) is the shared account: it sees every serial except account serials, and simulates
a device on first request as the type asked for (its listing reports `type: null` for one it has not
simulated yet). Any other token is refused with 401 {"code": 2, "msg": "invalid token"}. Accounts need
no state, so the deployed (Lambda) sandbox has them too.

Rate limit: one request per device per `min_interval_s` (GCRA, with 20 % tolerance for a scheduler's
jitter; the long-run rate never exceeds the limit). Devices appear on first request; their state lives
in this process, deterministic per serial.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from functions.sandbox.growatt import GrowattFace
from functions.sandbox.physics import Simulator, site_for
from functions.sandbox.solaredge import SolarEdgeFace
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN

MAX_SERIALS = 100
DEVICE_TYPES = ("hybrid", "string")
TOLERANCE = 0.2
ACCOUNT_TOKEN = re.compile(r"^acct-[A-Za-z0-9_-]{4,64}$")
ACCOUNT_SERIAL = re.compile(r"^SBXA-[0-9a-f]{8}-\d{2}$")


@dataclass(frozen=True)
class VendorResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class DeviceLimiter:
    """Generic cell rate algorithm per serial: `tat` is when the next request is on time."""

    interval_s: float
    tat: dict[str, float] = field(default_factory=dict)

    def wait_s(self, serial: str, now: float) -> float:
        """0 (and the request is counted) when allowed, else the seconds until it would be."""
        tat = max(self.tat.get(serial, now), now)
        early = tat - now - TOLERANCE * self.interval_s
        if early > 0:
            return early
        self.tat[serial] = tat + self.interval_s
        return 0.0


@dataclass
class SandboxVendor:
    token: str
    min_interval_s: float = 5.0
    clock: Callable[[], float] = time.time
    devices: dict[str, Simulator] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # readings answered per serial (the last-data route)
    rate_limited: int = 0
    offline: set[str] = field(default_factory=set)
    account_devices: int = 3
    # The SolarEdge face: requests a day per key and per site, sites per key, seconds each call is held.
    solaredge_daily: int = 300
    solaredge_sites: int = 3
    solaredge_latency_s: float = 0.05

    def __post_init__(self) -> None:
        self.limiter = DeviceLimiter(self.min_interval_s)
        self.growatt = GrowattFace(self.clock, self.devices)
        self.solaredge = SolarEdgeFace(self.clock, self.devices, self.requests, daily_limit=self.solaredge_daily,
                                       sites=self.solaredge_sites, latency_s=self.solaredge_latency_s)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes,
               query: str = "") -> VendorResponse:
        """`headers` with lower-case names; `query` the raw query string."""
        if method == "GET" and path == "/_stats":
            return VendorResponse(200, self.stats())
        if method == "GET" and path == "/_stats/solaredge":
            return VendorResponse(200, self.solaredge.stats())
        if method == "GET" and path == "/v1/health":
            return VendorResponse(200, {"status": "ok"})
        if method == "POST" and path == "/v1/devices/last-data":
            return self.last_data(headers, body)
        if method == "POST" and path == "/_control/offline":
            return self.set_offline(body)
        if method == "GET" and path == "/v1/devices":
            return self.device_list(headers, query)
        if method == "GET" and self.solaredge.owns(path):
            status, answer, extra = self.solaredge.handle(path, headers)
            return VendorResponse(status, answer, extra)
        if method == "POST" and path in ("/v4/new-api/queryDeviceList", "/v4/new-api/queryLastData"):
            status, answer = self.growatt.handle(path, headers, body)
            return VendorResponse(status, answer)
        if allowed := self.methods_at(path):
            return VendorResponse(405, {"code": 405, "msg": f"{method} is not allowed on {path}"},
                                  {"Allow": ", ".join(allowed)})
        return VendorResponse(404, {"code": 404, "msg": f"no route {method} {path}"})

    def methods_at(self, path: str) -> list[str]:
        """The methods `handle` answers at `path` (empty: no such path), for a 405's `Allow`."""
        if path in ("/_stats", "/_stats/solaredge", "/v1/health", "/v1/devices") or self.solaredge.owns(path):
            return ["GET"]
        if path in ("/v1/devices/last-data", "/_control/offline", "/v4/new-api/queryDeviceList",
                    "/v4/new-api/queryLastData"):
            return ["POST"]
        return []

    def stats(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "served": dict(self.served), "rate_limited": self.rate_limited}

    def set_offline(self, body: bytes) -> VendorResponse:
        try:
            control = json.loads(body)
        except ValueError:
            control = None
        # JSON's own true and false only: bool("false") is True, and took the device away.
        serial, offline = (control.get("serial"), control.get("offline")) if isinstance(control, dict) else (None, None)
        if not isinstance(serial, str) or not serial or not isinstance(offline, bool):
            return VendorResponse(400, {"code": 10, "msg": 'send {"serial": "…", "offline": true|false}'})
        (self.offline.add if offline else self.offline.discard)(serial)
        return VendorResponse(200, {"offline": sorted(self.offline)})
    # -- accounts --------------------------------------------------------------------------------
    def account_of(self, headers: dict[str, str]) -> str | None:
        """The empty string for the shared account, the token for an account, None for a refused token."""
        token = headers.get("x-sandbox-token") or ""
        if token == self.token:
            return ""
        return token if ACCOUNT_TOKEN.match(token) else None

    def account_serials(self, account: str) -> dict[str, str]:
        """An account's devices: serial -> device type."""
        tag = hashlib.sha256(account.encode()).hexdigest()[:8]
        return {f"SBXA-{tag}-{n:02d}": DEVICE_TYPES[(n - 1) % 2] for n in range(1, self.account_devices + 1)}

    def visible(self, account: str, serial: str) -> bool:
        if account:
            return serial in self.account_serials(account)
        return not ACCOUNT_SERIAL.match(serial)

    def device_list(self, headers: dict[str, str], query: str) -> VendorResponse:
        account = self.account_of(headers)
        if account is None:
            return VendorResponse(401, {"code": 2, "msg": "invalid token"})
        wanted = (parse_qs(query).get("serial") or [""])[0]
        found: dict[str, str | None]
        if account:
            found = dict(self.account_serials(account))
        elif wanted:
            sim = self.devices.get(wanted)
            found = {wanted: ("hybrid" if sim.site.hybrid else "string") if sim else None}
        else:
            found = {sn: "hybrid" if sim.site.hybrid else "string" for sn, sim in self.devices.items()
                     if not ACCOUNT_SERIAL.match(sn)}
        devices = [{"sn": sn, "type": kind, "alias": f"Sandbox {kind or 'device'} {sn[-2:]}"}
                   for sn, kind in found.items() if self.visible(account, sn) and (not wanted or sn == wanted)]
        return VendorResponse(200, {"code": 0, "msg": "ok", "data": {"devices": devices}})

    def last_data(self, headers: dict[str, str], body: bytes) -> VendorResponse:
        account = self.account_of(headers)
        if account is None:
            return VendorResponse(401, {"code": 2, "msg": "invalid token"})
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return VendorResponse(415, {"code": 10, "msg": "send application/x-www-form-urlencoded"})
        try:
            form = parse_qs(body.decode(), strict_parsing=False)
        except UnicodeDecodeError:
            return VendorResponse(400, {"code": 10, "msg": "form is not UTF-8"})
        device_type = (form.get("deviceType") or [""])[0]
        serials = [s for s in (form.get("serials") or [""])[0].split(",") if s]
        if device_type not in DEVICE_TYPES or not serials:
            return VendorResponse(400, {"code": 10, "msg": "deviceType (hybrid|string) and serials are required"})
        if len(serials) > MAX_SERIALS:
            return VendorResponse(413, {"code": 11, "msg": f"at most {MAX_SERIALS} serials per request"})
        now = self.clock()
        data: dict[str, Any] = {}
        waits: list[float] = []
        for serial in dict.fromkeys(serials):  # a repeated serial is one device, counted once
            self.requests[serial] = self.requests.get(serial, 0) + 1
            if not self.visible(account, serial):
                data[serial] = {"err": "no_permission"}
                continue
            if account and self.account_serials(account)[serial] != device_type:
                data[serial] = {"err": "type_mismatch", "msg": f"{serial} is not a {device_type} device"}
                continue
            wait = self.limiter.wait_s(serial, now)
            if serial in self.offline:
                data[serial] = {"err": "offline", "msg": "the device has not reported"}
            elif wait > 0:
                self.rate_limited += 1
                waits.append(wait)
                data[serial] = {"err": "rate_limited", "retryAfter": round(wait, 1)}
            else:
                data[serial] = self._sample(serial, device_type, now)
                if "err" not in data[serial]:
                    self.served[serial] = self.served.get(serial, 0) + 1
        if waits and len(waits) == len(data):
            return VendorResponse(429, {"code": 429, "msg": "too many requests for these devices"},
                                  {"Retry-After": str(math.ceil(min(waits)))})
        return VendorResponse(200, {"code": 0, "msg": "ok", "serverTime": int(now), "data": data})

    def _sample(self, serial: str, device_type: str, now: float) -> dict[str, Any]:
        hybrid = device_type == "hybrid"
        sim = self.devices.get(serial)
        if sim is None:
            sim = self.devices[serial] = Simulator.start(site_for(serial, hybrid), now)
        elif sim.site.hybrid != hybrid:
            return {"err": "type_mismatch", "msg": f"{serial} is not a {device_type} device"}
        v = sim.advance(now)
        producing = v["pv_w"] > 0
        if hybrid:
            active = producing or abs(v["battery_w"]) > 1
            return {"ts": int(now * 1000), "st": "NORMAL" if active else "STANDBY", "pvW": round(v["pv_w"], 1),
                    "acW": round(v["ac_w"], 1), "gridW": round(v["grid_w"], 1), "loadW": round(v["load_w"], 1),
                    "batW": round(v["battery_w"], 1), "socPct": round(v["soc_pct"], 1),
                    "eDayWh": int(v["energy_today_wh"]), "eTotalKWh": round(v["energy_total_wh"] / 1000, 3),
                    "tempC": round(v["temp_c"], 1)}
        offset = sim.site.utc_offset_s
        local = datetime.fromtimestamp(now, UTC).astimezone(timezone(timedelta(seconds=offset)))
        return {"time": local.strftime("%Y-%m-%d %H:%M:%S"), "tzOffsetMin": offset // 60,
                "status": 1 if producing else 0, "ppv": round(v["pv_w"], 1), "pac": round(v["ac_w"], 1),
                "eToday": round(v["energy_today_wh"] / 1000, 3), "eTotal": round(v["energy_total_wh"] / 1000, 3),
                "temperature": round(v["temp_c"], 1)}


def vendor_from_env() -> SandboxVendor:
    """STEADFAST_SANDBOX_MIN_INTERVAL_S (default 5) and STEADFAST_SANDBOX_TOKEN (default: the dev token
    that the poller's sandbox adapter also falls back to), read once at start-up."""
    return SandboxVendor(token=os.environ.get("STEADFAST_SANDBOX_TOKEN") or DEV_SANDBOX_TOKEN,
                         min_interval_s=float(os.environ.get("STEADFAST_SANDBOX_MIN_INTERVAL_S") or 5),
                         account_devices=int(os.environ.get("STEADFAST_SANDBOX_ACCOUNT_DEVICES") or 3),
                         solaredge_daily=int(os.environ.get("STEADFAST_SANDBOX_SOLAREDGE_DAILY") or 300),
                         solaredge_sites=int(os.environ.get("STEADFAST_SANDBOX_SOLAREDGE_SITES") or 3),
                         solaredge_latency_s=float(os.environ.get("STEADFAST_SANDBOX_SOLAREDGE_LATENCY_S") or 0.05))
