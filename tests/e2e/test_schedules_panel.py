"""The dashboard's schedules panel in a real browser on the whole local stack: a schedule shows its next
runs and its last job with a status that follows the job live, and Pause/Resume change the schedule (the
API reads back what the button did)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from local.stack import StackState

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_panel_shows_next_runs_and_the_last_job_and_pauses_and_resumes(
        dashboard: Page, api: httpx.Client, stack: StackState) -> None:
    # Given a schedule whose extra run (trigger) succeeds after one retry
    s: dict[str, Any] = api.post("/v1/schedules", json={
        "cron": "0 6 * * *", "timezone": "Europe/Berlin", "name": f"panel-{id(dashboard)}",
        "job": {"request": {"url": f"{stack.demo_target_url}/flaky?fail=1"},
                "retry": {"max_attempts": 3, "base_delay_s": 1, "max_delay_s": 2}}}).json()
    job = api.post(f"/v1/schedules/{s['id']}/trigger").json()
    row = f'tr.schedule[data-schedule-id="{s["id"]}"]'
    try:
        # Then its row shows three next runs and the triggered job, which ends completed without a reload
        dashboard.wait_for_selector(row, timeout=20_000)
        assert dashboard.locator(f"{row} td.runs .run").count() == 3
        assert dashboard.get_attribute(f"{row} td.runs .run >> nth=0", "title") == s["next_runs"][0]
        dashboard.wait_for_selector(f'{row} td.last code[title="{job["id"]}"]', timeout=20_000)
        dashboard.wait_for_selector(f'{row} td.last .status[data-status="completed"]', timeout=60_000)
        # When Pause is clicked, the schedule is paused (the API says so) and the row shows it
        dashboard.click(f"{row} button.toggle")
        dashboard.wait_for_selector(f'{row}[data-paused="true"]', timeout=10_000)
        assert api.get(f"/v1/schedules/{s['id']}").json()["paused"] is True
        assert "paused" in (dashboard.text_content(f"{row} td.runs") or "")
        # And Resume brings the next runs back
        dashboard.click(f"{row} button.toggle")
        dashboard.wait_for_selector(f'{row}[data-paused="false"]', timeout=10_000)
        resumed = api.get(f"/v1/schedules/{s['id']}").json()
        assert resumed["paused"] is False and resumed["next_runs"] == s["next_runs"]
    finally:
        api.delete(f"/v1/schedules/{s['id']}")
