"""RFC 9457 problem details: the only place where domain errors become HTTP bodies."""

from __future__ import annotations

from typing import Any

from pydantic_core import ErrorDetails

from shared.errors import SteadfastError, Unprocessable

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


# Where a request's values come from, as pydantic's (and Powertools') error locations name them.
PARAMETER_SOURCES = ("query", "path", "header", "cookie")
_NO_BODY = object()


def field_errors(details: list[ErrorDetails] | list[dict[str, Any]], body: Any = _NO_BODY) -> list[dict[str, Any]]:
    """Pydantic errors as RFC 9457 field problems: `{pointer, detail, type}` with an RFC 6901 JSON Pointer into
    the request body (`""` is the whole body), or `{parameter, in, detail, type}` for a query, path or
    header parameter.

    Given the body, the pointer follows it: the steps pydantic adds that are no part of the document (the
    member of a union it tried, `[key]` for a mapping's key) are left out. The input value is left out on
    purpose: it may hold a secret header."""
    out: list[dict[str, Any]] = []
    for e in details:
        loc = list(e.get("loc", ()))
        detail, kind = str(e.get("msg") or e.get("type")), str(e.get("type", ""))
        if loc and loc[0] in PARAMETER_SOURCES and len(loc) > 1:
            out.append({"parameter": str(loc[1]), "in": loc[0], "detail": detail, "type": kind})
            continue
        if loc[:1] == ["body"]:
            loc = loc[1:]
            if not loc and kind == "missing":
                detail = "a JSON object body is required"  # not pydantic's "Field required" at ""
        steps = _document_steps(loc, body, kind == "missing") if body is not _NO_BODY else _untagged(loc)
        out.append({"pointer": pointer(steps), "detail": detail, "type": kind})
    return out


def field_problem(name: str, message: str) -> Unprocessable:
    """A 422 about one member of the request body, pointing at it (`/serial`), as a validation error would."""
    return Unprocessable(message, errors=field_errors([{"loc": ("body", name), "msg": message, "type": "value_error"}]))


def pointer(steps: list[str | int]) -> str:
    """An RFC 6901 JSON Pointer: each step escaped (`~` as `~0`, `/` as `~1`)."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in steps)


def _document_steps(loc: list[Any], body: Any, missing: bool) -> list[str | int]:
    steps: list[str | int] = []
    here = body
    for i, step in enumerate(loc):
        if _has(here, step):
            steps.append(step)
            here = here[step]
        elif isinstance(here, dict) and isinstance(step, str) and missing and i == len(loc) - 1:
            steps.append(step)  # a required member that is not there
        # else: a step of pydantic's own (a union member's name), not of the document
    return steps


def _has(value: Any, step: Any) -> bool:
    if isinstance(value, dict):
        return isinstance(step, str) and step in value
    return isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)


def _untagged(loc: list[Any]) -> list[str | int]:
    # Without the body: drop what is visibly pydantic's own (`[key]`, `literal['a']`, `function-after[…]`).
    return [s for s in loc if isinstance(s, int) or ("[" not in s and s not in _TYPE_TAGS)]


_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "bytes", "list", "dict", "none", "url"})
