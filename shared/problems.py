"""RFC 9457 problem details: the only place where domain errors become HTTP bodies."""

from __future__ import annotations

from typing import Any

from pydantic_core import ErrorDetails

from shared.errors import SteadfastError

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://steadfast.dev/problems/"


def problem(status: int, title: str, detail: str, *, slug: str, errors: list[dict[str, Any]] | None = None,
            instance: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def from_error(err: SteadfastError, *, instance: str | None = None) -> dict[str, Any]:
    return problem(err.status, err.title, err.detail, slug=err.slug, errors=err.errors, instance=instance)


def field_errors(details: list[ErrorDetails] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors as `{pointer, detail}` pairs (JSON Pointer into the request body).

    The input value is left out on purpose: it may hold a secret header."""
    out: list[dict[str, Any]] = []
    for e in details:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        out.append({"pointer": "/" + "/".join(loc), "detail": str(e.get("msg") or e.get("type")),
                    "type": str(e.get("type", ""))})
    return out
