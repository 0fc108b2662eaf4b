"""Daylight: sunrise, sunset and civil twilight for London by date, night on the simulated clock,
and what night changes for a flight.

What this module owns
---------------------
* :func:`sun_times`: sunrise, sunset, civil dawn and civil dusk of a date as local wall-clock
  times, computed with the ``astral`` package (NOAA solar position equations, refraction
  included). Checked in the tests against published London times: 21 December 2018 sunrise
  08:04, sunset 15:53 (i news, "Sunrise and sunset times in the UK"); 21 June 2011 sunrise
  04:42, sunset 21:20 (published London times for the solstice); astral gives 08:04:04 /
  15:53:03 and 04:43:21 / 21:21:05, within two minutes.
* :func:`night_intervals` / :func:`night_hours` / :func:`is_night`: night on the simulated clock.
* :func:`night_effect`: the parameters a flight launched at night uses under a
  :class:`~dronesim.inputs.scenario.NightSpec` rule (allowed, slower, second pilot, not allowed).

Modelling assumptions
---------------------
* The simulated clock starts at local midnight of ``start_date`` (a Monday); simulated day
  ``d`` is the calendar day ``start_date + d`` and every simulated day lasts 24 hours, so
  sunrise at 04:43 local time is ``d x 86,400 + 4 h 43 min`` whatever the clock change.
* Night is sunset to sunrise (``definition = "sunset"``), or civil dusk to civil dawn (sun 6
  degrees below the horizon, ``"civil_twilight"``). UK rules for night flying of drones are
  operator-specific (a night-flying procedure in the operations manual); the rule is therefore a
  scenario parameter, not a figure taken from a source. ``allowed`` reproduces today's model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from astral import Observer
from astral.sun import sun

from .scenario import NightSpec

__all__ = ["SunTimes", "sun_times", "night_intervals", "night_hours", "is_night",
           "NightEffect", "night_effect", "DAY_S"]

DAY_S = 86_400.0


@dataclass(frozen=True)
class SunTimes:
    """Local wall-clock times of one date, as seconds after local midnight."""

    date: dt.date
    dawn_s: float  # civil dawn
    sunrise_s: float
    sunset_s: float
    dusk_s: float  # civil dusk


def _seconds_after_midnight(t: dt.datetime) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6


@lru_cache(maxsize=4096)
def sun_times(date: dt.date, latitude: float = 51.5072, longitude: float = -0.1276,
              timezone: str = "Europe/London") -> SunTimes:
    """Sunrise, sunset and civil twilight of ``date`` at the given place (default: London,
    Charing Cross), as seconds after local midnight (local time: GMT or BST in London)."""
    tz = ZoneInfo(timezone)
    s = sun(Observer(latitude=latitude, longitude=longitude), date=date, tzinfo=tz)
    return SunTimes(date=date, dawn_s=_seconds_after_midnight(s["dawn"]),
                    sunrise_s=_seconds_after_midnight(s["sunrise"]),
                    sunset_s=_seconds_after_midnight(s["sunset"]),
                    dusk_s=_seconds_after_midnight(s["dusk"]))


def _start(start_date: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(start_date) if isinstance(start_date, str) else start_date


def night_intervals(start_date: dt.date | str, horizon_s: float, spec: NightSpec | None = None
                    ) -> list[tuple[float, float]]:
    """Night on the simulated clock, ``[(start_s, end_s), ...]`` in order, from 0 to
    ``horizon_s`` (the first interval starts at 0: the clock starts at midnight)."""
    spec = spec or NightSpec()
    start = _start(start_date)
    out: list[tuple[float, float]] = []
    n_days = int(np.ceil(horizon_s / DAY_S)) + 1
    prev_end_of_night = 0.0  # night runs from midnight of day 0 to its sunrise
    for d in range(n_days):
        st = sun_times(start + dt.timedelta(days=d), spec.latitude, spec.longitude,
                       spec.timezone)
        morning, evening = ((st.sunrise_s, st.sunset_s) if spec.definition == "sunset"
                            else (st.dawn_s, st.dusk_s))
        t_morning = d * DAY_S + morning
        out.append((prev_end_of_night, t_morning))
        prev_end_of_night = d * DAY_S + evening
    out = [(max(a, 0.0), min(b, horizon_s)) for a, b in out if a < horizon_s and b > a]
    if prev_end_of_night < horizon_s:
        out.append((prev_end_of_night, horizon_s))
    return out


def is_night(t_s: np.ndarray | float, start_date: dt.date | str,
             spec: NightSpec | None = None) -> np.ndarray:
    """Whether each simulated time ``t_s`` falls at night."""
    t = np.atleast_1d(np.asarray(t_s, dtype=float))
    if t.size == 0:
        return np.zeros(0, dtype=bool)
    iv = night_intervals(start_date, float(t.max()) + 1.0, spec)
    starts = np.array([a for a, _ in iv])
    ends = np.array([b for _, b in iv])
    k = np.searchsorted(starts, t, side="right") - 1
    return (k >= 0) & (t < ends[np.clip(k, 0, None)])


def night_hours(start_date: dt.date | str, hours: int, spec: NightSpec | None = None
                ) -> np.ndarray:
    """Whether each hour of the simulated clock is at night, judged at the middle of the hour
    (the per-hour form :func:`dronesim.inputs.weather.flyability` takes)."""
    return is_night((np.arange(int(hours)) + 0.5) * 3600.0, start_date, spec)


@dataclass(frozen=True)
class NightEffect:
    """What a flight launched at night uses (by day: speed factor 1, no extra time, 1 pilot)."""

    allowed: bool
    speed_factor: float
    extra_launch_s: float
    pilots_per_flight: int


def night_effect(spec: NightSpec) -> NightEffect:
    """The effect of ``spec.rule`` on a flight launched at night."""
    if spec.rule == "not_allowed":
        return NightEffect(False, 1.0, 0.0, 1)
    if spec.rule == "slower":
        return NightEffect(True, spec.speed_factor, spec.extra_launch_s, 1)
    if spec.rule == "second_pilot":
        return NightEffect(True, 1.0, 0.0, spec.pilots_per_flight)
    return NightEffect(True, 1.0, 0.0, 1)
