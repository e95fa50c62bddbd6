"""DynamoDB tables, built from `topology.TABLES`: the source of truth for jobs, tenants, inverters
and readings.

On-demand billing (nothing to pay at rest but storage), point-in-time recovery, TTL where the
topology names an attribute, and the GSIs the sweeper, the poller and the list routes query.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.topology import Index, KeyType, Table

_ATTRIBUTE_TYPES: dict[KeyType, dynamodb.AttributeType] = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
}


class Data(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tables: tuple[Table, ...],
        production: bool,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.tables: dict[str, dynamodb.Table] = {
            spec.name: self._build_table(spec, production, removal) for spec in tables
        }

    def _build_table(self, spec: Table, production: bool, removal: RemovalPolicy) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.name.capitalize(),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=production,
            removal_policy=removal,
        )
        for index in spec.indexes:
            self._build_index(table, index)
        return table

    @staticmethod
    def _build_index(table: dynamodb.Table, index: Index) -> None:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=dynamodb.Attribute(name=index.partition_key, type=_ATTRIBUTE_TYPES[index.partition_key_type]),
            sort_key=(
                dynamodb.Attribute(name=index.sort_key, type=_ATTRIBUTE_TYPES[index.sort_key_type])
                if index.sort_key
                else None
            ),
            projection_type=dynamodb.ProjectionType[index.projection],
        )
