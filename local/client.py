"""A small Python client for the Steadfast API, used by the CLI, and the receiving side's signature check."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

from local.cli_common import ApiError
from local.stack import StackState
from shared import signing

TERMINAL = frozenset({"completed", "failed", "dead", "cancelled"})


class Client:
    def __init__(self, api_url: str | None = None, api_key: str | None = None, stream_url: str | None = None) -> None:
        state = StackState.load()
        self.api_url = (api_url or os.environ.get("STEADFAST_API_URL")
                        or (state.api_url if state else "http://127.0.0.1:8080")).rstrip("/")
        self.stream_url = (stream_url or os.environ.get("STEADFAST_STREAM_URL")
                           or (state.stream_url if state else "http://127.0.0.1:8081")).rstrip("/")
        self.api_key = (api_key or os.environ.get("STEADFAST_API_KEY")
                        or (state.dev_api_key if state else "sk_dev_local"))
        self.http = httpx.Client(base_url=self.api_url, timeout=30,
                                 headers={"authorization": f"Bearer {self.api_key}"})

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise unreachable(self.api_url, exc) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        if response.content and "json" not in response.headers.get("content-type", ""):
            raise ApiError(0, {"title": "not the Steadfast API",
                               "detail": f"{self.api_url}{path} answered {response.headers.get('content-type')!r}, "
                                         "not JSON; check STEADFAST_API_URL"})
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any route; the decoded JSON answer (None for 204)."""
        response = self._call(method, path, **kwargs)
        return response.json() if response.content else None

    def submit(self, spec: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        return dict(self._call("POST", "/v1/jobs", json=spec, headers=headers).json())

    def get(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/jobs/{job_id}").json())

    def attempts(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/jobs/{job_id}/attempts").json()["items"])

    def list(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items() if v is not None}
        return dict(self._call("GET", "/v1/jobs", params=params).json())

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/jobs/{job_id}/cancel").json())

    def retry(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/jobs/{job_id}/retry").json())

    def redrive(self, window_s: int, limit: int = 1000) -> int:
        body = {"window_s": window_s, "limit": limit}
        return int(self._call("POST", "/v1/dlq/redrive", json=body).json()["redriven"])

    # -- workflows -------------------------------------------------------------------------------
    def submit_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/workflows", json=body).json())

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/workflows/{workflow_id}").json())

    # -- schedules -------------------------------------------------------------------------------
    def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/schedules", json=body).json())

    def schedules(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        return dict(self._call("GET", "/v1/schedules", params=params).json())

    def schedule(self, schedule_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/schedules/{schedule_id}").json())

    def patch_schedule(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/v1/schedules/{schedule_id}", json=changes).json())

    def delete_schedule(self, schedule_id: str) -> None:
        self._call("DELETE", f"/v1/schedules/{schedule_id}")

    def trigger_schedule(self, schedule_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/schedules/{schedule_id}/trigger").json())

    def watch(self, job_id: str, timeout_s: float = 3600) -> Iterator[dict[str, Any]]:
        """Job states as they change (the stream app's `event: status`), until a terminal one. Parsed by
        httpx-sse, which keeps each event's `id:`: a stream that ends early (the server closes streams after
        `STEADFAST_STREAM_MAX_S`) or drops is resumed with `Last-Event-ID`, and a 204 then says it has ended."""
        from httpx_sse import connect_sse

        url = f"{self.stream_url}/v1/jobs/{job_id}/events"
        deadline = time.monotonic() + timeout_s
        last_id: str | None = None
        # The API key goes in the header: the stream app refuses one in a URL (it would end up in logs).
        with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5),
                          headers={"authorization": f"Bearer {self.api_key}"}) as http:
            while time.monotonic() < deadline:
                try:
                    with connect_sse(http, "GET", url, headers={"last-event-id": last_id} if last_id else {}) as source:
                        response = source.response
                        if response.status_code == 204:
                            return  # the job ended while we were away; the caller reads its final state
                        if response.status_code >= 400:
                            response.read()
                            raise ApiError(response.status_code, _problem(response))
                        for event in source.iter_sse():
                            if event.event != "status":
                                continue
                            last_id = event.id or last_id
                            job: dict[str, Any] = event.json()
                            yield job
                            if job["status"] in TERMINAL:
                                return
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    if last_id is None:
                        raise  # the CLI falls back to polling the API on any httpx error
                time.sleep(0.5)  # ended or dropped mid-job: resume after the last event we had
            raise httpx.ReadTimeout(f"job {job_id} did not end within {timeout_s:.0f} s")


def unreachable(url: str, exc: Exception) -> ApiError:
    """A transport failure (refused, timed out, a bad URL) as the CLI shows it."""
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot connect"
    return ApiError(0, {"title": what, "detail": f"{url} ({exc or type(exc).__name__}); is `make dev` running?"})


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        return dict(response.json())
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:500]}


def verify_webhook(secret: str, headers: dict[str, str], body: str) -> None:
    """For receivers: raise `signing.InvalidSignature` unless the Standard Webhooks headers are valid."""
    h = {k.lower(): v for k, v in headers.items()}
    signing.verify(secret, h.get("webhook-id", ""), h.get("webhook-timestamp", ""), body,
                   h.get("webhook-signature", ""))
