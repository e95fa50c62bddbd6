"""API Gateway access logs, the same for the HTTP APIs and the streaming REST API: one log group each
and one JSON line per request (no caller or user fields)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c


def access_log_group(scope: Construct, construct_id: str, removal: RemovalPolicy) -> logs.LogGroup:
    return logs.LogGroup(scope, f"{construct_id}AccessLogs", retention=c.LOG_RETENTION, removal_policy=removal)


def access_log_format() -> apigw.AccessLogFormat:
    return apigw.AccessLogFormat.json_with_standard_fields(
        caller=False,
        http_method=True,
        ip=True,
        protocol=True,
        request_time=True,
        resource_path=True,
        response_length=True,
        status=True,
        user=False,
    )
