"""Wind acting on flight ([weather] wind_on_flight): the wind triangle, the worst-heading charge,
the rotor power model, the CC-CV charging curve, the hourly wind direction, and the engine's
legs in wind (docs/wind.md)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import SCENARIOS
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.engine.features import Features
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.scenario import WeatherSpec, load_scenario
from dronesim.inputs.weather import flight_wind, generate_weather, wind_vector
from dronesim.kinematics import (
    cccv_charge_s,
    cccv_wait_s,
    charge_needed_s,
    ground_speed_m_s,
    leg_charge_s,
    leg_s,
    rotor_power_w,
    wind_leg_s,
    worst_heading_speed_m_s,
)

EAST = (1.0, 0.0)


def _wind(speed: float, from_deg: float) -> tuple[float, float]:
    e, n = wind_vector(np.array([speed]), np.array([from_deg]))
    return float(e[0]), float(n[0])


# --- the wind triangle ----------------------------------------------------------------------
class TestWindTriangle:
    def test_head_wind(self):
        # Track east, wind from the east (90 deg) at 8 m/s: 1,000 m at 20 - 8 = 12 m/s.
        we, wn = _wind(8.0, 90.0)
        assert wind_leg_s(1000.0, 20.0, *EAST, we, wn, 0.0, 0.0) == pytest.approx(1000 / 12)

    def test_tail_wind(self):
        we, wn = _wind(8.0, 270.0)  # from the west: blows east
        assert wind_leg_s(1000.0, 20.0, *EAST, we, wn, 0.0, 0.0) == pytest.approx(1000 / 28)

    def test_cross_wind(self):
        we, wn = _wind(8.0, 0.0)  # from the north, across an eastward track
        assert wind_leg_s(1000.0, 20.0, *EAST, we, wn, 0.0, 0.0) == pytest.approx(
            1000 / math.sqrt(400 - 64))

    def test_climb_and_descent_are_added(self):
        we, wn = _wind(8.0, 90.0)
        assert wind_leg_s(1000.0, 20.0, *EAST, we, wn, 10.0, 15.0) == pytest.approx(
            25.0 + 1000 / 12)

    def test_south_westerly_blows_north_east(self):
        we, wn = _wind(10.0, 225.0)
        assert we == pytest.approx(10 / math.sqrt(2)) and wn == pytest.approx(10 / math.sqrt(2))

    def test_impossible_legs(self):
        assert wind_leg_s(1000.0, 20.0, *EAST, *_wind(20.0, 0.0), 0.0, 0.0) == math.inf
        assert wind_leg_s(1000.0, 20.0, *EAST, *_wind(21.0, 90.0), 0.0, 0.0) == math.inf
        assert ground_speed_m_s(20.0, *EAST, *_wind(25.0, 0.0)) == 0.0

    @settings(max_examples=200, deadline=None)
    @given(st.floats(0.0, 5000.0), st.floats(5.0, 30.0), st.floats(0.0, 2 * math.pi))
    def test_calm_is_the_calm_leg_bit_for_bit(self, dist, speed, angle):
        ux, uy = math.cos(angle), math.sin(angle)
        assert wind_leg_s(dist, speed, ux, uy, 0.0, 0.0, 10.0, 15.0) == leg_s(
            dist, speed, 10.0, 15.0)

    @settings(max_examples=300, deadline=None)
    @given(st.floats(1.0, 5000.0), st.floats(10.0, 30.0), st.floats(0.0, 0.95),
           st.floats(0.0, 2 * math.pi), st.floats(0.0, 360.0))
    def test_round_trip_is_longer_than_calm_and_within_the_worst_heading(self, dist, speed,
                                                                        share, angle, frm):
        w = share * speed
        we, wn = _wind(w, frm)
        ux, uy = math.cos(angle), math.sin(angle)
        trip = (wind_leg_s(dist, speed, ux, uy, we, wn, 0.0, 0.0)
                + wind_leg_s(dist, speed, -ux, -uy, we, wn, 0.0, 0.0))
        assert trip >= 2 * dist / speed * (1 - 1e-12)
        worst = 2 * dist / worst_heading_speed_m_s(speed, w)
        assert trip <= worst * (1 + 1e-9)

    def test_worst_heading_is_along_the_track(self):
        # 2 d v / (v^2 - w^2): 2,000 m at 20 m/s in 8 m/s -> 2 * 1000 * 20 / 336.
        assert 2 * 1000.0 / worst_heading_speed_m_s(20.0, 8.0) == pytest.approx(
            1000 / 12 + 1000 / 28)
        assert worst_heading_speed_m_s(20.0, 0.0) == 20.0
        assert charge_needed_s(1000.0, worst_heading_speed_m_s(20.0, 8.0), 10.0, 10.0, 180.0,
                               300.0) == pytest.approx(2 * 20 + 1000 / 12 + 1000 / 28 + 480)
        assert charge_needed_s(1000.0, worst_heading_speed_m_s(20.0, 25.0), 0, 0, 0, 0) > 1e9


# --- energy ----------------------------------------------------------------------------------
class TestPower:
    def test_hover_by_hand(self):
        # Zeng, Xu and Zhang 2019: P(0) = P0 + Pi = 79.8563 + 88.6279 W.
        assert rotor_power_w(0.0) == pytest.approx(168.4842, abs=1e-9)

    def test_twenty_metres_a_second_by_hand(self):
        # P0 (1 + 3 * 400 / 120^2) = 86.5110; Pi (sqrt(1 + 20^4 / (4 * 4.03^4)) - 400 /
        # (2 * 4.03^2))^0.5 = 88.6279 * 0.2015 = 17.86; 0.5 * 0.6 * 1.225 * 0.05 * 0.503 *
        # 20^3 = 73.941. Sum 178.3 W.
        assert rotor_power_w(20.0) == pytest.approx(178.3, rel=1e-3)

    def test_minimum_power_speed_is_between_hover_and_fast(self):
        assert rotor_power_w(10.0) < rotor_power_w(0.0) and rotor_power_w(10.0) < (
            rotor_power_w(20.0))

    def test_more_drain_into_a_head_wind(self):
        head, tail = _wind(8.0, 90.0), _wind(8.0, 270.0)
        t_head = wind_leg_s(1000.0, 20.0, *EAST, *head, 0.0, 0.0)
        t_calm = wind_leg_s(1000.0, 20.0, *EAST, 0.0, 0.0, 0.0, 0.0)
        t_tail = wind_leg_s(1000.0, 20.0, *EAST, *tail, 0.0, 0.0)
        drains = [leg_charge_s(t, 20.0, 20.0) for t in (t_head, t_calm, t_tail)]
        assert drains == pytest.approx([1000 / 12, 50.0, 1000 / 28])
        # Calm cruise drains one second per second; a slower airspeed draws less power here.
        assert leg_charge_s(50.0, 20.0, 20.0) == 50.0
        assert leg_charge_s(50.0, 15.0, 20.0) == pytest.approx(
            50.0 * rotor_power_w(15.0) / rotor_power_w(20.0))


# --- charging ----------------------------------------------------------------------------------
class TestCCCV:
    E, RATE = 2400.0, 2400.0 / 2700.0

    def test_equal_to_linear_up_to_the_knee(self):
        assert cccv_wait_s(0.8 * self.E, 0.2 * self.E, self.E, self.RATE) == pytest.approx(
            0.6 * self.E / self.RATE)
        assert cccv_charge_s(0.2 * self.E, 600.0, self.E, self.RATE) == pytest.approx(
            0.2 * self.E + 600.0 * self.RATE)

    def test_full_charge_takes_longer_than_linear(self):
        linear = 0.8 * self.E / self.RATE
        cccv = cccv_wait_s(self.E, 0.2 * self.E, self.E, self.RATE)
        # CC to 80%: 0.6 E / rate; CV: tau ln(1 / 0.05) with tau = 0.2 E / (0.95 rate).
        assert cccv == pytest.approx((0.6 + 0.2 / 0.95 * math.log(20.0)) * self.E / self.RATE)
        assert cccv > linear
        assert cccv_charge_s(0.2 * self.E, cccv, self.E, self.RATE) == pytest.approx(self.E)

    def test_knee_one_is_linear(self):
        assert cccv_wait_s(self.E, 0.0, self.E, self.RATE, knee=1.0) == pytest.approx(
            self.E / self.RATE)

    @settings(max_examples=200, deadline=None)
    @given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
    def test_wait_inverts_charge(self, a, b):
        lo, hi = sorted((a * self.E * 0.999, b * self.E * 0.999))
        t = cccv_wait_s(hi, lo, self.E, self.RATE)
        assert cccv_charge_s(lo, t, self.E, self.RATE) == pytest.approx(hi, abs=1e-6)


# --- the hourly wind direction ---------------------------------------------------------------
def test_direction_drawn_only_with_wind_on_flight_and_the_rest_unchanged():
    off = generate_weather(WeatherSpec(), np.random.default_rng(7), 24 * 400, "2025-01-01")
    on = generate_weather(WeatherSpec(wind_on_flight=True), np.random.default_rng(7),
                          24 * 400, "2025-01-01")
    assert off.wind_from_deg is None
    for name in ("wind_m_s", "precip_mm_h", "visibility_m", "cloud_base_m"):
        assert np.array_equal(getattr(off, name), getattr(on, name)), name
    d = on.wind_from_deg
    assert d is not None and d.shape == (24 * 400,) and ((d >= 0) & (d < 360)).all()
    # Two regimes: about 30% of hours easterly (Heathrow). Directions within 90 deg of the
    # south-west centre are mostly the westerly regime.
    westerly = np.abs((d - 225.0 + 180.0) % 360.0 - 180.0) < 90.0
    assert 0.55 < westerly.mean() < 0.85
    e, n = flight_wind(on, WeatherSpec(wind_on_flight=True))
    assert np.allclose(np.hypot(e, n), 1.3 * on.wind_m_s)


def test_fixed_wind():
    spec = WeatherSpec(wind_on_flight=True, wind_fixed_m_s=8.0, wind_fixed_from_deg=225.0)
    s = generate_weather(spec, np.random.default_rng(1), 48, "2025-01-01")
    e, n = flight_wind(s, spec)
    assert np.allclose(e, 8 / math.sqrt(2)) and np.allclose(n, 8 / math.sqrt(2))


# --- the engine --------------------------------------------------------------------------------
def _met(weeks: float = 0.3, **weather) -> object:
    scn = load_scenario(SCENARIOS / "met_baseline.toml",
                        {"simulation": {"weeks": weeks, "warmup_hours": 2.0},
                         "drones": {"max_range_m": 5000.0},
                         "faults": {"failures_per_flight_hour": 0.0}})
    return dataclasses.replace(scn, weather=dataclasses.replace(scn.weather, **weather))


def test_feature_flag():
    assert "per_leg" not in Features.of(prepare(_met())).on
    assert "per_leg" in Features.of(prepare(_met(wind_on_flight=True))).on


def test_calm_wind_on_flight_equals_off_bit_for_bit():
    """With the wind machinery on in a calm (0 m/s fixed wind), every record is the one the
    calm model gives: the wind triangle, the hourly need speed and the leg bookkeeping reduce to
    the calm arithmetic exactly."""
    off = run_replication(prepare(_met(wind_fixed_m_s=0.0)), 0)
    on = run_replication(prepare(_met(wind_fixed_m_s=0.0, wind_on_flight=True,
                                      wind_fixed_from_deg=225.0)), 0)
    assert len(off.missions) > 20
    assert off.missions.equals(on.missions)
    assert off.incidents.equals(on.incidents)


def test_legs_in_a_steady_wind_by_the_triangle():
    scn = _met(wind_fixed_m_s=8.0, wind_on_flight=True, wind_fixed_from_deg=225.0)
    prep = prepare(scn)
    res = run_replication(prep, 0)
    m = res.missions[~res.missions["redirected"] & ~res.missions["relief"]]
    m = m[m["t_on_scene"].notna()]
    assert len(m) > 20
    inc = res.incidents.set_index("incident_id")
    spec = scn.drones
    we, wn = _wind(8.0, 225.0)
    longer = 0
    for r in m.itertuples():
        x, y = inc.loc[r.incident, "x"], inc.loc[r.incident, "y"]
        xk, yk = prep.docks.x[r.dock_id], prep.docks.y[r.dock_id]
        dist = inc.loc[r.incident, "drone_distance_m"]
        dx, dy = x - xk, y - yk
        u = math.hypot(dx, dy)
        ux, uy = (dx / u, dy / u) if u > 0 else (1.0, 0.0)
        out = wind_leg_s(dist, spec.speed_m_s, ux, uy, we, wn, spec.climb_s, spec.descent_s)
        back = wind_leg_s(dist, spec.speed_m_s, -ux, -uy, we, wn, spec.climb_s,
                          spec.descent_s)
        assert r.t_on_scene - r.t_launch == pytest.approx(out, abs=1e-6)
        assert r.t_landed - r.t_leave == pytest.approx(back, abs=1e-6)
        calm = leg_s(dist, spec.speed_m_s, spec.climb_s, spec.descent_s)
        assert out + back >= 2 * calm - 1e-9
        longer += out + back > 2 * calm + 1e-6
    assert longer > 0.9 * len(m)


def test_wind_slows_response():
    calm = run_replication(prepare(_met(wind_fixed_m_s=0.0, wind_on_flight=True,
                                        wind_fixed_from_deg=225.0)), 0)
    windy = run_replication(prepare(_met(wind_fixed_m_s=8.0, wind_on_flight=True,
                                         wind_fixed_from_deg=225.0)), 0)

    def flight(res):
        m = res.missions[res.missions["t_on_scene"].notna()]
        return float(((m["t_landed"] - m["t_leave"]) + (m["t_on_scene"] - m["t_launch"])).mean())

    assert flight(windy) > flight(calm)


# --- charging curves in the engine ---------------------------------------------------------
def _charging(swap_s: float = 0.0, **drones) -> object:
    scn = load_scenario(SCENARIOS / "met_baseline_weather_free.toml",
                        {"simulation": {"weeks": 0.3, "warmup_hours": 2.0},
                         "drones": {"max_range_m": 5000.0, **drones}})
    docks = tuple(dataclasses.replace(d, swap_s=swap_s) for d in scn.docks)
    return dataclasses.replace(scn, docks=docks)


def _relaunches(res) -> list[tuple]:
    """(landed charge, time at the dock, charge at the next launch) of each drone's
    consecutive own missions."""
    m = res.missions[~res.missions["redirected"] & ~res.missions["relief"]]
    out = []
    for _, g in m.sort_values("t_launch").groupby("drone_id"):
        rows = list(g.itertuples())
        for a, b in zip(rows, rows[1:]):
            out.append((a.battery_landed_s, b.t_launch - a.t_landed, b.battery_launch_s))
    return out


def test_feature_charging_curve():
    assert "charging_curve" not in Features.of(prepare(_charging())).on
    assert "charging_curve" in Features.of(prepare(_charging(charging="cccv"))).on
    assert "charging_curve" in Features.of(prepare(_charging(swap_s=180.0))).on


def test_cccv_charges_on_the_curve_in_the_engine():
    scn = _charging(charging="cccv", recharge_full_s=5400.0)
    res = run_replication(prepare(scn), 0)
    d = scn.drones
    rate = d.endurance_s / d.recharge_full_s
    pairs = _relaunches(res)
    assert len(pairs) > 20
    beyond = 0
    for b_land, dt, b_launch in pairs:
        want = cccv_charge_s(b_land, dt, d.endurance_s, rate, d.cccv_knee, d.cccv_cutoff)
        assert b_launch == pytest.approx(want, abs=1e-6)
        beyond += b_land + dt * rate > 0.8 * d.endurance_s and b_launch < d.endurance_s - 1
    assert beyond > 0  # some relaunches were in the CV stage, below the linear charge


def test_swap_full_swap_s_after_landing():
    res = run_replication(prepare(_charging(swap_s=180.0)), 0)
    pairs = _relaunches(res)
    assert len(pairs) > 20
    for b_land, dt, b_launch in pairs:
        if dt >= 180.0:
            assert b_launch == 2400.0
        else:  # relaunched before its swap was done: the charge it landed with
            assert b_launch == pytest.approx(b_land)
