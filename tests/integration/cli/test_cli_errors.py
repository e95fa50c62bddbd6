"""The CLI never shows a Python traceback: a stack that is not running, a URL that is not the API, a file that
is not JSON, and a stream that cannot be reached each end in one readable line and exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def steadfast(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def bad_json(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    return path


@pytest.mark.parametrize(("args", "env", "says"), [
    (["jobs", "list"], {"STEADFAST_API_URL": "http://127.0.0.1:{port}"}, "cannot connect"),
    (["jobs", "get", "job_x"], {"STEADFAST_API_URL": "not-a-url"}, "cannot connect"),
    # The stream app unreachable, the CLI polls the API instead: here that is not running either
    (["jobs", "watch", "job_x"], {"STEADFAST_STREAM_URL": "http://127.0.0.1:{port}",
                                  "STEADFAST_API_URL": "http://127.0.0.1:{port}"}, "cannot connect"),
    (["jobs", "watch", "job_x"], {"STEADFAST_STREAM_URL": "not-a-url",
                                  "STEADFAST_API_URL": "http://127.0.0.1:{port}"}, "cannot connect"),
    (["workflows", "submit", "{bad_json}"], {}, "is not JSON"),
])
def test_errors_are_one_readable_line(args: list[str], env: dict[str, str], says: str, bad_json: Path) -> None:
    port = str(_closed_port())
    args = [a.format(bad_json=bad_json) for a in args]
    env = {"STEADFAST_HOME": str(bad_json.parent), **{k: v.format(port=port) for k, v in env.items()}}
    out = steadfast(*args, **env)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and says in out.stderr, out.stderr
    assert out.stderr.startswith("steadfast: "), out.stderr


@pytest.mark.parametrize(("args", "choices"), [
    ([], "{dev,keys,invoke,jobs,schedules,workflows,dlq,sources,events}"),
    (["jobs"], "{submit,get,watch,cancel,retry,list}"),
    (["schedules"], "{create,list,get,pause,resume,trigger,delete}"),
    (["workflows"], "{submit,get}"), (["dlq"], "{list,redrive}"), (["keys"], "{create,signing-secret}"),
])
def test_a_missing_command_names_the_commands_there_are(args: list[str], choices: str) -> None:
    # It said "the following arguments are required: jobs_command", a name of the parser's own
    out = steadfast(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.rstrip().endswith(f"the following arguments are required: {choices}"), out.stderr
