"""`steadfast dev`: the whole stack on a laptop, no Docker, no AWS account.

An embedded moto server in a process of its own (state survives a function crash), the topology's
tables and queues created on it, Redis (REDIS_URL if it answers, else an embedded redis-server), then
one process per function wired to its local trigger (`local.runner`), the sandbox vendor and a flaky
demo target. Children that die are restarted; Ctrl-C stops every one of them.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from local.resources import create_resources, local_aws_env
from local.stack import Ports, StackState, home
from shared import redis_client
from shared.config import DEFAULT_METRICS_NAMESPACE
from shared.topology import FUNCTIONS, HttpApi, StreamingUrl

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
HEALTHY_RUN_S = 5.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    restart: bool = True
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    not_before: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.log = self.log or self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def stop(self, grace_s: float = 3.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(url: str, timeout_s: float = 30.0) -> bool:
    """Whether `url` answered (any status under 500) within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@dataclass
class LocalCloud:
    ports: Ports = field(default_factory=Ports.from_env)
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    state: StackState | None = None
    aws_label: str = "AWS (moto)"

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, *args]

    def _child(self, name: str, argv: list[str], env: dict[str, str], restart: bool = True) -> Child:
        logs = home() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        child = Child(name, argv, env, logs / f"{name}.log", restart)
        child.start()
        self.children.append(child)
        return child

    def _aws(self) -> str:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            self.aws_label = "AWS (AWS_ENDPOINT_URL)"
            return endpoint
        endpoint = self._moto("moto", self.ports.aws)
        if not os.environ.get("AWS_ENDPOINT_URL_SQS"):
            # SQS in a moto process of its own: one interpreter serves one request at a time (its GIL), and
            # DynamoDB's and SQS's calls then run side by side on two cores (README: "Inbound webhooks").
            os.environ["AWS_ENDPOINT_URL_SQS"] = self._moto("moto-sqs", _free_port())
        return endpoint

    def _moto(self, name: str, port: int) -> str:
        endpoint = f"http://127.0.0.1:{port}"
        self._child(name, self._python("-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)),
                    dict(os.environ), restart=False)
        if not wait_http(f"{endpoint}/moto-api/", 120):
            raise RuntimeError(f"moto did not start on port {port} (see {home() / 'logs' / (name + '.log')})")
        return endpoint

    def _redis(self) -> str:
        url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
        if redis_client.answers(url):
            return url
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(f"Redis at {url} does not answer and no redis-server is installed "
                               "(apt-get install redis-server, or set REDIS_URL)")
        port = _free_port()
        self._child("redis", [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                              "--appendonly", "no"], dict(os.environ), restart=False)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not redis_client.answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError("the embedded redis-server did not start")
            time.sleep(0.1)
        return url

    def start(self) -> StackState:
        aws_endpoint = self._aws()
        account = f"{self.ports.api:012d}"  # this stack's own account on a shared emulator (see local_aws_env)
        os.environ.update(local_aws_env(aws_endpoint, account))
        redis_url = self._redis()
        visibility = os.environ.get("STEADFAST_VISIBILITY_S")
        resources = create_resources(int(visibility) if visibility else None)
        dev_key = os.environ.get("STEADFAST_DEV_API_KEY", "sk_dev_local")
        api_url, stream_url = f"http://127.0.0.1:{self.ports.api}", f"http://127.0.0.1:{self.ports.stream}"
        sandbox_url = f"http://127.0.0.1:{self.ports.sandbox}"
        fn_env = {
            **local_aws_env(aws_endpoint, account), **resources, "REDIS_URL": redis_url, "STEADFAST_STAGE": "local",
            # Stacks sharing one Redis keep apart: every key and channel of this one starts with it.
            "STEADFAST_REDIS_PREFIX": os.environ.get("STEADFAST_REDIS_PREFIX", f"local:{self.ports.api}:"),
            "STEADFAST_ALLOW_PRIVATE_TARGETS": os.environ.get("STEADFAST_ALLOW_PRIVATE_TARGETS", "true"),
            "STEADFAST_STREAM_TOKEN_SECRET": os.environ.get("STEADFAST_STREAM_TOKEN_SECRET", secrets.token_hex(32)),
            # Wraps the data keys of secrets at rest (shared.envelope); the stack's state lives as long as it.
            "STEADFAST_LOCAL_DATA_KEY": os.environ.get("STEADFAST_LOCAL_DATA_KEY", secrets.token_hex(32)),
            "STEADFAST_SANDBOX_URL": sandbox_url, "STEADFAST_API_URL": api_url,
            "STEADFAST_CORS_ORIGINS": f"{stream_url},http://localhost:{self.ports.stream}",
            "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": DEFAULT_METRICS_NAMESPACE,
            "POWERTOOLS_SERVICE_NAME": "steadfast", "PYTHONUNBUFFERED": "1",
        }
        os.environ.update(fn_env)
        from local.seed import seed  # after the environment points at the local stack
        seed(dev_key)
        child_env = {**os.environ, **fn_env}
        self._child("demo-target", self._python("-m", "local.runner", "--asgi", "local.demo_target:app",
                                                "--port", str(self.ports.demo)), child_env)
        if _importable("functions.sandbox.asgi"):
            self._child("sandbox", self._python("-m", "local.runner", "--asgi", "functions.sandbox.asgi:app",
                                                "--port", str(self.ports.sandbox)), child_env)
        for fn in FUNCTIONS:
            if fn.name == "sandbox" or (isinstance(fn.trigger, HttpApi) and fn.trigger.shares_api):
                continue  # the sandbox runs above; a function sharing an API is served by that API's process
            port = {HttpApi: self.ports.api, StreamingUrl: self.ports.stream}.get(type(fn.trigger), 0)
            module = fn.module
            if not _importable(module):
                print(f"  (function {fn.name} is not built yet; skipped)", file=sys.stderr)
                continue
            self._child(fn.name, self._python("-m", "local.runner", fn.name, "--port", str(port)), {
                **child_env, "POWERTOOLS_SERVICE_NAME": f"steadfast-{fn.name}"})
        for url in (f"{api_url}/v1/health", f"http://127.0.0.1:{self.ports.demo}/_applied"):
            if not wait_http(url, 180):  # generous: on a loaded 2-core machine the imports alone take ~60 s
                raise RuntimeError(f"{url} did not come up (logs in {home() / 'logs'})")
        if any(c.name == "stream" for c in self.children):
            wait_http(f"{stream_url}/v1/health", 30)
        state = StackState(pid=os.getpid(), home=str(home()), api_url=api_url, stream_url=stream_url,
                           sandbox_url=sandbox_url, demo_target_url=f"http://127.0.0.1:{self.ports.demo}",
                           aws_endpoint=aws_endpoint, redis_url=redis_url, dev_api_key=dev_key, function_env=fn_env)
        state.save()
        self.state = state
        return state

    def supervise(self) -> None:
        """Restart function processes that die (as Lambda starts a new execution environment)."""
        while not self.stopping:
            for child in self.children:
                if child.proc and child.proc.poll() is not None and not self.stopping:
                    if not child.restart:
                        raise RuntimeError(f"{child.name} exited (code {child.proc.returncode}); see {child.log_path}")
                    now = time.monotonic()
                    if child.not_before == 0.0:
                        # A crash loop backs off (0.5 s doubling to 30 s), like a failing Lambda init; a
                        # process that ran healthily for a while before it died starts over at 0.5 s.
                        child.restarts = 1 if now - child.started_at > HEALTHY_RUN_S else child.restarts + 1
                        child.not_before = now + min(30.0, 0.5 * 2 ** min(child.restarts - 1, 6))
                        print(f"  {child.name} exited with {child.proc.returncode}; restarting", file=sys.stderr)
                    elif now >= child.not_before:
                        child.not_before = 0.0
                        child.start()
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()
        if self.state is not None:
            self.state.forget()


def banner(state: StackState, aws_label: str = "AWS (moto)") -> str:
    return "\n".join([
        "Steadfast is running locally.",
        f"  HTTP API        {state.api_url}   (OpenAPI: {state.api_url}/v1/openapi.json)",
        f"  Dashboard/SSE   {state.stream_url}/",
        f"  Sandbox vendor  {state.sandbox_url}   (GET /_stats)",
        f"  Demo target     {state.demo_target_url}   (/flaky?fail=2, /status/404, /status/500)",
        f"  {aws_label:<15} {state.aws_endpoint}",
        *(f"  {k.removeprefix('AWS_ENDPOINT_URL_'):<15} {v}   ({k})"
          for k, v in state.function_env.items() if k.startswith("AWS_ENDPOINT_URL_")),
        f"  Redis           {state.redis_url}",
        f"  Dev API key     {state.dev_api_key}   (tenant 'dev')",
        f"  Logs            {home() / 'logs'}",
        "",
        f"  Try: curl -s -X POST {state.api_url}/v1/jobs -H 'Authorization: Bearer {state.dev_api_key}' \\",
        f"         -d '{{\"request\": {{\"url\": \"{state.demo_target_url}/flaky?fail=3\"}}}}'",
        "  or:  JOB=$(.venv/bin/steadfast jobs submit -q "
        f"'{state.demo_target_url}/flaky?fail=3') && .venv/bin/steadfast jobs watch \"$JOB\"",
        "Ctrl-C stops everything.",
    ])


def run() -> int:
    cloud = LocalCloud()

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Explicit for SIGINT too: a shell that starts `make dev &` in the background ignores SIGINT for it.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        state = cloud.start()
        print(banner(state, cloud.aws_label), flush=True)
        cloud.supervise()
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr)
    except RuntimeError as exc:
        print(f"steadfast dev: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        # E.g. AWS_ENDPOINT_URL at a LocalStack whose DynamoDB cannot start (it downloads Java): one
        # readable line, not a traceback. `make test-localstack` shows the lane that works.
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "the embedded moto server")
        print(f"steadfast dev: setting up tables and queues at {endpoint} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        cloud.stop()
    return 0
