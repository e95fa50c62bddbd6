"""Cold start as deployed: each function's handler import from its built Lambda asset under CPython 3.12,
as a ratio to a bare `import boto3` measured beside it.

    python -m bench.imports        # prints the figures as JSON; `run()` returns them

The asset is the one `cdk deploy` uploads (`infra.packaging.LocalPythonBundling`: sources, dependencies
for manylinux/3.12, bytecode compiled for 3.12 when the host has one); boto3 comes from a directory that
stands for the Lambda runtime's own (`pip install --target` of the venv's boto3 version under 3.12,
compiled, as the runtime ships it). Every sample is a fresh `python3.12` whose `sys.path` is the asset then
that runtime directory, with the deployed function's environment (local dummies for tables, queues, Redis,
secrets: nothing is called at import), `LAMBDA_TASK_ROOT` the asset, and no bytecode writes (/var/task is
read-only). Inside the child only `importlib.import_module(...)` is timed: interpreter start-up is the
runtime's, not ours.

Machines here differ by 2× and the load of other work moves every timing, so the figure is a ratio:
`cold_import_ratio_<function>` = median handler import ÷ median `import boto3`, the two sampled
alternately in the same run (boto3 is what every Python Lambda pays anyway; target ≤ 1.5).
`cold_import_ms_<function>` and `cold_import_boto3_ms` keep the absolute medians beside it; the details
add one source-only import (the shipped .pyc ignored), what the asset cost before it shipped bytecode.

A handler defers what some invocations never touch (functions/__init__.py); where the first invocation
always needs it (`FIRST_INVOCATION`: the worker's Redis and HTTP clients, the poller's Redis), the same
child times importing it right after the handler, and the details report that sum (`first_invocation_ms`):
what init plus the first invocation pay in imports, which deferring does not make smaller.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from bench.package import CACHE
from shared.config import DEFAULT_METRICS_NAMESPACE
from shared.topology import FUNCTIONS, QUEUES, TABLES, Function

# Samples of each import per function. At 5 the ratios moved by ±0.3 between runs on this shared
# machine; 9 keeps the module well inside its limit (bench/__main__.py TIME_LIMIT_S).
RUNS = 9
# What each function's first invocation imports that its handler's import defers (always needed there).
FIRST_INVOCATION = {"worker": ("redis", "httpx", "httpcore", "certifi"), "poller": ("redis",)}
_CHILD = ("import importlib, sys, time\n"
          "t = time.perf_counter()\n"
          "importlib.import_module(sys.argv[1])\n"
          "print(f'IMPORT_MS {(time.perf_counter() - t) * 1000:.3f}')\n"
          "t = time.perf_counter()\n"
          "for name in sys.argv[2:]:\n"
          "    importlib.import_module(name)\n"
          "print(f'DEFERRED_MS {(time.perf_counter() - t) * 1000:.3f}')\n")


def child_env(fn: Function, asset: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8", "LAMBDA_TASK_ROOT": str(asset), "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": f"steadfast-{fn.name}", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "POWERTOOLS_SERVICE_NAME": f"steadfast-{fn.name}", "POWERTOOLS_METRICS_NAMESPACE": DEFAULT_METRICS_NAMESPACE,
        "LOG_LEVEL": "INFO", "STEADFAST_STAGE": "bench", "STEADFAST_ALLOW_PRIVATE_TARGETS": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for t in TABLES:
        if t.name in fn.tables:
            env[t.env_var] = f"steadfast-bench-{t.name}"
    for q in QUEUES:
        if q.name in fn.queues:
            env[q.env_var] = f"https://sqs.us-east-1.amazonaws.com/000000000000/steadfast-{q.name}"
            env[q.dlq_env_var] = f"https://sqs.us-east-1.amazonaws.com/000000000000/steadfast-{q.name}-dlq"
            env[q.max_receive_env_var] = str(q.max_receive_count)
    if fn.needs_redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    if fn.needs_secrets:
        env["STEADFAST_SECRET_ARN"] = "arn:aws:secretsmanager:us-east-1:000000000000:secret:steadfast-bench"
        env["STEADFAST_STREAM_TOKEN_SECRET"] = "bench-only-secret"
    return env | fn.environment


def runtime_dir(python: str) -> Path:
    """boto3 as the Lambda runtime provides it: installed for 3.12 and compiled, once (cached)."""
    boto3 = version("boto3")
    target = CACHE / f"runtime-py312-boto3-{boto3}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([python, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--target",
                        str(target), f"boto3=={boto3}"], check=True)
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(target)], check=True,
                       stdout=subprocess.DEVNULL)
        (target / ".complete").touch()
    return target


def build_asset(fn: Function, workdir: Path) -> Path:
    from infra import packaging

    asset = workdir / fn.name
    asset.mkdir()
    # try_bundle is what CDK calls; it ignores its options argument.
    packaging.LocalPythonBundling(fn, with_dependencies=True).try_bundle(str(asset), cast(Any, None))
    return asset


def import_ms(python: str, module: str, fn: Function, asset: Path, runtime: Path,
              extra_env: dict[str, str] | None = None, then: tuple[str, ...] = ()) -> tuple[float, float]:
    """(ms importing `module`, ms importing `then` right after it) in a fresh interpreter."""
    env = child_env(fn, asset) | {"PYTHONPATH": f"{asset}:{runtime}"} | (extra_env or {})
    out = subprocess.run([python, "-c", _CHILD, module, *then], cwd=asset, capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    times = {key: value for key, _, value in (line.partition(" ") for line in out.stdout.splitlines())
             if key in ("IMPORT_MS", "DEFERRED_MS")}
    if "IMPORT_MS" not in times or "DEFERRED_MS" not in times:
        raise RuntimeError(f"import of {module} failed: {out.stderr[-2000:]}")
    return float(times["IMPORT_MS"]), float(times["DEFERRED_MS"])


def measure(python: str, fn: Function, asset: Path, runtime: Path, runs: int) -> dict[str, Any]:
    from infra.packaging import handler_module

    module, deferred = handler_module(fn), FIRST_INVOCATION.get(fn.name, ())
    handler, first, boto3 = [], [], []
    for _ in range(runs):  # alternating, so that a change of the machine's load hits both alike
        boto3.append(import_ms(python, "boto3", fn, asset, runtime)[0])
        own, then = import_ms(python, module, fn, asset, runtime, then=deferred)
        handler.append(own)
        first.append(own + then)
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as empty:
        source_only = import_ms(python, module, fn, asset, runtime, {"PYTHONPYCACHEPREFIX": empty})[0]
    out = {"module": module, "handler_ms": [round(s, 1) for s in handler],
           "boto3_ms": [round(s, 1) for s in boto3], "source_only_ms": round(source_only, 1),
           "ratio": round(statistics.median(handler) / statistics.median(boto3), 2)}
    if deferred:
        out |= {"first_invocation_imports": list(deferred),
                "first_invocation_ms": round(statistics.median(first), 1),
                "first_invocation_ratio": round(statistics.median(first) / statistics.median(boto3), 2)}
    return out


def run(runs: int = RUNS) -> dict[str, Any]:
    from infra import packaging

    python = packaging.lambda_python()
    if python is None:
        raise RuntimeError(f"no CPython {packaging.PYTHON_VERSION} on this host (set STEADFAST_LAMBDA_PYTHON)")
    CACHE.mkdir(parents=True, exist_ok=True)
    packaging.DEPS_CACHE = CACHE / "lambda-deps"
    os.environ["PIP_CACHE_DIR"] = str(CACHE / "pip")
    runtime = runtime_dir(python)
    out: dict[str, Any] = {}
    details: dict[str, Any] = {}
    baseline: list[float] = []
    for fn in FUNCTIONS:
        with tempfile.TemporaryDirectory(prefix=f"bench-cold-{fn.name}-") as tmp:
            try:
                d = measure(python, fn, build_asset(fn, Path(tmp)), runtime, runs)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                out[f"cold_import_ratio_{fn.name}"] = out[f"cold_import_ms_{fn.name}"] = None
                details[fn.name] = {"error": str(exc)[-500:]}
                continue
        out[f"cold_import_ratio_{fn.name}"] = d["ratio"]
        out[f"cold_import_ms_{fn.name}"] = round(statistics.median(d["handler_ms"]), 1)
        baseline += d["boto3_ms"]
        details[fn.name] = d
    out["cold_import_boto3_ms"] = round(statistics.median(baseline), 1) if baseline else None
    python_version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                    capture_output=True, text=True, check=True).stdout.strip()
    out["cold_import_details"] = {"runs": runs, "python": python_version, "boto3": version("boto3"),
                                  "functions": details}
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
