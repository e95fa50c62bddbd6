"""Every topology function is deployed with the handler, environment, placement and IAM scope that
its topology entry declares, and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import constants as c
from infra.packaging import handler_package
from shared.topology import FUNCTIONS, Function, QueueSource, Schedule, StreamingUrl, queue, table
from tests.infra.conftest import STAGE, Synthesized

FUNCTION_IDS = [fn.name for fn in FUNCTIONS]


def _refs(node: Any) -> set[str]:
    """Logical ids referenced (Ref / Fn::GetAtt) anywhere inside a template fragment."""
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def test_every_topology_function_is_deployed_once(synth: Synthesized) -> None:
    names = {p["Properties"]["FunctionName"] for p in synth.resources("AWS::Lambda::Function").values()}
    assert names == {f"steadfast-{STAGE}-{fn.name}" for fn in FUNCTIONS}


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_handler_is_the_one_the_local_cloud_runs(synth: Synthesized, fn: Function) -> None:
    props = synth.function(fn.name)["Properties"]
    if isinstance(fn.trigger, StreamingUrl):
        # The Web Adapter runs run.sh, which serves the same ASGI app that uvicorn serves locally.
        assert props["Handler"] == str(handler_package(fn) / "run.sh")
        script = (c.REPO_ROOT / props["Handler"]).read_text()
        assert fn.trigger.asgi_app in script
    else:
        assert props["Handler"] == fn.handler
    assert props["Runtime"] == "python3.12"
    assert props["Timeout"] == fn.timeout_s
    assert props["MemorySize"] == fn.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_environment_follows_the_topology(synth: Synthesized, fn: Function) -> None:
    env = synth.function(fn.name)["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_STAGE] == STAGE
    assert env[c.ENV_ALLOW_PRIVATE] == "false"
    assert env["POWERTOOLS_SERVICE_NAME"] == f"steadfast-{fn.name}"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Steadfast"
    assert env["LOG_LEVEL"] == "INFO"
    for name in fn.tables:
        assert env[table(name).env_var] == {"Ref": synth.logical_id(synth.stack.data.tables[name])}
    for name in fn.queues:
        pair = synth.stack.messaging.queues[name]
        assert env[queue(name).env_var] == {"Ref": synth.logical_id(pair.queue)}
        assert env[queue(name).dlq_env_var] == {"Ref": synth.logical_id(pair.dlq)}
        assert env[queue(name).max_receive_env_var] == str(queue(name).max_receive_count)
    undeclared_tables = {t.env_var for t in map(table, {"jobs", "tenants", "inverters", "readings"})} - {
        table(name).env_var for name in fn.tables
    }
    assert not undeclared_tables & env.keys()
    assert ("REDIS_URL" in env) == fn.needs_redis
    if fn.needs_redis:
        assert "rediss://" in str(env["REDIS_URL"])
    assert (c.ENV_SECRET_ARN in env) == fn.needs_secrets
    if fn.needs_secrets:
        assert env[c.ENV_SECRET_ARN] == {"Ref": synth.logical_id(synth.stack.secrets.secret)}
    assert (c.ENV_KMS_KEY_ID in env) == fn.needs_kms
    if fn.needs_kms:
        assert env[c.ENV_KMS_KEY_ID] == {"Fn::GetAtt": [synth.logical_id(synth.stack.secrets.data_key), "Arn"]}
    assert "STEADFAST_LOCAL_DATA_KEY" not in env
    # The key is read at run time (shared.stage_secret); the local-only variable never deploys.
    assert c.ENV_STREAM_TOKEN_SECRET not in env
    if isinstance(fn.trigger, Schedule) and fn.trigger.local_rate_env:
        assert env[fn.trigger.local_rate_env] == str(fn.trigger.rate_s)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_only_functions_that_need_redis_are_in_the_vpc(synth: Synthesized, fn: Function) -> None:
    vpc_config = synth.function(fn.name)["Properties"].get("VpcConfig")
    assert (vpc_config is not None) == fn.needs_redis
    if vpc_config:
        sg = synth.logical_id(synth.stack.network.function_security_group)  # type: ignore[union-attr]
        assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [sg, "GroupId"]}]


def test_stream_function_runs_behind_the_lambda_web_adapter(synth: Synthesized) -> None:
    props = synth.function("stream")["Properties"]
    env = props["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/v1/health"
    assert env["PORT"] == env["AWS_LWA_PORT"] == "8080"
    assert env[c.ENV_STREAM_BASE_PATH] == f"/{STAGE}"
    layer = str(props["Layers"])
    assert f":{c.LWA_LAYER_ACCOUNT}:layer:LambdaAdapterLayerX86:{c.LWA_LAYER_VERSION}" in layer


def test_run_script_is_executable_and_execs_uvicorn() -> None:
    script = c.REPO_ROOT / c.STREAM_RUN_SCRIPT
    assert script.stat().st_mode & 0o111
    assert "exec python -m uvicorn functions.stream.app:app" in script.read_text()


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_role_reaches_only_declared_tables_queues_and_secret(synth: Synthesized, fn: Function) -> None:
    role_id = synth.logical_id(synth.stack.functions.functions[fn.name].role)
    policies = [p for p in synth.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    referenced = set().union(*(_refs(p["Properties"]["PolicyDocument"]) for p in policies))
    tables = {name: synth.logical_id(t) for name, t in synth.stack.data.tables.items()}
    assert {tables[name] for name in fn.tables} == referenced & set(tables.values())
    queue_ids = set()
    for name, pair in synth.stack.messaging.queues.items():
        if name in fn.queues:
            queue_ids |= {synth.logical_id(pair.queue), synth.logical_id(pair.dlq)}
    all_queues = {synth.logical_id(q) for p in synth.stack.messaging.queues.values() for q in (p.queue, p.dlq)}
    assert referenced & all_queues == queue_ids
    secret = synth.logical_id(synth.stack.secrets.secret)
    assert (secret in referenced) == fn.needs_secrets
    assert (synth.logical_id(synth.stack.secrets.data_key) in referenced) == fn.needs_kms


def test_data_key_grant_is_generate_and_decrypt_only(synth: Synthesized) -> None:
    key = synth.logical_id(synth.stack.secrets.data_key)
    actions: set[str] = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if key in _refs(statement.get("Resource")):
                found = statement["Action"]
                actions |= {found} if isinstance(found, str) else set(found)
    assert actions == {"kms:GenerateDataKey", "kms:Decrypt"}
    props = next(iter(synth.resources("AWS::KMS::Key").values()))["Properties"]
    assert props["EnableKeyRotation"] is True


def test_no_secret_value_reaches_the_template(synth: Synthesized) -> None:
    # A dynamic reference would put the resolved value into a function's configuration.
    assert "{{resolve:secretsmanager" not in json.dumps(synth.raw)
    assert "{{resolve:ssm-secure" not in json.dumps(synth.raw)


def test_secret_grant_is_read_only(synth: Synthesized) -> None:
    secret = synth.logical_id(synth.stack.secrets.secret)
    actions: set[str] = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if secret in _refs(statement.get("Resource")):
                found = statement["Action"]
                actions |= {found} if isinstance(found, str) else set(found)
    assert actions == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_only_the_queue_consumer_receives_from_the_jobs_queue(synth: Synthesized) -> None:
    # Producers (submit, sweeper) may send; only the event source's function may take messages away.
    jobs = synth.logical_id(synth.stack.messaging.queues["jobs"].queue)
    roles = {synth.logical_id(synth.stack.functions.functions[fn.name].role): fn.name for fn in FUNCTIONS}
    receivers = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if jobs in _refs(statement.get("Resource")) and "sqs:ReceiveMessage" in statement["Action"]:
                receivers |= {roles[r["Ref"]] for r in policy["Properties"]["Roles"] if r["Ref"] in roles}
    assert receivers == {fn.name for fn in FUNCTIONS if isinstance(fn.trigger, QueueSource)}


def test_roles_are_one_per_function_and_not_shared(synth: Synthesized) -> None:
    roles = [synth.function(fn.name)["Properties"]["Role"]["Fn::GetAtt"][0] for fn in FUNCTIONS]
    assert len(set(roles)) == len(FUNCTIONS)


def test_no_role_uses_the_broad_basic_execution_policy(synth: Synthesized) -> None:
    for role in synth.resources("AWS::IAM::Role").values():
        assert "AWSLambdaBasicExecutionRole" not in str(role["Properties"].get("ManagedPolicyArns", []))
