"""Where a running local stack is and how to reach it: ports from the environment (SPEC §2), and the
state file `steadfast dev` writes so that the CLI and tests find the stack it started."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from shared.channels import Keys


def home() -> Path:
    return Path(os.environ.get("STEADFAST_HOME", ".steadfast")).resolve()


class Ports(BaseModel):
    api: int = 8080
    stream: int = 8081
    sandbox: int = 8082
    aws: int = 4566
    demo: int = 8083

    @classmethod
    def from_env(cls) -> Ports:
        e = os.environ
        return cls(api=int(e.get("STEADFAST_API_PORT", 8080)), stream=int(e.get("STEADFAST_STREAM_PORT", 8081)),
                   sandbox=int(e.get("STEADFAST_SANDBOX_PORT", 8082)), aws=int(e.get("STEADFAST_AWS_PORT", 4566)),
                   demo=int(e.get("STEADFAST_DEMO_PORT", 8083)))


class StackState(BaseModel):
    """What `steadfast dev` wrote about the stack it runs."""

    pid: int
    home: str
    api_url: str
    stream_url: str
    sandbox_url: str
    demo_target_url: str
    aws_endpoint: str
    redis_url: str
    dev_api_key: str
    function_env: dict[str, str]

    def aws_client(self, service: str) -> Any:
        """A boto3 client on this stack's endpoint for `service` (`AWS_ENDPOINT_URL_<SERVICE>` where the
        stack points that service elsewhere, e.g. SQS on LocalStack) with the stack's own credentials."""
        import boto3  # the CLI's other commands need no boto3

        env = self.function_env
        key = "AWS_ENDPOINT_URL_" + {"secretsmanager": "SECRETS_MANAGER"}.get(service, service.upper())
        return boto3.client(service, endpoint_url=env.get(key, self.aws_endpoint),  # type: ignore[call-overload]
                            region_name=env.get("AWS_REGION", "us-east-1"),
                            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
                            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"))

    def redis_keys(self) -> Keys:
        """The names of this stack's Redis keys and channels (its own prefix)."""
        return Keys(self.function_env.get("STEADFAST_REDIS_PREFIX", ""))

    def save(self) -> None:
        """Written twice: `stacks/<api port>.json`, which the CLI finds by the port or URL its environment
        names, and `stack.json`, the latest one started here (for a shell that names none)."""
        for path in (_by_port(self.api_url), home() / "stack.json"):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(self.model_dump_json(indent=2))
            tmp.chmod(0o600)
            tmp.replace(path)

    def forget(self) -> None:
        """Remove this stack's files; `stack.json` only while it is still this stack's (a second stack
        started from the same checkout may have written it since)."""
        _by_port(self.api_url).unlink(missing_ok=True)
        latest = _read(home() / "stack.json")
        if latest is not None and latest.pid == self.pid and latest.api_url == self.api_url:
            (home() / "stack.json").unlink(missing_ok=True)

    @classmethod
    def load(cls) -> StackState | None:
        """The running stack this environment names (`STEADFAST_API_URL`, else `STEADFAST_API_PORT`), or
        without either the latest one started from this checkout."""
        e = os.environ
        wanted = e.get("STEADFAST_API_URL") or (f"http://127.0.0.1:{e['STEADFAST_API_PORT']}"
                                                if e.get("STEADFAST_API_PORT") else None)
        if wanted:
            state = _read(_by_port(wanted))
            return state if state is not None and state.api_url == wanted.rstrip("/") else None
        return _read(home() / "stack.json")


def _by_port(api_url: str) -> Path:
    port = urlsplit(api_url).port or 80
    return home() / "stacks" / f"{port}.json"


def _read(path: Path) -> StackState | None:
    if not path.exists():
        return None
    try:
        state = StackState.model_validate(json.loads(path.read_text()))
        os.kill(state.pid, 0)
    except (OSError, ValueError):
        return None
    return state
