"""Triggers as the topology declares them: the worker's SQS event source, the HTTP API routes with
throttling and access logs, the schedules, and the streaming endpoint of the stream app."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from infra import constants as c
from shared.topology import FUNCTIONS, HttpApi, QueueSource, Schedule, function, queue
from tests.infra.conftest import STAGE, Synthesized


def test_worker_event_sources_report_item_failures_with_declared_batching(synth: Synthesized) -> None:
    worker = function("worker")
    assert isinstance(worker.trigger, QueueSource)
    pair = synth.stack.messaging.queues[worker.trigger.queue]
    mappings = [m["Properties"] for m in synth.resources("AWS::Lambda::EventSourceMapping").values()]
    # One mapping per priority lane, each capped at its weighted share of the fleet
    caps = worker.trigger.lane_concurrency(queue(worker.trigger.queue).lanes)
    by_arn = {json.dumps(p["EventSourceArn"], sort_keys=True): p for p in mappings}
    assert len(mappings) == len(pair.lanes) == 3
    for lane, lane_queue in pair.lanes.items():
        props = by_arn[json.dumps({"Fn::GetAtt": [synth.logical_id(lane_queue), "Arn"]}, sort_keys=True)]
        assert props["FunctionName"] == {"Ref": synth.logical_id(synth.stack.functions.functions["worker"])}
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == worker.trigger.batch_size
        assert props["ScalingConfig"] == {"MaximumConcurrency": caps[lane]}
        assert props.get("MaximumBatchingWindowInSeconds", 0) == worker.trigger.max_batching_window_s
    # high gets the largest share, low the least; together they are the fleet, not more
    assert caps["high"] > caps["normal"] > caps["low"] >= 2
    assert sum(caps.values()) == worker.trigger.max_concurrency


def test_priority_lanes_are_queues_of_their_own_sharing_the_dead_letter_queue(synth: Synthesized) -> None:
    pair = synth.stack.messaging.queues["jobs"]
    assert pair.lanes["normal"] is pair.queue
    dlq_arn = {"Fn::GetAtt": [synth.logical_id(pair.dlq), "Arn"]}
    for lane in ("high", "normal", "low"):
        props = synth.raw["Resources"][synth.logical_id(pair.lanes[lane])]["Properties"]
        assert props["RedrivePolicy"]["deadLetterTargetArn"] == dlq_arn
    # every job producer is told every lane's URL
    worker = synth.function("worker")["Properties"]["Environment"]["Variables"]
    for lane in queue("jobs").extra_lanes:
        assert worker[lane.env_var] == {"Ref": synth.logical_id(pair.lanes[lane.priority])}


def test_queue_visibility_outlasts_six_consumer_timeouts_in_the_template(synth: Synthesized) -> None:
    # The visibility timeout is the lease: a batch still running must not be handed out again.
    for fn in FUNCTIONS:
        if isinstance(fn.trigger, QueueSource):
            queue_props = synth.raw["Resources"][synth.logical_id(synth.stack.messaging.queues[fn.trigger.queue].queue)]
            timeout = synth.function(fn.name)["Properties"]["Timeout"]
            assert queue_props["Properties"]["VisibilityTimeout"] >= c.VISIBILITY_TO_TIMEOUT_FACTOR * timeout


def test_http_api_serves_exactly_the_topology_routes(synth: Synthesized) -> None:
    expected = {
        f"{route.method} {route.path}"
        for fn in FUNCTIONS
        if isinstance(fn.trigger, HttpApi)
        for route in fn.trigger.routes
    } | {"$default" for fn in FUNCTIONS if isinstance(fn.trigger, HttpApi) and fn.trigger.catch_all}
    routes = {r["Properties"]["RouteKey"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()}
    assert routes == expected


def test_every_http_api_stage_is_throttled_and_logged(synth: Synthesized) -> None:
    stages = synth.resources("AWS::ApiGatewayV2::Stage").values()
    assert len(stages) == sum(isinstance(fn.trigger, HttpApi) and not fn.trigger.shares_api for fn in FUNCTIONS)
    for stage in stages:
        props = stage["Properties"]
        assert props["StageName"] == "$default"
        assert props["AutoDeploy"] is True
        assert props["DefaultRouteSettings"] == {
            "ThrottlingBurstLimit": c.HTTP_API_BURST_LIMIT,
            "ThrottlingRateLimit": c.HTTP_API_RATE_LIMIT,
        }
        assert "DestinationArn" in props["AccessLogSettings"]
        assert "$context.requestId" in props["AccessLogSettings"]["Format"]


def test_the_public_ingest_route_has_its_own_function_and_throttle(synth: Synthesized) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in synth.resources("AWS::ApiGatewayV2::Route").values()}
    integrations = synth.resources("AWS::ApiGatewayV2::Integration")
    ingest = routes["POST /v1/ingest/{id}"]
    submit = routes["POST /v1/sources"]
    # Its own integration (the ingest function), not the submit function's
    ingest_integration = integrations[ingest["Target"]["Fn::Join"][1][1]["Ref"]]
    submit_integration = integrations[submit["Target"]["Fn::Join"][1][1]["Ref"]]
    assert ingest_integration != submit_integration
    assert synth.logical_id(synth.stack.functions.functions["ingest"]) in json.dumps(ingest_integration)
    [stage] = [s for s in synth.resources("AWS::ApiGatewayV2::Stage").values() if "RouteSettings" in s["Properties"]]
    assert stage["Properties"]["RouteSettings"] == {"POST /v1/ingest/{id}": {
        "ThrottlingRateLimit": c.INGEST_RATE_LIMIT, "ThrottlingBurstLimit": c.INGEST_BURST_LIMIT}}


def test_scheduled_functions_fire_at_the_topology_rate_without_retries(synth: Synthesized) -> None:
    rules = synth.resources("AWS::Events::Rule")
    by_target: dict[str, dict[str, Any]] = {
        rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]: rule["Properties"] for rule in rules.values()
    }
    scheduled = [fn for fn in FUNCTIONS if isinstance(fn.trigger, Schedule)]
    assert len(by_target) == len(scheduled) >= 2
    for fn in scheduled:
        assert isinstance(fn.trigger, Schedule)
        rule = by_target[synth.logical_id(synth.stack.functions.functions[fn.name])]
        minutes = fn.trigger.rate_s // 60
        assert rule["ScheduleExpression"] == f"rate({minutes} minute{'s' if minutes > 1 else ''})"
        assert rule["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_stream_app_is_served_by_a_streaming_rest_api_not_a_function_url(synth: Synthesized) -> None:
    # The stream function is in the VPC, where AWS documents function-URL streaming as unsupported.
    synth.template.resource_count_is("AWS::Lambda::Url", 0)
    stream = synth.logical_id(synth.stack.functions.functions["stream"])
    methods = synth.resources("AWS::ApiGateway::Method")
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"ANY"}
    assert len(methods) == 2  # "/" and "/{proxy+}"
    for method in methods.values():
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == function("stream").timeout_s * 1000
        uri = str(integration["Uri"])
        assert "/response-streaming-invocations" in uri
        assert stream in uri
    synth.template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    synth.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def test_streaming_stage_is_throttled_traced_and_logged(synth: Synthesized) -> None:
    synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": STAGE,
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ThrottlingRateLimit": c.STREAM_API_RATE_LIMIT,
                            "ThrottlingBurstLimit": c.STREAM_API_BURST_LIMIT,
                            "LoggingLevel": "ERROR",
                        }
                    )
                ]
            ),
        },
    )


def test_outputs_name_the_urls_the_cli_reads(synth: Synthesized) -> None:
    outputs = synth.raw["Outputs"]
    assert {"SubmitUrl", "StreamUrl", c.OUTPUT_REDIS_ENDPOINT, c.OUTPUT_SECRET_ARN} <= outputs.keys()
    # The stage name is part of every streaming URL (REST APIs have no $default stage).
    assert f"DeploymentStage{STAGE}" in str(outputs["StreamUrl"]["Value"])
