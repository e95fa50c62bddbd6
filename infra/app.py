"""CDK entry point: `python -m infra.app` (or `npx cdk synth`, see cdk.json) from the repository root.

Context (`-c key=value`): stage (default dev; prod/production are production stages), bundle
(false: skip the pip step, for tests), natGateways, alarmEmail, lwaLayerVersion.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants as c
from infra.stack import StackSettings, SteadfastStack
from shared import topology
from shared.topology import Function


def _flag(value: object, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() not in {"0", "false", "no", "off"}


def settings_from(app: App) -> StackSettings:
    ctx = app.node.try_get_context
    bundle = ctx(c.CTX_BUNDLE)
    if bundle is None:
        bundle = os.environ.get(c.ENV_BUNDLE)
    return StackSettings(
        stage=str(ctx(c.CTX_STAGE) or c.DEFAULT_STAGE),
        with_dependencies=_flag(bundle, default=True),
        nat_gateways=int(ctx(c.CTX_NAT_GATEWAYS) or 1),
        alarm_email=ctx(c.CTX_ALARM_EMAIL) or None,
        lwa_layer_version=int(ctx(c.CTX_LWA_LAYER_VERSION) or c.LWA_LAYER_VERSION),
    )


def build_app(
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    functions: tuple[Function, ...] = topology.FUNCTIONS,
) -> tuple[App, SteadfastStack]:
    app = App(context=context, outdir=outdir)
    settings = settings_from(app)
    stack = SteadfastStack(
        app,
        c.stack_name(settings.stage),
        settings=settings,
        functions=functions,
        # Environment-agnostic unless the CLI knows an account: `make synth` needs no credentials.
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    Tags.of(app).add("project", "steadfast")
    Tags.of(app).add("stage", settings.stage)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def prune_stale_assets(outdir: Path) -> None:
    """Delete staged assets no manifest refers to: every source change stages a new ~20 MB copy."""
    referenced: set[str] = set()
    for manifest in outdir.glob("*.assets.json"):
        files = json.loads(manifest.read_text()).get("files", {})
        referenced.update(entry["source"]["path"] for entry in files.values())
    for staged in outdir.glob("asset.*"):
        if staged.name not in referenced:
            shutil.rmtree(staged) if staged.is_dir() else staged.unlink()


def main() -> None:
    # Run by the cdk CLI, CDK_OUTDIR is set; run by hand, write where the CLI would.
    outdir = os.environ.get("CDK_OUTDIR") or str(c.REPO_ROOT / "cdk.out")
    app, _ = build_app(outdir=outdir)
    app.synth()
    prune_stale_assets(Path(outdir))


if __name__ == "__main__":
    main()
