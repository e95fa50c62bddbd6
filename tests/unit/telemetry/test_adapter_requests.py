"""What each adapter sends: Growatt's form-urlencoded batch with the `token` header, Enphase's one system
per request with key and bearer, batching by device type; and that transport errors never raise."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx

from shared.telemetry.adapters.base import Failure, FailureKind
from shared.telemetry.adapters.enphase import EnphaseAdapter
from shared.telemetry.adapters.growatt import GrowattAdapter
from shared.telemetry.adapters.sandbox import SandboxAdapter
from shared.telemetry.models import Brand
from tests.unit.telemetry.helpers import T0, device, fixture


async def test_growatt_sends_one_form_request_per_batch_of_one_device_type() -> None:
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("growatt_v4_sph.json"))

    adapter = GrowattAdapter("https://openapi.example", "tok-123")
    devices = [device(f"SPH{n:04d}", Brand.growatt, "sph") for n in range(150)] + [device("MIN1", Brand.growatt, "min")]
    batches = adapter.batches(devices, 100)
    assert [len(b) for b in batches] == [1, 100, 50]  # min first (sorted by type), then sph in hundreds
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as http:
        await adapter.fetch(http, batches[1], T0, 5)
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/v4/new-api/queryLastData"
    assert request.headers["token"] == "tok-123"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode())
    assert form["deviceType"] == ["sph"] and len(form["deviceSn"][0].split(",")) == 100


async def test_enphase_one_system_per_request_with_key_and_bearer() -> None:
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("enphase_v4_summary.json"))

    adapter = EnphaseAdapter("https://api.example", "key-1", "access-1")
    d = device("1234567", Brand.enphase, "system")
    other = device("7", Brand.enphase, "system")
    assert adapter.batches([d, other], 100) == [[d], [other]]
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as http:
        result = await adapter.fetch(http, [d], T0, 5)
    assert seen[0].url.path == "/api/v4/systems/1234567/summary"
    assert seen[0].url.params["key"] == "key-1" and seen[0].headers["authorization"] == "Bearer access-1"
    assert not isinstance(result.outcomes[d.id], Failure)


async def test_transport_errors_become_failures_without_the_credential() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    d = device("1234567", Brand.enphase, "system")
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        result = await EnphaseAdapter("https://api.example", "secret-key", "t").fetch(http, [d], T0, 5)
        sandbox_result = await SandboxAdapter("http://sbx", "t").fetch(http, [device("A")], T0, 5)
    failure = result.outcomes[d.id]
    assert isinstance(failure, Failure) and failure.kind == FailureKind.transport
    assert "secret-key" not in failure.detail
    assert all(isinstance(o, Failure) for o in sandbox_result.outcomes.values())
