"""Create the topology's tables and queues on an AWS endpoint (moto or LocalStack), idempotently, and
return the environment the functions read them from."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from shared.topology import QUEUES, TABLES, Table

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType


def _create_table(db: object, t: Table) -> None:
    keys = {t.partition_key, t.sort_key} | {i.partition_key for i in t.indexes} | {
        i.sort_key for i in t.indexes if i.sort_key}
    gsis = [{
        "IndexName": i.name,
        "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"}]
        + ([{"AttributeName": i.sort_key, "KeyType": "RANGE"}] if i.sort_key else []),
        "Projection": {"ProjectionType": i.projection},
    } for i in t.indexes]
    kwargs: dict[str, object] = {
        "TableName": t.name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": [{"AttributeName": t.partition_key, "KeyType": "HASH"},
                      {"AttributeName": t.sort_key, "KeyType": "RANGE"}],
    }
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    try:
        db.create_table(**kwargs)  # type: ignore[attr-defined]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        return
    # moto makes a table ACTIVE at once; DynamoDB (and other emulators) take seconds, and refuse the TTL
    # update and every write until then.
    db.get_waiter("table_exists").wait(  # type: ignore[attr-defined]
        TableName=t.name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    if t.ttl_attribute:
        db.update_time_to_live(TableName=t.name, TimeToLiveSpecification={  # type: ignore[attr-defined]
            "Enabled": True, "AttributeName": t.ttl_attribute})


def create_resources(visibility_s: int | None = None) -> dict[str, str]:
    """Tables and queues from the topology; `visibility_s` shortens the lease for chaos tests."""
    db = boto3.client("dynamodb")
    sqs = boto3.client("sqs")
    out: dict[str, str] = {}
    for t in TABLES:
        _create_table(db, t)
        out[t.env_var] = t.name
    for q in QUEUES:
        dlq_url = sqs.create_queue(QueueName=f"steadfast-{q.name}-dlq",
                                   Attributes={"MessageRetentionPeriod": str(q.retention_s)})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes: dict[QueueAttributeNameType, str] = {
            "VisibilityTimeout": str(visibility_s or q.visibility_timeout_s),
            "MessageRetentionPeriod": str(q.retention_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}),
        }
        url = sqs.create_queue(QueueName=f"steadfast-{q.name}", Attributes=attributes)["QueueUrl"]
        for lane in q.extra_lanes:  # priority lanes: the same settings, the same DLQ
            out[lane.env_var] = sqs.create_queue(QueueName=f"steadfast-{q.lane_name(lane)}",
                                                 Attributes=attributes)["QueueUrl"]
        out[q.env_var] = url
        out[q.dlq_env_var] = dlq_url
        out[q.max_receive_env_var] = str(q.max_receive_count)
    return out


# Services that may be pointed at another emulator than the embedded moto, one by one, the way boto3 reads
# it: `AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4567` (e.g. LocalStack: `make localstack`, `make test-localstack`).
OVERRIDABLE = ("SQS", "SCHEDULER", "SECRETS_MANAGER", "KMS")


def service_endpoints() -> dict[str, str]:
    """The per-service endpoints set in this environment (`AWS_ENDPOINT_URL_<SERVICE>`)."""
    return {f"AWS_ENDPOINT_URL_{s}": os.environ[f"AWS_ENDPOINT_URL_{s}"] for s in OVERRIDABLE
            if os.environ.get(f"AWS_ENDPOINT_URL_{s}")}


def local_aws_env(endpoint: str, account: str | None = None) -> dict[str, str]:
    """Credentials and region for an emulator; real keys in the environment are never sent to it. With a
    service on a shared emulator (LocalStack), `account` (12 digits) is the access key: LocalStack keeps
    each such account's queues apart, so stacks sharing one LocalStack never read each other's messages."""
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    shared = service_endpoints()
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": account if shared and account else "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", **shared}
