"""`?limit=&cursor=` of every list route, validated once for both HTTP surfaces that serve a list: the API
(Powertools validates its `Query` annotations first) and the dashboard's same-origin copies on the stream app
(which read the raw query string). Subclassed by the lists that take filters (`shared.jobs.reads`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

LIMIT_MAX = 200
CURSOR_MAX = 2048


class PageQuery(BaseModel):
    """Other query parameters are ignored, as the API's router ignores them."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(50, ge=1, le=LIMIT_MAX)
    cursor: str | None = Field(None, max_length=CURSOR_MAX)

    @field_validator("limit", mode="before")
    @classmethod
    def _digits(cls, v: Any) -> Any:
        # From a query string: ASCII digits only (int() would also read "+12", "1_2" and " 12 ").
        if isinstance(v, str) and not re.fullmatch(r"[0-9]{1,4}", v):
            raise ValueError(f"an integer from 1 to {LIMIT_MAX}")
        return v
