"""Each function's built asset imports its handler module under CPython 3.12 with only what the
Lambda runtime adds (boto3): a requirement missing from the topology fails here, not in AWS.

`make test` builds the dependencies first (`python -m infra.build_deps`, quick once pip's cache is
warm). Run alone without them, or without a `python3.12`, it skips; under CI (`CI` set) either is a
failure, so that CI always proves what `make deploy` would ship imports.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.packaging import DEPS_CACHE, handler_module, requirements_digest
from infra.smoke import find_python312, import_handler, runtime_dir
from shared.topology import FUNCTIONS, Function

PYTHON = find_python312()


def _cannot_run(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_dir(tmp_path_factory.mktemp("lambda-runtime"))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=[fn.name for fn in FUNCTIONS])
def test_handler_imports_from_its_asset(fn: Function, runtime: Path, tmp_path: Path) -> None:
    if PYTHON is None:
        _cannot_run("no python3.12 on this machine")
    if not (DEPS_CACHE / requirements_digest(fn.requirements) / ".complete").exists():
        _cannot_run(f"dependencies of {fn.name} not built yet: run `python -m infra.build_deps`")
    assert PYTHON is not None
    result = import_handler(fn, PYTHON, runtime, tmp_path)
    assert result.returncode == 0, f"{handler_module(fn)}: {result.stderr[-2000:]}"
