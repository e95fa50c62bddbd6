"""Each function's built asset imports its handler module under CPython 3.12 with only what the
Lambda runtime adds (boto3): a requirement missing from the topology fails here, not in AWS.

Runs when a `python3.12` exists and the pip cache for the function is warm (`make synth` fills it);
otherwise it skips, so `make test` never downloads wheels.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.packaging import DEPS_CACHE, handler_module, requirements_digest
from infra.smoke import find_python312, import_handler, runtime_dir
from shared.topology import FUNCTIONS, Function

PYTHON = find_python312()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_dir(tmp_path_factory.mktemp("lambda-runtime"))


@pytest.mark.skipif(PYTHON is None, reason="no python3.12 on this machine")
@pytest.mark.parametrize("fn", FUNCTIONS, ids=[fn.name for fn in FUNCTIONS])
def test_handler_imports_from_its_asset(fn: Function, runtime: Path, tmp_path: Path) -> None:
    if not (DEPS_CACHE / requirements_digest(fn.requirements) / ".complete").exists():
        pytest.skip(f"dependencies of {fn.name} not built yet: run `make synth` first")
    assert PYTHON is not None
    result = import_handler(fn, PYTHON, runtime, tmp_path)
    assert result.returncode == 0, f"{handler_module(fn)}: {result.stderr[-2000:]}"
