"""Cold import time of each function's handler module, in a fresh interpreter per run.

    python -m bench.imports        # prints the figures as JSON; `run()` returns them

`cold_import_ms_<function>`: the median over RUNS fresh interpreters of the wall time of
`importlib.import_module(<handler module>)` alone, measured inside the child with perf_counter, so
interpreter start-up is not counted (Lambda's runtime start is not ours to shorten). One untimed run
first writes the bytecode caches of recently edited files.

The child's environment is the deployed function's, with local dummies for values (tables, queue
URLs, Redis URL, secret ARN): nothing is called at import, only read. `LAMBDA_TASK_ROOT` is set as in
Lambda. (The handlers carry no X-Ray SDK: it builds a botocore client at import, 100–200 ms of every
cold start; Lambda's active tracing still records each invocation.)

The details add an upper bound for the deployed asset: infra/ bundles no .pyc files and /var/task is
read-only, so Lambda compiles the function's modules from source on every cold start. The
`no_bytecode_ms` runs import with an empty bytecode cache (PYTHONPYCACHEPREFIX to a fresh directory,
PYTHONDONTWRITEBYTECODE): every module is compiled, the standard library and boto3 included, which
Lambda's runtime ships compiled — hence an upper bound.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from shared.topology import FUNCTIONS, QUEUES, TABLES, Function

RUNS = 7
NO_BYTECODE_RUNS = 1
REPO = Path(__file__).resolve().parents[1]
_CHILD = ("import importlib, sys, time\n"
          "t = time.perf_counter()\n"
          "importlib.import_module(sys.argv[1])\n"
          "print(f'IMPORT_MS {(time.perf_counter() - t) * 1000:.3f}')\n")


def handler_module(fn: Function) -> str:
    return fn.handler.rsplit(".", 1)[0]


def child_env(fn: Function) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8", "LAMBDA_TASK_ROOT": str(REPO), "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": f"steadfast-{fn.name}", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "POWERTOOLS_SERVICE_NAME": f"steadfast-{fn.name}", "POWERTOOLS_METRICS_NAMESPACE": "Steadfast",
        "LOG_LEVEL": "INFO", "STEADFAST_STAGE": "bench", "STEADFAST_ALLOW_PRIVATE_TARGETS": "false",
    }
    for t in TABLES:
        if t.name in fn.tables:
            env[t.env_var] = f"steadfast-bench-{t.name}"
    for q in QUEUES:
        if q.name in fn.queues:
            env[q.env_var] = f"https://sqs.us-east-1.amazonaws.com/000000000000/steadfast-{q.name}"
            env[q.dlq_env_var] = f"https://sqs.us-east-1.amazonaws.com/000000000000/steadfast-{q.name}-dlq"
    if fn.needs_redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    if fn.needs_secrets:
        env["STEADFAST_SECRET_ARN"] = "arn:aws:secretsmanager:us-east-1:000000000000:secret:steadfast-bench"
        env["STEADFAST_STREAM_TOKEN_SECRET"] = "bench-only-secret"
    return env | fn.environment


def import_ms(fn: Function, extra_env: dict[str, str] | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, handler_module(fn)], cwd=REPO, capture_output=True,
                         text=True, env=child_env(fn) | (extra_env or {}), timeout=120, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("IMPORT_MS "):
            return float(line.split()[1])
    raise RuntimeError(f"import of {handler_module(fn)} failed: {out.stderr[-2000:]}")


def _no_bytecode_ms(fn: Function) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as empty:
        return import_ms(fn, {"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"})


def run(runs: int = RUNS, no_bytecode_runs: int = NO_BYTECODE_RUNS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for fn in FUNCTIONS:
        try:
            import_ms(fn)  # untimed: writes bytecode caches
            samples = [import_ms(fn) for _ in range(runs)]
            cold = [_no_bytecode_ms(fn) for _ in range(no_bytecode_runs)]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            out[f"cold_import_ms_{fn.name}"] = None
            details[fn.name] = {"module": handler_module(fn), "error": str(exc)[-500:]}
            continue
        out[f"cold_import_ms_{fn.name}"] = round(statistics.median(samples), 1)
        details[fn.name] = {"module": handler_module(fn), "samples_ms": [round(s, 1) for s in samples],
                            "no_bytecode_ms": round(statistics.median(cold), 1)}
    out["cold_import_details"] = {"runs": runs, "python": sys.version.split()[0], "functions": details}
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
