"""API Gateway HTTP APIs: one per function with an `HttpApi` trigger (the public API for submit,
the simulated vendor cloud for the sandbox), each route declared in the topology. A function whose
trigger `shares_api` with another adds its routes to that API, with its own integration and its own
route throttle (the public ingest route: providers, not tenants, call it).

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
            if isinstance(fn.trigger, HttpApi) and not fn.trigger.shares_api:
                joined = [
                    (f, f.trigger, deployed[f.name])
                    for f in functions
                    if isinstance(f.trigger, HttpApi) and f.trigger.shares_api == fn.name
                ]
                self.urls[fn.name] = self._build_api(fn, fn.trigger, deployed[fn.name], stage, removal, joined)

    def _build_api(
        self,
        fn: Function,
        trigger: HttpApi,
        function: lambda_.Function,
        stage: str,
        removal: RemovalPolicy,
        joined: list[tuple[Function, HttpApi, lambda_.Function]],
    ) -> str:
        construct_id = fn.name.capitalize()
        integration = integrations.HttpLambdaIntegration(f"{construct_id}Integration", function)
        api = apigwv2.HttpApi(
            self,
            f"{construct_id}Api",
            api_name=f"steadfast-{stage}-{fn.name}",
            description=f"Steadfast {fn.name} HTTP API",
            create_default_stage=False,
            # The `$default` route: an unknown path or method gets the function's problem JSON 404/405.
            default_integration=integration if trigger.catch_all else None,
        )
        for route in trigger.routes:
            api.add_routes(path=route.path, methods=[apigwv2.HttpMethod(route.method)], integration=integration)
        route_settings: dict[str, dict[str, int]] = {}
        for member, member_trigger, member_function in joined:
            member_integration = integrations.HttpLambdaIntegration(
                f"{member.name.capitalize()}Integration", member_function
            )
            for route in member_trigger.routes:
                api.add_routes(
                    path=route.path, methods=[apigwv2.HttpMethod(route.method)], integration=member_integration
                )
                route_settings[f"{route.method} {route.path}"] = {
                    "ThrottlingRateLimit": c.INGEST_RATE_LIMIT,
                    "ThrottlingBurstLimit": c.INGEST_BURST_LIMIT,
                }
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
        if route_settings:
            # The L2 stage has no per-route throttle; the CloudFormation property is set directly.
            cfn_stage = default_stage.node.default_child
            assert isinstance(cfn_stage, apigwv2.CfnStage)
            cfn_stage.route_settings = route_settings
        for child in api.node.children:
            if isinstance(child, apigwv2.HttpRoute):
                acknowledge(
                    child,
                    "AwsSolutions-APIG4",
                    "API keys are checked by the function (Bearer sk_...), per tenant, with "
                    "RFC 9457 errors; /v1/health and /v1/openapi.json are public by contract, and "
                    "/v1/ingest/{id} is authenticated by the provider's signature, checked by the function.",
                )
        return default_stage.url
