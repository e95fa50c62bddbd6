"""The dashboard's sources panel in a real browser on the whole local stack: a Stripe-signed event (official
`stripe` package) sent to the public ingest route shows up in the source's event log with its delivery job,
whose status follows the job live until completed; a repeat of the event is counted, not listed twice."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
import stripe
from playwright.sync_api import Page

from local.stack import StackState

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SECRET = "whsec_panel_" + os.urandom(6).hex()


def test_an_ingested_event_and_its_delivery_show_live(dashboard: Page, api: httpx.Client, stack: StackState) -> None:
    # Given a Stripe source whose destination fails once, then accepts
    source = api.post("/v1/sources", json={
        "name": f"panel-{os.urandom(2).hex()}", "verify": {"scheme": "stripe", "secret": SECRET},
        "destinations": [{"url": f"{stack.demo_target_url}/flaky?fail=1",
                          "retry": {"max_attempts": 5, "base_delay_s": 1, "max_delay_s": 2}}]}).json()
    body = json.dumps({"id": f"evt_{os.urandom(6).hex()}", "type": "invoice.paid"}).encode()
    # When Stripe sends an event, and sends it again
    for _ in range(2):
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
        r = httpx.post(f"{stack.api_url}/v1/ingest/{source['id']}", content=body,
                       headers={"stripe-signature": signature, "content-type": "application/json"})
        assert r.status_code == 200, r.text
        time.sleep(0.2)
    event_id = r.json()["event_id"]
    # Then the panel (source chosen) lists it once, with its repeat counted and its job completing live
    dashboard.select_option("#source", source["id"])
    row = f'tr.source-event[data-event-id="{event_id}"]'
    # (the 3 s poll may have shown the row before the repeat arrived: wait for the count)
    dashboard.wait_for_selector(f"{row} >> text=1 repeat", timeout=20_000)
    assert "invoice.paid" in (dashboard.text_content(f"{row}") or "")
    assert dashboard.locator("tr.source-event").count() == 1
    [job_id] = api.get(f"/v1/sources/{source['id']}/events/{event_id}").json()["job_ids"]
    dashboard.wait_for_selector(f'{row} .delivery[data-job-id="{job_id}"] .status[data-status="completed"]',
                                timeout=60_000)
    assert api.get(f"/v1/jobs/{job_id}").json()["attempts"] == 2
