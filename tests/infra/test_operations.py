"""Operations: cdk-nag passes, alarms watch what DESIGN.md says can fail, the dashboard exists,
ElastiCache and the secret are wired, and every non-production resource can be torn down."""

from __future__ import annotations

import json
from typing import Any

from infra import constants as c
from shared.topology import FUNCTIONS, QueueSource
from tests.infra.conftest import STAGE, Synthesized, read_json


def _alarm(synth: Synthesized, metric: str, dimension_ref: str) -> dict[str, Any]:
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        dims = json.dumps(props.get("Dimensions", []))
        if props["MetricName"] == metric and dimension_ref in dims:
            return dict(props)
    raise AssertionError(f"no {metric} alarm on {dimension_ref}")


def test_cdk_nag_passes_and_every_acknowledgement_says_why(synth: Synthesized) -> None:
    report = read_json(synth.outdir / "validation-report.json")
    (nag,) = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for acknowledged in nag["suppressedViolations"]:
        assert len(acknowledged["reason"]) > 40, acknowledged["ruleName"]


def test_dlq_not_empty_alarm(synth: Synthesized) -> None:
    dlq = synth.logical_id(synth.stack.messaging.queues["jobs"].dlq)
    alarm = _alarm(synth, "ApproximateNumberOfMessagesVisible", dlq)
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"]


def test_oldest_message_alarm_on_the_jobs_queue(synth: Synthesized) -> None:
    jobs = synth.logical_id(synth.stack.messaging.queues["jobs"].queue)
    alarm = _alarm(synth, "ApproximateAgeOfOldestMessage", jobs)
    assert alarm["Threshold"] == c.OLDEST_MESSAGE_ALARM_S


def test_error_alarm_for_every_function_and_throttle_alarm_for_queue_consumers(synth: Synthesized) -> None:
    for fn in FUNCTIONS:
        ref = synth.logical_id(synth.stack.functions.functions[fn.name])
        errors = _alarm(synth, "Errors", ref)
        expected = c.POLLER_ERRORS_ALARM_THRESHOLD if fn.name in {"poller", "sweeper", "scheduler"} else 1
        assert errors["Threshold"] == expected
        if isinstance(fn.trigger, QueueSource):
            assert _alarm(synth, "Throttles", ref)["Threshold"] == 1


def test_dashboard_shows_queue_and_every_function(synth: Synthesized) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"steadfast-{STAGE}"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "ApproximateAgeOfOldestMessage" in body
    for fn in FUNCTIONS:
        assert f"{fn.name}: invocations" in body


def test_valkey_serverless_cache_is_reachable_only_from_the_functions(synth: Synthesized) -> None:
    (cache,) = synth.resources("AWS::ElastiCache::ServerlessCache").values()
    props = cache["Properties"]
    assert props["Engine"] == "valkey"
    assert len(props["SubnetIds"]) == 2
    network = synth.stack.network
    assert network is not None
    cache_sg = synth.logical_id(network.cache_security_group)
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [cache_sg, "GroupId"]}]
    (ingress,) = synth.resources("AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"]["FromPort"] == 6379
    assert ingress["Properties"]["ToPort"] == 6380
    assert ingress["Properties"]["SourceSecurityGroupId"] == {
        "Fn::GetAtt": [synth.logical_id(network.function_security_group), "GroupId"]
    }


def test_vpc_reaches_dynamodb_through_a_gateway_endpoint(synth: Synthesized) -> None:
    (endpoint,) = synth.resources("AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    assert "dynamodb" in json.dumps(endpoint["Properties"]["ServiceName"])
    synth.template.resource_count_is("AWS::EC2::NatGateway", 1)


def test_secret_holds_a_generated_signing_key_and_vendor_slots(synth: Synthesized) -> None:
    (secret,) = synth.resources("AWS::SecretsManager::Secret").values()
    generate = secret["Properties"]["GenerateSecretString"]
    assert "Name" not in secret["Properties"]  # a fixed name would block redeploying a torn-down stage
    assert secret["Properties"]["Description"].startswith(f"Steadfast {STAGE}:")
    assert generate["GenerateStringKey"] == c.SECRET_KEY_STREAM_TOKEN
    assert set(json.loads(generate["SecretStringTemplate"])) == set(c.SECRET_VENDOR_KEYS)


def test_every_log_group_expires(synth: Synthesized) -> None:
    for group in synth.resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30
