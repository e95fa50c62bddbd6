"""The stream app under real uvicorn (in a thread, on a free port) against the machine's real Redis,
with in-memory tenants, jobs and inverters. Channel and inverter ids are unique per test, because other
test runs share the same Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn

from functions.stream.app import create_app
from functions.stream.deps import Services
from shared.errors import NotFound, Unauthorized
from shared.jobs.models import Attempt, JobSpec, RequestSpec, Status
from shared.jobs.record import JobRecord
from shared.streaming.directory import MemoryDirectory
from shared.streaming.hub import Hub
from shared.streaming.replay import ReplayLog
from shared.streaming.slots import StreamSlots

REDIS_URL = os.environ.get("STEADFAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "test-stream-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tenants:
    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    def tenant_for(self, api_key: str) -> str:
        if api_key not in self.keys:
            raise Unauthorized("unknown API key")
        return self.keys[api_key]


class Jobs:
    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}

    def put(self, tenant: str, job_id: str, status: Status, attempts: int = 0) -> JobRecord:
        now = datetime.now(UTC)
        record = JobRecord(id=job_id, tenant=tenant, status=status, created_at=now, updated_at=now,
                           attempts=attempts, spec=JobSpec(request=RequestSpec(url="https://example.com/hook")))
        self.records[job_id] = record
        return record

    def get(self, tenant: str, job_id: str) -> JobRecord:
        record = self.records.get(job_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"no job {job_id!r}")
        return record

    def attempts(self, tenant: str, job_id: str) -> list[Attempt]:
        self.get(tenant, job_id)
        return []

    def page(self, tenant: str, status: Status | None, limit: int, cursor: str | None,
             group: tuple[str, str] | None = None) -> tuple[list[JobRecord], str | None]:
        return [r for r in self.records.values() if r.tenant == tenant][:limit], None


@dataclass
class Served:
    url: str
    tenants: Tenants
    jobs: Jobs
    inverters: MemoryDirectory
    hub_name: str
    services: list[Services] = field(default_factory=list)

    @property
    def hub(self) -> Hub:
        return self.services[-1].hub


@dataclass
class Options:
    heartbeat_s: float = 0.5
    max_stream_s: float = 60
    queue_size: int = 256
    base_path: str = ""
    cors_origins: tuple[str, ...] = ()
    dev_api_key: str | None = None
    max_streams: int | None = None


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**options: Any) -> Served:
        opts = Options(**options)
        served = Served("", Tenants(), Jobs(), MemoryDirectory(), f"test-hub-{uuid.uuid4().hex[:8]}")

        def services() -> Services:
            s = Services(hub=Hub(REDIS_URL, queue_size=opts.queue_size, heartbeat_s=opts.heartbeat_s,
                                 client_name=served.hub_name),
                         replay=ReplayLog(REDIS_URL), tenants=served.tenants, jobs=served.jobs,
                         inverters=served.inverters, token_secret=SECRET, max_stream_s=opts.max_stream_s,
                         base_path=opts.base_path, dev_api_key=opts.dev_api_key,
                         slots=None if opts.max_streams is None else StreamSlots(
                             aioredis.Redis.from_url(REDIS_URL), opts.max_streams, 120,
                             f"test-slots-{uuid.uuid4().hex}:"))
            served.services.append(s)
            return s

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(services, opts.cors_origins), host="127.0.0.1", port=port,
                                               log_level="warning", timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        served.url = f"http://127.0.0.1:{port}"
        while not served.hub.connected.is_set():
            assert time.monotonic() < deadline, "the hub did not connect to Redis"
            time.sleep(0.02)
        return served

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class Event:
    event: str
    id: str | None
    data: str


async def sse_events(response: httpx.Response) -> AsyncIterator[Event | str]:
    """Events as an EventSource sees them; comments come through as strings (keep-alives)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
        elif line == "":
            if "event" in fields or "data" in fields:
                yield Event(fields.get("event", "message"), fields.get("id"), fields.get("data", ""))
            fields = {}
        else:
            name, _, value = line.partition(": ")
            fields[name] = value


async def take(events: AsyncIterator[Event | str], n: int, timeout_s: float = 5) -> list[Event]:
    out: list[Event] = []

    async def collect() -> None:
        async for e in events:
            if isinstance(e, Event):
                out.append(e)
                if len(out) == n:
                    return

    await asyncio.wait_for(collect(), timeout_s)
    return out
