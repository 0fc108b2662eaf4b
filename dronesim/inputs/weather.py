"""Weather and flyability: hourly London weather for one replication, and the hours the fleet
can fly.

What this module owns
---------------------
* :func:`generate_weather`: an hourly series of wind speed, precipitation rate, visibility and
  cloud base, drawn from one random generator (the replication's ``streams["weather"]``), so the
  same seed gives the same weather in every run and every dispatch policy sees the same weather.
* :func:`flyability`: for each hour, whether the fleet can fly and, when it cannot, the first
  reason (wind, rain, visibility, cloud, night) and every reason as a bit mask.
* :func:`grounded_intervals`: the same as ``(start_s, end_s, reason)`` intervals, the form the
  engine consumes ("fleet grounded between t0 and t1 with reason R").

Sources and figures (defaults live in :class:`dronesim.inputs.scenario.WeatherSpec`)
-----------------------------------------------------------------------------
* Rain: London (Greenwich) 1971-2000 Met Office averages, as tabulated with the Met Office as
  source: days with >= 1.0 mm per month 10.8, 8.5, 9.6, 9.4, 9.0, 8.3, 8.0, 7.6, 8.5, 10.7,
  10.1, 9.9 (110.4 a year; "109.6 rainy days on the 1.0 mm threshold" for London elsewhere), and
  monthly totals 51.6 ... 53.0 mm (591.8 mm a year).
* Visibility and cloud: share of daylight METARs at London City Airport (EGLC), 2020-2024, with
  visibility >= 5 km and ceiling >= 1,000 ft ("marginal VFR or better"): 87.7% in January,
  97.8% in July, 85.5% in December, 93.1% over the year (metar-taf.com climate statistics).
* Wind: the shape of the hourly distribution is Weibull with k between 1.4 and 2.1 at UK
  stations (Earl, Dorling, Hewston and von Glasow 2013, "1980-2010 variability in U.K. surface
  wind climate", J. Climate 26(4)); k = 1.8 is taken. The London monthly means are an
  ASSUMPTION (no London monthly table was found here): 3.5-4.6 m/s, under the UK-wide annual
  mean of 7.9-9.4 kn (4.1-4.8 m/s, 2015-2021, BEIS Energy Trends weather statistics), London
  being sheltered.
* Limits: common drones fly in winds up to 10 m/s and in no precipitation (manufacturer
  thresholds in Gao, Hugenholtz et al. 2021, "Weather constraints on global drone flyability",
  Sci. Rep. 11:12092; median flyability worldwide 5.7 h/day); dock drones hold at 8 m/s (DJI
  Dock 2) or 12 m/s (DJI Dock 3) by their vendor's figures; Wiltshire Police flies its drones in
  winds up to 22 mph (9.8 m/s).

Modelling assumptions (each a parameter)
----------------------------------------
* Wind: a latent standard normal AR(1) process ``z`` (lag-1 hour correlation
  ``wind_autocorr_1h``, assumption 0.95: synoptic weather changes over many hours) mapped
  through the normal CDF onto the month's Weibull distribution with mean ``wind_mean_m_s[m]``.
  The wind the limit is checked against is ``wind_height_factor`` x the 10 m wind (assumption
  1.3: a power law with exponent 0.2 from 10 m to a 40 m rooftop dock).
* Rain: days are wet (>= 1 mm) or dry by a two-state Markov chain whose stationary wet share is
  the month's ``rain_days / days``, with ``P(wet | wet) = wet_day_persistence`` (assumption 0.5).
  A wet day holds one rain spell of ``1 + Exp(rain_mm / rain_days - 1)`` mm (at least 1 mm by
  definition, the month's mean total exactly) over ``1 + Poisson(wet_hours_per_wet_day - 1)``
  hours (assumption 5). Days with less than 1 mm (drizzle) are not modelled, so hours grounded by
  rain are, if anything, too few.
* Rain by time of day (issue 17): the spell's middle falls at an hour drawn from a diurnal
  occurrence profile ``1 + a1 cos(2 pi (h - 16) / 24) + a2 cos(2 pi (h - 4) / 12)`` (GMT hours),
  and the spell runs where it falls: across midnight, into the next day or from the previous
  one. The shape is that of hourly rain frequency at a Berkshire automatic station 1994-2003
  (a note in the Climatological Observers Link bulletin, quoted on uk.sci.weather "Percentage
  of time raining?"): minima at 00 and 10 GMT, maxima at 04 and 16 GMT, the afternoon
  (convective) peak the larger, rain at 16 GMT about 18% more frequent than at 00 GMT (372 vs
  315 hours in 10 years); ``a1 = a2 = 0.057`` give that ratio with the afternoon peak the larger.
  The seasonal change of the cycle (a stronger summer afternoon peak) is not modelled, and the
  GMT hours are read as the simulated clock's hours (an hour out in summer time). A spell
  straddling midnight splits its amount between two days, so the share of days with >= 1 mm
  differs a little from the count of wet days drawn (checked in tests/test_weather.py).
* Rain intensity (issue 17): the spell's amount is shared among its hours in proportion to
  independent ``Gamma(rain_hour_shape)`` weights (assumption 1: exponential, a peak hour and a
  tail; a large shape gives a constant rate), so each hour has its own rate in mm/h and an
  airframe rated for light rain (``[drones] rain_tolerance``) flies in the light hours. Classes
  (:data:`RAIN_CLASS_MM_H`): light up to 2.5 mm/h, moderate up to 7.6 mm/h, heavy above (AMS
  Glossary of Meteorology, "Rain"; the Met Office's forecast classes are slight < 0.5, moderate
  0.5-4, heavy > 4 mm/h).
* Gusts (issue 17): the model keeps the hourly MEAN wind; the hour's maximum gust is
  ``gust_factor x`` the hourly mean (assumption 1.5: the Durst (1960) curve / ASCE 7 commentary
  ratio of the 3-s gust to the hourly mean, 1.52 at 10 m in open terrain; WMO guidance, Harper,
  Kepert and Ginger 2010, gives larger ratios over rougher, urban terrain, and smaller ones
  higher up, as at a rooftop dock). The airframe's ``max_gust_m_s`` (the vendor's "max wind
  speed resistance", e.g. 12 m/s for the DJI Matrice 3D and Matrice 4D dock drones) is checked
  against the gust at flight height, its ``max_wind_m_s`` against the mean
  (:func:`flight_limits`). A fixed ratio makes every hour's gust a fixed multiple of its mean;
  real gustiness varies from hour to hour.
* Visibility and cloud base: one latent AR(1) "murk" index ``w`` (``murk_autocorr_1h``,
  assumption 0.9: fog and low stratus last hours) drives both, log-normally around the
  reference thresholds, so that visibility < ``visibility_ref_m`` exactly when cloud base <
  ``cloud_ref_m``, with the month's probability ``1 - clear_share[m]``. The source gives only the
  joint frequency; it cannot tell fog from low cloud, and neither does the model. With the
  default limits (5 km, 1,000 ft) the grounded share is the source's; other limits rely on the
  assumed log spreads (``visibility_log_sd``, ``cloud_log_sd``). The daylight-only statistic is
  applied to every hour (fog is more frequent at night and early morning: an understatement).
* The clock: hour ``h`` of a replication is ``h`` hours after midnight of ``start_date``; each
  simulated day is 24 hours (clock changes are ignored); the month of an hour is its calendar
  month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import overload

import numpy as np

from .._lazy import module
from .scenario import DroneSpec, NightSpec, WeatherSpec

# scipy's special functions and distributions are imported on first use (a run without
# weather never imports them: dronesim._lazy.module).
special = module("scipy.special")
stats = module("scipy.stats")

__all__ = [
    "REASONS",
    "RAIN_CLASS_MM_H",
    "FlightLimits",
    "flight_limits",
    "rain_occurrence_profile",
    "WeatherSeries",
    "Flyability",
    "hour_months",
    "generate_weather",
    "flyability",
    "grounded_intervals",
    "wind_scale_m_s",
    "wind_directions",
    "flight_wind",
    "wind_vector",
    "weibull_cdf",
    "lag1_autocorr",
    "replication_flyability",
    "flyable_hours_per_day",
]

HOUR_S = 3600.0

#: Reason codes of :class:`Flyability`, in the order they are checked; code 0 = flyable.
REASONS: tuple[str, ...] = ("", "wind", "rain", "visibility", "cloud", "night")

#: Most rain (mm/h) an airframe of each ``[drones] rain_tolerance`` class flies in (AMS
#: Glossary of Meteorology, "Rain": light up to 2.5 mm/h, moderate 2.6-7.6 mm/h).
RAIN_CLASS_MM_H: dict[str, float] = {"none": 0.0, "light": 2.5, "moderate": 7.6}


@dataclass(frozen=True)
class FlightLimits:
    """The limits an hour's weather is checked against (at flight height)."""

    max_wind_m_s: float  # hourly mean
    max_gust_m_s: float  # hourly max gust; inf: no gust limit
    max_precip_mm_h: float


def flight_limits(weather: WeatherSpec, drones: DroneSpec | None = None) -> FlightLimits:
    """The fleet's limits: the airframe's (``[drones]``) where set, else ``[weather]``'s.

    Mean wind: ``[drones] max_wind_m_s``, unset -> ``[weather] max_wind_m_s``. Gust:
    ``[drones] max_gust_m_s``, unset -> no gust limit. Rain: the higher of the airframe's class
    (:data:`RAIN_CLASS_MM_H`) and ``[weather] max_precip_mm_h``.
    """
    if drones is None:
        return FlightLimits(weather.max_wind_m_s, np.inf, weather.max_precip_mm_h)
    wind = drones.max_wind_m_s if drones.max_wind_m_s == drones.max_wind_m_s else (
        weather.max_wind_m_s)
    gust = drones.max_gust_m_s if drones.max_gust_m_s == drones.max_gust_m_s else np.inf
    rain = max(RAIN_CLASS_MM_H[drones.rain_tolerance], weather.max_precip_mm_h)
    return FlightLimits(float(wind), float(gust), float(rain))


def rain_occurrence_profile(spec: WeatherSpec) -> np.ndarray:
    """Relative frequency of rain by hour of the day (24 values, mean 1; see the module
    docstring for the source of the shape)."""
    h = np.arange(24) + 0.5
    p = (1.0 + spec.rain_diurnal_amplitude * np.cos(2 * np.pi * (h - 16.5) / 24)
         + spec.rain_semidiurnal_amplitude * np.cos(2 * np.pi * (h - 4.5) / 12))
    return p / p.mean()


@dataclass(frozen=True, eq=False)
class WeatherSeries:
    """Hourly weather of one replication; element ``h`` covers ``[h, h + 1)`` hours."""

    start_date: dt.date
    month: np.ndarray  # 1-12, int8
    wind_m_s: np.ndarray  # 10 m hourly mean wind
    precip_mm_h: np.ndarray
    visibility_m: np.ndarray
    cloud_base_m: np.ndarray
    #: Direction the wind blows FROM (degrees clockwise from north), drawn only with
    #: ``[weather] wind_on_flight`` (None otherwise: :func:`wind_directions`).
    wind_from_deg: np.ndarray | None = None

    @property
    def hours(self) -> int:
        return int(self.wind_m_s.size)


@dataclass(frozen=True, eq=False)
class Flyability:
    """Per hour: whether the fleet can fly, the first reason it cannot, and every reason."""

    flyable: np.ndarray  # bool
    reason: np.ndarray  # int8 index into REASONS (0 when flyable)
    reason_mask: np.ndarray  # uint8, bit (code - 1) set for each reason that applies

    def hours_by_reason(self) -> dict[str, int]:
        """Grounded hours by first reason."""
        counts = np.bincount(self.reason, minlength=len(REASONS))
        return {REASONS[k]: int(counts[k]) for k in range(1, len(REASONS))}


def hour_months(start_date: dt.date, hours: int) -> np.ndarray:
    """Calendar month (1-12) of each hour after midnight of ``start_date``."""
    days = np.arange((hours + 23) // 24)
    dates = np.datetime64(start_date, "D") + days
    months = (dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int8)
    return np.repeat(months, 24)[:hours]


@overload
def wind_scale_m_s(mean_m_s: np.ndarray, k: float) -> np.ndarray: ...
@overload
def wind_scale_m_s(mean_m_s: float, k: float) -> float: ...
@overload
def wind_scale_m_s(mean_m_s: np.ndarray | float, k: float) -> np.ndarray | float: ...
def wind_scale_m_s(mean_m_s: np.ndarray | float, k: float) -> np.ndarray | float:
    """Weibull scale giving the mean ``mean_m_s`` with shape ``k``."""
    return np.asarray(mean_m_s) / special.gamma(1.0 + 1.0 / k)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary standard normal AR(1) series of length ``n`` with lag-1 correlation ``phi``."""
    e = rng.standard_normal(n)
    if n == 0:
        return e
    if phi == 0:
        return e
    from scipy.signal import lfilter

    e[1:] *= np.sqrt(1.0 - phi * phi)
    # z[0] = e[0] (stationary start), z[t] = phi z[t-1] + sqrt(1-phi^2) e[t]
    return lfilter([1.0], [1.0, -phi], e)


def _wet_days(u: np.ndarray, p_wet: np.ndarray, q: float) -> np.ndarray:
    """Two-state Markov chain of wet days with stationary share ``p_wet[d]`` on day ``d`` and
    ``P(wet | wet) = q``, driven by the uniforms ``u``; the first day is drawn from the
    stationary share."""
    n = p_wet.size
    wet = np.zeros(n, dtype=bool)
    if n == 0:
        return wet
    p_dry_wet = p_wet * (1.0 - q) / (1.0 - p_wet)  # P(wet | dry)
    wet[0] = u[0] < p_wet[0]
    for d in range(1, n):  # one step a day: a few thousand at most
        wet[d] = u[d] < (q if wet[d - 1] else p_dry_wet[d])
    return wet


def generate_weather(spec: WeatherSpec, rng: np.random.Generator, hours: int,
                     start_date: dt.date | str) -> WeatherSeries:
    """Draw ``hours`` hours of weather from ``rng`` (the replication's weather stream).

    Wind, rain and murk each draw from their own child generator (``rng.spawn(3)``), so the
    series of one does not depend on how many numbers another used.

    Parameters
    ----------
    spec
        The climate statistics and persistence parameters (see the module docstring).
    rng
        The replication's ``streams["weather"]``.
    hours
        Length of the series.
    start_date
        Calendar date of hour 0 (midnight).
    """
    if isinstance(start_date, str):
        start_date = dt.date.fromisoformat(start_date)
    hours = int(hours)
    wind_rng, rain_rng, murk_rng = rng.spawn(3)
    month = hour_months(start_date, hours)
    m0 = month.astype(np.intp) - 1

    # Wind: latent AR(1) -> uniform -> the month's Weibull.
    z = _ar1(wind_rng, hours, spec.wind_autocorr_1h)
    k = spec.wind_weibull_k
    scale = wind_scale_m_s(np.asarray(spec.wind_mean_m_s), k)[m0]
    u = np.clip(special.ndtr(z), 1e-12, 1 - 1e-12)
    wind = scale * (-np.log1p(-u)) ** (1.0 / k)
    if spec.wind_fixed_m_s == spec.wind_fixed_m_s:  # a fixed wind at flight height (what-if)
        wind = np.full(hours, spec.wind_fixed_m_s / spec.wind_height_factor)

    # Rain: wet days by a Markov chain, one block of rain on each wet day.
    n_days = (hours + 23) // 24
    day_month = hour_months(start_date, n_days * 24)[::24].astype(np.intp) - 1
    days_in = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    rain_days = np.asarray(spec.rain_days)
    p_wet = (rain_days / days_in)[day_month]
    # One row of four uniforms a day (wet?, amount, duration, start): the first days' rain does
    # not depend on how many days are drawn.
    ud = rain_rng.random((n_days, 4))
    wet = _wet_days(ud[:, 0], p_wet, spec.wet_day_persistence)
    mean_amount = np.where(rain_days > 0, np.asarray(spec.rain_mm) / np.maximum(rain_days, 1e-9),
                           1.0)[day_month]
    amount = 1.0 - np.log1p(-ud[:, 1]) * np.maximum(mean_amount - 1.0, 0.0)
    extra = stats.poisson.ppf(ud[:, 2], spec.wet_hours_per_wet_day - 1.0) if (
        spec.wet_hours_per_wet_day > 1) else np.zeros(n_days)
    dur = np.minimum(1 + extra.astype(np.intp), 24)
    # The spell's middle: an hour of the day by the diurnal profile (inverse CDF of ud[:, 3]),
    # then the spell runs where it falls, across midnight if need be.
    cdf = np.cumsum(rain_occurrence_profile(spec))
    mid = np.minimum(np.searchsorted(cdf / cdf[-1], ud[:, 3], side="right"), 23)
    start = np.arange(n_days) * 24 + mid - dur // 2  # may be < 0 or past the day's end
    # Hourly weights of each spell (a second generator, so the rows above stay as they were).
    weight_rng = rain_rng.spawn(1)[0]
    pad = 24
    precip = np.zeros(n_days * 24 + 2 * pad)
    for d in np.flatnonzero(wet):
        w = weight_rng.gamma(spec.rain_hour_shape, size=int(dur[d]))
        a = start[d] + pad
        precip[a: a + dur[d]] += amount[d] * w / w.sum()
    precip = precip[pad: pad + hours]

    # Visibility and cloud base: one latent murk index, low values murky.
    w = _ar1(murk_rng, hours, spec.murk_autocorr_1h)
    c = special.ndtri(1.0 - np.asarray(spec.clear_share))[m0]  # P(w < c) = 1 - clear share
    visibility = spec.visibility_ref_m * np.exp(spec.visibility_log_sd * (w - c))
    cloud = spec.cloud_ref_m * np.exp(spec.cloud_log_sd * (w - c))
    # Wind direction: only with wind on flight, from a fourth child generator (spawned after
    # the three above, so they and every draw of theirs are as before).
    direction = wind_directions(spec, rng.spawn(1)[0], hours) if spec.wind_on_flight else None
    return WeatherSeries(start_date=start_date, month=month, wind_m_s=wind, precip_mm_h=precip,
                         visibility_m=visibility, cloud_base_m=cloud, wind_from_deg=direction)


def wind_directions(spec: WeatherSpec, rng: np.random.Generator, hours: int) -> np.ndarray:
    """Hourly wind direction (degrees the wind blows FROM, clockwise from north).

    Two regimes, as London's winds come: westerly (centre ``wind_westerly_from_deg``, 225 =
    south-west) most of the time and easterly spells (``wind_easterly_from_deg``) for a share
    ``wind_easterly_share`` of the hours. Sources: the Met Office's Heathrow wind rose has the
    south-west as the most frequent sector; Heathrow airport's own figures are "westerly
    operations about 70% of the year, easterly about 30%" (heathrow.com, "Wind direction"), so
    0.3 for the easterly share. The regime is a latent standard normal AR(1)
    (``wind_regime_autocorr_1h``, assumption 0.98: a regime lasts days; Heathrow's direction
    of operation "varies from week to week", and may change more than once a day), easterly
    when its normal CDF is below the share; the direction deviates from the regime's centre by
    ``wind_direction_sd_deg`` x a second latent AR(1) (``wind_direction_autocorr_1h``,
    assumption 0.9): a wrapped normal around each centre. The direction is taken as
    independent of the speed (an approximation: UK south-westerlies are on average the
    stronger winds). ``wind_fixed_from_deg`` fixes every hour's direction (what-if runs)."""
    if spec.wind_fixed_from_deg == spec.wind_fixed_from_deg:
        return np.full(hours, float(spec.wind_fixed_from_deg))
    r_rng, d_rng = rng.spawn(2)
    easterly = special.ndtr(_ar1(r_rng, hours, spec.wind_regime_autocorr_1h)) < (
        spec.wind_easterly_share)
    centre = np.where(easterly, spec.wind_easterly_from_deg, spec.wind_westerly_from_deg)
    dev = spec.wind_direction_sd_deg * _ar1(d_rng, hours, spec.wind_direction_autocorr_1h)
    return np.asarray(np.mod(centre + dev, 360.0), float)


def flyability(series: WeatherSeries, spec: WeatherSpec,
               night: np.ndarray | None = None,
               limits: FlightLimits | None = None) -> Flyability:
    """Which hours the fleet can fly under ``limits`` (default: ``spec``'s own, no gust limit).

    An hour is grounded by wind when ``wind_height_factor x wind_m_s > max_wind_m_s`` or the
    gust ``gust_factor x wind_height_factor x wind_m_s > max_gust_m_s``, by rain
    when ``precip_mm_h > max_precip_mm_h``, by visibility when ``visibility_m <
    min_visibility_m``, by cloud when ``cloud_base_m < min_cloud_base_m``, and by night where
    ``night`` (a boolean per hour, e.g. from :func:`dronesim.inputs.daylight.night_hours` when night
    flying is not allowed) is true. ``reason`` holds the first of these in that order.
    """
    n = series.hours
    lim = flight_limits(spec) if limits is None else limits
    mean = spec.wind_height_factor * series.wind_m_s
    checks = [
        (mean > lim.max_wind_m_s) | (spec.gust_factor * mean > lim.max_gust_m_s),
        series.precip_mm_h > lim.max_precip_mm_h,
        series.visibility_m < spec.min_visibility_m,
        series.cloud_base_m < spec.min_cloud_base_m,
        np.zeros(n, dtype=bool) if night is None else np.asarray(night, dtype=bool),
    ]
    if checks[-1].shape != (n,):
        raise ValueError(f"night must hold one value per hour ({n}); got {checks[-1].shape}")
    mask = np.zeros(n, dtype=np.uint8)
    reason = np.zeros(n, dtype=np.int8)
    for bit, hit in enumerate(checks):
        mask |= hit.astype(np.uint8) << bit
        reason = np.where((reason == 0) & hit, bit + 1, reason).astype(np.int8)
    return Flyability(flyable=reason == 0, reason=reason, reason_mask=mask)


def grounded_intervals(fly: Flyability, hour_s: float = HOUR_S
                       ) -> list[tuple[float, float, str]]:
    """Merge consecutive grounded hours with the same first reason into
    ``(start_s, end_s, reason)`` intervals, in simulation seconds from hour 0."""
    r = fly.reason
    out: list[tuple[float, float, str]] = []
    if r.size == 0:
        return out
    change = np.flatnonzero(np.diff(r)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [r.size]])
    for s, e in zip(starts, ends):
        code = int(r[s])
        if code:
            out.append((float(s * hour_s), float(e * hour_s), REASONS[code]))
    return out


def replication_flyability(weather: WeatherSpec, night: NightSpec, start_date: dt.date | str,
                           horizon_s: float, rng: np.random.Generator,
                           drones: DroneSpec | None = None
                           ) -> tuple[WeatherSeries | None, Flyability]:
    """Flyability of one replication's fleet, weather and night rule together: the one call
    the engine needs (phase 2) before it starts.

    With ``weather.enabled`` false no weather is drawn (``rng`` is not touched) and only the
    night rule can ground the fleet; with ``night.rule`` other than ``not_allowed`` night never
    grounds it (its other effects, slower flight or a second pilot, are per flight:
    :func:`dronesim.inputs.daylight.night_effect`). Both off: every hour flyable, as today.
    """
    from .daylight import night_hours

    hours = int(np.ceil(horizon_s / HOUR_S))
    dark = (night_hours(start_date, hours, night) if night.rule == "not_allowed"
            else np.zeros(hours, dtype=bool))
    if not weather.enabled:
        reason = np.where(dark, REASONS.index("night"), 0).astype(np.int8)
        mask = (dark.astype(np.uint8) << (REASONS.index("night") - 1)).astype(np.uint8)
        return None, Flyability(flyable=~dark, reason=reason, reason_mask=mask)
    series = generate_weather(weather, rng, hours, start_date)
    return series, flyability(series, weather, night=dark,
                              limits=flight_limits(weather, drones))


def flyable_hours_per_day(fly: Flyability) -> float:
    """Mean flyable hours per day (Gao et al. 2021 report 5.7 h/day as the world median for
    common drones)."""
    return float(fly.flyable.mean() * 24.0) if fly.flyable.size else float("nan")


def lag1_autocorr(x: np.ndarray) -> float:
    """Sample lag-1 autocorrelation (a helper for checks of the generator)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    den = float(np.dot(x, x))
    return float(np.dot(x[:-1], x[1:]) / den) if den > 0 else 0.0


def weibull_cdf(x: np.ndarray, mean_m_s: np.ndarray | float, k: float) -> np.ndarray:
    """CDF of the hourly wind distribution with the given mean(s) and shape."""
    scale = wind_scale_m_s(mean_m_s, k)
    return -np.expm1(-(np.asarray(x, dtype=float) / scale) ** k)


def flight_wind(series: WeatherSeries, spec: WeatherSpec) -> tuple[np.ndarray, np.ndarray]:
    """Hourly wind vector at flight height, ``(east, north)`` m/s: ``wind_height_factor`` x the
    10 m wind (as the limits read it), from :attr:`WeatherSeries.wind_from_deg`
    (:func:`dronesim.kinematics.wind_vector`)."""
    if series.wind_from_deg is None:
        raise ValueError("the series has no wind direction ([weather] wind_on_flight)")
    speed = spec.wind_height_factor * series.wind_m_s
    e, n = wind_vector(speed, series.wind_from_deg)
    return np.asarray(e, float), np.asarray(n, float)


def wind_vector(speed_m_s: np.ndarray, from_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) components (m/s) of a wind of ``speed_m_s`` blowing FROM ``from_deg``
    (meteorological convention: degrees clockwise from north; 225, a south-westerly, blows
    towards the north-east: both components positive)."""
    rad = np.radians(from_deg)
    return -np.asarray(speed_m_s) * np.sin(rad), -np.asarray(speed_m_s) * np.cos(rad)
