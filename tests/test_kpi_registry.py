"""One registry of KPIs (dronesim/kpis/registry.py), and the cost, value and equity figures
derived from a replication's KPIs (dronesim/experiment/derived.py), by hand."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import tiny_scenario_dict

from dronesim.engine.replication import prepare
from dronesim.experiment.compare import METRICS as COMPARE_METRICS
from dronesim.experiment.derived import borough_population, derived_kpis, equity_summary
from dronesim.experiment.runner import run_scenario
from dronesim.inputs.demand import WEEK_S
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.kpis import registry
from dronesim.kpis import statistics as metrics
from dronesim.kpis.costs import YEAR_S
from dronesim.outputs import tables


@pytest.fixture(scope="module")
def tiny_run():
    scn = scenario_from_dict(tiny_scenario_dict(simulation={"weeks": 0.1, "replications": 2}))
    return run_scenario(scn, workers=1)


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def test_every_figure_is_declared_once_with_a_known_unit_and_bound():
    keys = [m.key for m in registry.METRICS]
    assert len(keys) == len(set(keys))
    for m in registry.METRICS:
        assert m.unit in registry.UNITS and m.bound in ("share", "nonneg", "signed")
        assert m.label and m.label == m.label.strip()
        if m.line:  # run-table labels fit their 30-column field
            assert len(m.line.format(target="2:00", ground="officers", ground1="officer")) <= 29
    assert COMPARE_METRICS == registry.compare_metrics()


def test_the_summary_holds_every_declared_figure_of_the_features_on(tiny_run):
    s = tiny_run.summary
    for m in registry.METRICS:
        if m.summary and not m.feature:
            assert m.key in s, m.key
            assert set(s[m.key]) == {"mean", "ci95_mean"}
        if m.feature:  # tiny: no mutual aid, no drone-resolved incidents
            assert m.key not in s, m.key
    for r in registry.RESPONSES:
        assert {"mean", "median", "p90", "n"} <= set(s[r.key])
    for row in s["per_borough"]:
        for m in registry.borough_metrics():
            if not m.feature:
                assert m.key in row


def test_adding_a_figure_touches_one_place(tiny_run, monkeypatch):
    """A new Metric in the registry reaches the run summary, the run table, the comparison's
    figures and the sweep's columns without any other change."""
    new = registry.Metric("double_deployments_per_week", "twice the deployments", "per_week",
                          get=lambda k: 2 * k["drone_deployments_per_week"], compare=True,
                          sweep="double_deployments", step=True, line="twice the deployments",
                          card="Twice the deployments")
    monkeypatch.setattr(registry, "METRICS", registry.METRICS + (new,))
    monkeypatch.setattr(registry, "_BY_KEY", {})
    combined = metrics.combine(tiny_run.kpis)
    want = np.mean([2 * k["drone_deployments_per_week"] for k in tiny_run.kpis])
    assert combined["double_deployments_per_week"]["mean"] == pytest.approx(want)
    summary = {**tiny_run.summary, **combined}
    assert "twice the deployments" in tables.format_run_table(summary)
    assert new in registry.compare_metrics()
    assert new in registry.sweep_columns() and new in registry.step_metrics()
    assert new in registry.report_cards()


def test_share_intervals_are_clipped_and_signed_ones_not():
    share = registry.metric("p_drone_first")
    signed = registry.metric("time_saved_s")
    assert share.bound == "share" and signed.bound == "signed"
    out = metrics.combine([{**_fake_kpis(), "p_drone_first": v, "time_saved_s": -v}
                           for v in (0.99, 1.0, 1.0)])
    assert out["p_drone_first"]["ci95_mean"][1] <= 1.0
    assert out["time_saved_s"]["ci95_mean"][0] < -1.0  # below zero: not clipped


def _fake_kpis() -> dict:
    block = {"mean": 100.0, "median": 90.0, "p90": 150.0, "n": 10}
    k = {m.key: 1.0 for m in registry.METRICS if not m.feature and m.get.__dict__.get("key")}
    k.update({"drone": block, "ground": block, "ground_on_drone_incidents": block,
              "drone_within": {"120": 0.5}, "ground_within": {"120": 0.1}, "unstable": False})
    return k


# --------------------------------------------------------------------------------------------
# Costs, value and equity by hand
# --------------------------------------------------------------------------------------------


def _prep(**over):
    return prepare(scenario_from_dict(tiny_scenario_dict(**over)))


def _kpis(prep, *, util=0.1, deploy=50.0, saved=200.0, n_saved=40, per_borough=None) -> dict:
    codes = list(prep.london.borough_codes)
    if per_borough is None:
        per_borough = [{"gss_code": c, "drone": {"mean": math.nan, "n": 0}, "suited": 0,
                        "suited_within_share": math.nan} for c in codes]
    return {"fleet_size": prep.scenario.fleet_size, "drone_utilisation": util,
            "drone_deployments_per_week": deploy, "time_saved_s": saved,
            "ground_on_drone_incidents": {"n": n_saved}, "per_borough": per_borough}


def test_costs_by_hand():
    prep = _prep(costs={"airframe_cost_gbp": 12_000.0, "airframe_life_years": 4.0,
                        "dock_cost_gbp": 10_000.0, "dock_life_years": 5.0,
                        "maintenance_per_airframe_year_gbp": 1_000.0,
                        "maintenance_per_dock_year_gbp": 500.0,
                        "cost_per_pilot_shift_gbp": 300.0, "shifts_per_day": 3.0,
                        "cost_per_flight_hour_gbp": 10.0})
    span = prep.horizon_s - prep.warmup_s
    weeks = span / WEEK_S
    out = derived_kpis(prep, _kpis(prep))
    # 3 drones (one dock each), 2 pilots on duty all day.
    air_h = 0.1 * 3 * span / 3600
    year = YEAR_S / span
    want = (3 * 12_000 / 4 + 3 * 10_000 / 5 + 3 * 1_000 + 3 * 500
            + 2 * 3 * 365.25 * 300 + air_h * year * 10)
    assert out["cost_per_year_gbp"] == pytest.approx(want)
    assert out["cost_pilots_gbp"] == pytest.approx(2 * 3 * 365.25 * 300)
    assert out["flight_hours_per_week"] == pytest.approx(air_h / weeks)
    assert out["cost_per_deployment_gbp"] == pytest.approx(want / (50.0 * YEAR_S / WEEK_S))
    minutes_year = 200.0 * 40 / 60 * year
    assert out["cost_per_minute_saved_gbp"] == pytest.approx(want / minutes_year)
    assert out["minutes_saved_per_week"] == pytest.approx(200.0 * 40 / 60 / weeks)


def test_no_time_saved_gives_no_cost_per_minute():
    prep = _prep()
    out = derived_kpis(prep, _kpis(prep, saved=-5.0))
    assert math.isnan(out["cost_per_minute_saved_gbp"])
    assert math.isnan(derived_kpis(prep, _kpis(prep, deploy=0.0))["cost_per_deployment_gbp"])


def test_shift_pattern_and_airframe_prices_enter_the_cost():
    pattern = [0.5] * 12 + [1.0] * 12
    d = tiny_scenario_dict(control_room={"pilots": 4, "shift_pattern": pattern},
                           airframes=[{"name": "long", "cost_gbp": 30_000.0}])
    d["docks"][0]["airframe"] = "long"
    prep = prepare(scenario_from_dict(d))
    out = derived_kpis(prep, _kpis(prep))
    c = prep.scenario.costs
    assert out["cost_pilots_gbp"] == pytest.approx(3.0 * c.shifts_per_day * 365.25
                                                   * c.cost_per_pilot_shift_gbp)
    # Islington's 2 drones of type "long", Croydon's 1 at the [costs] price.
    assert out["cost_airframes_gbp"] == pytest.approx(
        (2 * 30_000 + c.airframe_cost_gbp) / c.airframe_life_years)


def test_equity_by_hand():
    prep = _prep(value={"target_response_s": 120.0})
    codes = list(prep.london.borough_codes)
    pop = borough_population(prep)
    rows = []
    for b, c in enumerate(codes):
        if b < 3:  # three boroughs with suited incidents and drones
            rows.append({"gss_code": c, "drone": {"mean": [100.0, 110.0, 130.0][b], "n": 5},
                         "suited": 10, "suited_within_share": [0.8, 0.5, 0.2][b]})
        else:
            rows.append({"gss_code": c, "drone": {"mean": math.nan, "n": 0}, "suited": 0,
                         "suited_within_share": math.nan})
    out = derived_kpis(prep, _kpis(prep, per_borough=rows))
    assert out["equity_worst_share"] == pytest.approx(0.2)
    assert out["equity_spread"] == pytest.approx(0.6)
    x, w = np.array([0.8, 0.5, 0.2]), pop[:3]
    mean = np.dot(w, x) / w.sum()
    gini = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum() / (
        2 * w.sum() ** 2 * mean)
    assert out["equity_gini"] == pytest.approx(gini)
    # Missing the 2-minute target: the third borough (130 s) and every borough without drones.
    assert out["population_share_missing_target"] == pytest.approx(1 - pop[:2].sum() / pop.sum())


def test_equity_summary_names_the_worst_borough():
    prep = _prep()
    rows = [{"name": "A", "suited_within_target": {"mean": 0.7},
             "drone_response_s": {"mean": 100.0}},
            {"name": "B", "suited_within_target": {"mean": 0.3},
             "drone_response_s": {"mean": 125.0}},
            {"name": "C", "suited_within_target": {"mean": math.nan}, "drone_response_s": None}]
    e = equity_summary(prep, rows)
    assert e["worst_borough"] == "B" and e["worst_borough_share"] == 0.3
    assert e["boroughs_missing_target"] == ["B", "C"]


def test_run_summary_carries_costs_and_equity(tiny_run):
    s = tiny_run.summary
    assert s["cost_per_year_gbp"]["mean"] > 0
    assert "worst_borough" in s["equity"]
    text = tables.format_run_table(s)
    assert "cost per minute saved (GBP)" in text and "population missing target" in text
    # the same figures from each replication's KPIs
    by_hand = np.mean([k["cost_per_year_gbp"] for k in tiny_run.kpis])
    assert s["cost_per_year_gbp"]["mean"] == pytest.approx(by_hand)
    assert dataclasses.is_dataclass(tiny_run.scenario.costs)


def test_marginal_cost_per_minute_saved_by_hand():
    from dronesim.experiment.sweep import _marginal_costs

    steps = [{"cost_per_year_gbp": {"mean": 100_000.0}, "minutes_saved_per_week": {"mean": 100.0}},
             {"cost_per_year_gbp": {"mean": 400_000.0}, "minutes_saved_per_week": {"mean": 400.0}},
             {"cost_per_year_gbp": {"mean": 700_000.0}, "minutes_saved_per_week": {"mean": 350.0}}]
    _marginal_costs(steps)
    weeks_a_year = YEAR_S / WEEK_S
    assert steps[0]["marginal_cost_per_minute_saved_gbp"] is None
    assert steps[1]["marginal_cost_per_minute_saved_gbp"] == pytest.approx(
        300_000.0 / (300.0 * weeks_a_year))
    assert steps[2]["marginal_cost_per_minute_saved_gbp"] is None  # no extra minute saved
