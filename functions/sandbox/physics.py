"""Physics of a simulated solar site: sun, clouds, temperature, panels, household load and battery.

Models (each the simplest one that keeps the numbers honest):
- sun elevation from day of year, UTC time, latitude and longitude (Cooper's declination, equation of
  time after Spencer), so that night gives exactly zero PV and winter days are short;
- clear-sky global horizontal irradiance after Haurwitz: 1098·cos z·exp(-0.057/cos z) W/m²;
- cloud cover as an Ornstein-Uhlenbeck process (30-minute memory) squashed to 0…1, attenuating
  irradiance after Kasten-Czeplak: G = G_clear·(1 - 0.75·C^3.4);
- cell temperature by the NOCT model, panel power derated by -0.37 %/°C above 25 °C;
- a household load with morning and evening peaks and noise;
- a battery (hybrid sites) that stores surplus PV, covers the load at night down to a 10 % reserve,
  with 95 % efficiency each way;
- energy counters integrated from the same power the device reports, so that they add up.

Everything random comes from one `random.Random` seeded by the serial: a serial is the same site on
every run. No I/O here; `functions.sandbox.vendor` owns devices and clocks.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

DAY_S = 86_400
MAX_STEP_S = 300.0  # integration step while catching up on a gap
# The morning a new site replays before its first answer: coarse, so that 10,000 new devices cost
# about a second, and still consistent (the counter integrates what the model produced).
CATCH_UP_STEP_S = 1800.0
CLOUD_MEMORY_S = 1800.0
NOCT_C = 45.0
TEMP_COEFF = -0.0037
INVERTER_EFFICIENCY = 0.965
BATTERY_EFFICIENCY = 0.95
BATTERY_RESERVE = 0.10


@dataclass(frozen=True)
class Site:
    serial: str
    hybrid: bool
    latitude: float
    longitude: float
    pv_peak_w: float
    inverter_w: float
    battery_wh: float
    battery_max_w: float
    base_load_w: float
    mean_temp_c: float
    cloudiness: float  # bias of the cloud process: negative is sunny
    initial_total_kwh: float

    @property
    def utc_offset_s(self) -> int:
        """The site's civil offset, rounded to whole hours from its longitude."""
        return round(self.longitude / 15) * 3600


def seed_of(serial: str) -> int:
    return int.from_bytes(hashlib.sha256(serial.encode()).digest()[:8], "big")


def site_for(serial: str, hybrid: bool) -> Site:
    rng = random.Random(seed_of(serial))
    peak = rng.choice([3000, 4000, 5000, 6500, 8000, 10000])
    return Site(serial=serial, hybrid=hybrid, latitude=rng.uniform(-40, 55), longitude=rng.uniform(-180, 180),
                pv_peak_w=peak, inverter_w=peak * 0.9, battery_wh=rng.choice([5000, 10000, 13500]) if hybrid else 0,
                battery_max_w=rng.choice([2500, 3300, 5000]) if hybrid else 0, base_load_w=rng.uniform(150, 400),
                mean_temp_c=rng.uniform(8, 22), cloudiness=rng.uniform(-1.5, 0.5),
                initial_total_kwh=round(rng.uniform(500, 30000), 1))


def sun_elevation_deg(lat: float, lon: float, t: float) -> float:
    day = (t / DAY_S) % 365.25
    gamma = 2 * math.pi * day / 365.25
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365.25)
    eot_min = 229.18 * (0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
                        - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma))
    solar_min = (t % DAY_S) / 60 + 4 * lon + eot_min
    hour_angle = math.radians(solar_min / 4 - 180)
    phi = math.radians(lat)
    s = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, s))))


def clear_sky_ghi(elevation_deg: float) -> float:
    if elevation_deg <= 0:
        return 0.0
    cos_z = math.sin(math.radians(elevation_deg))
    return 1098 * cos_z * math.exp(-0.057 / cos_z)


def ambient_temp_c(site: Site, t: float) -> float:
    day = (t / DAY_S) % 365.25
    # Warmest around day 200 in the north, day 17 in the south; warmest hour ~15:00 local.
    season = math.cos(2 * math.pi * (day - (200 if site.latitude >= 0 else 17)) / 365.25)
    hour = ((t + site.utc_offset_s) % DAY_S) / 3600
    diurnal = math.cos(2 * math.pi * (hour - 15) / 24)
    return site.mean_temp_c + 8 * season * min(1.0, abs(site.latitude) / 45) + 5 * diurnal


def household_load_w(site: Site, t: float, rng: random.Random) -> float:
    hour = ((t + site.utc_offset_s) % DAY_S) / 3600
    profile = (site.base_load_w + 900 * math.exp(-((hour - 7.5) ** 2) / 2)
               + 1500 * math.exp(-((hour - 19.0) ** 2) / 4.5) + 250 * math.exp(-((hour - 13.0) ** 2) / 8))
    return max(80.0, profile * (1 + 0.12 * rng.gauss(0, 1)))


@dataclass
class Simulator:
    """One site's state, advanced on demand to the time of each request."""

    site: Site
    t: float
    rng: random.Random
    cloud_x: float = 0.0
    soc_wh: float = 0.0
    energy_today_wh: float = 0.0
    energy_total_wh: float = 0.0
    day: int = 0
    now: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, site: Site, t: float) -> Simulator:
        """A site seen for the first time at `t`: begin at its local midnight and run up to `t`, so that
        today's energy counter is already consistent with the sun of the morning."""
        rng = random.Random(seed_of(site.serial) ^ 0x5EED)
        local_midnight = t - ((t + site.utc_offset_s) % DAY_S)
        sim = cls(site=site, t=local_midnight, rng=rng, cloud_x=rng.gauss(0, 1),
                  soc_wh=site.battery_wh * rng.uniform(0.3, 0.8), energy_total_wh=site.initial_total_kwh * 1000,
                  day=cls._local_day(site, local_midnight))
        sim.advance(t, max_step_s=CATCH_UP_STEP_S)
        return sim

    @staticmethod
    def _local_day(site: Site, t: float) -> int:
        return int((t + site.utc_offset_s) // DAY_S)

    def advance(self, t: float, max_step_s: float = MAX_STEP_S) -> dict[str, float]:
        """Integrate from the last sample to `t` and return the instantaneous values at `t`."""
        if t - self.t > 2 * DAY_S:  # a long-idle site restarts today rather than replaying days
            fresh = Simulator.start(self.site, t)
            self.__dict__.update(fresh.__dict__)
            return self.now
        while self.t < t or not self.now:
            self._step(min(max_step_s, max(0.0, t - self.t)))
        return self.now

    def _step(self, dt: float) -> None:
        site, t = self.site, self.t + dt
        if dt > 0:
            decay = math.exp(-dt / CLOUD_MEMORY_S)
            self.cloud_x = self.cloud_x * decay + math.sqrt(1 - decay * decay) * self.rng.gauss(0, 1)
        cloud = 1 / (1 + math.exp(-(1.6 * self.cloud_x + 2 * site.cloudiness)))
        ghi = clear_sky_ghi(sun_elevation_deg(site.latitude, site.longitude, t)) * (1 - 0.75 * cloud ** 3.4)
        ambient = ambient_temp_c(site, t)
        cell = ambient + (NOCT_C - 20) / 800 * ghi
        pv_w = max(0.0, site.pv_peak_w * ghi / 1000 * (1 + TEMP_COEFF * (cell - 25)))
        pv_ac_w = min(pv_w * INVERTER_EFFICIENCY, site.inverter_w)
        load_w = household_load_w(site, t, self.rng)
        battery_w = self._battery(pv_ac_w - load_w, dt) if site.hybrid else 0.0
        ac_w = pv_ac_w - battery_w
        day = self._local_day(site, t)
        if day != self.day:
            self.day, self.energy_today_wh = day, 0.0
        # The trapezoid would need the previous sample; a step is ≤ 5 min, so the rectangle is fine.
        self.energy_today_wh += pv_ac_w * dt / 3600
        self.energy_total_wh += pv_ac_w * dt / 3600
        self.t = t
        self.now = {
            "pv_w": pv_w, "ac_w": ac_w, "load_w": load_w, "battery_w": battery_w, "grid_w": load_w - ac_w,
            "soc_pct": 100 * self.soc_wh / site.battery_wh if site.hybrid else 0.0,
            "temp_c": ambient + 6 + 18 * pv_ac_w / site.inverter_w, "cloud": cloud, "ghi": ghi,
            "energy_today_wh": self.energy_today_wh, "energy_total_wh": self.energy_total_wh,
        }

    def _battery(self, surplus_w: float, dt: float) -> float:
        """Charge from surplus, discharge into deficit; returns the battery's power (+ charging)."""
        site, hours = self.site, dt / 3600
        if surplus_w > 0:
            room_wh = site.battery_wh - self.soc_wh
            power = min(surplus_w, site.battery_max_w, room_wh / BATTERY_EFFICIENCY / hours if hours else math.inf)
            self.soc_wh += power * hours * BATTERY_EFFICIENCY
            return power
        available_wh = self.soc_wh - site.battery_wh * BATTERY_RESERVE
        power = min(-surplus_w, site.battery_max_w, max(0.0, available_wh) * BATTERY_EFFICIENCY / hours
                    if hours else math.inf)
        self.soc_wh -= power * hours / BATTERY_EFFICIENCY
        return -power
