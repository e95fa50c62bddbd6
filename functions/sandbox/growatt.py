"""A Growatt-OpenAPI-v4-shaped face of the sandbox, so that the Growatt adapter, its discovery and the
poller's Growatt path run locally against HTTP (and `tests/unit/vendors` hold these payloads to the
growatt-public-api models):

    POST /v4/new-api/queryDeviceList   header token, form page=1…  → {"code": 0, "data": {"count", "data":
         [{"deviceSn", "deviceType", "datalogSn", "createDate"}], "lastPager", …}, "message"}
    POST /v4/new-api/queryLastData     header token, form deviceType + deviceSn (≤ 100, comma-separated)
         → {"code": 0, "data": {"<deviceType>": [{"serialNum", …that family's last-data fields…}]}, "message"}

A token `gw-<name>` (4 to 64 letters, digits, '-' or '_') is an account with one device of every v4 family
(inv, storage, max, sph, spa, min, wit, sph-s, noah), serials `<6 hex of the token's hash><NN>`, each with
the field names, status codes and timestamps of its family; any other token gets code 2. A device of
another account, or asked as another type, is left out of the answer (as Growatt does). Values come from
the same physics as the sandbox's own API.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from functions.sandbox.physics import Simulator, site_for

FAMILIES = ("inv", "storage", "max", "sph", "spa", "min", "wit", "sph-s", "noah")
TOKEN = re.compile(r"^gw-[A-Za-z0-9_-]{4,64}$")
BATTERY = frozenset({"storage", "sph", "spa", "min", "wit", "sph-s", "noah"})
Answer = tuple[int, dict[str, Any]]


def account_devices(token: str) -> dict[str, str]:
    tag = hashlib.sha256(token.encode()).hexdigest()[:6].upper()
    return {f"{tag}{n:04d}": family for n, family in enumerate(FAMILIES, start=1)}


class GrowattFace:
    def __init__(self, clock: Callable[[], float], devices: dict[str, Simulator]) -> None:
        self.clock, self.devices = clock, devices

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        token = headers.get("token", "")
        if not TOKEN.match(token):
            return 200, {"code": 2, "message": "error_token (Invalid Secret Token)", "data": None}
        form = parse_qs(body.decode(errors="replace"))
        if path.endswith("/queryDeviceList"):
            return 200, self._device_list(token, (form.get("page") or ["1"])[0])
        kind = (form.get("deviceType") or [""])[0]
        serials = [s for s in (form.get("deviceSn") or [""])[0].split(",") if s]
        if kind not in FAMILIES or not serials:
            return 200, {"code": 10001, "message": "PARAMETER_ERROR: deviceType and deviceSn", "data": None}
        if len(serials) > 100:
            return 200, {"code": 10002, "message": "at most 100 devices per request", "data": None}
        mine = account_devices(token)
        rows = [self._last_data(sn, kind) for sn in dict.fromkeys(serials) if mine.get(sn) == kind]
        return 200, {"code": 0, "message": "SUCCESSFUL_OPERATION", "data": {kind: rows}}

    def _device_list(self, token: str, page: str) -> dict[str, Any]:
        rows = [{"deviceSn": sn, "deviceType": family, "datalogSn": f"QMN{sn}", "createDate": "2024-11-30 17:37:26"}
                for sn, family in account_devices(token).items()] if page == "1" else []
        return {"code": 0, "message": "SUCCESSFUL_OPERATION", "data": {
            "count": len(FAMILIES), "data": rows, "lastPager": True, "notPager": False, "pages": 1, "pageSize": 100,
            "startCount": 0}}

    def _last_data(self, serial: str, family: str) -> dict[str, Any]:
        now = self.clock()
        sim = self.devices.get(serial)
        if sim is None:
            sim = self.devices[serial] = Simulator.start(site_for(serial, family in BATTERY), now)
        v = sim.advance(now)
        ms = int(now * 1000)
        local = datetime.fromtimestamp(now, UTC).astimezone(timezone(timedelta(seconds=sim.site.utc_offset_s)))
        wall = local.strftime("%Y-%m-%d %H:%M:%S")
        pv, ac, temp = round(v["pv_w"], 1), round(v["ac_w"], 1), round(v["temp_c"], 1)
        today, total = round(v["energy_today_wh"] / 1000, 1), round(v["energy_total_wh"] / 1000, 1)
        charge, discharge = round(max(0.0, v["battery_w"]), 1), round(max(0.0, -v["battery_w"]), 1)
        to_user, to_grid = round(max(0.0, v["grid_w"]), 1), round(max(0.0, -v["grid_w"]), 1)
        soc, producing = round(v["soc_pct"], 1), v["pv_w"] > 0
        row: dict[str, Any] = {"serialNum": serial}
        if family == "inv":
            row |= {"timeCalendar": ms, "time": wall, "status": 1 if producing else 0, "ppv": pv, "pac": ac,
                    "temperature": temp, "powerToday": today, "powerTotal": total}
        elif family == "storage":
            status = 2 if charge > 1 else 3 if discharge > 1 else 1  # charging, discharging, online
            row |= {"calendar": ms, "time": wall, "status": status, "statusText": ("Charge", "Discharge", "Online")[
                    (2, 3, 1).index(status)], "lost": False, "ppv": pv, "capacity": soc, "pCharge": charge,
                    "pDischarge": discharge, "pacToUser": to_user, "pacToGrid": to_grid, "temperature": temp}
        elif family == "max":
            row |= {"calendar": ms, "timeCalendar": ms, "time": wall, "status": 1 if producing else 0, "ppv": pv,
                    "pac": ac, "eacToday": today, "eacTotal": total, "temperature": temp}
        elif family == "noah":
            row |= {"time": ms, "status": 1, "ppv": pv, "pac": ac, "eacToday": today, "eacTotal": total,
                    "totalBatteryPackSoc": int(soc)}
        else:  # sph, spa, min, wit, sph-s: the hybrid inverters
            row |= {"calendar": ms, "time": wall, "status": 5 if producing else 0, "lost": False,
                    "ppvInverter" if family == "spa" else "ppv": pv, "pac": ac, "eacToday": today, "eacTotal": total}
            if family in ("sph", "spa", "sph-s"):
                row |= {"soc": soc, "bmsSoc": int(soc), "pcharge1": charge, "pdischarge1": discharge}
            row |= {"pacToUserTotal": to_user, "pacToGridTotal": to_grid, "temp1": temp}
            if family == "min":
                row |= {"bmsSoc": soc, "pacToLocalLoad": round(v["load_w"], 1)}
            if family == "wit":
                row |= {"soc": soc, "batPower": round(v["battery_w"], 1)}
        return row
