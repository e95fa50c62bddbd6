"""`make test-localstack`: the jobs integration suite with SQS on LocalStack and everything else on the
embedded moto (DynamoDB, KMS), as `AWS_ENDPOINT_URL_SQS` sets it per service for boto3.

    .venv/bin/python -m local.localstack_lane [pytest arguments]   # default: tests/integration/jobs
    .venv/bin/python -m local.localstack_lane --serve [PORT]       # `make localstack`: LocalStack alone (port 4567)

LocalStack runs on the host, without Docker: `localstack-core` from PyPI in a virtualenv of its own
(`.localstack/venv`, made with uv under CPython >= 3.12, which LocalStack needs; pyenv's is found), pinned by
`local/localstack-requirements.txt`. It serves SQS on a free loopback port with path-style queue URLs (no
DNS here for `*.localhost.localstack.cloud`) and is stopped, with its whole process group, when the suite
ends. Every stack the tests start has an account of its own on it (`local.resources.local_aws_env`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from local.cloud import _free_port
from local.launch import stop_group

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".localstack"
REQUIREMENTS = ROOT / "local" / "localstack-requirements.txt"
SERVICES = "sqs"
SERVE_PORT = 4567  # `--serve`'s default: 4566, LocalStack's usual port, is the embedded moto's (local.stack.Ports)


def find_python() -> str:
    """A CPython >= 3.12 that runs: $LOCALSTACK_PYTHON, pyenv's newest 3.12/3.13, or one on PATH (a pyenv
    shim for a version that is not active is on PATH too, and fails: each candidate is tried)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = sorted((p / "bin" / "python" for p in (pyenv_root / "versions").glob("3.1[23]*")),
                      key=lambda p: [int(x) for x in p.parent.parent.name.split(".")[:2]], reverse=True)
    candidates = [os.environ.get("LOCALSTACK_PYTHON", ""), *map(str, versions),
                  *(shutil.which(n) or "" for n in ("python3.13", "python3.12"))]
    for candidate in filter(None, candidates):
        ok = subprocess.run([candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                            capture_output=True).returncode == 0
        if ok:
            return candidate
    raise SystemExit("test-localstack: LocalStack needs CPython 3.12 or newer; none was found "
                     "(set LOCALSTACK_PYTHON, or install one: pyenv install 3.13)")


def ensure_venv() -> Path:
    """The LocalStack virtualenv, (re)installed when the requirements file changed."""
    venv = HOME / "venv"
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    uv = Path(sys.executable).parent / "uv"
    print(f"test-localstack: installing LocalStack into {venv} (first time: a few minutes)", flush=True)
    steps = [[str(uv), "venv", "-q", "--python", find_python(), str(venv)],
             [str(uv), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-r", str(REQUIREMENTS)]]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            raise SystemExit(f"test-localstack: installing LocalStack failed: {' '.join(step)}")
    stamp.write_text(digest)
    return venv


def start(venv: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "LOCALSTACK_HOST": f"127.0.0.1:{port}", "SERVICES": SERVICES,
            "EAGER_SERVICE_LOADING": "1", "SQS_ENDPOINT_STRATEGY": "path", "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1", "DISABLE_EVENTS": "1", "LOCALSTACK_TELEMETRY_DISABLED": "1"}
    log = (HOME / "localstack.log").open("wb")
    return subprocess.Popen([str(venv / "bin" / "python"), "-m", "localstack.runtime.main"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"test-localstack: LocalStack exited ({proc.returncode}); see {HOME / 'localstack.log'}")
        try:
            services = httpx.get(f"{url}/_localstack/health", timeout=2).json().get("services", {})
            if all(services.get(s) in ("available", "running") for s in SERVICES.split(",")):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"test-localstack: LocalStack did not serve {SERVICES} within {timeout_s:.0f} s; "
                     f"see {HOME / 'localstack.log'}")


def serve(port: int) -> int:
    """LocalStack alone in the foreground until Ctrl-C, for `AWS_ENDPOINT_URL_SQS=… make dev` beside it."""
    HOME.mkdir(exist_ok=True)
    proc = start(ensure_venv(), port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        print(f"localstack: serving {SERVICES} at {url} (log: {HOME / 'localstack.log'}); Ctrl-C stops it.\n"
              f"  in another terminal: AWS_ENDPOINT_URL_SQS={url} make dev", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_group(proc, signal.SIGTERM, 15)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        given = argv[1] if len(argv) > 1 else str(SERVE_PORT)
        if not given.isdigit() or not 0 < int(given) < 65536:
            raise SystemExit(f"localstack: --serve takes a port number, not {given!r}")
        return serve(int(given))
    HOME.mkdir(exist_ok=True)
    venv = ensure_venv()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc = start(venv, port)
    try:
        wait_ready(proc, url)
        print(f"test-localstack: LocalStack serves {SERVICES} at {url} "
              f"(ready in {time.monotonic() - started:.1f} s)", flush=True)
        env = {**os.environ, "AWS_ENDPOINT_URL_SQS": url}
        tests = argv or ["-q", "tests/integration/jobs"]
        code = subprocess.run([sys.executable, "-m", "pytest", *tests], cwd=ROOT, env=env).returncode
    finally:
        stop_group(proc, signal.SIGTERM, 15)
    # A suite that passed on moto's SQS because the endpoint was lost on the way proves nothing.
    served = (HOME / "localstack.log").read_text(errors="replace").count("AWS sqs.SendMessage => 200")
    print(f"test-localstack: LocalStack answered {served} SendMessage calls "
          f"({time.monotonic() - started:.0f} s in all)", flush=True)
    return code if served else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `finally`: LocalStack stops with us
    sys.exit(main(sys.argv[1:]))
