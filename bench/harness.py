"""What the benchmarks share: an embedded moto server with the topology's resources, a loopback target,
and an AWS call counter hooked into botocore."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import uvicorn

from local.cloud import _free_port, wait_http
from local.resources import create_resources, local_aws_env


@contextmanager
def moto_stack() -> Iterator[dict[str, str]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        if not wait_http(f"{endpoint}/moto-api/", 30):
            raise RuntimeError("moto did not start")
        env = local_aws_env(endpoint) | {"POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "1",
                                         "STEADFAST_ALLOW_PRIVATE_TARGETS": "true", "LAMBDA_TASK_ROOT": os.getcwd()}
        os.environ.update(env)
        env |= create_resources()
        os.environ.update(env)
        yield env
    finally:
        proc.terminate()
        proc.wait()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


class AwsCallCounter:
    """Counts every AWS API call made through boto3's default session, by service and operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def reset(self) -> Counter[str]:
        out, self.calls = self.calls, Counter()
        return out


@contextmanager
def serve_process(app: str) -> Iterator[str]:
    """An ASGI app ("module:attr") under uvicorn in a process of its own: a target that does not share
    this process's interpreter lock with the code being measured."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "error", "--no-access-log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_http(f"{url}/status/200", 30):
            raise RuntimeError(f"{app} did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
