"""How long one poll of 10,000 sandbox inverters takes, and how many vendor requests it makes.

Against the sandbox vendor in a process of its own over loopback, the machine's Redis and a moto
server: the real poller (due query on the GSI, batched fetches within the vendor's token bucket,
BatchWriteItem of latest + history, pipelined XADD + PUBLISH). Two polls run: the first meets devices
the sandbox has never simulated (it replays each site's morning first); the second, five simulated
seconds later, is the steady state that every later poll repeats, and is the figure reported.

moto is slow (a few thousand items/s in batches); the DynamoDB calls are counted so that the figure
can be read for AWS too. `python -m bench.poll [N]` runs it alone.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import redis

from bench.harness import AwsCallCounter, moto_stack
from local.cloud import _free_port
from shared import aws
from shared.channels import Keys
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterRecord, utcnow
from shared.telemetry.poller import CycleReport
from shared.telemetry.runtime import PollSettings, open_poller

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "STEADFAST_SANDBOX_MIN_INTERVAL_S": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "local.sandbox.app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)


def _figures(report: CycleReport, aws: dict[str, int]) -> dict[str, Any]:
    sandbox = report.vendors["sandbox"]
    return {"seconds": round(report.duration_s, 2), "phases_s": report.phases, "due": report.due,
            "vendor_requests": sandbox.vendor_calls, "readings": sandbox.readings, "published": sandbox.published,
            "failures": sandbox.failures, "dynamodb_calls": aws}


def run(n: int = 10_000) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    sandbox, url = _start_sandbox()
    try:
        with moto_stack() as env:
            counter = AwsCallCounter()
            aws.dynamodb.cache_clear()  # a client of the counted session, pointing at this moto
            t0 = utcnow().replace(microsecond=0)
            store = InverterStore(env["INVERTERS_TABLE"])
            # Registered in bulk (the API's one transaction per inverter would only time moto).
            store.save_poll_state([InverterRecord(
                id=f"inv_bench{run_id}{i:06d}", tenant="bench", brand=Brand.sandbox, serial=f"SBX-B{run_id}-{i:06d}",
                device_type="hybrid" if i % 2 else "string", name=None, poll_interval_s=5, created_at=t0,
                next_poll_at=t0) for i in range(n)])
            settings = PollSettings(env["INVERTERS_TABLE"], env["READINGS_TABLE"], REDIS_URL,
                                    {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)},
                                    max_devices=2 * n, keys=Keys(f"bench:{run_id}:"))

            async def two_polls() -> list[tuple[CycleReport, dict[str, int]]]:
                out = []
                async with open_poller(settings) as (poller, _):
                    for offset in (0, 5):
                        counter.reset()
                        report = await poller.cycle(now=t0 + timedelta(seconds=offset))
                        out.append((report, dict(counter.reset())))
                return out

            (cold, cold_aws), (warm, warm_aws) = asyncio.run(two_polls())
            stats = httpx.get(f"{url}/_stats", timeout=30).json()
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"inverter:inv_bench{run_id}*", count=1000):
            client.delete(key)
        client.close()
    per_device = stats["requests"].values()
    return {
        "poll_10k_s": round(warm.duration_s, 2),
        "poll_10k_vendor_calls": warm.vendors["sandbox"].vendor_calls,
        "poll_10k": {"devices": n, "steady": _figures(warm, warm_aws), "first_sight": _figures(cold, cold_aws),
                     "sandbox_requests_per_device": sorted(set(per_device)),
                     "sandbox_rate_limited": stats["rate_limited"]},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
