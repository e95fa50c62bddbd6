"""Where a running local stack is and how to reach it: ports from the environment (SPEC §2), and the
state file `steadfast dev` writes so that the CLI and tests find the stack it started."""

from __future__ import annotations

import json
import os
from pathlib import Path

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

    def redis_keys(self) -> Keys:
        """The names of this stack's Redis keys and channels (its own prefix)."""
        return Keys(self.function_env.get("STEADFAST_REDIS_PREFIX", ""))

    def save(self) -> None:
        path = home() / "stack.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)

    @classmethod
    def load(cls) -> StackState | None:
        path = home() / "stack.json"
        if not path.exists():
            return None
        state = cls.model_validate(json.loads(path.read_text()))
        try:
            os.kill(state.pid, 0)
        except OSError:
            return None
        return state
