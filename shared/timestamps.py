"""Timestamps as the API writes them: RFC 3339 in UTC with millisecond precision, `2026-12-02T17:10:41.341Z`.

One format whatever the path: a job's answer to its POST (made from the record in memory, microseconds)
and its later reads (from the stored, millisecond form) show the same instant the same way, and the
strings sort as the instants do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A datetime field of a response model: serialized with `iso` in JSON, a datetime in Python.
Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
