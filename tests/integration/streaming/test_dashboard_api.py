"""What the dashboard page needs from the stream app besides streams: the page itself (also under an API
Gateway stage prefix), its static files, and the read-only JSON endpoints behind the tenant's API key."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared import stream_tokens
from shared.jobs.models import Status
from tests.integration.streaming.conftest import SECRET, Served, uid

pytestmark = pytest.mark.integration


def test_the_page_and_its_files_are_served_relative_to_the_stage_prefix(serve: Callable[..., Served]) -> None:
    served = serve(base_path="/dev")
    page = httpx.get(served.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<base href="/dev/">' in page.text
    assert 'src="static/dashboard.js"' in page.text  # relative: resolved under /dev/ by the browser
    for path in ("/static/dashboard.js", "/static/dashboard.css", "/static/vendor/uPlot.iife.min.js",
                 "/static/vendor/uPlot.LICENSE"):
        assert httpx.get(served.url + path).status_code == 200, path
    assert httpx.get(served.url + "/v1/health").json()["redis"] == "connected"


def test_json_endpoints_show_only_the_callers_tenant(serve: Callable[..., Served]) -> None:
    served = serve()
    served.tenants.keys.update({"sk_acme": "acme", "sk_other": "other"})
    mine, theirs = uid("inv"), uid("inv")
    served.inverters.add("acme", {"id": mine, "name": "Roof"}, {"pv_power_w": 1200})
    served.inverters.add("other", {"id": theirs})
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.dead, attempts=5)
    with httpx.Client(base_url=served.url, headers={"authorization": "Bearer sk_acme"}) as client:
        inverters = client.get("/v1/dashboard/inverters").json()["items"]
        assert [(i["id"], i["latest"]) for i in inverters] == [(mine, {"pv_power_w": 1200})]
        # The API's own validation (shared.pages, shared.jobs.reads), not a laxer copy of it
        for path in ("/v1/dashboard/jobs", "/v1/dashboard/inverters"):
            for bad in ({"limit": "x"}, {"limit": "+12"}, {"limit": "0"}, {"limit": "201"}, {"cursor": "c" * 2049}):
                refused = client.get(path, params=bad)
                assert refused.status_code == 422 and refused.json()["errors"], (path, bad)
        assert client.get("/v1/dashboard/jobs", params={"status": "nope"}).status_code == 422
        assert client.get("/v1/dashboard/inverters", params={"limit": "1"}).json()["items"][0]["id"] == mine
        assert client.get("/v1/dashboard/jobs", params={"workflow_id": "a", "schedule_id": "b"}).status_code == 400
        jobs = client.get("/v1/dashboard/jobs", params={"status": "dead", "limit": "20"}).json()["items"]
        assert [(j["id"], j["status"], j["attempts"]) for j in jobs] == [(job_id, "dead", 5)]
        assert client.get(f"/v1/dashboard/jobs/{job_id}/attempts").json() == {"items": []}
        token = client.post(f"/v1/dashboard/inverters/{mine}/stream-token").json()["token"]
        assert stream_tokens.verify(SECRET, token, mine) == "acme"
        assert client.post(f"/v1/dashboard/inverters/{theirs}/stream-token").status_code == 404
    anonymous = httpx.get(served.url + "/v1/dashboard/jobs")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert httpx.get(served.url + "/v1/nothing-here").headers["content-type"] == "application/problem+json"
