"""Lambda code assets built without Docker.

Each function's asset is `shared/`, the function's own package under `functions/`, and the
third-party packages its topology entry lists in `requirements`. The packages are installed by
`pip install --platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.12`, which
downloads the wheels Lambda's x86_64 CPython 3.12 needs from any host, so `cdk synth` works on a
machine without Docker. Two caches keep a repeated synth quick:

- `build/lambda-deps/<digest of the requirement list>/`: the pip output, reused across synths and
  across functions with the same list;
- `cdk.out/asset.<hash>/`: CDK skips bundling when the asset of that hash is already staged. The hash
  is ours (`asset_hash`): the requirement list plus the bytes of every source file copied.

A deployable asset (with dependencies) ships bytecode compiled by a CPython 3.12 found on the host
(`lambda_python()`: $STEADFAST_LAMBDA_PYTHON, `python3.12` on PATH, or pyenv's 3.12), as unchecked-hash
.pyc files: /var/task is read-only, so without them Lambda compiles every module from source on each cold
start (≈ 3× the import time, `python -m bench --only bench.imports`); unchecked-hash because unzipping
does not keep the sources' timestamps. Without a 3.12 on the host the asset ships sources only (logged).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.constants import REPO_ROOT
from shared.topology import Function

log = logging.getLogger(__name__)

PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
DEPS_CACHE = REPO_ROOT / "build" / "lambda-deps"
# Provided by the Lambda Python runtime; aws-xray-sdk pulls botocore in, which alone would add
# ~13 MB zipped to every asset.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Lambda's limit for a function and its layers, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def handler_module(fn: Function) -> str:
    """The module that serves `fn`: the handler's module, or the ASGI app's for a streaming URL."""
    return fn.module


def handler_package(fn: Function) -> Path:
    """The directory of the handler's package (e.g. `functions/submit`), relative to the repo."""
    return Path(*handler_module(fn).split(".")[:-1])


def source_roots(fn: Function) -> tuple[Path, ...]:
    """Directories copied into the asset: the domain package and the function's own package."""
    package = handler_package(fn)
    parents = tuple(p for p in reversed(package.parents) if p != Path("."))
    return (Path("shared"), *parents, package)


def _source_files(fn: Function) -> Iterator[Path]:
    package = handler_package(fn)
    for root in source_roots(fn):
        absolute = REPO_ROOT / root
        # A parent package contributes only its __init__.py, not its sibling functions.
        if root != package and root != Path("shared"):
            init = absolute / "__init__.py"
            if init.exists():
                yield init.relative_to(REPO_ROOT)
            continue
        for path in sorted(absolute.rglob("*")):
            relative = path.relative_to(absolute)
            if path.is_file() and not _skipped(relative):
                yield path.relative_to(REPO_ROOT)


def _source_dirs(fn: Function) -> Iterator[Path]:
    """Directories of the function's package, kept even when empty (an app may mount one)."""
    absolute = REPO_ROOT / handler_package(fn)
    for path in sorted(absolute.rglob("*")):
        if path.is_dir() and not _skipped(path.relative_to(absolute)):
            yield path.relative_to(REPO_ROOT)


def _skipped(relative: Path) -> bool:
    return bool(_SKIP_NAMES.intersection(relative.parts)) or relative.suffix in _SKIP_SUFFIXES


def requirements_digest(requirements: Iterable[str]) -> str:
    key = "\n".join([PLATFORM, PYTHON_VERSION, *sorted(requirements)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def asset_hash(fn: Function, with_dependencies: bool) -> str:
    digest = hashlib.sha256()
    digest.update(requirements_digest(fn.requirements if with_dependencies else ()).encode())
    for relative in _source_files(fn):
        digest.update(str(relative).encode())
        digest.update((REPO_ROOT / relative).read_bytes())
    for relative in _source_dirs(fn):
        digest.update(f"{relative}/".encode())
    return digest.hexdigest()


@functools.cache
def lambda_python() -> str | None:
    """A CPython of the Lambda runtime's version on this host, for compiling the asset's bytecode:
    $STEADFAST_LAMBDA_PYTHON, pyenv's, or `python3.12` on PATH (a pyenv shim on PATH may not run)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [os.environ.get("STEADFAST_LAMBDA_PYTHON"),
                  *reversed(sorted(map(str, pyenv.glob(f"{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}")))),
                  shutil.which(f"python{PYTHON_VERSION}")]
    for python in candidates:
        if python and _runs(python):
            return python
    return None


def _runs(python: str) -> bool:
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == PYTHON_VERSION


def compile_bytecode(root: Path) -> bool:
    """Compile every module under `root` for the runtime's Python; False when none is on this host."""
    python = lambda_python()
    if python is None:
        log.warning("no CPython %s on this host: the asset ships no bytecode", PYTHON_VERSION)
        return False
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(root)], check=True, stdout=subprocess.DEVNULL)
    return True


def install_dependencies(requirements: tuple[str, ...]) -> Path:
    """pip-install `requirements` for Lambda once; later calls return the cached directory."""
    target = DEPS_CACHE / requirements_digest(requirements)
    if (target / ".complete").exists():
        if not (target / ".compiled").exists() and compile_bytecode(target):
            (target / ".compiled").touch()
        return target
    DEPS_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DEPS_CACHE) as tmp:
        staging = Path(tmp) / "site"
        if requirements:
            command = [
                sys.executable, "-m", "pip", "install", "-qq", "--disable-pip-version-check",
                "--no-compile", "--only-binary=:all:", "--implementation", "cp",
                "--platform", PLATFORM, "--python-version", PYTHON_VERSION,
                "--target", str(staging), *requirements,
            ]  # fmt: skip
            log.info("bundling: %s", " ".join(command))
            subprocess.run(command, check=True)
        staging.mkdir(exist_ok=True)
        for entry in staging.iterdir():
            if entry.name.split("-")[0].lower() in RUNTIME_PROVIDED:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if compile_bytecode(staging):
            (staging / ".compiled").touch()
        (staging / ".complete").write_text("\n".join(requirements) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """Builds a function's asset on the host: CDK calls this instead of running a container."""

    def __init__(self, fn: Function, with_dependencies: bool) -> None:
        self._fn = fn
        self._with_dependencies = with_dependencies

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        out = Path(output_dir)
        if self._with_dependencies:
            deps = install_dependencies(self._fn.requirements)
            shutil.copytree(deps, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete", ".compiled"))
        for relative in _source_files(self._fn):
            destination = out / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / relative, destination)
        for relative in _source_dirs(self._fn):
            (out / relative).mkdir(parents=True, exist_ok=True)  # e.g. a static/ dir the app mounts
        if self._with_dependencies:
            for top in sorted({root.parts[0] for root in source_roots(self._fn)}):
                compile_bytecode(out / top)  # the dependencies come compiled from the cache
        run_script = out / "functions" / "stream" / "run.sh"
        if run_script.exists():
            run_script.chmod(0o755)  # the Web Adapter execs it directly
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        if size > MAX_UNZIPPED_BYTES:
            raise RuntimeError(f"asset of {self._fn.name} is {size >> 20} MiB unzipped, over Lambda's limit")
        return True


def function_code(fn: Function, with_dependencies: bool) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(REPO_ROOT / handler_package(fn)),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(fn, with_dependencies),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds, so CDK never falls back to Docker.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            # jsii hands the options over as one struct; the generated protocol spells them as kwargs.
            local=cast(ILocalBundling, LocalPythonBundling(fn, with_dependencies)),
        ),
    )
