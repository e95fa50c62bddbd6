"""The VPC that ElastiCache requires, and the security groups between functions and the cache.

Only the functions that declare `needs_redis` join the VPC. Those make outbound HTTP calls to
arbitrary targets (worker) and vendor clouds (poller), so a NAT gateway is unavoidable; DynamoDB is
reached through a free gateway endpoint so that the hot path does not pay NAT data processing. SQS
and Secrets Manager traffic is light and goes through the NAT rather than through interface
endpoints, which would cost more at rest (~$7/month per endpoint per AZ) than they save.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import LOG_RETENTION

REDIS_PORTS = ec2.Port.tcp_range(6379, 6380)  # ElastiCache Serverless: 6379 primary, 6380 reader


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, nat_gateways: int, removal: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.vpc = self._build_vpc(nat_gateways)
        self._build_endpoints()
        self._build_flow_log(removal)
        self.function_security_group, self.cache_security_group = self._build_security_groups()

    def _build_vpc(self, nat_gateways: int) -> ec2.Vpc:
        return ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=nat_gateways,
            # Left as AWS creates it: restricting it needs a custom-resource Lambda of CDK's own.
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
        )

    def _build_endpoints(self) -> None:
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)

    def _build_flow_log(self, removal: RemovalPolicy) -> None:
        log_group = logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION, removal_policy=removal)
        # Rejected traffic only: enough to debug a security group, a fraction of the ingest cost.
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    def _build_security_groups(self) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
        functions = ec2.SecurityGroup(
            self,
            "Functions",
            vpc=self.vpc,
            description="Steadfast functions in the VPC: any outbound (job targets, vendor APIs)",
            allow_all_outbound=True,
        )
        cache = ec2.SecurityGroup(
            self,
            "Cache",
            vpc=self.vpc,
            description="ElastiCache: Redis protocol from the Steadfast functions only",
            allow_all_outbound=False,
        )
        cache.add_ingress_rule(functions, REDIS_PORTS, "Redis from Steadfast functions")
        return functions, cache
