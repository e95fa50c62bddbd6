"""Bad request bodies end as 4xx problems before any route reads them, never as a 5xx.

Powertools turns only a `JSONDecodeError` into a validation error; a body nested beyond the parser's
recursion limit (`RecursionError`) or an integer literal beyond Python's digit limit (`ValueError`:
"Exceeds the limit (4300 digits)") escaped as 500s. So the submit function reads the body once here
first: its media type (415 for anything but JSON, or the form type `curl -d` sends for it), its size
(413) and whether it parses at all (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Far above any valid request (a batch of 100 jobs nests a handful of levels), far below the recursion limit.
MAX_DEPTH = 64
# Lambda's synchronous payload limit is 6 MB; API Gateway's own 10 MB limit answers before the function does.
MAX_REQUEST_BYTES = 5 * 1024 * 1024
JSON_TYPES = ("application/json", "application/x-www-form-urlencoded")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _acceptable(media_type: str) -> bool:
    return not media_type or media_type in JSON_TYPES or (media_type.startswith("application/")
                                                           and media_type.endswith("+json"))


def _depth_within(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def body_problem(headers: Mapping[str, str], body: str | None, is_base64: bool) -> tuple[int, str, str] | None:
    """(status, title, detail) of what is wrong with a request body, or None when routes may read it."""
    if not body:
        return None
    size = len(body) * 3 // 4 if is_base64 else len(body.encode("utf-8", errors="surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        return 413, "Payload too large", f"the request body is over {MAX_REQUEST_BYTES // (1024 * 1024)} MiB"
    media_type = _media_type(headers.get("content-type", ""))
    if not _acceptable(media_type):
        return 415, "Unsupported media type", f"the API reads application/json, not {media_type[:80]!r}"
    try:
        text = base64.b64decode(body, validate=True).decode() if is_base64 else body
        parsed = json.loads(text)
    except RecursionError:
        return 400, "Bad request", f"the request body is nested more than {MAX_DEPTH} levels deep"
    except (UnicodeError, binascii.Error):
        return 400, "Bad request", "the request body is not valid UTF-8 JSON"
    except ValueError as exc:  # JSONDecodeError, and integers beyond the digit limit
        reason = "an integer literal with too many digits" if "digit" in str(exc) else "not valid JSON"
        return 400, "Bad request", f"the request body is {reason}"
    if not _depth_within(parsed, MAX_DEPTH):
        return 400, "Bad request", f"the request body is nested more than {MAX_DEPTH} levels deep"
    return None


def unknown_query_parameters(given: Iterable[str], declared: Iterable[str]) -> list[dict[str, Any]]:
    """Pydantic-shaped errors (`extra_forbidden`, as an unknown body field gets) for each query parameter a
    route does not take: `?statuss=dead` would otherwise list every job as if no filter had been asked for."""
    known = set(declared)
    return [{"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted"}
            for name in sorted(set(given) - known)]


def unexpected_body(body: Any) -> list[dict[str, Any]]:
    """Pydantic-shaped errors for a body sent to a route that reads none (cancel, retry, trigger, stream-token):
    each member of an object is an unknown field, as it would be anywhere else (`{"force": true}` must not look
    accepted); anything but an object is refused whole. Nothing, null and `{}` say nothing and pass."""
    if body is None or body == {}:
        return []
    if isinstance(body, dict):
        return [{"type": "extra_forbidden", "loc": ("body", name), "msg": "Extra inputs are not permitted"}
                for name in body]
    return [{"type": "extra_forbidden", "loc": ("body",), "msg": "this route takes no request body"}]
