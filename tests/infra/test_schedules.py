"""The managed side of cron schedules: a one-minute rule starts the scheduler, which ticks for most of
the minute and must end before its timeout and before the next start; it may touch only the schedule
and job tables and the jobs queue; the zone database ships with it (Lambda has none for zoneinfo)."""

from __future__ import annotations

from typing import Any

from shared.topology import Schedule, function, table
from tests.infra.conftest import Synthesized


def _actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"]
        out |= {actions} if isinstance(actions, str) else set(actions)
    return out


def test_the_scheduler_ticks_within_its_minute_and_timeout(synth: Synthesized) -> None:
    fn = function("scheduler")
    assert isinstance(fn.trigger, Schedule) and fn.trigger.rate_s == 60
    props = synth.function("scheduler")["Properties"]
    variables = props["Environment"]["Variables"]
    # The handler ticks for rate - 5 s: that window must end before the Lambda timeout cuts a tick off.
    assert float(variables["STEADFAST_SCHEDULER_RATE_S"]) == 60
    assert props["Timeout"] >= 60 - 5 + 10
    assert variables[table("schedules").env_var] and variables[table("jobs").env_var]
    assert "VpcConfig" not in props


def test_the_schedules_table_has_the_sparse_due_index(synth: Synthesized) -> None:
    props = synth.raw["Resources"][synth.logical_id(synth.stack.data.tables["schedules"])]["Properties"]
    due = next(i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "by_due")
    assert due["KeySchema"] == [{"AttributeName": "due_pk", "KeyType": "HASH"},
                                {"AttributeName": "due_at", "KeyType": "RANGE"}]


def test_the_scheduler_role_reaches_only_its_tables_and_queue(synth: Synthesized) -> None:
    role = synth.logical_id(synth.stack.functions.functions["scheduler"].role)
    policies = [p for p in synth.resources("AWS::IAM::Policy").values()
                if {"Ref": role} in p["Properties"].get("Roles", [])]
    text = str([p["Properties"]["PolicyDocument"] for p in policies])
    for name in ("schedules", "jobs"):
        assert synth.logical_id(synth.stack.data.tables[name]) in text
    for other in ("tenants", "inverters", "readings"):
        assert synth.logical_id(synth.stack.data.tables[other]) not in text
    actions = set().union(*(_actions(p) for p in policies))
    # A fire is a transaction; DynamoDB authorizes its items as PutItem and UpdateItem.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= actions
    assert "sqs:SendMessage" in actions


def test_the_scheduler_bundles_cron_and_the_zone_database() -> None:
    names = {r.split("==")[0] for r in function("scheduler").requirements}
    assert {"cronsim", "tzdata"} <= names
    assert {"cronsim", "tzdata"} <= {r.split("==")[0] for r in function("submit").requirements}
