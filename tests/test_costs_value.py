"""Costs, value and equity: hand-computed cases and properties (exploration on)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.inputs.scenario import CostSpec
from dronesim.inputs.streams import Streams
from dronesim.kpis.costs import (
    YEAR_S,
    annual_cost,
    cost_per_deployment,
    cost_per_minute_saved,
    per_year,
)
from dronesim.kpis.value import (
    draw_drone_resolved,
    gini,
    officer_cost_saved,
    officer_deployments_avoided,
    officer_hours_freed,
    officer_hours_per_deployment,
    share_population_missing_target,
    spread,
    worst_borough,
)

# --- costs -------------------------------------------------------------------------------------

SPEC = CostSpec(airframe_cost_gbp=12_000, airframe_life_years=3, dock_cost_gbp=30_000,
                dock_life_years=5, pilots_per_shift=0, shifts_per_day=3,
                cost_per_pilot_shift_gbp=300, maintenance_per_airframe_year_gbp=1_000,
                maintenance_per_dock_year_gbp=2_000, cost_per_flight_hour_gbp=10)


def test_met_baseline_sized_service_costs_by_hand():
    # 9 airframes, 3 docks, 2 pilots on every shift, 1,000 flight hours a year.
    c = annual_cost(SPEC, airframes=9, docks=3, pilots_per_shift=2, flight_hours_per_year=1000)
    assert c.airframes_gbp == pytest.approx(9 * 12_000 / 3)  # 36,000
    assert c.docks_gbp == pytest.approx(3 * 30_000 / 5)  # 18,000
    assert c.maintenance_gbp == pytest.approx(9 * 1_000 + 3 * 2_000)  # 15,000
    assert c.pilots_gbp == pytest.approx(2 * 3 * 365.25 * 300)  # 657,450
    assert c.flight_hours_gbp == pytest.approx(10_000)
    assert c.total_gbp == pytest.approx(36_000 + 18_000 + 15_000 + 657_450 + 10_000)
    # 200 deployments a week, 4 min 48 s saved on each
    deployments = per_year(200.0, 7 * 86_400.0)
    assert deployments == pytest.approx(200 * 365.25 / 7)
    assert cost_per_deployment(c.total_gbp, deployments) == pytest.approx(
        736_450 / (200 * 365.25 / 7))
    assert cost_per_minute_saved(c.total_gbp, deployments * 4.8) == pytest.approx(
        736_450 / (200 * 365.25 / 7 * 4.8))


def test_pilots_per_shift_in_the_spec_overrides_the_run():
    spec = dataclasses.replace(SPEC, pilots_per_shift=5)
    c = annual_cost(spec, airframes=0, docks=0, pilots_per_shift=2, flight_hours_per_year=0)
    assert c.pilots_gbp == pytest.approx(5 * 3 * 365.25 * 300)


def test_mixed_fleet_prices_each_airframe():
    c = annual_cost(SPEC, airframes=2, docks=0, pilots_per_shift=0, flight_hours_per_year=0,
                    airframe_costs_gbp=[9_000, 30_000])
    assert c.airframes_gbp == pytest.approx(39_000 / 3)
    with pytest.raises(ValueError, match="one price per airframe"):
        annual_cost(SPEC, airframes=3, docks=0, pilots_per_shift=0, flight_hours_per_year=0,
                    airframe_costs_gbp=[1.0])


def test_no_deployments_or_minutes_gives_nan_not_zero():
    assert math.isnan(cost_per_deployment(1000.0, 0.0))
    assert math.isnan(cost_per_minute_saved(1000.0, 0.0))
    with pytest.raises(ValueError):
        annual_cost(SPEC, airframes=-1, docks=0, pilots_per_shift=0, flight_hours_per_year=0)
    with pytest.raises(ValueError):
        per_year(1.0, 0.0)


def test_per_year_of_a_year_is_identity():
    assert per_year(123.0, YEAR_S) == pytest.approx(123.0)


@settings(derandomize=False, database=None, max_examples=50, deadline=None)
@given(a=st.integers(0, 500), d=st.integers(0, 200), p=st.floats(0, 50), h=st.floats(0, 1e5),
       extra=st.integers(1, 50))
def test_cost_grows_with_every_input(a, d, p, h, extra):
    base = annual_cost(SPEC, airframes=a, docks=d, pilots_per_shift=p, flight_hours_per_year=h)
    assert base.total_gbp >= 0
    for kw in ({"airframes": a + extra}, {"docks": d + extra}, {"pilots_per_shift": p + extra},
               {"flight_hours_per_year": h + extra}):
        args = {"airframes": a, "docks": d, "pilots_per_shift": p, "flight_hours_per_year": h}
        args.update(kw)
        assert annual_cost(SPEC, **args).total_gbp > base.total_gbp


# --- value -------------------------------------------------------------------------------------

def test_deployments_avoided_and_hours_freed_by_hand():
    # 150 I-grade and 50 S-grade drone-attended incidents a week; 25% and 40% resolved.
    avoided = officer_deployments_avoided([150, 50], [0.25, 0.40])
    assert avoided == pytest.approx(37.5 + 20.0)
    per = officer_hours_per_deployment(on_scene_mean_s=2700, travel_mean_s=540,
                                       officers_per_unit=2)
    assert per == pytest.approx(2 * 3240 / 3600)  # 1.8 h
    hours = officer_hours_freed(avoided, per)
    assert hours == pytest.approx(57.5 * 1.8)
    assert officer_cost_saved(hours, 36.51) == pytest.approx(57.5 * 1.8 * 36.51)
    with pytest.raises(ValueError):
        officer_deployments_avoided([1, 2], [0.5])


def test_drone_resolved_draw_matches_its_share_and_keeps_common_random_numbers():
    rng = Streams(5, 0)["drone_resolved"]
    prio = np.tile([1, 2], 20_000)
    got = draw_drone_resolved(rng, prio, [0.3, 0.0])
    assert not got[prio == 2].any()
    share = got[prio == 1].mean()
    se = math.sqrt(0.3 * 0.7 / 20_000)
    assert abs(share - 0.3) < 4 * se
    # a larger share resolves a superset of the incidents (same uniforms)
    more = draw_drone_resolved(Streams(5, 0)["drone_resolved"], prio, [0.5, 0.0])
    assert np.all(more >= got)
    with pytest.raises(ValueError):
        draw_drone_resolved(rng, np.array([3]), [0.1, 0.2])


# --- equity ------------------------------------------------------------------------------------

MEANS = {"E09000001": 100.0, "E09000002": 300.0, "E09000003": float("nan"), "E09000004": 200.0}
POP = {"E09000001": 10.0, "E09000002": 30.0, "E09000003": 20.0, "E09000004": 40.0}


def test_worst_borough_and_spread_by_hand():
    assert worst_borough(MEANS) == ("E09000002", 300.0)
    assert worst_borough(MEANS, higher_is_worse=False) == ("E09000001", 100.0)
    s = spread(MEANS)
    assert s.max_minus_min == 200.0
    assert s.cv == pytest.approx(np.std([100, 300, 200]) / 200)
    # pairs |100-300| + |100-200| + |300-200| = 400, over n^2 = 9 ordered pairs / 2 -> 800/9;
    # Gini = (800 / 9) / (2 x 200)
    assert s.gini == pytest.approx(800 / 9 / 400)


def test_share_of_population_missing_the_target():
    # target 150 s: boroughs 2 (300) and 4 (200) miss it, borough 3 has no figure and misses
    assert share_population_missing_target(MEANS, POP, 150.0) == pytest.approx(90 / 100)
    assert share_population_missing_target(MEANS, POP, 250.0) == pytest.approx(50 / 100)
    cover = {"E09000001": 0.9, "E09000002": 0.2, "E09000003": 0.6, "E09000004": 0.5}
    assert share_population_missing_target(cover, POP, 0.5, higher_is_worse=False) == \
        pytest.approx(30 / 100)


def test_gini_extremes_and_weights():
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # n - 1 over n for one holder
    assert math.isnan(gini([0, 0]))
    # weights act as repetitions
    assert gini([1, 3], weights=[2, 1]) == pytest.approx(gini([1, 1, 3]))


@settings(derandomize=False, database=None, max_examples=80, deadline=None)
# Values are 0 or of a size a figure can have (hypothesis found that a subnormal such as 5e-324
# scaled by 0.5 underflows to 0, which makes an all-zero list: not a property of the Gini).
@given(st.lists(st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e4)),
                min_size=1, max_size=33),
       st.floats(min_value=0.01, max_value=100))
def test_gini_is_within_0_and_1_and_scale_free(values, k):
    g = gini(values)
    if sum(values) == 0:
        assert math.isnan(g)
        return
    assert -1e-12 <= g <= 1 - 1 / len(values) + 1e-9
    assert gini([k * v for v in values]) == pytest.approx(g, abs=1e-9)
