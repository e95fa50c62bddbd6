"""Zipped size of each function's deployment asset, dependencies included.

    python -m bench.package        # prints the figures as JSON; `run()` returns them

The asset is built by infra/'s own bundler (`infra.packaging.LocalPythonBundling`, imported, not
copied): `shared/`, the function's package, and the topology's `requirements` installed by
`pip install --platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.12 --target …`,
without the boto3 family the Lambda runtime provides. It is built into a temporary directory and
zipped with deflate, as CDK uploads it. `package_mb_<function>` is in MiB (2²⁰ bytes).

Caches under bench/out/.cache (generated, git-ignored, removed by `make clean`): the installed
dependency sets (`lambda-deps/`, infra's `DEPS_CACHE` pointed there) and pip's download cache
(`pip/`), so a rerun neither downloads nor installs.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, cast

from shared.topology import FUNCTIONS, Function

CACHE = Path(__file__).parent / "out" / ".cache"
MIB = 1024 * 1024


def build_zip(fn: Function, workdir: Path) -> Path:
    from infra import packaging

    asset = workdir / "asset"
    asset.mkdir()
    # try_bundle is what CDK calls; it ignores its options argument.
    packaging.LocalPythonBundling(fn, with_dependencies=True).try_bundle(str(asset), cast(Any, None))
    archive = workdir / f"{fn.name}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(asset.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(asset))
    return archive


def describe(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
    by_top: Counter[str] = Counter()
    for info in infos:
        top = info.filename.split("/")[0]
        by_top[top.split("-")[0] if top.endswith(".dist-info") else top] += info.compress_size
    return {"zipped_bytes": archive.stat().st_size, "unzipped_bytes": sum(i.file_size for i in infos),
            "files": len(infos),
            "largest_zipped_kb": {k: round(v / 1024) for k, v in by_top.most_common(8)}}


def run() -> dict[str, Any]:
    from infra import packaging

    CACHE.mkdir(parents=True, exist_ok=True)
    packaging.DEPS_CACHE = CACHE / "lambda-deps"
    os.environ["PIP_CACHE_DIR"] = str(CACHE / "pip")
    out: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for fn in FUNCTIONS:
        with tempfile.TemporaryDirectory(prefix=f"bench-asset-{fn.name}-") as tmp:
            try:
                info = describe(build_zip(fn, Path(tmp)))
            except Exception as exc:  # a failed pip install (no network) is a missing figure, not a crash
                out[f"package_mb_{fn.name}"] = None
                details[fn.name] = {"error": f"{type(exc).__name__}: {exc}"[-500:]}
                continue
        out[f"package_mb_{fn.name}"] = round(info["zipped_bytes"] / MIB, 2)
        details[fn.name] = info | {"requirements": list(fn.requirements)}
    out["package_details"] = {"platform": packaging.PLATFORM, "python": packaging.PYTHON_VERSION,
                              "excluded_runtime_provided": list(packaging.RUNTIME_PROVIDED), "functions": details}
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
