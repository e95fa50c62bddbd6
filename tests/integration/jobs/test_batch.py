"""`POST /v1/jobs/batch` in process (moto's mock_aws): per-item results in input order, one bad item refusing
only itself, per-item idempotency keys replaying, parents checked per item, plain items written and queued
in batches; and over the public API on the local cloud: 202 with items, 422 for more than 100."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from local.stack import StackState
from shared.jobs.batch import BatchRequest, BatchService
from shared.jobs.models import Status
from tests.integration.jobs.harness import TENANT, World, world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emf_namespace")]
URL = "http://target.test"


@pytest.fixture
def w() -> Iterator[World]:
    with world() as it:
        yield it


def batch(w: World, *jobs: dict[str, Any]) -> list[Any]:
    return BatchService(w.service).submit(TENANT, BatchRequest(jobs=list(jobs))).items


def test_each_item_is_accepted_or_refused_on_its_own_in_input_order(w: World) -> None:
    parent = w.submit(f"{URL}/p", delay_s=60)
    items = batch(w,
                  {"request": {"url": f"{URL}/one"}},
                  {"request": {"url": "ftp://nope"}},
                  {"request": {"url": f"{URL}/two"}, "idempotency_key": "k-2"},
                  {"request": {"url": f"{URL}/three"}, "depends_on": [parent.id]},
                  {"request": {"url": f"{URL}/four"}, "depends_on": ["job_missing"]},
                  {"request": {"url": f"{URL}/five"}, "surprise": 1})
    assert [i.status for i in items] == [202, 422, 202, 202, 422, 422]
    assert items[1].problem["errors"][0]["pointer"] == "/request/url"
    assert "job_missing" in items[4].problem["detail"]
    assert items[3].job.status is Status.waiting
    assert sorted(w.queued_job_ids()) == sorted([items[0].job.id, items[2].job.id])  # the parent is delayed
    assert w.store.get_record(items[0].job.id) is not None
    again = batch(w, {"request": {"url": f"{URL}/two"}, "idempotency_key": "k-2"},
                  {"request": {"url": f"{URL}/other"}, "idempotency_key": "k-2"})
    assert [i.status for i in again] == [200, 422]
    assert again[0].job.id == items[2].job.id


def test_a_batch_holds_one_to_a_hundred_jobs() -> None:
    with pytest.raises(ValidationError):
        BatchRequest(jobs=[])
    with pytest.raises(ValidationError):
        BatchRequest(jobs=[{"request": {"url": f"{URL}/x"}}] * 101)


def test_batch_over_the_api(api: httpx.Client, stack: StackState) -> None:
    url = f"{stack.demo_target_url}/flaky"
    r = api.post("/v1/jobs/batch", json={"jobs": [{"request": {"url": url}}, {"request": {}}]})
    assert r.status_code == 202, r.text
    assert [i["status"] for i in r.json()["items"]] == [202, 422]
    assert api.get(f"/v1/jobs/{r.json()['items'][0]['job']['id']}").status_code == 200
    assert api.post("/v1/jobs/batch", json={"jobs": [{"request": {"url": url}}] * 101}).status_code == 422
