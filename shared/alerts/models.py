"""Pydantic models of the alert API (SPEC §3 Alerts) and the evaluator's stored state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.jobs.models import Url, check_url
from shared.telemetry.models import Reading
from shared.timestamps import Timestamp, iso

MAX_FOR_S = 86_400
MAX_RULES_PER_TENANT = 200


class Condition(StrEnum):
    offline = "offline"  # not heard from: polls fail, or the vendor has nothing newer for a while
    fault = "fault"  # the device reports a fault status
    battery_below = "battery_below"  # state of charge below `threshold` %
    no_production = "no_production"  # no PV power while the sun is up at the inverter


class AlertRuleCreate(BaseModel):
    """What a caller submits to `POST /v1/alert-rules`."""

    model_config = ConfigDict(extra="forbid")

    inverter_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="one inverter; default: every inverter of the tenant")
    condition: Condition
    # strict: JSON numbers only (lax mode read "20" as 20 and true as 1)
    threshold: float | None = Field(default=None, ge=0, le=100, strict=True,
                                    description="% state of charge (battery_below)")
    for_s: int = Field(default=900, ge=0, le=MAX_FOR_S, strict=True,
                       description="how long the condition holds before an incident")
    notify_url: Url

    _url = field_validator("notify_url")(check_url)

    @model_validator(mode="after")
    def _threshold(self) -> AlertRuleCreate:
        if self.condition == Condition.battery_below and self.threshold is None:
            raise ValueError("battery_below needs a threshold (% state of charge)")
        if self.condition != Condition.battery_below and self.threshold is not None:
            raise ValueError(f"{self.condition.value} takes no threshold")
        return self


class AlertRule(BaseModel):
    id: str
    inverter_id: str | None
    condition: Condition
    threshold: float | None
    for_s: int
    notify_url: str
    created_at: Timestamp

    def applies_to(self, inverter_id: str) -> bool:
        return self.inverter_id is None or self.inverter_id == inverter_id


class AlertRuleList(BaseModel):
    items: list[AlertRule]


class IncidentState(StrEnum):
    open = "open"
    resolved = "resolved"


class Incident(BaseModel):
    id: str
    rule_id: str
    inverter_id: str
    condition: Condition
    state: IncidentState
    since: Timestamp  # when the condition began
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    # The reading that the opening (and the resolution) saw; null when there was none (never heard from).
    reading: Reading | None = None
    resolved_reading: Reading | None = None

    def notification(self, state: IncidentState) -> dict[str, Any]:
        """The JSON body delivered for an opening or a resolution (SPEC §3)."""
        reading = self.reading if state == IncidentState.open else self.resolved_reading
        return {"rule_id": self.rule_id, "incident_id": self.id, "inverter_id": self.inverter_id,
                "condition": self.condition.value, "state": state.value,
                "since": iso(self.since),
                "reading": reading.model_dump(mode="json") if reading else None}


class IncidentList(BaseModel):
    items: list[Incident]
    next_cursor: str | None = None


class TrackState(StrEnum):
    pending = "pending"  # the condition holds, for less than for_s so far
    open = "open"  # an incident is open


class Track(BaseModel):
    """The evaluator's memory of one (inverter, rule): exists only while the condition holds."""

    tenant: str
    inverter_id: str
    rule_id: str
    state: TrackState
    since: datetime
    incident_id: str | None = None
