"""Alert latency on the local cloud: from the moment a device goes dark to the offline incident's opening
delivered, as a job, to a loopback receiver.

One local stack (`steadfast dev`, poll cycle every 2 s), a sandbox inverter polled every 5 s with a reading,
an `offline` rule with for_s 10 notifying a loopback app. Then the sandbox takes the device away
(`/_control/offline`) and the clock runs until the receiver has the opening. Target: for_s + one poll
interval + 5 s (the condition is judged at a poll, the job then goes through the queue and the worker);
`alert_latency_vs_target` is the latency over that target, same run. ROUNDS devices, one after the other;
the figure is the worst.

    python -m bench.alerts
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import serve
from local.launch import start_stack, stop_stack

FOR_S, INTERVAL_S, ROUNDS = 10, 5, 3


def _wait(fetch: Any, timeout_s: float, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(every_s)
    return None


def run(home: Path | None = None) -> dict[str, Any]:
    arrived: dict[str, float] = {}

    async def hook(request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("state") == "open":
            arrived.setdefault(body["inverter_id"], time.time())
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/alerts", hook, methods=["POST"])])
    workdir = home or Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    proc, stack = start_stack(workdir, {"STEADFAST_TENANT_RATE": "1000/s", "STEADFAST_TENANT_BURST": "5000"})
    latencies: list[float] = []
    try:
        with serve(receiver) as url, httpx.Client(base_url=stack.api_url, timeout=30, headers={
                "authorization": f"Bearer {stack.dev_api_key}"}) as api:
            for _ in range(ROUNDS):
                serial = f"SBX-ALERT-{uuid.uuid4().hex[:8]}"
                inverter = api.post("/v1/inverters", json={"brand": "sandbox", "serial": serial,
                                                           "poll_interval_s": INTERVAL_S}).json()
                _wait(lambda i=inverter: api.get(f"/v1/inverters/{i['id']}").json()["latest"], 60, 0.3)
                rule = api.post("/v1/alert-rules", json={"inverter_id": inverter["id"], "condition": "offline",
                                                         "for_s": FOR_S, "notify_url": f"{url}/alerts"})
                rule.raise_for_status()
                httpx.post(f"{stack.sandbox_url}/_control/offline",
                           json={"serial": serial, "offline": True}).raise_for_status()
                dark_at = time.time()
                got = _wait(lambda i=inverter: arrived.get(i["id"]), 120)
                if got is None:
                    raise RuntimeError(f"no incident delivered for {inverter['id']} within 120 s")
                latencies.append(round(got - dark_at, 2))
                api.delete(f"/v1/alert-rules/{rule.json()['id']}")
    finally:
        stop_stack(proc)
    target = FOR_S + INTERVAL_S + 5
    worst = max(latencies)
    return {"alert_latency_s": worst, "alert_latency_target_s": target,
            "alert_latency_vs_target": round(worst / target, 3),
            "alert_details": {"latencies_s": latencies, "for_s": FOR_S, "poll_interval_s": INTERVAL_S,
                              "poll_cycle_s": 2}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
