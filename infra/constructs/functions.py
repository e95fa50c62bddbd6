"""The Lambda functions, built in one loop from `topology.FUNCTIONS`.

Each function gets its own role holding only what its topology entry declares: its log group, the
tables and queues it names, the secret if it `needs_secrets`, the data key if it `needs_kms`, the VPC
if it `needs_redis`. Its environment is derived from the same entry, so the deployed handler reads the
same variables the local cloud sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants as c
from infra.constructs.queues import QueuePair
from infra.nag import acknowledge
from infra.packaging import RUNTIME, function_code, handler_package
from shared.topology import Function, QueueSource, Schedule, StreamingUrl, queue, table

LWA_PORT = "8080"
# ENI management for a function in a VPC; EC2 grants these on "*" only.
_VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


@dataclass(frozen=True)
class Dependencies:
    """What the functions are wired to; built by the other constructs."""

    tables: dict[str, dynamodb.Table]
    queues: dict[str, QueuePair]
    secret: secretsmanager.ISecret
    data_key: kms.IKey
    redis_url: str | None
    vpc: ec2.IVpc | None
    security_group: ec2.ISecurityGroup | None


def stream_handler(fn: Function) -> str:
    """The Lambda handler of a streaming function: the start-up script beside its ASGI app."""
    assert isinstance(fn.trigger, StreamingUrl)
    return str(handler_package(fn) / fn.trigger.run_script)


def lwa_layer_arn(stack: Stack, version: int) -> str:
    return f"arn:{stack.partition}:lambda:{stack.region}:{c.LWA_LAYER_ACCOUNT}:layer:{c.LWA_LAYER_NAME}:{version}"


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: tuple[Function, ...],
        deps: Dependencies,
        stage: str,
        with_dependencies: bool,
        lwa_layer_version: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self._deps = deps
        self._stage = stage
        self._with_dependencies = with_dependencies
        self._lwa_layer_version = lwa_layer_version
        self._removal = removal
        self.functions: dict[str, lambda_.Function] = {}
        for fn in functions:
            self.functions[fn.name] = self._build_function(fn)

    def _build_function(self, fn: Function) -> lambda_.Function:
        construct_id = fn.name.capitalize()
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=c.LOG_RETENTION,
            removal_policy=self._removal,
        )
        role = self._build_role(fn, construct_id, log_group)
        in_vpc = fn.needs_redis
        streaming = isinstance(fn.trigger, StreamingUrl)
        function = lambda_.Function(
            self,
            construct_id,
            function_name=f"steadfast-{self._stage}-{fn.name}",
            description=f"Steadfast {fn.name} ({fn.handler or fn.module})",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,  # the bundled wheels and the LWA layer are x86_64
            code=function_code(fn, self._with_dependencies),
            handler=stream_handler(fn) if streaming else fn.entry,
            timeout=Duration.seconds(fn.timeout_s),
            memory_size=fn.memory_mb,
            environment=self._environment(fn),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            layers=[self._lwa_layer(construct_id)] if streaming else None,
            vpc=self._deps.vpc if in_vpc else None,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if in_vpc else None,
            security_groups=[self._deps.security_group] if in_vpc and self._deps.security_group else None,
        )
        self._grant(fn, role)
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to python3.12 on purpose: the dependencies are bundled for CPython 3.12 "
            "(infra/packaging.py) and the local stack is tested against the same minor version.",
        )
        return function

    def _lwa_layer(self, construct_id: str) -> lambda_.ILayerVersion:
        arn = lwa_layer_arn(Stack.of(self), self._lwa_layer_version)
        return lambda_.LayerVersion.from_layer_version_arn(self, f"{construct_id}WebAdapter", arn)

    def _build_role(self, fn: Function, construct_id: str, log_group: logs.ILogGroup) -> iam.Role:
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Steadfast {fn.name}: only the tables, queues and secrets it declares",
        )
        # Written by hand instead of AWSLambdaBasicExecutionRole, which would allow every log group.
        log_group.grant_write(role)
        if fn.needs_redis:
            role.add_to_policy(iam.PolicyStatement(actions=list(_VPC_ACTIONS), resources=["*"]))
        return role

    def _grant(self, fn: Function, role: iam.Role) -> None:
        for name in fn.tables:
            self._deps.tables[name].grant_read_write_data(role)
            if table(name).indexes:
                self._acknowledge_index_wildcard(role, self._deps.tables[name])
        for name in fn.queues:
            pair = self._deps.queues[name]
            for lane in pair.consumed:
                lane.grant_send_messages(role)
            # Dead-lettering a job (worker) and redriving the DLQ (submit) both read and write it.
            pair.dlq.grant_send_messages(role)
            pair.dlq.grant_consume_messages(role)
        if isinstance(fn.trigger, QueueSource):
            for lane in self._deps.queues[fn.trigger.queue].consumed:
                lane.grant_consume_messages(role)
        if fn.needs_secrets:
            self._deps.secret.grant_read(role)
        if fn.needs_kms:
            # Exactly what shared.envelope calls: no Encrypt, ReEncrypt or key administration.
            self._deps.data_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        acknowledge(
            role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords and, in the VPC, Lambda's ENI actions "
            "support no resource-level permissions (AWS documents Resource '*' for both).",
        )

    @staticmethod
    def _acknowledge_index_wildcard(role: iam.Role, table_: dynamodb.Table) -> None:
        stack = Stack.of(table_)
        logical_id = stack.resolve(stack.get_logical_id(table_.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            role,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/index/*]",
            "The function queries the GSIs of a table it declares; `index/*` covers exactly those "
            "indexes of that one table.",
        )

    def _environment(self, fn: Function) -> dict[str, str]:
        env = {
            c.ENV_STAGE: self._stage,
            c.ENV_ALLOW_PRIVATE: "false",
            "POWERTOOLS_SERVICE_NAME": f"steadfast-{fn.name}",
            "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
            "LOG_LEVEL": "INFO",
        }
        for name in fn.tables:
            env[table(name).env_var] = self._deps.tables[name].table_name
        for name in fn.queues:
            spec, pair = queue(name), self._deps.queues[name]
            env[spec.env_var] = pair.queue.queue_url
            env[spec.dlq_env_var] = pair.dlq.queue_url
            env[spec.max_receive_env_var] = str(spec.max_receive_count)
            for lane in spec.extra_lanes:
                env[lane.env_var] = pair.lanes[lane.priority].queue_url
        if fn.needs_redis:
            if self._deps.redis_url is None:
                raise ValueError(f"{fn.name} needs Redis but the stack has no cache")
            env[c.ENV_REDIS_URL] = self._deps.redis_url
        if fn.needs_secrets:
            # Only the ARN: the functions read the keys at run time (shared.stage_secret, cached), so no
            # value shows in the function's configuration and a rotated key needs no deploy.
            env[c.ENV_SECRET_ARN] = self._deps.secret.secret_arn
        if fn.needs_kms:
            env[c.ENV_KMS_KEY_ID] = self._deps.data_key.key_arn
        if isinstance(fn.trigger, Schedule) and fn.trigger.local_rate_env:
            # The handler learns its real cadence under the same name the local cloud uses.
            env[fn.trigger.local_rate_env] = str(fn.trigger.rate_s)
        if isinstance(fn.trigger, StreamingUrl):
            env.update(
                {
                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                    "AWS_LWA_INVOKE_MODE": "response_stream",
                    "AWS_LWA_READINESS_CHECK_PATH": fn.trigger.readiness_path,
                    "AWS_LWA_PORT": LWA_PORT,
                    "PORT": LWA_PORT,
                }
            )
        env.update(fn.environment)
        return env
