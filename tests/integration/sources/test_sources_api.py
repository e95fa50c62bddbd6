"""The sources API and CLI on the local cloud: create/list/get/patch/delete, the secret never shown,
validation as 422 problems, tenants isolated, private destinations refused where the stage forbids them."""

from __future__ import annotations

import os

import httpx
import pytest

from local.stack import StackState
from tests.conftest import wait_for
from tests.integration.sources.conftest import cli, create_source

pytestmark = pytest.mark.integration
SECRET = "whsec_api_test_" + os.urandom(6).hex()


def test_create_read_update_delete_without_ever_showing_the_secret(api: httpx.Client) -> None:
    source = create_source(api, {"scheme": "stripe", "secret": SECRET, "tolerance_s": 120},
                           [{"url": "https://app.example.com/stripe", "event_types": ["invoice.*"]}],
                           dedup_window_s=3600)
    assert source["id"].startswith("src_")
    assert source["ingest_url"].endswith(f"/v1/ingest/{source['id']}")
    assert source["verify"] == {"scheme": "stripe", "tolerance_s": 120, "header": None}
    assert source["dedup_window_s"] == 3600
    got = api.get(f"/v1/sources/{source['id']}")
    listed = api.get("/v1/sources")
    assert got.json() == source
    assert source["id"] in [s["id"] for s in listed.json()["items"]]
    for text in (got.text, listed.text):
        assert SECRET not in text and "secret" not in text

    patched = api.patch(f"/v1/sources/{source['id']}", json={"name": "renamed",
                                                            "destinations": [{"url": "https://b.example.com/x"}]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed"
    assert patched.json()["destinations"][0]["url"] == "https://b.example.com/x"
    assert patched.json()["verify"]["scheme"] == "stripe"
    # null is not "leave it" (that is leaving the field out), as in a schedule's PATCH: it was a silent 200
    for field in ("name", "verify", "destinations", "dedup_window_s"):
        refused = api.patch(f"/v1/sources/{source['id']}", json={field: None})
        assert refused.status_code == 422, (field, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == [f"/{field}"]

    assert api.delete(f"/v1/sources/{source['id']}").status_code == 204
    assert api.get(f"/v1/sources/{source['id']}").status_code == 404
    # The ingest route keeps a source for a few seconds (warm cache), then answers 404 too
    gone = wait_for(lambda: httpx.post(source["ingest_url"], content=b"{}").status_code, lambda s: s == 404, 15)
    assert gone == 404


@pytest.mark.parametrize(("body", "pointer"), [
    ({"name": "x", "verify": {"scheme": "stripe"}, "destinations": [{"url": "https://a.example.com"}]}, "/verify"),
    ({"name": "x", "verify": {"scheme": "none", "secret": "s"}, "destinations": [{"url": "https://a.example.com"}]},
     "/verify"),
    ({"name": "x", "verify": {"scheme": "hmac-sha256", "secret": "s"},
      "destinations": [{"url": "https://a.example.com"}]}, "/verify"),
    ({"name": "x", "verify": {"scheme": "standard-webhooks", "secret": "whsec_not base64!"},
      "destinations": [{"url": "https://a.example.com"}]}, "/verify"),
    ({"name": "x", "verify": {"scheme": "md5"}, "destinations": [{"url": "https://a.example.com"}]}, "/verify"),
    ({"name": "x", "verify": {"scheme": "none"}, "destinations": []}, "/destinations"),
    ({"name": "x", "verify": {"scheme": "none"}, "destinations": [{"url": "ftp://a.example.com"}]}, "/destinations"),
    ({"name": "x", "verify": {"scheme": "none"}, "destinations": [{"url": "https://a.example.com",
                                                                   "event_types": ["a*b"]}]}, "/destinations"),
    ({"name": "x", "verify": {"scheme": "none"}, "destinations": [{"url": "https://a.example.com"}],
      "surprise": 1}, "/surprise"),
])
def test_invalid_sources_are_422_problems_naming_the_field(api: httpx.Client, body: dict[str, object],
                                                           pointer: str) -> None:
    r = api.post("/v1/sources", json=body)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e["pointer"].startswith(pointer) for e in r.json()["errors"]), r.json()
    assert "whsec_not base64!" not in r.text


def test_another_tenants_source_and_events_are_404(api: httpx.Client, stack: StackState) -> None:
    source = create_source(api, {"scheme": "none"}, [{"url": "https://a.example.com/x"}])
    other_key = cli(stack, "keys", "create", "--tenant", f"other{os.urandom(3).hex()}").stdout.strip()
    other = httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {other_key}"})

    for path in (f"/v1/sources/{source['id']}", f"/v1/sources/{source['id']}/events"):
        assert other.get(path).status_code == 404
    assert other.delete(f"/v1/sources/{source['id']}").status_code == 404
    assert other.post(f"/v1/sources/{source['id']}/replay", json={"since": "2026-01-01T00:00:00Z"}).status_code == 404
    assert source["id"] not in [s["id"] for s in other.get("/v1/sources").json()["items"]]
    assert api.get(f"/v1/sources/{source['id']}").status_code == 200


def test_the_sources_api_needs_a_key_but_ingest_does_not(stack: StackState) -> None:
    anonymous = httpx.Client(base_url=stack.api_url)

    assert anonymous.get("/v1/sources").status_code == 401
    assert anonymous.post("/v1/ingest/src_unknown00000000000000", content=b"{}").status_code == 404


def test_cli_creates_and_lists_sources_with_the_secret_from_stdin(stack: StackState) -> None:
    out = cli(stack, "sources", "create", "stripe-cli", "--verify", "stripe", "--secret", "-",
              "--to", "https://app.example.com/hook", "--event-type", "payment_intent.*", "-q", stdin=SECRET + "\n")
    assert out.returncode == 0, out.stderr
    source_id = out.stdout.strip()
    listed = cli(stack, "sources", "list")
    assert source_id in listed.stdout and "stripe-cli" in listed.stdout and SECRET not in listed.stdout
    assert cli(stack, "events", "list", source_id).stdout.strip() == "no events yet"
    bad = cli(stack, "sources", "create", "x", "--verify", "hmac-sha256", "--secret", "s", "--to", "https://a.b")
    assert bad.returncode == 1 and "422" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_lists_of_sources_and_events_page_on_with_the_cursor_they_print(stack: StackState) -> None:
    # They were cut at --limit without a word, and took no --cursor
    ids = [cli(stack, "sources", "create", f"p{n}", "--verify", "none", "--to", "https://app.example.com/h",
               "-q").stdout.strip() for n in range(2)]
    for n in range(3):
        assert httpx.post(f"{stack.api_url}/v1/ingest/{ids[0]}", content=f'{{"n": {n}}}').status_code == 200
    for args, want in ((["sources", "list"], 2), (["events", "list", ids[0]], 3)):
        seen, cursor = [], None
        for _ in range(want):
            out = cli(stack, *args, "--limit", "1", *(["--cursor", cursor] if cursor else []))
            assert out.returncode == 0, out.stderr
            lines = out.stdout.strip().splitlines()
            seen.append(lines[0].split()[0])
            more = [line for line in lines if line.startswith("(more: --cursor ")]
            cursor = more[0].removeprefix("(more: --cursor ").removesuffix(")") if more else None
            assert cursor, out.stdout
        assert len(set(seen)) == want, seen
        if args[0] == "sources":
            assert set(ids) == set(seen)  # the newest first: the two just created
