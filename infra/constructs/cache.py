"""ElastiCache Serverless for Valkey: pub/sub fan-out, the replay streams and job events.

Serverless rather than a node-based replication group: no node sizing, multi-AZ by default, and
Valkey's minimum bill (100 MB of data) is about a tenth of Redis OSS Serverless's (1 GB). It
requires TLS, hence `rediss://`. It rejects PSUBSCRIBE, which the stream app does not use.
"""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

from infra.constants import CACHE_MAX_DATA_GB, CACHE_MAX_ECPU_PER_SECOND


class Cache(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.cache = self._build_cache(name, vpc, security_group)
        self.cache.apply_removal_policy(removal)
        self.redis_url = Fn.join(
            "", ["rediss://", self.cache.attr_endpoint_address, ":", self.cache.attr_endpoint_port]
        )

    def _build_cache(
        self, name: str, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup
    ) -> elasticache.CfnServerlessCache:
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        return elasticache.CfnServerlessCache(
            self,
            "Valkey",
            serverless_cache_name=name,
            engine="valkey",
            major_engine_version="8",
            description="Steadfast live fan-out (pub/sub), replay streams and job events",
            subnet_ids=subnets.subnet_ids,
            security_group_ids=[security_group.security_group_id],
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(unit="GB", maximum=CACHE_MAX_DATA_GB),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(maximum=CACHE_MAX_ECPU_PER_SECOND),
            ),
        )
