"""Daylight: sunrise and sunset against published London times, night on the simulated clock,
and the night rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.inputs.daylight import (
    DAY_S,
    is_night,
    night_effect,
    night_hours,
    night_intervals,
    sun_times,
)
from dronesim.inputs.scenario import NightSpec


def _hm(seconds: float) -> float:
    return seconds / 60.0


@pytest.mark.parametrize("date, sunrise, sunset", [
    # i news, "Sunrise and sunset times in the UK" (London, Friday 21 December 2018)
    (dt.date(2018, 12, 21), "08:04", "15:53"),
    # published London times for the summer solstice, 21 June 2011
    (dt.date(2011, 6, 21), "04:42", "21:20"),
])
def test_sun_times_match_published_london_times_within_two_minutes(date, sunrise, sunset):
    st_ = sun_times(date)
    for got, want in ((st_.sunrise_s, sunrise), (st_.sunset_s, sunset)):
        h, m = map(int, want.split(":"))
        assert abs(_hm(got) - (h * 60 + m)) <= 2.0, (date, got / 3600, want)


def test_civil_twilight_brackets_sunrise_and_sunset():
    s = sun_times(dt.date(2025, 3, 20))
    assert s.dawn_s < s.sunrise_s < s.sunset_s < s.dusk_s
    # London at the equinox: twilight lasts about half an hour
    assert 20 * 60 < s.sunrise_s - s.dawn_s < 45 * 60


def test_night_intervals_on_the_clock_of_a_winter_week():
    iv = night_intervals("2025-12-15", 2 * DAY_S)
    s0, s1 = sun_times(dt.date(2025, 12, 15)), sun_times(dt.date(2025, 12, 16))
    assert iv == [(0.0, s0.sunrise_s), (s0.sunset_s, DAY_S + s1.sunrise_s),
                  (DAY_S + s1.sunset_s, 2 * DAY_S)]


def test_civil_twilight_night_is_shorter_than_sunset_night():
    spec = NightSpec(definition="civil_twilight")
    a = sum(b - a for a, b in night_intervals("2025-06-16", 7 * DAY_S))
    b = sum(b - a for a, b in night_intervals("2025-06-16", 7 * DAY_S, spec))
    assert b < a


def test_night_hours_in_june_are_fewer_than_in_december():
    june = night_hours("2025-06-16", 24 * 7).sum()
    december = night_hours("2025-12-15", 24 * 7).sum()
    # London: about 7.5 h of night around the summer solstice, about 16 h in December
    assert 7 * 7 <= june <= 9 * 7 and 15 * 7 <= december <= 17 * 7


def test_is_night_at_known_times():
    s = sun_times(dt.date(2025, 10, 27))
    t = np.array([0.0, s.sunrise_s - 1, s.sunrise_s + 1, 12 * 3600, s.sunset_s + 1,
                  DAY_S - 1])
    assert is_night(t, "2025-10-27").tolist() == [True, True, False, False, True, True]


def test_night_rules():
    assert night_effect(NightSpec()).allowed and night_effect(NightSpec()).speed_factor == 1.0
    slow = night_effect(NightSpec(rule="slower", speed_factor=0.8, extra_launch_s=30.0))
    assert (slow.allowed, slow.speed_factor, slow.extra_launch_s) == (True, 0.8, 30.0)
    assert night_effect(NightSpec(rule="second_pilot")).pilots_per_flight == 2
    assert not night_effect(NightSpec(rule="not_allowed")).allowed


@settings(derandomize=False, database=None, max_examples=30, deadline=None)
@given(day=st.integers(min_value=0, max_value=3650),
       days=st.floats(min_value=0.1, max_value=9.0),
       definition=st.sampled_from(["sunset", "civil_twilight"]))
def test_night_intervals_are_ordered_disjoint_and_inside_the_horizon(day, days, definition):
    start = dt.date(2024, 1, 1) + dt.timedelta(days=day)
    horizon = days * DAY_S
    iv = night_intervals(start, horizon, NightSpec(definition=definition))
    assert iv[0][0] == 0.0
    last = -1.0
    for a, b in iv:
        assert last < a < b <= horizon or (a == 0.0 and last < 0)
        last = b
    # London: days (between nights) last 7.5-18.6 h (civil twilight in June: about 18.3 h) and
    # nights 5.5-16.5 h, except where cut by the horizon
    for (_a, b), (c, _) in zip(iv, iv[1:]):
        assert 7.5 * 3600 < c - b < 18.6 * 3600
    for a, b in iv[1:-1]:
        assert 5.5 * 3600 < b - a < 16.5 * 3600
