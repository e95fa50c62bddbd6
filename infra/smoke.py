"""Import each function's deployed handler module from its built asset under CPython 3.12, as Lambda
would: catches a requirement missing from the topology before a deploy does.

    .venv/bin/python -m infra.smoke            # every function (runs pip once if the cache is cold)

Needs a `python3.12` on the host (pyenv's is found too). The asset gets only what Lambda's runtime
adds: boto3 and its dependencies, copied from this venv, never the venv's other packages (which would
hide a missing requirement).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.packaging import LocalPythonBundling, handler_module, lambda_python
from shared.topology import FUNCTIONS, Function

# What the Lambda Python runtime ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def find_python312() -> str | None:
    return lambda_python()


def runtime_dir(into: Path) -> Path:
    """A directory holding the packages the Lambda runtime provides, taken from this interpreter."""
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        target = into / source.name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return into


def import_handler(fn: Function, python: str, runtime: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    asset = workdir / fn.name
    asset.mkdir()
    LocalPythonBundling(fn, with_dependencies=True).try_bundle(str(asset), None)  # type: ignore[arg-type]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{asset}:{runtime}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "REDIS_URL": "rediss://localhost:6379",  # importing must not need a live connection
        "STEADFAST_STAGE": "smoke",
    }
    code = f"import importlib; importlib.import_module({handler_module(fn)!r})"
    return subprocess.run(
        [python, "-c", code], cwd=asset, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def main() -> int:
    python = find_python312()
    if python is None:
        print("smoke: no python3.12 on this machine; skipped")
        return 0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        runtime = runtime_dir(Path(tmp) / "runtime")
        for fn in FUNCTIONS:
            result = import_handler(fn, python, runtime, Path(tmp))
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"smoke: {fn.name:<8} import {handler_module(fn)}: {status}")
            if result.returncode:
                failed += 1
                print(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
