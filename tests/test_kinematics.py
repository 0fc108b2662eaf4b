"""Unit tests with hand-computed values: drone kinematics and battery, reach radius, road
travel, and the mean/cv lognormal used for every positive random duration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronesim import kinematics
from dronesim.engine.ground import travel_time_s
from dronesim.inputs.demand import lognormal_mean_cv
from dronesim.inputs.scenario import DroneSpec
from dronesim.kinematics import battery_needed_s, flight_time_s
from dronesim.siting.sites import reach_radius_m

SPEC = DroneSpec(speed_m_s=20.0, decision_s=30.0, launch_overhead_s=20.0, climb_s=10.0,
                 descent_s=15.0, endurance_s=2400.0, reserve_s=300.0, min_on_scene_s=180.0,
                 max_range_m=2000.0)


class TestFlightTime:
    def test_one_kilometre(self):
        # climb 10 + 1000 m / 20 m/s + descent 15 = 75 s
        assert flight_time_s(1000.0, SPEC) == pytest.approx(75.0, abs=1e-12)

    def test_zero_distance_is_climb_plus_descent(self):
        assert flight_time_s(0.0, SPEC) == pytest.approx(25.0, abs=1e-12)

    def test_vectorised(self):
        got = flight_time_s(np.array([0.0, 500.0, 2000.0]), SPEC)
        np.testing.assert_allclose(got, [25.0, 50.0, 125.0], rtol=0, atol=1e-12)

    def test_launch_overhead_and_decision_excluded(self):
        slow_start = DroneSpec(speed_m_s=20.0, decision_s=999.0, launch_overhead_s=999.0,
                               climb_s=10.0, descent_s=15.0)
        assert flight_time_s(1000.0, slow_start) == pytest.approx(75.0)

    def test_other_speed(self):
        fast = DroneSpec(speed_m_s=25.0, climb_s=0.0, descent_s=0.0)
        assert flight_time_s(1000.0, fast) == pytest.approx(40.0)


class TestBatteryNeeded:
    def test_one_kilometre(self):
        # out 75 + minimum on scene 180 + back 75 + reserve 300 = 630 s
        assert battery_needed_s(1000.0, SPEC) == pytest.approx(630.0, abs=1e-12)

    def test_vectorised(self):
        # 2 * (25 + d/20) + 480
        got = battery_needed_s(np.array([0.0, 2000.0]), SPEC)
        np.testing.assert_allclose(got, [530.0, 730.0], rtol=0, atol=1e-12)

    def test_feasibility_boundary(self):
        # Largest distance a full battery allows: 2 * (25 + d/20) + 480 = 2400 -> d = 18,700 m
        assert battery_needed_s(18_700.0, SPEC) == pytest.approx(SPEC.endurance_s)


class TestReachRadius:
    def test_budget_limited(self):
        # 120 s - (30 + 20 + 10 + 15) = 45 s at 20 m/s = 900 m (below the 2 km range)
        assert reach_radius_m(SPEC, 120.0) == pytest.approx(900.0, abs=1e-9)

    def test_range_limited(self):
        # 300 s - 75 s = 225 s * 20 = 4500 m, capped at max_range_m = 2000
        assert reach_radius_m(SPEC, 300.0) == pytest.approx(2000.0)

    def test_budget_exhausted_is_zero(self):
        assert reach_radius_m(SPEC, 60.0) == 0.0
        assert reach_radius_m(SPEC, 75.0) == 0.0

    def test_met_baseline_values(self):
        met = DroneSpec(speed_m_s=20.0, decision_s=10.0, launch_overhead_s=20.0, climb_s=10.0,
                        descent_s=10.0, max_range_m=2000.0)
        # 120 - 50 = 70 s * 20 m/s = 1400 m
        assert reach_radius_m(met, 120.0) == pytest.approx(1400.0)


class TestRoadTravel:
    def test_hand_computed(self):
        # 60 + 1.35 * 1000 / 8 = 60 + 168.75 = 228.75 s
        assert travel_time_s(1000.0, 60.0, 1.35, 8.0) == pytest.approx(228.75, abs=1e-12)

    def test_factor_scales_the_driving_part_only(self):
        # 60 + 168.75 * 1.2 = 262.5 s: turnout is not scaled
        assert travel_time_s(1000.0, 60.0, 1.35, 8.0, 1.2) == pytest.approx(262.5, abs=1e-12)

    def test_zero_distance_is_turnout(self):
        assert travel_time_s(0.0, 30.0, 1.4, 18.1) == pytest.approx(30.0)

    def test_vectorised(self):
        got = travel_time_s(np.array([0.0, 1810.0]), 30.0, 1.4, 18.1, np.array([1.0, 0.5]))
        np.testing.assert_allclose(got, [30.0, 30.0 + 1.4 * 100.0 * 0.5], rtol=1e-12)


class TestLognormalMeanCv:
    @pytest.mark.parametrize("mean,cv", [(120.0, 0.5), (1.0, 0.3), (2700.0, 0.8), (5.0, 2.0)])
    def test_mean_and_cv(self, mean, cv):
        rng = np.random.default_rng(12345)
        n = 400_000
        x = lognormal_mean_cv(rng, mean, cv, n)
        assert x.shape == (n,)
        assert (x > 0).all()
        # Standard error of the sample mean is mean * cv / sqrt(n): allow 5 of them.
        assert x.mean() == pytest.approx(mean, rel=5 * cv / math.sqrt(n))
        # The sample cv of a lognormal converges slowly for large cv: looser tolerance there.
        assert x.std() / x.mean() == pytest.approx(cv, rel=0.02 if cv <= 1 else 0.1)

    def test_lognormal_parameters(self):
        # log X ~ Normal(mu, sigma^2) with sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2/2
        rng = np.random.default_rng(3)
        x = lognormal_mean_cv(rng, 100.0, 0.5, 200_000)
        s2 = math.log(1.25)
        assert np.log(x).var() == pytest.approx(s2, rel=0.02)
        assert np.log(x).mean() == pytest.approx(math.log(100.0) - s2 / 2, abs=0.005)

    def test_cv_zero_is_constant(self):
        rng = np.random.default_rng(1)
        x = lognormal_mean_cv(rng, 260.0, 0.0, 50)
        np.testing.assert_array_equal(x, np.full(50, 260.0))

    def test_cv_zero_draws_nothing(self):
        # A constant does not consume random numbers from its stream.
        rng = np.random.default_rng(1)
        lognormal_mean_cv(rng, 260.0, 0.0, 50)
        assert rng.random() == np.random.default_rng(1).random()

    def test_mean_zero_is_zero(self):
        x = lognormal_mean_cv(np.random.default_rng(1), 0.0, 0.8, 10)
        np.testing.assert_array_equal(x, np.zeros(10))

    def test_same_generator_state_same_draws(self):
        a = lognormal_mean_cv(np.random.default_rng(9), 10.0, 0.4, 100)
        b = lognormal_mean_cv(np.random.default_rng(9), 10.0, 0.4, 100)
        np.testing.assert_array_equal(a, b)


class TestKinematicsModule:
    """dronesim.kinematics holds each formula once; the engine's inline forms are these."""

    def test_charge_needed_is_two_legs_bit_for_bit(self):
        rng = np.random.default_rng(16)
        dist = rng.uniform(0, 20_000, 10_000)
        speed = rng.uniform(5, 40, 10_000)
        leg = kinematics.leg_s(dist, speed, 10.3, 15.7)
        want = 2 * leg + 180.1 + 300.9
        got = kinematics.charge_needed_s(dist, speed, 10.3, 15.7, 180.1, 300.9)
        assert np.array_equal(got, want)
        scalar = [kinematics.charge_needed_s(float(a), float(b), 10.3, 15.7, 180.1, 300.9)
                  for a, b in zip(dist[:100], speed[:100])]
        assert scalar == want[:100].tolist()

    def test_engine_module_reexports(self):
        from dronesim.engine import fleet

        assert fleet.flight_time_s is kinematics.flight_time_s
        assert fleet.battery_needed_s is kinematics.battery_needed_s

    def test_charging(self):
        assert kinematics.charge_rate(2400.0, 2400.0) == 1.0
        assert kinematics.charge_rate(2400.0, 0.0) == math.inf
        assert kinematics.charge_wait_s(600.0, 300.0, 0.5) == 600.0

    def test_spare_and_preemption(self):
        # 2000 - 75 - 75 - 300 = 1550 s left for the scene
        assert kinematics.spare_charge_s(2000.0, 75.0, 75.0, 300.0) == 1550.0
        # hop 1000 m at 20 m/s = 50, stay 180, home 1000 m = 75, reserve 300
        assert kinematics.preempt_charge_s(1000.0, 1000.0, 20.0, SPEC) == 605.0
        # ready 100 + delay 5 + overhead 20 + climb 10 + 1000/20 + descent 15
        assert kinematics.arrival_at(100.0, 5.0, 20.0, 10.0, 1000.0, 20.0, 15.0) == 200.0
