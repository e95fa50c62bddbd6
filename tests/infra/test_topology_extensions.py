"""A function added to the topology needs no infra change: a non-production HTTP API (the sandbox
vendor) and a streaming app outside the VPC (served by a plain function URL) just work."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import constants as c
from infra.app import build_app
from infra.stack import functions_for_stage
from shared.topology import FUNCTIONS, Function, HttpApi, HttpRoute, StreamingUrl
from tests.infra.conftest import Synthesized

SIMULATOR = Function(
    name="simulator",
    handler="functions.submit.app.handler",  # any importable module: the asset is built from it
    trigger=HttpApi(routes=(HttpRoute("POST", "/v4/new-api/queryLastData"), HttpRoute("GET", "/_stats"))),
    production=False,
)
FEED = Function(
    name="feed",
    handler="functions.stream.app.handler",
    trigger=StreamingUrl(asgi_app="functions.stream.app:app"),
    tables=("readings",),
)


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir: Path = tmp_path_factory.mktemp("cdk.out.extended")
    app, stack = build_app(
        context={"bundle": "false", "stage": "demo"},
        outdir=str(outdir),
        functions=(*FUNCTIONS, SIMULATOR, FEED),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return Synthesized(stack, template, outdir)


def test_production_stages_leave_out_non_production_functions() -> None:
    assert SIMULATOR not in functions_for_stage((*FUNCTIONS, SIMULATOR), production=True)
    assert SIMULATOR in functions_for_stage((*FUNCTIONS, SIMULATOR), production=False)
    production = functions_for_stage(FUNCTIONS, production=True)
    assert production == tuple(fn for fn in FUNCTIONS if fn.production)
    assert {"submit", "worker", "sweeper", "poller", "stream"} <= {fn.name for fn in production}


def test_a_new_http_function_gets_its_own_api_and_url(extended: Synthesized) -> None:
    routes = {r["Properties"]["RouteKey"] for r in extended.resources("AWS::ApiGatewayV2::Route").values()}
    assert {"POST /v4/new-api/queryLastData", "GET /_stats", "POST /v1/jobs"} <= routes
    # One API per HTTP function: the topology's (submit, sandbox) plus the simulator added here.
    assert (
        len(extended.resources("AWS::ApiGatewayV2::Api"))
        == sum(isinstance(fn.trigger, HttpApi) and not fn.trigger.shares_api for fn in FUNCTIONS) + 1
    )
    assert "SimulatorUrl" in extended.raw["Outputs"]
    # Other functions (the poller) find an HTTP API (the sandbox vendor) through the environment.
    poller_env = extended.function("poller")["Properties"]["Environment"]["Variables"]
    assert c.env_url("simulator") in poller_env
    assert c.env_url("simulator") not in extended.function("simulator")["Properties"]["Environment"]["Variables"]


def test_a_streaming_function_outside_the_vpc_gets_a_streaming_function_url(extended: Synthesized) -> None:
    (url,) = extended.resources("AWS::Lambda::Url").values()
    assert url["Properties"]["InvokeMode"] == "RESPONSE_STREAM"
    assert url["Properties"]["TargetFunctionArn"] == {
        "Fn::GetAtt": [extended.logical_id(extended.stack.functions.functions["feed"]), "Arn"]
    }
    feed = extended.function("feed")["Properties"]
    assert "VpcConfig" not in feed
    assert feed["Handler"] == "functions/stream/run.sh"
    assert feed["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert c.ENV_STREAM_BASE_PATH not in feed["Environment"]["Variables"]  # a function URL has no stage prefix
    assert "FeedUrl" in extended.raw["Outputs"]


def test_production_stage_retains_data_and_has_no_sandbox(tmp_path_factory: pytest.TempPathFactory) -> None:
    outdir = tmp_path_factory.mktemp("cdk.out.prod")
    app, stack = build_app(context={"bundle": "false", "stage": "prod"}, outdir=str(outdir))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    resources = template["Resources"].values()
    names = {r["Properties"]["FunctionName"] for r in resources if r["Type"] == "AWS::Lambda::Function"}
    assert names == {f"steadfast-prod-{fn.name}" for fn in FUNCTIONS if fn.production}
    tables = [r for r in resources if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables
    for table in tables:
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
