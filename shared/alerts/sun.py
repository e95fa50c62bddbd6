"""The sun's elevation at a place and time, for the no_production alert (astral's NOAA-based algorithm)."""

from __future__ import annotations

from datetime import datetime

from astral import Observer
from astral.sun import elevation

# Below this the panels of most sites yield next to nothing (dawn, dusk, a low winter sun behind the
# neighbours): no production then is no fault.
SUN_UP_DEGREES = 10.0


def sun_elevation(latitude: float, longitude: float, at: datetime) -> float:
    """Degrees above the horizon (negative below), refraction included."""
    return float(elevation(Observer(latitude=latitude, longitude=longitude), at))


def sun_is_up(latitude: float, longitude: float, at: datetime) -> bool:
    return sun_elevation(latitude, longitude, at) >= SUN_UP_DEGREES
