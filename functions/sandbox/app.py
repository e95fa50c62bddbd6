"""The sandbox vendor as a Lambda behind an API Gateway HTTP API (payload format 2.0), for deployed
non-production stages that have no real inverters.

No ASGI bridge: the vendor core takes method, path, headers and body, which is all an HTTP API event
carries. Its state (simulated devices, rate limits, counters) lives per execution environment, so two
concurrent environments simulate the same serials independently; the physics is deterministic per
serial, so they tell a consistent story, and the demo load is far below one environment's capacity.
"""

from __future__ import annotations

import base64
from typing import Any

from functions.sandbox.vendor import vendor_from_env

_vendor = vendor_from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    http = event.get("requestContext", {}).get("http", {})
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    result = _vendor.handle(http.get("method", "GET"), event.get("rawPath", "/"), headers, raw,
                            event.get("rawQueryString") or "")
    return {"statusCode": result.status, "headers": {"content-type": "application/json", **result.headers},
            "body": result.json().decode()}
