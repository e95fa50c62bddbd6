"""Alert evaluation against real stores (moto's DynamoDB and SQS in-process) and the real JobService:
each condition, an incident that opens once after for_s and resolves once, one job per transition even
when an evaluation is repeated after a crash, and an offline device judged while it is not polled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from local.resources import _create_table
from shared import aws
from shared.alerts.conditions import observe
from shared.alerts.evaluator import AlertEvaluator
from shared.alerts.models import AlertRule, Condition, IncidentState, TrackState
from shared.alerts.notify import JobNotifier
from shared.alerts.store import AlertStore
from shared.jobs.queue import JobQueue
from shared.jobs.service import JobService
from shared.jobs.store import JobStore
from shared.telemetry.adapters.growatt import normalize
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, DeviceStatus, InverterRecord, Reading
from shared.topology import table

T0 = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)  # Berlin: the sun is high


@pytest.fixture
def world() -> Iterator[tuple[AlertEvaluator, InverterStore, JobStore]]:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        aws.dynamodb.cache_clear()
        aws.sqs.cache_clear()
        db = boto3.client("dynamodb")
        for name in ("alerts", "inverters", "jobs"):
            _create_table(db, table(name))
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        jobs, inverters = JobStore("jobs"), InverterStore("inverters")
        service = JobService(jobs, JobQueue(queue, dlq), allow_private_targets=True)
        yield AlertEvaluator(AlertStore("alerts"), inverters, JobNotifier(service)), inverters, jobs
    aws.dynamodb.cache_clear()
    aws.sqs.cache_clear()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def device(latest: Reading | None = None, **extra: object) -> InverterRecord:
    fields: dict[str, object] = {"id": "inv_a", "tenant": "t1", "brand": Brand.sandbox, "serial": "S1",
                                 "device_type": "hybrid", "name": None, "poll_interval_s": 60,
                                 "created_at": T0 - timedelta(days=1), "next_poll_at": T0, "latest": latest,
                                 "latitude": 52.52, "longitude": 13.40}
    return InverterRecord.model_validate(fields | extra)


def reading(at: datetime, **values: object) -> Reading:
    return Reading.model_validate({"inverter_id": "inv_a", "ts": at, "pv_power_w": 2000, "battery_soc_pct": 50,
                                   "status": DeviceStatus.normal} | values)


def rule(condition: Condition, for_s: int = 300, threshold: float | None = None) -> AlertRule:
    return AlertRule(id=f"alr_{condition.value}", inverter_id=None, condition=condition, threshold=threshold,
                     for_s=for_s, notify_url="http://127.0.0.1:9/alerts", created_at=T0)


def test_conditions() -> None:
    now = T0
    fresh = device(reading(now - timedelta(seconds=30)))
    assert observe(rule(Condition.offline), fresh, now).holds is False
    assert observe(rule(Condition.offline), fresh.model_copy(update={"failures": 2, "last_error": "transport: x"}),
                   now).holds is True
    assert observe(rule(Condition.offline), fresh.model_copy(update={"failures": 2, "last_error": "rate_limited: x"}),
                   now).holds is False  # a throttled poll says nothing about the device
    assert observe(rule(Condition.offline), fresh, now + timedelta(minutes=10)).holds is True  # nothing newer
    assert observe(rule(Condition.fault), device(reading(now, status=DeviceStatus.fault)), now).holds is True
    low = rule(Condition.battery_below, threshold=20)
    assert observe(low, device(reading(now, battery_soc_pct=19.5)), now).holds is True
    assert observe(low, device(reading(now, battery_soc_pct=None)), now).holds is None
    dark = device(reading(now, pv_power_w=0))
    assert observe(rule(Condition.no_production), dark, now).holds is True
    night = device(reading(T0.replace(hour=23), pv_power_w=0))
    assert observe(rule(Condition.no_production), night, T0.replace(hour=23)).holds is False
    assert observe(rule(Condition.no_production), dark.model_copy(update={"latitude": None}), now).holds is None


def test_a_growatt_storage_error_pages() -> None:
    # Code 4 is "error" in the oracle's details model but "flash" (a firmware update) in its last-data
    # model: the vendor's status text decides
    error = normalize("inv_a", "storage", {"status": 4, "statusText": "Error", "capacity": 40}, T0)
    assert observe(rule(Condition.fault), device(error), T0).holds is True
    flashing = normalize("inv_a", "storage", {"status": 4, "capacity": 40}, T0)
    assert observe(rule(Condition.fault), device(flashing), T0).holds is False


def test_growatt_storage_discharging_is_no_fault() -> None:
    # growatt-public-api (the oracle) documents storage status 3 as "discharging" in its details model and
    # as "fault" in its last-data model: the code alone never raises a fault alert, the vendor's words do
    for raw in ({"status": 3, "capacity": 40}, {"status": 3, "statusText": "Discharge", "capacity": 40}):
        storage = normalize("inv_a", "storage", raw, T0)
        assert observe(rule(Condition.fault), device(storage), T0).holds is False
    broken = normalize("inv_a", "storage", {"status": 3, "statusText": "Fault", "capacity": 40}, T0)
    assert observe(rule(Condition.fault), device(broken), T0).holds is True
    inverter = normalize("inv_a", "inv", {"status": 3}, T0)  # an inverter's 3 is a fault in both models
    assert observe(rule(Condition.fault), device(inverter), T0).holds is True


def test_an_incident_opens_once_after_for_s_and_resolves_once(
        world: tuple[AlertEvaluator, InverterStore, JobStore]) -> None:
    evaluator, _, jobs = world
    evaluator.store.put_rule("t1", rule(Condition.battery_below, for_s=300, threshold=20))
    low = device(reading(T0, battery_soc_pct=10))

    # Given the condition has held for less than for_s: pending, nothing sent
    assert evaluator.evaluate([low], T0).opened == 0
    assert evaluator.store.tracks("inv_a")["alr_battery_below"].state == TrackState.pending
    assert evaluator.evaluate([low], T0 + timedelta(seconds=299)).opened == 0

    # When for_s has passed: one incident, one job
    opened = evaluator.evaluate([low], T0 + timedelta(seconds=300))
    assert opened.opened == 1
    assert evaluator.evaluate([low], T0 + timedelta(seconds=360)).opened == 0  # stays open, sends nothing
    [incident], _ = evaluator.store.incidents("t1", None, 10, None)
    assert incident.state == "open" and incident.since == T0

    # When it stops: resolved once, one more job
    ok = device(reading(T0 + timedelta(seconds=400), battery_soc_pct=60))
    resolved = evaluator.evaluate([ok], T0 + timedelta(seconds=400))
    assert resolved.resolved == 1
    assert evaluator.evaluate([ok], T0 + timedelta(seconds=460)).resolved == 0
    [incident], _ = evaluator.store.incidents("t1", None, 10, None)
    assert incident.state == "resolved" and evaluator.store.tracks("inv_a") == {}
    job = jobs.get("t1", opened.notifications[0])
    assert '"state":"open"' in (job.spec.request.body or "")
    assert job.spec.request.url == "http://127.0.0.1:9/alerts"
    assert resolved.notifications[0] != opened.notifications[0]


def test_an_evaluation_repeated_after_a_crash_sends_nothing_twice(
        world: tuple[AlertEvaluator, InverterStore, JobStore]) -> None:
    evaluator, _, _ = world
    evaluator.store.put_rule("t1", rule(Condition.fault, for_s=0))
    faulty = device(reading(T0, status=DeviceStatus.fault))
    first = evaluator.evaluate([faulty], T0)
    # Given a crash after the job was submitted but before the track moved on
    track = evaluator.store.tracks("inv_a")["alr_fault"]
    evaluator.store.put_track(track.model_copy(update={"state": TrackState.pending, "incident_id": None}))
    # When the next cycle evaluates the same state, then it finds the same incident and the same job
    again = evaluator.evaluate([faulty.model_copy(update={"latest": reading(T0 + timedelta(seconds=60),
                                                                             status=DeviceStatus.fault)})],
                               T0 + timedelta(seconds=60))
    assert again.notifications == first.notifications
    assert len(evaluator.store.incidents("t1", None, 10, None)[0]) == 1


def test_an_offline_device_that_is_not_polled_opens_its_incident_on_time(
        world: tuple[AlertEvaluator, InverterStore, JobStore]) -> None:
    evaluator, inverters, _ = world
    evaluator.store.put_rule("t1", rule(Condition.offline, for_s=900))
    dark = device(reading(T0), failures=1, last_error="transport: connection refused")
    inverters.save_poll_state([dark])
    assert evaluator.evaluate([dark], T0 + timedelta(seconds=60)).opened == 0  # pending
    # Its back-off keeps it out of the next cycles; the pending track is checked when for_s runs out
    assert evaluator.evaluate([], T0 + timedelta(seconds=899)).opened == 0
    report = evaluator.evaluate([], T0 + timedelta(seconds=901))
    assert report.opened == 1
    [incident], _ = evaluator.store.incidents("t1", IncidentState.open, 10, None)
    assert incident.since == T0 and incident.condition == "offline"
    assert evaluator.evaluate([], T0 + timedelta(seconds=960)).opened == 0
