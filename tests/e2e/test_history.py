"""The dashboard's history views in a real browser: 24 h, 7 d and 30 d come from the series route (5-minute,
hourly and daily buckets) and show the buckets the API has for the inverter."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page


def test_the_history_views_show_the_series_of_each_range(dashboard: Page, api: httpx.Client) -> None:
    inverter_id = dashboard.eval_on_selector("#inverter", "s => s.value")
    for button, step in (("24h", "5m"), ("7d", "1h"), ("30d", "1d")):
        # When the range is chosen
        dashboard.click(f".ranges button[data-range='{button}']")
        dashboard.wait_for_selector(f"#history[data-state=ready][data-range='{button}']", timeout=30_000)
        shown = int(dashboard.text_content("#history-points") or "0")
        # Then the view holds as many buckets as the API's series of that step (one more if a bucket opened meanwhile)
        expected = len(api.get(f"/v1/inverters/{inverter_id}/series", params={"step": step}).json()["items"])
        assert shown >= 1 and expected - 1 <= shown <= expected
        assert (dashboard.text_content("#history-energy") or "").endswith("kWh")
