"""Fixtures for the infra tests: the app is synthesized once per session (synth costs seconds).

The assets hold only our sources (`bundle=false`), so these tests never run pip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import SteadfastStack

STAGE = "test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not infra"` skips the synth-bound tests.
    for item in items:
        if "tests/infra/" in str(item.path):
            item.add_marker(pytest.mark.infra)


class Synthesized:
    """One synthesized stack with lookups the tests share."""

    def __init__(self, stack: SteadfastStack, template: dict[str, Any], outdir: Path) -> None:
        self.stack = stack
        self.template = Template.from_json(template)
        self.raw = template
        self.outdir = outdir

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        stack = Stack.of(construct)
        child = construct.node.default_child if construct.node.default_child is not None else construct
        return str(stack.resolve(stack.get_logical_id(child)))

    def function(self, name: str) -> dict[str, Any]:
        resource: dict[str, Any] = self.raw["Resources"][self.logical_id(self.stack.functions.functions[name])]
        return resource


def synthesize(outdir: Path, **context: str) -> Synthesized:
    app, stack = build_app(context={"bundle": "false", **context}, outdir=str(outdir))
    assembly = app.synth()  # runs the cdk-nag validation plugin: raises on any unacknowledged finding
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(stack, template, outdir)


_SESSION: dict[str, Synthesized | Exception] = {}


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # pytest re-runs a failed session fixture for every test; a broken synth should fail fast, once.
    if STAGE not in _SESSION:
        try:
            _SESSION[STAGE] = synthesize(tmp_path_factory.mktemp("cdk.out"), stage=STAGE)
        except Exception as exc:  # reported by every dependent test below
            _SESSION[STAGE] = exc
    result = _SESSION[STAGE]
    if isinstance(result, Exception):
        pytest.fail(f"the CDK app does not synthesize: {result}", pytrace=False)
    return result


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
