"""HTTPS endpoints for the functions with a `StreamingUrl` trigger (the SSE stream app).

AWS documents that Lambda function URLs do not support response streaming for a function in a VPC,
and the stream app must be in the VPC to reach ElastiCache. So the endpoint depends on placement:

- in a VPC (`needs_redis`): an API Gateway REST API whose Lambda proxy integration uses
  `responseTransferMode: STREAM`. API Gateway invokes the function with InvokeWithResponseStream
  from outside the VPC, the same API a function URL uses, and the Lambda Web Adapter writes the same
  streamed response. Limits: 15 min per response (the function timeout already ends an SSE stream
  there), 5 min idle on a regional endpoint (the app sends a comment every 15 s).
- outside a VPC: a function URL in `RESPONSE_STREAM` mode, the cheaper and simpler path.

The reasoning, and the alternatives that lost (a container service, a public Redis), are in
README.md ("Deploy to AWS with CDK").
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants as c
from infra.constructs.access_logs import access_log_format, access_log_group
from infra.nag import acknowledge
from shared.topology import Function, StreamingUrl


class Streaming(Construct):
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
            if not isinstance(fn.trigger, StreamingUrl):
                continue
            function = deployed[fn.name]
            if fn.needs_redis:
                self.urls[fn.name] = self._build_rest_api(fn, function, stage, removal)
            else:
                self.urls[fn.name] = self._build_function_url(function)

    @staticmethod
    def _build_function_url(function: lambda_.Function) -> str:
        url = function.add_function_url(
            # The app checks its own tokens: EventSource cannot send an IAM signature.
            auth_type=lambda_.FunctionUrlAuthType.NONE,
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
        )
        return url.url

    def _build_rest_api(self, fn: Function, function: lambda_.Function, stage: str, removal: RemovalPolicy) -> str:
        construct_id = fn.name.capitalize()
        access_logs = access_log_group(self, construct_id, removal)
        api = apigw.RestApi(
            self,
            f"{construct_id}Api",
            rest_api_name=f"steadfast-{stage}-{fn.name}",
            description=f"Steadfast {fn.name}: SSE through Lambda response streaming",
            endpoint_types=[apigw.EndpointType.REGIONAL],  # edge-optimized: 30 s idle timeout
            # REST API access logs need the account-level CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal,
            deploy_options=apigw.StageOptions(
                stage_name=stage,
                throttling_rate_limit=c.STREAM_API_RATE_LIMIT,
                throttling_burst_limit=c.STREAM_API_BURST_LIMIT,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=access_log_format(),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        integration = apigw.LambdaIntegration(
            function,
            proxy=True,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            # Streaming lifts API Gateway's 29 s cap; the response may last as long as the function.
            timeout=Duration.seconds(fn.timeout_s),
            allow_test_invoke=False,
        )
        # The stack exports the URL under its own name (StreamUrl); drop the RestApi's default output.
        api.node.try_remove_child("Endpoint")
        api.root.add_method("ANY", integration)
        api.root.add_proxy(default_integration=integration, any_method=True)
        # The stage name prefixes every public path and the Web Adapter passes it on: the app routes
        # below it and its pages build their links from it (functions/stream/app.py).
        function.add_environment(c.ENV_STREAM_BASE_PATH, f"/{stage}")
        self._acknowledge(api)
        return api.url

    @staticmethod
    def _acknowledge(api: apigw.RestApi) -> None:
        reasons = {
            "AwsSolutions-APIG2": "A catch-all proxy to one ASGI app, which validates its own input.",
            "AwsSolutions-APIG3": "No WAF: ~$5/month at rest per stage; the stage is throttled instead.",
            "AwsSolutions-APIG4": "The app checks a short-lived per-inverter stream token or an API key "
            "(query string, because browsers' EventSource cannot send headers).",
            "AwsSolutions-COG4": "Callers are API clients and dashboard viewers holding tokens, not Cognito users.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]": "The AWS-managed policy API Gateway documents for "
            "its account-level logging role.",
        }
        for rule, reason in reasons.items():
            acknowledge(api, rule, reason)
