"""Fixtures of the inbound-webhook tests: a real loopback receiver (the tenant's app) that can go down,
and helpers that create sources and tenants on the session's local stack."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.cloud import _free_port
from local.launch import ROOT
from local.stack import StackState


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """The tenant's app on loopback. `down(s)` closes its port for s seconds (connection refused), as an
    app that is being redeployed would be."""

    port: int = field(default_factory=_free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _record(self, request: Request) -> Response:
        self.deliveries.append(Delivery(request.url.path, dict(request.headers), await request.body(), time.time()))
        return JSONResponse({"ok": True})

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._record, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def down(self, seconds: float) -> threading.Timer:
        self.stop()
        timer = threading.Timer(seconds, self.start)
        timer.start()
        return timer

    def to(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    try:
        yield r
    finally:
        r.stop()


def cli(stack: StackState, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, input=stdin,
                          env={**os.environ, "STEADFAST_HOME": stack.home}, capture_output=True, text=True)


def create_source(api: httpx.Client, verify: dict[str, Any], destinations: list[dict[str, Any]],
                  **extra: Any) -> dict[str, Any]:
    r = api.post("/v1/sources", json={"name": "test", "verify": verify, "destinations": destinations, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


FAST_RETRY = {"max_attempts": 30, "base_delay_s": 0.3, "max_delay_s": 1.5, "jitter": "none"}
