"""The dashboard in a real browser when its API key changes: everything of the previous tenant goes (tiles,
chart, history, job list, schedules, streams) and the new tenant's streams take over; a wrong key leaves an
empty, offline page with one notice. And the attempts panel after a retry: its columns do not overlap and
the counts read per run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from local.stack import StackState
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def new_tenant_key(stack: StackState) -> str:
    env = {**os.environ, "STEADFAST_HOME": stack.home}
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant",
                          f"switch-{uuid.uuid4().hex[:6]}"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def use_key(page: Page, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def job_rows(page: Page) -> list[str]:
    ids: list[str] = page.evaluate("() => [...document.querySelectorAll('tr.job')].map((r) => r.dataset.jobId)")
    return ids


def test_a_tenant_switch_clears_everything_and_resubscribes(dashboard: Page, api: httpx.Client,
                                                            stack: StackState) -> None:
    # Given the dev tenant's page, live, with a job, a schedule, readings on the chart and tiles filled
    dev_job = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"}}).json()
    schedule = api.post("/v1/schedules", json={"cron": "0 6 * * *", "job": {"request": {
        "url": f"{stack.demo_target_url}/status/200"}}}).json()
    try:
        dashboard.wait_for_selector(f'tr.job[data-job-id="{dev_job["id"]}"]', timeout=20_000)
        dashboard.wait_for_selector(f'tr.schedule[data-schedule-id="{schedule["id"]}"]', timeout=20_000)
        dashboard.wait_for_function("() => chart.data[0].length > 0 && received.length > 0", timeout=40_000)
        assert dashboard.text_content("#t-load") != "—"

        # When another tenant's key (one without inverters) is used
        other_key = new_tenant_key(stack)
        use_key(dashboard, other_key)

        # Then nothing of the dev tenant is left, and its job stream is this tenant's, live
        dashboard.wait_for_selector("#jobs-state[data-state=live]", timeout=20_000)
        dashboard.wait_for_selector("#conn-state[data-state=idle]", timeout=20_000)
        assert job_rows(dashboard) == []
        assert dashboard.locator("tr.schedule").count() == 0
        assert dashboard.evaluate("() => chart.data[0].length") == 0
        assert dashboard.evaluate("() => historyChart.data[0].length") == 0
        assert [dashboard.text_content(f"#{t}") for t in ("t-pv", "t-load", "t-grid", "last-seen")] == ["—"] * 4
        assert dashboard.evaluate("() => $('inverter').options.length") == 0
        # And it stays so while the dev tenant's inverter keeps publishing (the poller runs every 2 s)
        time.sleep(5)
        assert dashboard.evaluate("() => [received.length, chart.data[0].length]") == [0, 0]
        assert dashboard.text_content("#t-load") == "—"
        # A dev job does not reach this page; the new tenant's job does, live
        api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"}})
        with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {other_key}"},
                          timeout=30) as other:
            mine = other.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"}}).json()
        dashboard.wait_for_selector(f'tr.job[data-job-id="{mine["id"]}"][data-status="completed"]', timeout=30_000)
        assert job_rows(dashboard) == [mine["id"]]

        # When a wrong key is used: an empty, offline page that says why
        use_key(dashboard, "sk_not_a_key")
        dashboard.wait_for_selector("#conn-state[data-state=offline]", timeout=20_000)
        dashboard.wait_for_selector("#jobs-state[data-state=offline]", timeout=20_000)
        assert "not accepted" in (dashboard.text_content("#notice") or "")
        assert job_rows(dashboard) == []

        # And back to the dev key: its inverter and jobs return live
        use_key(dashboard, stack.dev_api_key)
        dashboard.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
        dashboard.wait_for_selector(f'tr.job[data-job-id="{dev_job["id"]}"]', timeout=20_000)
        dashboard.wait_for_function("() => received.length > 0", timeout=40_000)
        assert dashboard.is_hidden("#notice")
    finally:
        api.delete(f"/v1/schedules/{schedule['id']}")


def test_the_attempts_panel_after_a_retry_reads_per_run_and_its_columns_do_not_overlap(
        dashboard: Page, api: httpx.Client, stack: StackState) -> None:
    # Given a job that dies after its 2 attempts, is retried by hand and dies again (4 attempts, 2 runs)
    job: dict[str, Any] = api.post("/v1/jobs", json={
        "request": {"url": f"{stack.demo_target_url}/status/503"},
        "retry": {"max_attempts": 2, "base_delay_s": 1, "max_delay_s": 1}}).json()
    wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(), lambda j: j["status"] == "dead", 60)
    api.post(f"/v1/jobs/{job['id']}/retry").raise_for_status()
    done = wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json(),
                    lambda j: j["status"] == "dead" and j["attempts"] == 4, 60)
    assert (done["run"], done["run_attempts"]) == (1, 2)
    row = f'tr.job[data-job-id="{job["id"]}"]'
    # Then its row reads "2 / 2" for this run, and 4 in all
    dashboard.wait_for_function(
        f"() => document.querySelector('{row} td.attempts-cell')?.textContent.includes('4 in all')", timeout=30_000)
    cell = dashboard.text_content(f"{row} td.attempts-cell") or ""
    assert cell.startswith("2 / 2") and "run 2" in cell
    # And its attempts unfold grouped by run, each column clear of the next
    dashboard.click(row)
    panel = f'tr.attempts[data-job-id="{job["id"]}"]'
    dashboard.wait_for_function(f"() => document.querySelectorAll('{panel} .attempt').length === 4")
    assert dashboard.locator(f"{panel} .run-head").all_text_contents() == ["first run", "run 2 (retried)"]
    overlaps: list[str] = dashboard.evaluate(f"""() => {{
      const bad = [];
      for (const a of document.querySelectorAll('{panel} .attempt')) {{
        const cells = [...a.children];
        for (let i = 0; i + 1 < cells.length; i++) {{
          const r = cells[i].getBoundingClientRect(), next = cells[i + 1].getBoundingClientRect();
          if (r.right > next.left + 0.5) bad.push(`${{cells[i].textContent}} | ${{cells[i + 1].textContent}}`);
          if (cells[i].scrollWidth > cells[i].clientWidth + 1) bad.push(`clipped: ${{cells[i].textContent}}`);
        }}
      }}
      return bad;
    }}""")
    assert overlaps == []
    assert "503" in (dashboard.text_content(panel) or "")
