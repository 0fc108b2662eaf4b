"""The per-leg effects (dronesim.engine.legs): the list of effects and its predicate, the leg
object's launch, hop and charge-need speed by hand, and the calm strategy equal to the general
one with the effects off (or in a calm wind), bit for bit."""

from __future__ import annotations

import dataclasses
import math

import pytest
from conftest import SCENARIOS
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.engine.availability import Grounding
from dronesim.engine.features import Features
from dronesim.engine.legs import EFFECTS, Legs, any_on, effects_on
from dronesim.engine.replication import prepare
from dronesim.inputs.scenario import load_scenario
from dronesim.inputs.streams import Streams
from dronesim.inputs.weather import HOUR_S, REASONS
from dronesim.kinematics import leg_s, worst_heading_speed_m_s

_WIND = REASONS.index("wind")


def _scn(night: dict | None = None, **weather):
    scn = load_scenario(SCENARIOS / "met_baseline.toml",
                        {"simulation": {"weeks": 0.2, "warmup_hours": 1.0},
                         "faults": {"failures_per_flight_hour": 0.0}})
    scn = dataclasses.replace(scn, weather=dataclasses.replace(scn.weather, **weather))
    if night:
        scn = dataclasses.replace(scn, night=dataclasses.replace(scn.night, **night))
    return scn


_CACHE: dict = {}


def _legs(night: dict | None = None, **weather) -> Legs:
    key = (tuple(sorted((night or {}).items())), tuple(sorted(weather.items())))
    if key not in _CACHE:
        scn = _scn(night, **weather)
        prep = prepare(scn)
        gr = Grounding(prep, Streams(scn.simulation.seed, 0))
        _CACHE[key] = Legs(prep, gr, [scn.drones.speed_m_s], scn.drones.climb_s,
                           scn.drones.descent_s)
    return _CACHE[key]


SLOWER = {"rule": "slower", "speed_factor": 0.5, "extra_launch_s": 60.0}
WEST_8 = {"wind_on_flight": True, "wind_fixed_m_s": 8.0, "wind_fixed_from_deg": 270.0}
CALM = {"wind_on_flight": True, "wind_fixed_m_s": 0.0, "wind_fixed_from_deg": 270.0}


# --- the list of effects and its predicate ---------------------------------------------------
def test_effects_and_the_predicate_features_reads():
    assert set(EFFECTS) == {"night_slower", "wind_on_flight"}
    base = _scn()
    assert effects_on(base) == () and not any_on(base)
    assert effects_on(_scn(**WEST_8)) == ("wind_on_flight",)
    assert effects_on(_scn(SLOWER, **WEST_8)) == ("night_slower", "wind_on_flight")
    # wind on flight needs weather on
    off = dataclasses.replace(_scn(**WEST_8), weather=dataclasses.replace(
        _scn(**WEST_8).weather, enabled=False))
    assert not any_on(off)
    assert not Features.of(prepare(base)).per_leg
    assert Features.of(prepare(_scn(SLOWER))).per_leg


# --- by hand ------------------------------------------------------------------------------------
def test_launch_in_a_steady_west_wind_by_hand():
    legs = _legs(**WEST_8)
    spec = _scn().drones
    v, c, e = spec.speed_m_s, spec.climb_s, spec.descent_s
    # Out east (tail wind 8 m/s), back west (head wind): 1,000 m each way.
    extra, out, back, code = legs.launch(12 * HOUR_S, 0.0, 0.0, 1000.0, 0.0, 1000.0, v)
    assert (extra, code) == (0.0, 0)
    assert out == pytest.approx(c + 1000.0 / (v + 8.0) + e)
    assert back == pytest.approx(c + 1000.0 / (v - 8.0) + e)
    # North: a pure cross wind both ways, sqrt(v^2 - 8^2).
    _, out, back, _ = legs.launch(12 * HOUR_S, 0.0, 0.0, 0.0, 1000.0, 1000.0, v)
    assert out == pytest.approx(back) == pytest.approx(c + 1000.0 / math.sqrt(v * v - 64) + e)


def test_a_leg_the_wind_forbids_grounds_by_wind():
    legs = _legs(wind_on_flight=True, wind_fixed_m_s=30.0, wind_fixed_from_deg=270.0)
    v = _scn().drones.speed_m_s
    assert v < 30.0
    _, out, back, code = legs.launch(12 * HOUR_S, 0.0, 0.0, 1000.0, 0.0, 1000.0, v)
    assert code == _WIND and back == math.inf
    hop_s, home_s = legs.hop(0.0, 0.0, 0.0, 1000.0, 0.0, 1000.0, 0.0, 0.0, 1000.0, v)
    assert home_s == math.inf


def test_night_slower_by_hand():
    legs = _legs(SLOWER)
    spec = _scn().drones
    v, c, e = spec.speed_m_s, spec.climb_s, spec.descent_s
    night = next(h for h, s in enumerate(legs.slow) if s)
    day = next(h for h, s in enumerate(legs.slow) if not s)
    extra, out, back, code = legs.launch(night * HOUR_S + 10.0, 0, 0, 3000.0, 0, 3000.0, v)
    assert (extra, code) == (60.0, 0) and math.isnan(back)
    assert out == leg_s(3000.0, v * 0.5, c, e)
    extra, out, _, _ = legs.launch(day * HOUR_S + 10.0, 0, 0, 3000.0, 0, 3000.0, v)
    assert extra == 0.0 and out == leg_s(3000.0, v, c, e)
    # A pre-emption hop keeps the cruise speed (the drone is airborne).
    assert legs.hop(night * HOUR_S, 0, 0, 500.0, 0, 500.0, 0, 0, 2000.0, v) == (
        500.0 / v, leg_s(2000.0, v, c, e))


class _Env:
    """The kernel's clock and scheduler, as drive_need_speed uses them."""

    def __init__(self) -> None:
        self._now = 0.0
        self.later: list[float] = []

    def at(self, t: float, fn, arg=None) -> None:
        self.later.append(t)


def test_need_speed_night_and_worst_heading():
    got: list[list[float]] = []
    v = _scn().drones.speed_m_s
    _legs(SLOWER).drive_need_speed(_Env(), got.append)
    assert got == [[v * 0.5]]
    env = _Env()
    _legs(SLOWER, **WEST_8).drive_need_speed(env, got.append)
    assert got[-1] == [worst_heading_speed_m_s(v * 0.5, 8.0)]
    assert env.later == [HOUR_S]  # again on the next hour


# --- the calm strategy equals the general one with the effects off ------------------------
coord = st.floats(-20000.0, 20000.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(t=st.floats(0.0, 5 * 24 * HOUR_S), xk=coord, yk=coord, xi=coord, yi=coord,
       speed=st.floats(1.0, 40.0), stretch=st.floats(1.0, 1.5))
def test_calm_strategy_equals_the_general_one_with_effects_off(t, xk, yk, xi, yi, speed,
                                                               stretch):
    spec = _scn().drones
    c, e = spec.climb_s, spec.descent_s
    dist = math.hypot(xi - xk, yi - yk) * stretch  # (a leg around a zone is longer)
    calm = leg_s(dist, speed, c, e)  # what Fleet._cleared and Relief._launch do inline
    off = _legs()  # no effect on
    assert off.on == ()
    extra, out, back, code = off.launch(t, xk, yk, xi, yi, dist, speed)
    assert (extra, out, code) == (0.0, calm, 0) and math.isnan(back)
    # The wind machinery on, in a calm: the same bits, both ways.
    assert _legs(**CALM).launch(t, xk, yk, xi, yi, dist, speed) == (0.0, calm, calm, 0)
    # Pre-emption: the calm hop and leg home (Fleet.preemption_candidate, Fleet.redirect).
    home = math.hypot(xk, yk) * stretch
    hop = dist
    want = (hop / speed, leg_s(home, speed, c, e))
    assert off.hop(t, xi, yi, xk, yk, hop, 0.0, 0.0, home, speed) == want
