"""Alert rules, incidents and the evaluator's tracks on DynamoDB (one table, `alerts`).

    rule       T#<tenant>        / RULE#<rule id>
    incident   T#<tenant>        / INC#<incident id>      (ids sort by the condition's start)
    track      TRK#<inverter id> / <rule id>              check_pk/check_at while pending (sparse by_check)

An incident is written once (a conditional put keyed by its deterministic id) and resolved once (a
conditional update from open), so that an evaluation repeated after a crash finds what the first one
wrote and notifies from that, never from a second version.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.alerts.models import AlertRule, Incident, IncidentState, Track, TrackState
from shared.errors import NotFound, Unavailable
from shared.telemetry.models import Reading, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHECK_PK = "CHK"


class AlertStore:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.db = client or aws.dynamodb()

    # -- rules ---------------------------------------------------------------------------------------
    def put_rule(self, tenant: str, rule: AlertRule) -> None:
        self._call(self.db.put_item, TableName=self.table, Item=aws.to_item({
            "pk": f"T#{tenant}", "sk": f"RULE#{rule.id}", "rule": rule.model_dump_json()}))

    def rules(self, tenant: str) -> list[AlertRule]:
        return [AlertRule.model_validate_json(i["rule"]) for i in self._query(f"T#{tenant}", "RULE#")]

    def rule(self, tenant: str, rule_id: str) -> AlertRule | None:
        item = self._get(f"T#{tenant}", f"RULE#{rule_id}")
        return AlertRule.model_validate_json(item["rule"]) if item else None

    def delete_rule(self, tenant: str, rule_id: str) -> None:
        try:
            self.db.delete_item(TableName=self.table, Key=aws.to_item({"pk": f"T#{tenant}", "sk": f"RULE#{rule_id}"}),
                                ConditionExpression="attribute_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"no alert rule {rule_id!r}") from exc
            raise Unavailable(f"the alert store is unavailable: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable("the alert store is unavailable") from exc

    # -- incidents -----------------------------------------------------------------------------------
    def open_incident(self, tenant: str, incident: Incident) -> Incident:
        """Write the incident unless it exists; either way the stored one."""
        try:
            self.db.put_item(TableName=self.table, Item=self._incident_item(tenant, incident),
                             ConditionExpression="attribute_not_exists(pk)")
            return incident
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise Unavailable(f"the alert store is unavailable: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable("the alert store is unavailable") from exc
        stored = self.incident(tenant, incident.id)
        assert stored is not None  # the condition failed because it exists; incidents are never deleted
        return stored

    def resolve_incident(self, tenant: str, incident_id: str, at: datetime, reading: Reading | None) -> Incident | None:
        """Resolve an open incident; an already resolved one is returned as it was resolved."""
        stored = self.incident(tenant, incident_id)
        if stored is None or stored.state == IncidentState.resolved:
            return stored
        resolved = stored.model_copy(update={"state": IncidentState.resolved, "resolved_at": at,
                                             "resolved_reading": reading})
        try:
            self.db.put_item(TableName=self.table, Item=self._incident_item(tenant, resolved),
                             ConditionExpression="#s = :open", ExpressionAttributeNames={"#s": "state"},
                             ExpressionAttributeValues=aws.values({":open": IncidentState.open.value}))
            return resolved
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise Unavailable(f"the alert store is unavailable: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable("the alert store is unavailable") from exc
        return self.incident(tenant, incident_id)

    def incident(self, tenant: str, incident_id: str) -> Incident | None:
        item = self._get(f"T#{tenant}", f"INC#{incident_id}")
        return Incident.model_validate_json(item["incident"]) if item else None

    def incidents(self, tenant: str, state: IncidentState | None, limit: int,
                  cursor: str | None) -> tuple[list[Incident], str | None]:
        """Newest first (by the condition's start)."""
        pk = f"T#{tenant}"
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :inc)",
            "ExpressionAttributeValues": aws.values({":pk": pk, ":inc": "INC#"})}
        if state is not None:
            kwargs.update(FilterExpression="#s = :s", ExpressionAttributeNames={"#s": "state"})
            kwargs["ExpressionAttributeValues"] |= aws.values({":s": state.value})
        if cursor:
            kwargs["ExclusiveStartKey"] = aws.decode_cursor(cursor, "pk", pk, sk_prefix="INC#")
        out: list[Incident] = []
        while len(out) < limit:
            page = self._call(self.db.query, Limit=limit - len(out), **kwargs)
            out += [Incident.model_validate_json(aws.from_item(i)["incident"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out, None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out, aws.encode_cursor(kwargs["ExclusiveStartKey"])

    # -- tracks --------------------------------------------------------------------------------------
    def tracks(self, inverter_id: str) -> dict[str, Track]:
        found = (Track.model_validate_json(i["track"]) for i in self._query(f"TRK#{inverter_id}"))
        return {t.rule_id: t for t in found}

    def track(self, inverter_id: str, rule_id: str) -> Track | None:
        item = self._get(f"TRK#{inverter_id}", rule_id)
        return Track.model_validate_json(item["track"]) if item else None

    def put_track(self, track: Track, check_at: datetime | None = None) -> None:
        """`check_at`: when a pending track is to be evaluated again even if its inverter is not polled."""
        pending = track.state == TrackState.pending and check_at is not None
        self._call(self.db.put_item, TableName=self.table, Item=aws.to_item({
            "pk": f"TRK#{track.inverter_id}", "sk": track.rule_id, "track": track.model_dump_json(),
            "check_pk": CHECK_PK if pending else None, "check_at": iso(check_at) if pending and check_at else None}))

    def delete_track(self, inverter_id: str, rule_id: str) -> None:
        self._call(self.db.delete_item, TableName=self.table,
                   Key=aws.to_item({"pk": f"TRK#{inverter_id}", "sk": rule_id}))

    def due_checks(self, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
        """(inverter id, rule id) of pending tracks whose for_s has run out."""
        page = self._call(self.db.query, TableName=self.table, IndexName="by_check", Limit=limit,
                          KeyConditionExpression="check_pk = :p AND check_at <= :t",
                          ExpressionAttributeValues=aws.values({":p": CHECK_PK, ":t": iso(now)}))
        keys = [aws.from_item(i) for i in page.get("Items", [])]
        return [(k["pk"].removeprefix("TRK#"), k["sk"]) for k in keys]

    # -- plumbing ------------------------------------------------------------------------------------
    def _incident_item(self, tenant: str, incident: Incident) -> dict[str, Any]:
        return aws.to_item({"pk": f"T#{tenant}", "sk": f"INC#{incident.id}", "state": incident.state.value,
                            "incident": incident.model_dump_json()})

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._call(self.db.get_item, TableName=self.table, Key=aws.to_item({"pk": pk, "sk": sk})).get("Item")
        return aws.from_item(item) if item else None

    def _query(self, pk: str, prefix: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": aws.values({":pk": pk})}
        if prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :p)"
            kwargs["ExpressionAttributeValues"] |= aws.values({":p": prefix})
        out: list[dict[str, Any]] = []
        while True:
            page = self._call(self.db.query, **kwargs)
            out += [aws.from_item(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the alert store is unavailable: {type(exc).__name__}") from exc

