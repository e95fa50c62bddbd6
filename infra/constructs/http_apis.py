"""API Gateway HTTP APIs: one per function with an `HttpApi` trigger (the public API for submit,
the simulated vendor cloud for the sandbox), each route declared in the topology.

Routes are explicit rather than `/{proxy+}` so that API Gateway answers unknown paths itself and
the deployed API lists exactly what the local API Gateway emulation serves.
"""

from __future__ import annotations

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.constructs.access_logs import access_log_format, access_log_group
from infra.nag import acknowledge
from shared.topology import Function, HttpApi


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return access_log_format()


class HttpApis(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: tuple[Function, ...],
        deployed: dict[str, lambda_.Function],
        stage: str,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.urls: dict[str, str] = {}
        for fn in functions:
            if isinstance(fn.trigger, HttpApi):
                self.urls[fn.name] = self._build_api(fn, fn.trigger, deployed[fn.name], stage, removal)

    def _build_api(
        self, fn: Function, trigger: HttpApi, function: lambda_.Function, stage: str, removal: RemovalPolicy
    ) -> str:
        construct_id = fn.name.capitalize()
        api = apigwv2.HttpApi(
            self,
            f"{construct_id}Api",
            api_name=f"steadfast-{stage}-{fn.name}",
            description=f"Steadfast {fn.name} HTTP API",
            create_default_stage=False,
        )
        integration = integrations.HttpLambdaIntegration(f"{construct_id}Integration", function)
        for route in trigger.routes:
            api.add_routes(path=route.path, methods=[apigwv2.HttpMethod(route.method)], integration=integration)
        access_logs = access_log_group(self, construct_id, removal)
        default_stage = apigwv2.HttpStage(
            self,
            f"{construct_id}Stage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=c.HTTP_API_RATE_LIMIT, burst_limit=c.HTTP_API_BURST_LIMIT),
            access_log_settings=_AccessLogs(access_logs),
        )
        for child in api.node.children:
            if isinstance(child, apigwv2.HttpRoute):
                acknowledge(
                    child,
                    "AwsSolutions-APIG4",
                    "API keys are checked by the function (Bearer sk_...), per tenant, with "
                    "RFC 9457 errors; /v1/health and /v1/openapi.json are public by contract.",
                )
        return default_stage.url
