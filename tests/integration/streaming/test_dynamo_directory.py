"""The stream app's view of the telemetry inverter table (moto in-process): owner and latest reading
in one read, a tenant's list, and nothing for unknown or malformed ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from local.resources import _create_table
from shared.pages import PageQuery
from shared.streaming.dynamo_directory import DynamoDirectory
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import Brand, InverterCreate, Reading
from shared.telemetry.registry import register
from shared.topology import INVERTERS_TABLE

pytestmark = pytest.mark.integration


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        _create_table(client, INVERTERS_TABLE)
        yield client


def test_owner_latest_and_list(db: object) -> None:
    store = InverterStore(INVERTERS_TABLE.name, db)  # type: ignore[arg-type]
    record = register(store, "acme", InverterCreate(brand=Brand.sandbox, serial="SBX-DIR-1", name="Roof"))
    reading = Reading(inverter_id=record.id, ts=datetime(2026, 11, 22, 12, tzinfo=UTC), pv_power_w=1234.5)
    store.save_poll_state([record.model_copy(update={"latest": reading})])
    directory = DynamoDirectory(INVERTERS_TABLE.name, db)  # type: ignore[arg-type]

    tenant, latest = directory.owner_and_latest(record.id) or ("", None)
    assert tenant == "acme"
    assert latest is not None and latest["pv_power_w"] == 1234.5 and latest["ts"].startswith("2026-11-22T12:00")
    assert directory.owner_and_latest("inv_unknown") is None
    assert directory.owner_and_latest("../etc") is None
    listed = directory.page("acme", PageQuery())
    assert [(i["id"], i["name"]) for i in listed["items"]] == [(record.id, "Roof")] and listed["next_cursor"] is None
    assert directory.page("other", PageQuery()) == {"items": [], "next_cursor": None}


def test_the_dashboard_list_pages_as_the_api_does(db: object) -> None:
    store = InverterStore(INVERTERS_TABLE.name, db)  # type: ignore[arg-type]
    made = {register(store, "acme", InverterCreate(brand=Brand.sandbox, serial=f"SBX-PAGE-{n}")).id for n in range(5)}
    directory = DynamoDirectory(INVERTERS_TABLE.name, db)  # type: ignore[arg-type]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = directory.page("acme", PageQuery(limit=2, cursor=cursor))
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)  # every inverter once, over pages of two
    assert cursor is None
