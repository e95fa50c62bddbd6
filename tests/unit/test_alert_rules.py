"""What `POST /v1/alert-rules` takes (SPEC §3 Alerts), without AWS: JSON numbers where the SPEC shows numbers
(no numeric strings, no booleans), for_s from 0 to 86400, a threshold only and always for battery_below."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.alerts.models import AlertRuleCreate

URL = "https://hooks.example.com/alerts"


@pytest.mark.parametrize("body", [
    {"condition": "offline", "for_s": "30"},
    {"condition": "offline", "for_s": True},
    {"condition": "offline", "for_s": 30.0},
    {"condition": "offline", "for_s": -1},
    {"condition": "offline", "for_s": 86_401},
    {"condition": "battery_below", "threshold": "20"},
    {"condition": "battery_below", "threshold": True},
    {"condition": "battery_below", "threshold": 101},
    {"condition": "battery_below"},
    {"condition": "fault", "threshold": 20},
    {"condition": "offline", "inverter_id": 7},
])
def test_create_rejects(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AlertRuleCreate.model_validate({"notify_url": URL, **body})


@pytest.mark.parametrize("body", [
    {"condition": "offline", "for_s": 0},
    {"condition": "offline", "for_s": 86_400},
    {"condition": "battery_below", "threshold": 20},
    {"condition": "battery_below", "threshold": 12.5},
])
def test_create_accepts(body: dict[str, Any]) -> None:
    AlertRuleCreate.model_validate({"notify_url": URL, **body})
