"""Issue 17, item 3: rain tolerance of the airframe, gusts, rain spells by time of day and across
midnight, monthly rain statistics over many simulated years, price years, and bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from conftest import SCENARIOS, extends_baseline, run_cli

from dronesim.errors import InputError
from dronesim.inputs.prices import price_index, uprate, uprate_factor
from dronesim.inputs.scenario import CostSpec, DroneSpec, WeatherSpec, load_scenario
from dronesim.inputs.streams import Streams
from dronesim.inputs.weather import (
    RAIN_CLASS_MM_H,
    WeatherSeries,
    flight_limits,
    flyability,
    generate_weather,
    rain_occurrence_profile,
)
from dronesim.kpis.costs import annual_cost

SPEC = WeatherSpec(enabled=True)
START = dt.date(2025, 1, 6)  # a Monday


def _series(wind, precip) -> WeatherSeries:
    n = len(wind)
    return WeatherSeries(start_date=START, month=np.ones(n, dtype=np.int8),
                         wind_m_s=np.asarray(wind, float), precip_mm_h=np.asarray(precip, float),
                         visibility_m=np.full(n, 9000.0), cloud_base_m=np.full(n, 900.0))


# --- rain tolerance ----------------------------------------------------------------------------

def test_light_rain_airframe_flies_in_light_rain_not_in_moderate():
    s = _series([2.0] * 5, [0.0, 0.5, 2.5, 2.6, 7.6])
    rated = {k: flyability(s, SPEC, limits=flight_limits(SPEC, DroneSpec(rain_tolerance=k)))
             for k in RAIN_CLASS_MM_H}
    assert rated["none"].flyable.tolist() == [True, False, False, False, False]
    assert rated["light"].flyable.tolist() == [True, True, True, False, False]
    assert rated["moderate"].flyable.tolist() == [True, True, True, True, True]
    assert rated["light"].reason.tolist()[3] == 2  # "rain"


def test_generated_rain_has_hours_of_each_class():
    s = generate_weather(SPEC, Streams(3, 0)["weather"], 365 * 24, START)
    p = s.precip_mm_h[s.precip_mm_h > 0]
    assert (p <= 2.5).mean() > 0.5 and (p > 2.5).any()  # light mostly, heavier hours exist


# --- gusts -------------------------------------------------------------------------------------

def test_gusts_ground_the_hand_computed_hours():
    # Height factor 1.3, gust factor 1.5: mean at height = 1.3 w, gust = 1.95 w.
    spec = dataclasses.replace(SPEC, wind_height_factor=1.3, gust_factor=1.5)
    wind = np.array([3.0, 5.0, 6.0, 6.2, 7.0, 7.6, 7.8, 2.0])
    s = _series(wind, np.zeros(wind.size))
    means = flyability(s, spec, limits=flight_limits(spec, DroneSpec(max_wind_m_s=10.0)))
    gusts = flyability(s, spec, limits=flight_limits(
        spec, DroneSpec(max_wind_m_s=10.0, max_gust_m_s=12.0)))
    # Means alone: 1.3 x 7.8 = 10.14 > 10 only in hour 6.
    assert (~means.flyable).tolist() == [False] * 6 + [True, False]
    # Gusts: 1.95 w > 12 when w > 6.154: hours 3 (6.2), 4, 5, 6.
    assert (~gusts.flyable).tolist() == [False, False, False, True, True, True, True, False]
    assert (~gusts.flyable).mean() == 4 / 8 > (~means.flyable).mean()


def test_gusts_ground_more_hours_of_generated_weather():
    s = generate_weather(SPEC, Streams(4, 0)["weather"], 365 * 24, START)
    means = flyability(s, SPEC, limits=flight_limits(SPEC, DroneSpec(max_wind_m_s=10.0)))
    gusts = flyability(s, SPEC, limits=flight_limits(
        SPEC, DroneSpec(max_wind_m_s=10.0, max_gust_m_s=12.0)))
    hand = np.mean((SPEC.gust_factor * SPEC.wind_height_factor * s.wind_m_s > 12.0)
                   | (SPEC.wind_height_factor * s.wind_m_s > 10.0))
    assert hand > 0
    assert (gusts.reason_mask & 1).astype(bool).mean() == pytest.approx(hand)
    assert (gusts.reason_mask & 1).sum() > (means.reason_mask & 1).sum()


def test_no_gust_limit_by_default_keeps_old_flyability():
    s = generate_weather(SPEC, Streams(4, 0)["weather"], 24 * 30, START)
    assert np.array_equal(flyability(s, SPEC).reason,
                          flyability(s, SPEC, limits=flight_limits(SPEC, DroneSpec())).reason)


# --- rain spells by time of day ------------------------------------------------------------------

def test_rain_spells_cross_midnight():
    s = generate_weather(SPEC, Streams(5, 0)["weather"], 365 * 24, START)
    wet = s.precip_mm_h > 0
    n = wet.size // 24 - 1
    across = wet[23:24 * n:24] & wet[24:24 * n + 1:24]  # 23:00 and the next 00:00
    assert across.sum() > 5


def test_rain_follows_the_diurnal_profile():
    prof = rain_occurrence_profile(SPEC)
    assert int(np.argmax(prof)) == 16 and prof[16] / prof[0] == pytest.approx(1.18, abs=0.03)
    s = generate_weather(SPEC, Streams(6, 0)["weather"], 20 * 365 * 24, START)
    wet = (s.precip_mm_h > 0).reshape(-1, 24).mean(0)
    afternoon, night = wet[14:19].mean(), wet[[22, 23, 0, 1]].mean()
    assert afternoon > night * 1.05


def test_monthly_rain_days_and_totals_over_many_years():
    years = 40
    s = generate_weather(SPEC, Streams(20251023, 0)["weather"], years * 365 * 24, START)
    n = s.hours // 24
    daily = s.precip_mm_h[:n * 24].reshape(n, 24).sum(1)
    month = s.month[:n * 24:24]
    days_in = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    for m in range(12):
        sel = month == m + 1
        rain_days = (daily[sel] >= 1.0).mean() * days_in[m]
        total = daily[sel].mean() * days_in[m]
        # Spells across midnight split some wet days into two (+3-4% a year, see
        # dronesim/inputs/weather.py); sampling error over 40 years is a few percent more.
        assert rain_days == pytest.approx(SPEC.rain_days[m], rel=0.15), m
        assert total == pytest.approx(SPEC.rain_mm[m], rel=0.2), m
    year_days = (daily >= 1.0).sum() / (n / 365.25)
    assert year_days == pytest.approx(sum(SPEC.rain_days), rel=0.06)
    assert daily.sum() / (n / 365.25) == pytest.approx(sum(SPEC.rain_mm), rel=0.05)


# --- prices ------------------------------------------------------------------------------------

def test_uprating_a_2014_price_by_the_index_ratio():
    idx = price_index()
    assert idx[2014] == 99.6 and idx[2025] == 138.0 and idx[2015] == 100.0
    # GBP 36.51 an hour in 2014 prices is 36.51 x 138.0 / 99.6 = 50.586... in 2025 prices.
    assert uprate(36.51, 2014, 2025) == pytest.approx(36.51 * 138.0 / 99.6)
    assert uprate(36.51, 2014, 2025) == pytest.approx(50.586, abs=0.001)
    assert uprate_factor(2014, 0) == 1.0  # price_year 0: as entered


def test_annual_cost_in_the_chosen_price_year():
    base = CostSpec()
    cost_2014 = annual_cost(base, airframes=9, docks=3, pilots_per_shift=2,
                            flight_hours_per_year=0.0)
    cost_2025 = annual_cost(dataclasses.replace(base, price_year=2025), airframes=9, docks=3,
                            pilots_per_shift=2, flight_hours_per_year=0.0)
    assert cost_2025.pilots_gbp == pytest.approx(cost_2014.pilots_gbp * 138.0 / 99.6)
    assert cost_2025.airframes_gbp == pytest.approx(cost_2014.airframes_gbp)  # 2025 prices


def test_met_baseline_reports_2025_prices():
    scn = load_scenario(SCENARIOS / "met_baseline.toml")
    assert scn.costs.price_year == 2025 and scn.drones.rain_tolerance == "light"
    assert scn.weather.enabled and scn.night.rule == "second_pilot"
    free = load_scenario(SCENARIOS / "met_baseline_weather_free.toml")
    assert not free.weather.enabled and free.night.rule == "allowed"
    assert free.faults.failures_per_flight_hour == 0 and free.faults.dock_failures_per_year == 0


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body,field,words", [
    ('[drones]\nrain_tolerance = "drizzle"\n', "drones.rain_tolerance", "none, light, moderate"),
    ("[costs]\nprice_year = 2031\n", "costs.price_year", "outside the price index"),
    ("[costs]\nprice_year = 2025\npilot_price_year = 1999\n", "costs.price_year", "1999"),
    ("[value]\nofficer_cost_price_year = 2005\n", "value.officer_cost_price_year", "2005"),
])
def test_bad_input_one_line_error(tmp_path, capsys, body, field, words):
    path = extends_baseline(tmp_path / "bad.toml", body)
    with pytest.raises(InputError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert str(path) in msg and field in msg and words in msg and "\n" not in msg
    code, _out, stderr = run_cli(["validate", str(path)], capsys)
    assert code == 2 and stderr.strip().count("\n") == 0 and field in stderr
