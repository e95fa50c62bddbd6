"""Fixtures for telemetry integration tests: a moto server of our own (a subprocess on a free port), tables
as the topology declares them but per test, the machine's real Redis, and the sandbox vendor under
uvicorn in a thread.
Nothing here uses the fixed local-stack ports, so these tests run beside a developer's `make dev`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import redis
import uvicorn
from starlette.testclient import TestClient

from functions.poller import deps as poller_deps
from functions.sandbox.asgi import create_app
from functions.sandbox.vendor import SandboxVendor
from functions.submit import deps
from local.apigw import build_app
from local.runner import load_handler
from shared import aws
from shared.config import env
from shared.telemetry.adapters.sandbox import DEV_SANDBOX_TOKEN
from shared.telemetry.settings import telemetry_env
from shared.tenants import TenantStore
from shared.topology import ALERTS_TABLE, INVERTERS_TABLE, READINGS_TABLE, ROLLUPS_TABLE, TENANTS_TABLE, Table, function

REDIS_URL = os.environ.get("STEADFAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "SteadfastTest"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server with the topology's tables; the process's AWS clients point at it meanwhile."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*TEST_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**TEST_ENV, "AWS_ENDPOINT_URL": endpoint})
    aws.dynamodb.cache_clear()
    try:
        wait_http(endpoint, 120)  # moto takes ~30 s to start when the machine is busy
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        aws.dynamodb.cache_clear()


@dataclass(frozen=True)
class Tables:
    inverters: str
    readings: str
    tenants: str
    rollups: str
    alerts: str


def create_table(spec: Table, name: str) -> None:
    """A table as the topology declares it (keys, GSIs, TTL), under another name."""
    db = boto3.client("dynamodb")
    keys = {spec.partition_key, spec.sort_key} | {i.partition_key for i in spec.indexes} | {
        i.sort_key for i in spec.indexes if i.sort_key}
    kwargs: dict[str, Any] = {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": [{"AttributeName": spec.partition_key, "KeyType": "HASH"},
                      {"AttributeName": spec.sort_key, "KeyType": "RANGE"}]}
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [{
            "IndexName": i.name, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"}]
            + ([{"AttributeName": i.sort_key, "KeyType": "RANGE"}] if i.sort_key else [])} for i in spec.indexes]
    db.create_table(**kwargs)
    if spec.ttl_attribute:
        db.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                         "AttributeName": spec.ttl_attribute})


@pytest.fixture
def tables(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Tables:
    """Tables of this test alone (a poll reads every due inverter of its table), also in the environment."""
    suffix = uuid.uuid4().hex[:8]
    names = Tables(f"inverters-{suffix}", f"readings-{suffix}", f"tenants-{suffix}", f"rollups-{suffix}",
                   f"alerts-{suffix}")
    for spec, name in ((INVERTERS_TABLE, names.inverters), (READINGS_TABLE, names.readings),
                       (TENANTS_TABLE, names.tenants), (ROLLUPS_TABLE, names.rollups), (ALERTS_TABLE, names.alerts)):
        create_table(spec, name)
        monkeypatch.setenv(spec.env_var, name)
    return names


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@contextmanager
def serve_sandbox(min_interval_s: float) -> Iterator[tuple[str, SandboxVendor]]:
    with serve_vendor(SandboxVendor(token=DEV_SANDBOX_TOKEN, min_interval_s=min_interval_s)) as served:
        yield served


@contextmanager
def serve_vendor(vendor: SandboxVendor) -> Iterator[tuple[str, SandboxVendor]]:
    """`vendor` served on a free loopback port for the test: (base URL, the vendor's in-memory state)."""
    server = uvicorn.Server(uvicorn.Config(create_app(vendor), host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", vendor
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def sandbox() -> Iterator[Callable[[float], tuple[str, SandboxVendor]]]:
    """`sandbox(min_interval_s)` starts a sandbox vendor for this test: (base URL, its in-memory state)."""
    with ExitStack() as started:
        yield lambda min_interval_s: started.enter_context(serve_sandbox(min_interval_s))


@pytest.fixture
def fresh_env(tables: Tables) -> Iterator[None]:
    """Handlers read their environment once; let each test's settings through."""
    def clear() -> None:
        for c in (env, telemetry_env):
            c.cache_clear()
        deps.reset()
        poller_deps.reset()
    clear()
    yield
    clear()


@pytest.fixture
def tenant_api(fresh_env: None, tables: Tables) -> Iterator[Callable[[str], TestClient]]:
    """The submit function behind the API Gateway emulation, in this process: `tenant_api(tenant)` is a client with
    that tenant's API key (tenant-a and tenant-b exist)."""
    fn = function("submit")
    app = build_app(fn, load_handler(fn.handler))
    for tenant in ("tenant-a", "tenant-b"):
        TenantStore(tables.tenants).add_key(tenant, f"sk_test_{tenant}")
    with TestClient(app) as client:
        def as_tenant(tenant: str) -> TestClient:
            client.headers["authorization"] = f"Bearer sk_test_{tenant}"
            return client
        yield as_tenant
