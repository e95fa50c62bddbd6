"""The schedule store on DynamoDB: schedules, the due index the scheduler reads, and the fire writes
(`shared.schedules.fires`: each fire's job and the schedule's move in one transaction, 50 fires to one).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.errors import Conflict, NotFound, PayloadTooLarge, SteadfastError, Unavailable
from shared.jobs.models import TERMINAL, iso
from shared.schedules.fires import Fire, FireWriter
from shared.schedules.record import DUE_SHARDS, ScheduleRecord, from_attributes, to_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_MAX = 100
# The due index's shards, read at once.
_SHARDS = ThreadPoolExecutor(max_workers=DUE_SHARDS, thread_name_prefix="due")
__all__ = ["Fire", "ScheduleStore"]


def _store_error(exc: ClientError | BotoCoreError) -> SteadfastError:
    """An AWS error as a domain error: an item over DynamoDB's size limit is the caller's (413)."""
    if isinstance(exc, ClientError):
        error = exc.response["Error"]
        if error["Code"] == "ValidationException" and "size" in error.get("Message", "").lower():
            return PayloadTooLarge("the schedule is larger than one stored item may be (400 KB)")
        return Unavailable(f"the schedule store is unavailable: {error['Code']}")
    return Unavailable(f"the schedule store is unavailable: {type(exc).__name__}")


class ScheduleStore:
    def __init__(self, table: str, jobs_table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.jobs_table = jobs_table
        self.db = client or aws.dynamodb()
        self.fires = FireWriter(self.db, table, jobs_table)

    # -- API -------------------------------------------------------------------------------------
    def create(self, record: ScheduleRecord) -> ScheduleRecord:
        self._call(self.db.put_item, TableName=self.table, Item=aws.to_item(to_attributes(record)),
                   ConditionExpression="attribute_not_exists(pk)")
        return record

    def get(self, tenant: str, schedule_id: str) -> ScheduleRecord:
        """A tenant's schedule; another tenant's is indistinguishable from a missing one."""
        item = None
        if schedule_id.startswith("sch_") and len(schedule_id) <= 64:
            item = self._call(self.db.get_item, TableName=self.table, ConsistentRead=True,
                              Key=aws.to_item({"pk": f"SCH#{schedule_id}", "sk": "SCH"})).get("Item")
        record = from_attributes(aws.from_item(item)) if item else None
        if record is None or record.tenant != tenant:
            raise NotFound(f"no schedule {schedule_id!r}")
        return record

    def replace(self, record: ScheduleRecord, read_version: int) -> ScheduleRecord:
        """Write an edited schedule, provided nothing (an edit, a fire) wrote it since `read_version`."""
        try:
            self.db.put_item(TableName=self.table, Item=aws.to_item(to_attributes(record)),
                             ConditionExpression="version = :v AND tenant = :t",
                             ExpressionAttributeValues=aws.values({":v": read_version, ":t": record.tenant}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Conflict(f"schedule {record.id} changed meanwhile; read it again") from exc
            raise _store_error(exc) from exc
        return record

    def delete(self, tenant: str, schedule_id: str) -> None:
        self.get(tenant, schedule_id)
        self._call(self.db.delete_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"SCH#{schedule_id}", "sk": "SCH"}))

    def record_run(self, schedule_id: str, job_id: str, at: datetime) -> None:
        """Note a manual run (trigger) as the schedule's last run, so that `overlap: skip` waits for it."""
        self._call(self.db.update_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"SCH#{schedule_id}", "sk": "SCH"}),
                   UpdateExpression="SET last_run_at = :at, last_job_id = :j ADD version :one",
                   ConditionExpression="attribute_exists(pk)",
                   ExpressionAttributeValues=aws.values({":at": iso(at), ":j": job_id, ":one": 1}))

    def page(self, tenant: str, limit: int, cursor: str | None) -> tuple[list[ScheduleRecord], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_tenant", "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "tenant_pk = :pk",
            "ExpressionAttributeValues": aws.values({":pk": f"T#{tenant}"}),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "tenant_pk", f"T#{tenant}", "created_sk",
                                                            item_prefix="SCH#")
        page = self._call(self.db.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        return self._items(page.get("Items", [])), aws.encode_cursor(last) if last else None

    def _items(self, keys: list[dict[str, Any]]) -> list[ScheduleRecord]:
        wanted = [{"pk": k["pk"], "sk": k["sk"]} for k in keys]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            request: dict[str, Any] = {self.table: {"Keys": wanted[start:start + BATCH_GET_MAX]}}
            while request:
                out = self._call(self.db.batch_get_item, RequestItems=request)
                for item in out.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = item
                request = out.get("UnprocessedKeys") or {}
        return [from_attributes(aws.from_item(found[k["pk"]["S"]])) for k in wanted if k["pk"]["S"] in found]

    # -- scheduler -------------------------------------------------------------------------------
    def due(self, now: datetime, limit: int = 1000) -> list[ScheduleRecord]:
        """Active schedules whose next fire time is at or before `now`, earliest first per shard (the shards
        are read at once)."""
        out: list[ScheduleRecord] = []
        for records in _SHARDS.map(lambda shard: self._due_in(shard, now, limit), range(DUE_SHARDS)):
            out += records
        return out

    def _due_in(self, shard: int, now: datetime, limit: int) -> list[ScheduleRecord]:
        out: list[ScheduleRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "by_due",
            "KeyConditionExpression": "due_pk = :p AND due_at <= :t",
            "ExpressionAttributeValues": aws.values({":p": f"DUE#{shard}", ":t": iso(now)}),
        }
        while len(out) < limit:
            page = self._call(self.db.query, **kwargs, Limit=limit - len(out))
            out += [from_attributes(aws.from_item(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    def job_statuses(self, job_ids: list[str]) -> dict[str, str]:
        """The status of each of these jobs that still exists (for `overlap: skip` and the dashboard)."""
        out: dict[str, str] = {}
        keys = [{"pk": {"S": f"JOB#{j}"}, "sk": {"S": "JOB"}} for j in dict.fromkeys(job_ids)]
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {self.jobs_table: {
                "Keys": keys[start:start + BATCH_GET_MAX], "ProjectionExpression": "id, #s",
                "ExpressionAttributeNames": {"#s": "status"}}}
            while request:
                out_ = self._call(self.db.batch_get_item, RequestItems=request)
                for item in out_.get("Responses", {}).get(self.jobs_table, []):
                    out[item["id"]["S"]] = item["status"]["S"]
                request = out_.get("UnprocessedKeys") or {}
        return out

    def last_jobs_terminal(self, job_ids: list[str]) -> dict[str, bool]:
        """Whether each of these jobs is terminal; a job that is gone (expired) counts as done."""
        statuses = self.job_statuses(job_ids)
        terminal = {s.value for s in TERMINAL}
        return {j: statuses.get(j, "completed") in terminal for j in job_ids}

    def fire(self, fires: list[Fire]) -> list[Fire]:
        """Write the fires (`shared.schedules.fires`); the fires this call won, with `job` set only where this
        call created the job (another writer's job is not enqueued twice)."""
        return self.fires.write(fires)

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _store_error(exc) from exc
