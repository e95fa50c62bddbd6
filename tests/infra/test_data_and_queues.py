"""DynamoDB tables and SQS queues match the topology: billing, recovery, TTL, indexes, redrive,
visibility (the worker's lease) and encryption."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aws_cdk.assertions import Match

from infra.constructs.queues import check_visibility
from shared.topology import FUNCTIONS, QUEUES, TABLES, QueueSource, Table, function
from tests.infra.conftest import Synthesized


@pytest.mark.parametrize("spec", TABLES, ids=[t.name for t in TABLES])
def test_table_is_on_demand_recoverable_and_indexed_as_declared(synth: Synthesized, spec: Table) -> None:
    props = synth.raw["Resources"][synth.logical_id(synth.stack.data.tables[spec.name])]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": spec.partition_key, "KeyType": "HASH"},
        {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
    ]
    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props
    indexes = {gsi["IndexName"]: gsi for gsi in props.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index.name for index in spec.indexes}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    for index in spec.indexes:
        keys = indexes[index.name]["KeySchema"]
        assert keys[0] == {"AttributeName": index.partition_key, "KeyType": "HASH"}
        assert types[index.partition_key] == index.partition_key_type
        if index.sort_key:
            assert keys[1] == {"AttributeName": index.sort_key, "KeyType": "RANGE"}
            assert types[index.sort_key] == index.sort_key_type
        assert indexes[index.name]["Projection"] == {"ProjectionType": index.projection}


def test_non_production_tables_can_be_torn_down(synth: Synthesized) -> None:
    for table in synth.resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
        assert not table["Properties"].get("DeletionProtectionEnabled", False)


def test_jobs_queue_redrives_to_its_dlq_with_the_topology_count(synth: Synthesized) -> None:
    for spec in QUEUES:
        pair = synth.stack.messaging.queues[spec.name]
        props = synth.raw["Resources"][synth.logical_id(pair.queue)]["Properties"]
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [synth.logical_id(pair.dlq), "Arn"]},
            "maxReceiveCount": spec.max_receive_count,
        }
        assert props["VisibilityTimeout"] == spec.visibility_timeout_s
        assert props["MessageRetentionPeriod"] == spec.retention_s
        assert props["SqsManagedSseEnabled"] is True
        dlq = synth.raw["Resources"][synth.logical_id(pair.dlq)]["Properties"]
        assert dlq["SqsManagedSseEnabled"] is True
        assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queues_refuse_plain_http(synth: Synthesized) -> None:
    # the jobs queue, its two extra priority lanes and the DLQ: every queue refuses plain HTTP
    queues = len(synth.resources("AWS::SQS::Queue"))
    assert queues == 4
    synth.template.resource_count_is("AWS::SQS::QueuePolicy", queues)
    synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_visibility_covers_six_worker_timeouts_in_the_topology() -> None:
    worker = function("worker")
    assert isinstance(worker.trigger, QueueSource)
    check_visibility(QUEUES, FUNCTIONS)  # the real topology passes
    slow_worker = replace(worker, timeout_s=QUEUES[0].visibility_timeout_s // 6 + 1)
    with pytest.raises(ValueError, match="visibility timeout"):
        check_visibility(QUEUES, (slow_worker,))
