"""Stream credentials and browser hardening of the stream app: `POST /v1/stream-token` exchanges an API key
(header) for a short-lived jobs token that opens this tenant's job and tenant streams only; API keys in URLs
are refused (400); no route answers `Access-Control-Allow-Origin: *`; every response carries CSP, nosniff
and frame protection; the dev key reaches the page only in the local stage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from shared import stream_tokens
from shared.jobs.models import Status
from tests.integration.streaming.conftest import SECRET, Served, sse_events, take, uid

KEY = {"authorization": "Bearer sk_acme"}


async def test_a_jobs_token_opens_this_tenants_job_streams_and_nothing_else(serve: Callable[..., Served]) -> None:
    served = serve()
    served.tenants.keys.update({"sk_acme": "acme", "sk_other": "other"})
    mine, theirs = uid("job"), uid("job")
    served.jobs.put("acme", mine, Status.running, attempts=1)
    served.jobs.put("other", theirs, Status.running)
    inverter_id = uid("inv")
    served.inverters.add("acme", {"id": inverter_id}, {"inverter_id": inverter_id})
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        # Given a token from the key, sent in the header
        issued = await client.post("/v1/stream-token", headers=KEY)
        assert issued.status_code == 200, issued.text
        token = issued.json()["token"]
        expires = datetime.fromisoformat(issued.json()["expires_at"].replace("Z", "+00:00"))
        assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=5)
        assert issued.headers["cache-control"] == "no-store"
        # Then it opens this tenant's job stream and tenant stream
        async with client.stream("GET", f"/v1/jobs/{mine}/events", params={"access_token": token}) as r:
            assert r.status_code == 200
            [first] = await take(sse_events(r), 1)
            assert json.loads(first.data)["status"] == "running"
        async with client.stream("GET", "/v1/tenant/jobs/events", params={"access_token": token}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        # And nothing else: another tenant's job is not found, an inverter stream is forbidden
        assert (await client.get(f"/v1/jobs/{theirs}/events", params={"access_token": token})).status_code == 404
        r = await client.get(f"/v1/inverters/{inverter_id}/events", params={"access_token": token})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        # Nor does an inverter's token open the job streams
        inverter_token = stream_tokens.issue(SECRET, "acme", inverter_id)[0]
        r = await client.get("/v1/tenant/jobs/events", params={"access_token": inverter_token})
        assert r.status_code == 403
        # Without a key there is no token
        assert (await client.post("/v1/stream-token")).status_code == 401
        assert (await client.post("/v1/stream-token", params={"access_token": "sk_acme"})).status_code == 400


async def test_expired_forged_and_odd_tokens_are_401_never_500(serve: Callable[..., Served]) -> None:
    served = serve()
    expired = stream_tokens.issue_jobs(SECRET, "acme", now=datetime.now(UTC) - timedelta(hours=1))[0]
    forged = stream_tokens.issue_jobs("another-key", "acme")[0]
    payload = expired.split(".")[0]
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        for token in (expired, forged, f"{payload}.ü", "st_ü.ü", "st_", "st_..", "st_%00", "st_" + "A" * 5000,
                      f"{payload}.{'=' * 3}", "st_e30.x"):
            r = await client.get("/v1/tenant/jobs/events", params={"access_token": token})
            assert r.status_code == 401, (token[:40], r.status_code, r.text[:200])
            assert r.json()["status"] == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_api_keys_in_urls_are_refused_with_a_problem(serve: Callable[..., Served]) -> None:
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        for path in ("/v1/tenant/jobs/events?access_token=sk_acme", "/v1/jobs/job_x/events?key=sk_acme",
                     "/v1/dashboard/inverters?token=sk_acme", "/v1/dashboard/jobs?apikey=sk_acme",
                     "/v1/inverters/inv_x/events?api_key=sk_acme"):
            r = await client.get(path, headers=KEY)
            assert r.status_code == 400, path
            assert r.headers["content-type"] == "application/problem+json"
            assert "Authorization" in r.json()["detail"]


async def test_no_route_allows_any_origin_and_allow_listed_origins_get_their_own(
        serve: Callable[..., Served]) -> None:
    served = serve(cors_origins=("https://app.example",))
    served.tenants.keys["sk_acme"] = "acme"
    job_id = uid("job")
    served.jobs.put("acme", job_id, Status.completed)
    token = stream_tokens.issue_jobs(SECRET, "acme")[0]
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        for origin in ("https://evil.example", "null", "https://app.example.evil.example"):
            for r in (await client.get("/v1/dashboard/jobs", headers={**KEY, "origin": origin}),
                      await client.get("/v1/tenant/jobs/events", headers={"origin": origin}),
                      await client.get("/v1/health", headers={"origin": origin}),
                      await client.options("/v1/dashboard/jobs", headers={
                          "origin": origin, "access-control-request-method": "GET"})):
                assert "access-control-allow-origin" not in r.headers, (origin, r.request.url)
        r = await client.get("/v1/dashboard/jobs", headers={**KEY, "origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        async with client.stream("GET", "/v1/tenant/jobs/events", params={"access_token": token},
                                 headers={"origin": "https://app.example"}) as stream:
            assert stream.headers["access-control-allow-origin"] == "https://app.example"


async def test_every_response_carries_csp_nosniff_and_frame_protection(serve: Callable[..., Served]) -> None:
    served = serve()
    served.tenants.keys["sk_acme"] = "acme"
    token = stream_tokens.issue_jobs(SECRET, "acme")[0]
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        responses = [await client.get("/"), await client.get("/static/dashboard.js"),
                     await client.get("/v1/dashboard/jobs", headers=KEY), await client.get("/v1/dashboard/jobs"),
                     await client.get("/nope"), await client.get("/v1/tenant/jobs/events")]
        async with client.stream("GET", "/v1/tenant/jobs/events", params={"access_token": token}) as stream:
            responses.append(stream)
        for r in responses:
            assert r.headers["x-content-type-options"] == "nosniff", r.request.url
            assert r.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["referrer-policy"] == "no-referrer"


async def test_the_dev_key_is_in_the_page_only_where_the_stage_gives_one(serve: Callable[..., Served]) -> None:
    async with httpx.AsyncClient(base_url=serve(dev_api_key="sk_dev_local").url) as client:
        assert '<meta name="steadfast-dev-key" content="sk_dev_local">' in (await client.get("/")).text
    async with httpx.AsyncClient(base_url=serve().url) as client:
        page = (await client.get("/")).text
        js = (await client.get("/static/dashboard.js")).text
    assert "steadfast-dev-key\" content" not in page and "sk_dev" not in page and "sk_dev" not in js
    assert "localStorage.setItem(KEY" not in js


async def test_a_tenant_has_a_cap_on_open_streams(serve: Callable[..., Served]) -> None:
    served = serve(max_streams=2)
    served.tenants.keys.update({"sk_acme": "acme", "sk_other": "other"})
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        async with client.stream("GET", "/v1/tenant/jobs/events", headers=KEY) as one, \
                client.stream("GET", "/v1/tenant/jobs/events", headers=KEY) as two:
            assert one.status_code == two.status_code == 200
            third = await client.get("/v1/tenant/jobs/events", headers=KEY)
            assert third.status_code == 429 and third.headers["content-type"] == "application/problem+json"
            # Another tenant has its own
            async with client.stream("GET", "/v1/tenant/jobs/events",
                                     headers={"authorization": "Bearer sk_other"}) as theirs:
                assert theirs.status_code == 200
        # A closed stream frees its slot
        for _ in range(100):
            async with client.stream("GET", "/v1/tenant/jobs/events", headers=KEY) as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.05)
        assert again.status_code == 200


async def test_unknown_routes_and_wrong_methods_answer_problem_json(serve: Callable[..., Served]) -> None:
    served = serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        for method, path, status in (("GET", "/v1/nope", 404), ("GET", "/static/missing.js", 404),
                                     ("DELETE", "/v1/health", 405), ("POST", "/v1/dashboard/jobs", 405),
                                     ("POST", "/v1/jobs/job_x/events", 405), ("PUT", "/", 405)):
            r = await client.request(method, path)
            assert r.status_code == status, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), (method, path)
            body = r.json()
            assert body["status"] == status and body["instance"] == path and body["detail"]
            assert r.headers["content-security-policy"]
            if status == 405:
                assert body["type"].endswith("/method-not-allowed") and "GET" in r.headers["allow"]
            else:
                assert body["type"].endswith("/not-found")
