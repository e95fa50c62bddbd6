"""What the ingest path needs of the sources models: a source's destinations (validated as a stored source is
read), the ingest answer and the event size limit. The sources API's bodies (`shared.sources.models`, which
re-exports these) are imported by the API alone, so that the ingest function's cold start does not build them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from shared.jobs.models import RetrySpec, Strict, Url, check_url

MAX_EVENT_BYTES = 256 * 1024
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.:/*-]{1,128}$")


def default_retry() -> RetrySpec:
    """A provider's event is worth retrying for longer than a job's default: ~1 day at a 1 h cap."""
    return RetrySpec(max_attempts=30, base_delay_s=1, max_delay_s=3600)


class Destination(Strict):
    url: Url
    event_types: list[Annotated[str, Field(pattern=_EVENT_TYPE.pattern)]] = Field(default_factory=list,
                                                                                  max_length=50)
    retry: RetrySpec = Field(default_factory=default_retry)

    _url = field_validator("url")(check_url)

    @field_validator("event_types")
    @classmethod
    def _wildcards(cls, v: list[str]) -> list[str]:
        for pattern in v:
            if "*" in pattern[:-1]:
                raise ValueError(f"{pattern!r}: '*' is allowed only at the end (a suffix wildcard)")
        return v

    def accepts(self, event_type: str | None) -> bool:
        """No filter: every event. Otherwise an exact type, or a prefix ending in `*`."""
        if not self.event_types:
            return True
        if event_type is None:
            return False
        return any(event_type.startswith(p[:-1]) if p.endswith("*") else event_type == p for p in self.event_types)


class IngestResult(BaseModel):
    event_id: str
    duplicate: bool
