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
from dronesim.kinematics import held_leg_s, leg_s, rotor_power_w, worst_heading_speed_m_s

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
    assert set(EFFECTS) == {"night_slower", "wind_on_flight", "wind_hold_ground"}
    base = _scn()
    assert effects_on(base) == () and not any_on(base)
    assert effects_on(_scn(**WEST_8)) == ("wind_on_flight",)
    assert effects_on(_scn(SLOWER, **WEST_8)) == ("night_slower", "wind_on_flight")
    assert effects_on(_scn(**WEST_8, wind_hold="ground_speed")) == ("wind_on_flight",
                                                                     "wind_hold_ground")
    assert not any_on(_scn(wind_hold="ground_speed"))  # (the hold needs wind on flight)
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
    extra, out, back, code, drain = legs.launch(12 * HOUR_S, 0.0, 0.0, 1000.0, 0.0, 1000.0, v)
    assert (extra, code, drain) == (0.0, 0, 0.0)
    assert out == pytest.approx(c + 1000.0 / (v + 8.0) + e)
    assert back == pytest.approx(c + 1000.0 / (v - 8.0) + e)
    # North: a pure cross wind both ways, sqrt(v^2 - 8^2).
    _, out, back, _, _ = legs.launch(12 * HOUR_S, 0.0, 0.0, 0.0, 1000.0, 1000.0, v)
    assert out == pytest.approx(back) == pytest.approx(c + 1000.0 / math.sqrt(v * v - 64) + e)


def test_a_leg_the_wind_forbids_grounds_by_wind():
    legs = _legs(wind_on_flight=True, wind_fixed_m_s=30.0, wind_fixed_from_deg=270.0)
    v = _scn().drones.speed_m_s
    assert v < 30.0
    _, out, back, code, _ = legs.launch(12 * HOUR_S, 0.0, 0.0, 1000.0, 0.0, 1000.0, v)
    assert code == _WIND and back == math.inf
    hop_s, home_s, _ = legs.hop(0.0, 0.0, 0.0, 1000.0, 0.0, 1000.0, 0.0, 0.0, 1000.0, v)
    assert home_s == math.inf


def test_night_slower_by_hand():
    legs = _legs(SLOWER)
    spec = _scn().drones
    v, c, e = spec.speed_m_s, spec.climb_s, spec.descent_s
    night = next(h for h, s in enumerate(legs.slow) if s)
    day = next(h for h, s in enumerate(legs.slow) if not s)
    extra, out, back, code, _ = legs.launch(night * HOUR_S + 10.0, 0, 0, 3000.0, 0, 3000.0, v)
    assert (extra, code) == (60.0, 0) and math.isnan(back)
    assert out == leg_s(3000.0, v * 0.5, c, e)
    extra, out, _, _, _ = legs.launch(day * HOUR_S + 10.0, 0, 0, 3000.0, 0, 3000.0, v)
    assert extra == 0.0 and out == leg_s(3000.0, v, c, e)
    # A pre-emption hop keeps the cruise speed (the drone is airborne).
    assert legs.hop(night * HOUR_S, 0, 0, 500.0, 0, 500.0, 0, 0, 2000.0, v) == (
        500.0 / v, leg_s(2000.0, v, c, e), 0.0)


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
    extra, out, back, code, drain = off.launch(t, xk, yk, xi, yi, dist, speed)
    assert (extra, out, code, drain) == (0.0, calm, 0, 0.0) and math.isnan(back)
    # The wind machinery on, in a calm: the same bits, both ways.
    assert _legs(**CALM).launch(t, xk, yk, xi, yi, dist, speed) == (0.0, calm, calm, 0, 0.0)
    # Pre-emption: the calm hop and leg home (Fleet.preemption_candidate, Fleet.redirect).
    home = math.hypot(xk, yk) * stretch
    hop = dist
    want = (hop / speed, leg_s(home, speed, c, e), 0.0)
    assert off.hop(t, xi, yi, xk, yk, hop, 0.0, 0.0, home, speed) == want


# --- holding the ground speed ([weather] wind_hold = "ground_speed") --------------------------
def _ratio(v: float) -> float:
    return float(rotor_power_w(v) / rotor_power_w(20.0))


def test_held_leg_by_hand():
    # 1,000 m east at a cruise (ground) speed of 20 m/s, at most 23 m/s airspeed.
    # Head wind 2 m/s: airspeed 22, the ground speed held: 50 s, drain at P(22) / P(20).
    t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, -2.0, 0.0, 10.0, 15.0)
    assert t == pytest.approx(75.0) and c == pytest.approx(25.0 + 50.0 * _ratio(22.0))
    # Head wind 8 m/s: 28 m/s needed, 23 flown, 15 m/s over the ground.
    t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, -8.0, 0.0, 10.0, 15.0)
    assert t == pytest.approx(25.0 + 1000.0 / 15.0)
    assert c == pytest.approx(25.0 + 1000.0 / 15.0 * _ratio(23.0))
    # Tail wind 8 m/s: airspeed 12, 50 s, less power than cruise.
    t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, 8.0, 0.0, 0.0, 0.0)
    assert t == pytest.approx(50.0) and c == pytest.approx(50.0 * _ratio(12.0)) and c < t
    # Cross wind 8 m/s: airspeed sqrt(400 + 64), 50 s.
    t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, 0.0, 8.0, 0.0, 0.0)
    assert t == pytest.approx(50.0) and c == pytest.approx(50.0 * _ratio(math.sqrt(464.0)))
    # Calm: the cruise leg, one second of charge per second.
    t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, 0.0, 0.0, 10.0, 15.0)
    assert t == c == pytest.approx(75.0)
    # Beyond what 23 m/s can fly against: impossible.
    assert held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, -24.0, 0.0, 0.0, 0.0) == (math.inf,
                                                                               math.inf)


def test_drain_per_second_rises_with_head_wind_when_the_ground_speed_is_held():
    per_s = []
    for w in (0.0, 0.5, 1.0, 2.0, 3.0):  # up to the airspeed limit (23 - 20)
        t, c = held_leg_s(1000.0, 20.0, 23.0, 1.0, 0.0, -w, 0.0, 0.0, 0.0)
        assert t == pytest.approx(50.0)  # the ground speed is held
        per_s.append(c / t)
    assert all(a < b for a, b in zip(per_s, per_s[1:]))
    # Holding the airspeed instead, the drain per second does not change with the wind.
    assert _ratio(20.0) == 1.0


def test_launch_holding_the_ground_speed_by_hand():
    legs = _legs(**WEST_8, wind_hold="ground_speed")
    spec = _scn().drones
    v, c, e, vmax = spec.speed_m_s, spec.climb_s, spec.descent_s, spec.max_airspeed_m_s
    assert v + 8.0 > vmax > v  # (the head-wind leg is flown at the limit)
    extra, out, back, code, drain = legs.launch(12 * HOUR_S, 0.0, 0.0, 1000.0, 0.0, 1000.0, v)
    assert (extra, code) == (0.0, 0)
    pr = float(rotor_power_w(v))
    out_c = c + 1000.0 / v * float(rotor_power_w(v - 8.0)) / pr + e  # tail wind: v - 8 air
    g = vmax - 8.0  # head wind at the limit
    back_c = c + 1000.0 / g * float(rotor_power_w(vmax)) / pr + e
    assert out == pytest.approx(c + 1000.0 / v + e)
    assert back == pytest.approx(c + 1000.0 / g + e)
    assert drain == pytest.approx((out_c - out) + (back_c - back))
    # The dispatch charge is judged at a speed below cruise (a round trip drains more).
    got: list[list[float]] = []
    legs.drive_need_speed(_Env(), got.append)
    assert 0 < got[0][0] < v


def test_engine_holding_the_ground_speed_times_legs_and_counts_their_charge():
    from dronesim.engine.replication import run_replication

    scn = _scn(**WEST_8, wind_hold="ground_speed")
    scn = dataclasses.replace(scn, drones=dataclasses.replace(scn.drones, max_range_m=5000.0))
    prep = prepare(scn)
    res = run_replication(prep, 0)
    m = res.missions[~res.missions["redirected"] & ~res.missions["relief"]]
    m = m[m["t_on_scene"].notna()]
    assert len(m) > 20
    inc = res.incidents.set_index("incident_id")
    spec = scn.drones
    v, vmax, c, e = spec.speed_m_s, spec.max_airspeed_m_s, spec.climb_s, spec.descent_s
    drained_more = 0
    for r in m.itertuples():
        x, y = inc.loc[r.incident, "x"], inc.loc[r.incident, "y"]
        xk, yk = prep.docks.x[r.dock_id], prep.docks.y[r.dock_id]
        dist = inc.loc[r.incident, "drone_distance_m"]
        u = math.hypot(x - xk, y - yk)
        ux, uy = ((x - xk) / u, (y - yk) / u) if u > 0 else (1.0, 0.0)
        out, out_c = held_leg_s(dist, v, vmax, ux, uy, 8.0, 0.0, c, e)
        back, back_c = held_leg_s(dist, v, vmax, -ux, -uy, 8.0, 0.0, c, e)
        assert r.t_on_scene - r.t_launch == pytest.approx(out, abs=1e-6)
        assert r.t_landed - r.t_leave == pytest.approx(back, abs=1e-6)
        drain = (out_c - out) + (back_c - back)
        assert r.battery_landed_s == pytest.approx(
            r.battery_launch_s - (r.t_landed - r.t_launch) - drain, abs=1e-6)
        assert r.battery_landed_s >= spec.reserve_s - 1e-6
        drained_more += drain > 1e-6
    assert drained_more > 0.5 * len(m)  # the head-wind leg home at the limit drains more
