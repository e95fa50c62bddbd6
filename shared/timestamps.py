"""Timestamps as the API writes them: RFC 3339 in UTC with millisecond precision, `2026-12-02T17:10:41.341Z`.

One format whatever the path: a job's answer to its POST (made from the record in memory, microseconds)
and its later reads (from the stored, millisecond form) show the same instant the same way, and the
strings sort as the instants do.

`Rfc3339` is the same contract for what callers send (`since`, `from`, `to`, a replay's range): a string
with a date, a time and a zone, read as an instant in UTC. Pydantic alone also takes epoch numbers, a bare
date or a time without a zone, and an instant that a zone shift pushes past year 9999 failed later, in
arithmetic or formatting, as a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A datetime field of a response model: serialized with `iso` in JSON, a datetime in Python.
Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "format": "date-time"})]

# RFC 3339 §5.6 date-time (its note allows a space for the T); seconds may carry a fraction.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_EXAMPLE = "2026-11-22T10:00:00Z"


def _rfc3339_text(value: object) -> object:
    if isinstance(value, datetime):
        return value  # a Python caller's own instant; `_utc_instant` still wants its zone
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", value):
        raise PydanticCustomError("rfc3339", "needs a time zone (RFC 3339, e.g. {example})", {"example": _EXAMPLE})
    raise PydanticCustomError("rfc3339", "is not an RFC 3339 date-time with a zone (e.g. {example})",
                              {"example": _EXAMPLE})


def _utc_instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("rfc3339", "needs a time zone (RFC 3339, e.g. {example})", {"example": _EXAMPLE})
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("rfc3339", "lies outside the years 1 to 9999 in UTC") from None


# A time a caller sends: an RFC 3339 string with its zone, read as an aware datetime in UTC. Not strict, also
# inside a strict model: strict mode takes only a datetime object, which a JSON body or a query never holds.
Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text), AfterValidator(_utc_instant), Field(strict=False),
                    WithJsonSchema({"type": "string", "format": "date-time"})]
