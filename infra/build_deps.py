"""`python -m infra.build_deps`: install every function's Lambda dependencies into `build/lambda-deps/`
(what `make synth` bundles), skipping lists already built. `make test` runs it first, so that the
asset-import tests (tests/infra/test_assets_import.py) run on every clean clone; pip's own cache makes
a rebuild quick."""

from __future__ import annotations

import sys
import time

from infra.packaging import install_dependencies
from shared.topology import FUNCTIONS


def main() -> int:
    started = time.monotonic()
    built = {fn.requirements: install_dependencies(fn.requirements) for fn in FUNCTIONS}
    print(f"lambda dependencies: {len(built)} requirement lists ready in build/lambda-deps "
          f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
