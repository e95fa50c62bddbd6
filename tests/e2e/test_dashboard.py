"""The dashboard in a real browser on the whole local stack (`steadfast dev`): it opens live, its chart
receives readings as the poller runs, a job's status changes live until `completed`, two browsers see
the same readings, and a crash of the stream app costs no reading (EventSource reconnects with
Last-Event-ID and the missed readings are replayed)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page

from local.stack import StackState

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def received(page: Page) -> list[str]:
    ids: list[str] = page.evaluate("() => [...received]")
    return ids


def wait_for_more_readings(page: Page, than: int, timeout_s: float = 40) -> list[str]:
    page.wait_for_function(f"() => received.length > {than}", timeout=timeout_s * 1000)
    return received(page)


def stream_app_pid(stack: StackState) -> int:
    """The stream app's process: the one `steadfast dev` started for this stack's stream port."""
    port = stack.stream_url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"local.runner" in argv and b"stream" in argv and port.encode() in argv:
            return int(proc.name)
    raise AssertionError("the stream app process was not found")


def as_pair(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def test_the_dashboard_opens_live_and_its_chart_moves_with_each_poll(dashboard: Page) -> None:
    # Given the page is live (the fixture waited for it), with the replayed history drawn
    before = len(received(dashboard))
    points_before: int = dashboard.evaluate("() => chart.data[0].length")
    # When the poller runs again (every 2 s in the test stack)
    wait_for_more_readings(dashboard, before + 1)
    # Then new points are on the chart and the tiles show a reading
    dashboard.wait_for_function(f"() => chart.data[0].length > {points_before}")
    assert dashboard.text_content("#t-load") not in ("", "—")
    assert dashboard.text_content("#last-seen") != "—"
    assert dashboard.get_attribute("#jobs-state", "data-state") == "live"


def test_a_job_changes_status_live_until_completed(dashboard: Page, api: httpx.Client, stack: StackState) -> None:
    # Given a job whose target fails once (503), then succeeds
    job: dict[str, Any] = api.post("/v1/jobs", json={
        "request": {"url": f"{stack.demo_target_url}/flaky?fail=1"},
        "retry": {"max_attempts": 3, "base_delay_s": 1, "max_delay_s": 2}}).json()
    row = f'tr.job[data-job-id="{job["id"]}"]'
    # Then the row appears without a reload and ends `completed` after two attempts
    dashboard.wait_for_selector(row, timeout=20_000)
    dashboard.wait_for_selector(f'{row}[data-status="completed"]', timeout=60_000)
    assert "2 / 3" in (dashboard.text_content(row) or "")
    # And its attempts unfold on a click: a retryable 503, then a 200
    dashboard.click(row)
    dashboard.wait_for_function(
        f'() => document.querySelectorAll(\'tr.attempts[data-job-id="{job["id"]}"] .attempt\').length === 2')
    attempts = dashboard.text_content(f'tr.attempts[data-job-id="{job["id"]}"]') or ""
    assert "503" in attempts and "200" in attempts


def test_a_job_waiting_for_its_parent_is_in_flight_from_its_submit(dashboard: Page, api: httpx.Client,
                                                                   stack: StackState) -> None:
    # Given a parent due in two minutes and a child that depends on it
    parent: dict[str, Any] = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"},
                                                        "delay_s": 120}).json()
    child: dict[str, Any] = api.post("/v1/jobs", json={"request": {"url": f"{stack.demo_target_url}/status/200"},
                                                       "depends_on": [parent["id"]]}).json()
    assert child["status"] == "waiting"
    # Then the child shows as waiting, in the "In flight" tab too, long before anything claims it
    dashboard.click('button[data-filter="active"]')
    try:
        for job in (parent, child):
            dashboard.wait_for_selector(f'tr.job[data-job-id="{job["id"]}"]', timeout=20_000)
        assert dashboard.get_attribute(f'tr.job[data-job-id="{child["id"]}"]', "data-status") == "waiting"
    finally:
        dashboard.click('button[data-filter="all"]')
        api.post(f"/v1/jobs/{parent['id']}/cancel")


def test_two_browsers_on_one_inverter_see_the_same_readings(browser: Browser, dashboard: Page,
                                                            stack: StackState) -> None:
    context = browser.new_context()
    other = context.new_page()
    other.goto(stack.stream_url + "/")
    other.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
    assert other.evaluate("() => inverterId") == dashboard.evaluate("() => inverterId")
    start = received(other)[-1] if received(other) else "0-0"
    wait_for_more_readings(other, len(received(other)) + 1)
    time.sleep(1)  # both pages get each reading from the same fan-out; let the last one land everywhere
    newer = [i for i in received(other) if as_pair(i) > as_pair(start)]
    assert newer and set(newer) <= set(received(dashboard))
    context.close()


def test_a_crashed_stream_app_is_survived_without_losing_a_reading(dashboard: Page, stack: StackState) -> None:
    inverter_id: str = dashboard.evaluate("() => inverterId")
    seen = wait_for_more_readings(dashboard, len(received(dashboard)))
    last_before = seen[-1]
    # When the stream app dies (as a Lambda execution environment may) and the stack restarts it
    os.kill(stream_app_pid(stack), signal.SIGKILL)
    dashboard.wait_for_selector("#conn-state[data-state=reconnecting]", timeout=10_000)
    dashboard.wait_for_selector("#conn-state[data-state=live]", timeout=60_000)
    # Then readings published while it was down arrive (replayed after Last-Event-ID), then live ones
    after = wait_for_more_readings(dashboard, len(seen) + 2)
    assert len(after) == len(set(after)), "a reading arrived twice"
    log = redis.Redis.from_url(stack.redis_url)
    try:
        rows: Any = log.xrange(stack.redis_keys().inverter_log(inverter_id), min=f"({last_before}", max=after[-1])
        published = [eid.decode() for eid, _ in rows]
    finally:
        log.close()
    assert published, "the poller published nothing in the meantime"
    missing = [eid for eid in published if eid not in set(after)]
    assert not missing, f"readings lost across the restart: {missing}"


def test_the_dashboard_works_under_its_csp_with_no_violation(browser: Browser, stack: StackState) -> None:
    # Given a page that records every CSP violation from its first script on
    context = browser.new_context()
    context.add_init_script("window.cspViolations = [];"
                            "document.addEventListener('securitypolicyviolation', (e) =>"
                            " window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(stack.stream_url + "/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    # When it goes live (inverter chart and job stream, both through stream tokens)
    page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
    page.wait_for_selector("#jobs-state[data-state=live]", timeout=30_000)
    page.wait_for_function("() => chart.data[0].length > 0", timeout=30_000)
    # Then nothing was blocked, and the API key is neither stored nor in any URL the page opened
    assert page.evaluate("() => window.cspViolations") == [] and console == []
    assert page.evaluate("() => localStorage.getItem('steadfast.apiKey')") is None
    urls: list[str] = page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")
    assert urls and not any(stack.dev_api_key in u for u in urls)
    context.close()
