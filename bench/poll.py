"""How long one poll of 10,000 sandbox inverters takes, and how many vendor requests it makes: with
per-tenant credentials (10,000 inverters over 500 connections of 20, each its own sandbox account token,
sealed in the inverters table and opened by the poller's connection cache: `poll_10k_s`), and, in the same
run, the same 10,000 under the stage's one shared connection (the baseline: `poll_10k_tenant_vs_shared`).

Against the sandbox vendor in a process of its own over loopback, the machine's Redis and a moto
server: the real poller (due query on the GSI, batched fetches within the vendor's token bucket,
BatchWriteItem of latest + history, pipelined XADD + PUBLISH). Two polls run: the first meets devices
the sandbox has never simulated (it replays each site's morning first); the second, five simulated
seconds later, is the steady state that every later poll repeats, and is the figure reported.

moto is slow (a few thousand items/s in batches); the DynamoDB calls are counted so that the figure
can be read for AWS too. Per-tenant credentials cost more vendor requests (a batch holds one connection's
devices of one type: 20 devices are 2 requests, not 0.2) and one BatchGetItem per 100 connections when the
cache is cold. `python -m bench.poll [N]` runs it alone.
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
from botocore.config import Config

from bench.harness import AwsCallCounter, moto_stack
from functions.sandbox.vendor import SandboxVendor
from local.cloud import _free_port
from shared import aws
from shared.channels import Keys
from shared.config import env as steadfast_env
from shared.envelope import sealer
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN, SandboxAdapter
from shared.telemetry.connection_adapters import ConnectionAdapterCache
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.connections import ConnectionRecord, Device
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterRecord, utcnow
from shared.telemetry.poller import CycleReport
from shared.telemetry.runtime import PollSettings, open_poller
from shared.telemetry.settings import telemetry_env
from shared.telemetry.vault import Vault

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PER_CONNECTION = 20


def _start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "STEADFAST_SANDBOX_MIN_INTERVAL_S": "1",
           "STEADFAST_SANDBOX_ACCOUNT_DEVICES": str(PER_CONNECTION)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "functions.sandbox.asgi:app", "--host", "127.0.0.1",
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


def _tenant_records(table: str, run_id: str, n: int, t0: Any) -> list[InverterRecord]:
    """`n` inverters over n / 20 connections, each a sandbox account of its own, credentials sealed."""
    connections, vault = ConnectionStore(table), Vault(sealer(steadfast_env()))
    accounts = SandboxVendor(token="", account_devices=PER_CONNECTION)
    records: list[InverterRecord] = []
    for c in range(n // PER_CONNECTION):
        tenant, token, con_id = f"bench-{run_id}-t{c:03d}", f"acct-bench{run_id}-{c:03d}", f"con_bench{run_id}{c:04d}"
        devices = accounts.account_serials(token)
        connections.create(ConnectionRecord(
            id=con_id, tenant=tenant, brand=Brand.sandbox, name=None, created_at=t0,
            devices=[Device(serial=sn, device_type=kind) for sn, kind in devices.items()],
            sealed_credentials=vault.seal(tenant, con_id, "sandbox", {"token": token})))
        records += [InverterRecord(id=f"inv_bench{run_id}t{c:03d}{i:02d}", tenant=tenant, brand=Brand.sandbox,
                                   serial=sn, device_type=kind, name=None, poll_interval_s=5, created_at=t0,
                                   next_poll_at=t0, connection_id=con_id)
                    for i, (sn, kind) in enumerate(devices.items())]
    return records


def _two_polls(settings: PollSettings, t0: Any, counter: AwsCallCounter) -> list[tuple[CycleReport, dict[str, int]]]:
    async def polls() -> list[tuple[CycleReport, dict[str, int]]]:
        out = []
        async with open_poller(settings) as (poller, _):
            for offset in (0, 5):
                counter.reset()
                report = await poller.cycle(now=t0 + timedelta(seconds=offset))
                out.append((report, dict(counter.reset())))
        return out
    return asyncio.run(polls())


def run(n: int = 10_000) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    sandbox, url = _start_sandbox()
    try:
        with moto_stack() as env:
            counter = AwsCallCounter()
            # moto answers a 10,000-item due query in pages that take over the clients' 10 s read timeout
            # when the machine is loaded: this benchmark waits (AWS answers such a page in milliseconds)
            aws._CONFIG = aws._CONFIG.merge(Config(read_timeout=120))
            aws.dynamodb.cache_clear()  # a client of the counted session, pointing at this moto
            steadfast_env.cache_clear()
            t0 = utcnow().replace(microsecond=0)
            store = InverterStore(env["INVERTERS_TABLE"])
            # Registered in bulk (the API's one transaction per inverter would only time moto).
            # The baseline: the stage's shared connection for all of them.
            shared = [InverterRecord(
                id=f"inv_bench{run_id}{i:06d}", tenant="bench", brand=Brand.sandbox, serial=f"SBX-B{run_id}-{i:06d}",
                device_type="hybrid" if i % 2 else "string", name=None, poll_interval_s=5, created_at=t0,
                next_poll_at=t0) for i in range(n)]
            store.save_poll_state(shared)
            settings = PollSettings(env["INVERTERS_TABLE"], env["READINGS_TABLE"], REDIS_URL,
                                    {Brand.sandbox: SandboxAdapter(url, DEV_SANDBOX_TOKEN)},
                                    max_devices=2 * n, keys=Keys(f"bench:{run_id}:"))
            (cold, cold_aws), (warm, warm_aws) = _two_polls(settings, t0, counter)
            # Per-tenant credentials: the same count, after the shared ones (moved out of the way a day)
            t1 = t0 + timedelta(seconds=20)
            store.save_poll_state([r.model_copy(update={"next_poll_at": t0 + timedelta(days=1)}) for r in shared])
            store.save_poll_state(_tenant_records(env["INVERTERS_TABLE"], run_id, n, t1))
            os.environ["STEADFAST_SANDBOX_URL"] = url  # where the connections' adapters call (a child process)
            telemetry_env.cache_clear()
            tenant_settings = PollSettings(
                env["INVERTERS_TABLE"], env["READINGS_TABLE"], REDIS_URL, {}, max_devices=2 * n,
                keys=Keys(f"bench:{run_id}:t:"),
                connections=ConnectionAdapterCache(ConnectionStore(env["INVERTERS_TABLE"]),
                                                   Vault(sealer(steadfast_env())), telemetry_env()))
            (t_cold, t_cold_aws), (t_warm, t_warm_aws) = _two_polls(tenant_settings, t1, counter)
            stats = httpx.get(f"{url}/_stats", timeout=30).json()
            errors = sorted({r.last_error or "" for r in store.due(t1 + timedelta(hours=1), 100) if r.last_error})
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"inverter:inv_bench{run_id}*", count=1000):
            client.delete(key)
        client.close()
    per_device = stats["requests"].values()
    return {
        "poll_10k_s": round(t_warm.duration_s, 2),
        "poll_10k_vendor_calls": t_warm.vendors["sandbox"].vendor_calls,
        "poll_10k_shared_s": round(warm.duration_s, 2),
        "poll_10k_tenant_vs_shared": round(t_warm.duration_s / warm.duration_s, 2) if warm.duration_s else None,
        "poll_10k": {"devices": n, "connections": n // PER_CONNECTION,
                     "tenant": {"steady": _figures(t_warm, t_warm_aws), "first_sight": _figures(t_cold, t_cold_aws)},
                     "shared": {"steady": _figures(warm, warm_aws), "first_sight": _figures(cold, cold_aws)},
                     "sandbox_requests_per_device": sorted(set(per_device)),
                     "sandbox_rate_limited": stats["rate_limited"], "errors": errors[:5]},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
