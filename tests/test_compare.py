"""``dronesim compare``: paired differences under common random numbers, the check that incidents
really are identical (else Welch), the output folder and the command line's handling of bad input.

Runs are tiny (0.2 weeks, 2-3 replications, one process) and deterministic."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import MET_BASELINE, extends_baseline, run_cli, write_toml
from scipy import stats

from dronesim.errors import InputError
from dronesim.experiment.compare import METRICS, compare_scenarios, difference, scenario_labels
from dronesim.inputs.scenario import load_scenario
from dronesim.outputs.plots import comparison_forest, comparison_responses
from dronesim.outputs.report import format_comparison

SHORT = {"simulation": {"weeks": 0.2, "replications": 3}}
REQUIRED_COLUMNS = ["scenario", "reference", "service", "metric", "reference_mean",
                    "scenario_mean", "diff_mean", "ci_low", "ci_high", "n", "paired"]


#: Issue 17: the Met baseline flies in London weather with night rules and faults; these
#: comparisons use it with every hour flyable (as scenarios/met_baseline_weather_free.toml).
OPERATIONS_OFF = {"weather": {"enabled": False}, "night": {"rule": "allowed"},
                  "faults": {"failures_per_flight_hour": 0.0,
                             "maintenance_every_flight_hours": 0.0,
                             "dock_failures_per_year": 0.0}}


def _baseline(**over):
    table = {**SHORT, **OPERATIONS_OFF, **over}
    return load_scenario(MET_BASELINE, table)


@pytest.fixture(scope="module")
def self_cmp():
    base = _baseline()
    return compare_scenarios([base, base], workers=1)


@pytest.fixture(scope="module")
def range_cmp():
    """Reference, a longer drone range (same demand) and busier police demand (other incidents)."""
    return compare_scenarios([
        _baseline(),
        _baseline(name="range3000", drones={"max_range_m": 3000.0}),
        _baseline(name="busier", services={"police": {"incidents_per_week": 45000.0}}),
    ], workers=1)


# --------------------------------------------------------------------------------------------
# Statistics, by hand
# --------------------------------------------------------------------------------------------


def test_paired_difference_by_hand():
    d = difference([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], paired=True)
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # differences 1, 2, 3: sd 1
    assert d["diff_mean"] == pytest.approx(2.0)
    assert [d["ci_low"], d["ci_high"]] == pytest.approx([2.0 - half, 2.0 + half])
    assert d["n"] == 3 and d["reference_mean"] == 2.0 and d["scenario_mean"] == 4.0


def test_welch_difference_matches_scipy():
    a, b = [1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0]
    d = difference(a, b, paired=False)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert d["diff_mean"] == pytest.approx(np.mean(b) - np.mean(a))
    assert [d["ci_low"], d["ci_high"]] == pytest.approx([ci.low, ci.high])
    assert (d["n_reference"], d["n_scenario"], d["n"]) == (4, 3, 3)


def test_nan_pairs_are_skipped():
    d = difference([1.0, math.nan, 3.0, 4.0], [2.0, 5.0, math.nan, 6.0], paired=True)
    assert d["n"] == 2
    assert d["diff_mean"] == pytest.approx(1.5)  # pairs (1, 2) and (4, 6)
    one = difference([1.0, math.nan], [2.0, 3.0], paired=True)
    assert one["n"] == 1 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def test_self_comparison_is_exactly_zero(self_cmp):
    d = self_cmp.differences
    assert self_cmp.labels == ["met_baseline", "met_baseline_2"]
    assert list(d.columns[:len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    # Every compared figure of the registry, except those of features this scenario leaves
    # off (weather, mutual aid, ...), which are left out rather than compared as NaN.
    assert set(d["metric"]) == {m.key for m in METRICS if not m.feature}
    assert set(self_cmp.summary["metrics"]) == set(d["metric"])
    assert d["paired"].all()
    assert (d["n"] == 3).all()
    assert (d["diff_mean"] == 0.0).all()
    assert (d["ci_low"] == 0.0).all() and (d["ci_high"] == 0.0).all()
    assert (d["reference_mean"] == d["scenario_mean"]).all()
    assert not self_cmp.summary["warnings"]


def test_longer_range_deploys_more_drones(range_cmp):
    d = range_cmp.differences.set_index(["scenario", "service", "metric"])
    row = d.loc[("range3000", "all", "drone_deployments_per_week")]
    assert bool(row["paired"])
    assert row["diff_mean"] > 0 and row["ci_low"] > 0
    oor = d.loc[("range3000", "all", "out_of_range_per_week")]
    assert oor["ci_high"] < 0
    # The drones do not change the ground response: identical incidents, identical figure.
    g = d.loc[("range3000", "all", "ground_response_mean_s")]
    assert (g["diff_mean"], g["ci_low"], g["ci_high"]) == (0.0, 0.0, 0.0)


def test_paired_interval_narrower_than_welch(range_cmp):
    v = range_cmp.values
    key = "drone_deployments_per_week"

    def reps(label):
        s = v[(v["scenario"] == label) & (v["service"] == "all") & (v["metric"] == key)]
        return s.sort_values("replication")["value"].to_numpy()

    a, b = reps("met_baseline"), reps("range3000")
    paired = difference(a, b, paired=True)
    welch = difference(a, b, paired=False)
    assert paired["diff_mean"] == pytest.approx(welch["diff_mean"])
    assert paired["ci_high"] - paired["ci_low"] < welch["ci_high"] - welch["ci_low"]
    row = range_cmp.differences.query("scenario == 'range3000' and metric == @key").iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((paired["ci_low"],
                                                              paired["ci_high"]))


def test_different_demand_is_flagged_unpaired(range_cmp):
    s = range_cmp.summary
    assert s["paired"] == {"range3000": {"all": True}, "busier": {"all": False}}
    assert any(w.startswith("busier:") and "unpaired" in w for w in s["warnings"])
    d = range_cmp.differences
    assert not d.loc[d["scenario"] == "busier", "paired"].any()
    v = range_cmp.values
    # Read by the pandas query strings below through @key (ruff cannot see that use).
    key = "drone_response_mean_s"  # noqa: F841
    a = v.query("scenario == 'met_baseline' and metric == @key")["value"].to_numpy()
    b = v.query("scenario == 'busier' and metric == @key")["value"].to_numpy()
    row = d.query("scenario == 'busier' and metric == @key").iloc[0]
    welch = difference(a, b, paired=False)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((welch["ci_low"], welch["ci_high"]))
    text = format_comparison(s)
    assert "UNPAIRED" in text and "WARNING: busier" in text


def test_suited_share_counted_from_incidents(range_cmp):
    from dronesim.engine.replication import run_replication

    res = range_cmp.results[0]
    rep = run_replication(res.prepared, 1)  # the comparison keeps summaries, not tables
    inc = rep.incidents
    w = inc[(inc["t_call"] >= rep.warmup_s) & (inc["t_call"] < rep.horizon_s)
            & inc["drone_suited"]]
    hit = (w["drone_outcome"] == "on_scene") & (
        w["drone_response_s"] <= res.scenario.coverage.within_s)
    v = range_cmp.values.query("scenario == 'met_baseline' and metric == 'suited_within_target'"
                               " and replication == 1")["value"].iloc[0]
    assert v == pytest.approx(hit.mean())


def test_seed_and_replications_follow_the_reference():
    a = _baseline(simulation={"weeks": 0.2, "replications": 2})
    b = _baseline(name="other_seed", simulation={"weeks": 0.2, "replications": 3, "seed": 5})
    res = compare_scenarios([a, b], workers=1)
    assert [r.scenario.simulation.seed for r in res.results] == [a.simulation.seed] * 2
    assert [len(r.kpis) for r in res.results] == [2, 2]
    assert len(res.summary["notes"]) == 2
    assert (res.differences["diff_mean"] == 0).all()  # the same scenario once seeds agree


def test_per_service_pairing():
    three = load_scenario(MET_BASELINE.with_name("london_three_services.toml"),
                          {"simulation": {"weeks": 0.2, "replications": 2}})
    base = _baseline(simulation={"weeks": 0.2, "replications": 2})
    res = compare_scenarios([three, base], workers=1)
    assert res.summary["services"] == ["all", "police", "fire", "ambulance"]
    # Police incidents come from police streams only: identical in both, so paired.
    assert res.summary["paired"]["met_baseline"] == {"all": False, "police": True}
    assert set(res.differences["service"]) == {"all", "police"}
    assert set(res.means["service"]) == {"all", "police", "fire", "ambulance"}


def test_needs_two_scenarios():
    with pytest.raises(InputError, match="at least two"):
        compare_scenarios([_baseline()])


def test_labels_unique():
    a = _baseline()
    assert scenario_labels([a, a, a]) == ["met_baseline", "met_baseline_2", "met_baseline_3"]


def test_plots_take_tables(range_cmp):
    fig, axes = plt.subplots(3, 1)
    assert comparison_forest(range_cmp.differences, "all", ax=axes) is fig
    plt.close(fig)
    fig = comparison_responses(range_cmp.means)
    assert fig.axes[0].get_title()
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_cli_compare_writes_outputs(tmp_path, capsys):
    b = extends_baseline(tmp_path / "range3000.toml",
                         'name = "range3000"\n[drones]\nmax_range_m = 3000.0\n')
    out = tmp_path / "res" / "cmp"
    code, stdout, stderr = run_cli(["compare", MET_BASELINE, b, "--replications", "2",
                                    "--weeks", "0.2", "--workers", "1", "--out", out], capsys)
    assert code == 0, stderr
    assert "service: all" in stdout and "drone deployments per week" in stdout
    assert "paired on identical incidents" in stdout
    d = pd.read_csv(out / "differences.csv")
    assert list(d.columns[:len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    assert set(d["scenario"]) == {"range3000"} and set(d["reference"]) == {"met_baseline"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 2 and summary["reference"] == "met_baseline"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["label"] for s in manifest["scenarios"]] == ["met_baseline", "range3000"]
    assert (out / "values.csv").is_file()
    assert len(list((out / "scenarios").glob("*.toml"))) == 2
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == ["forest_all.png", "responses.png", "value_all.png"]
    assert [p.name for p in out.parent.iterdir()] == ["cmp"]  # nothing half-written beside it


@pytest.mark.parametrize("case", ["one_scenario", "missing_file", "unknown_key", "bad_dock",
                                  "out_is_file"])
def test_cli_bad_input(case, tmp_path, capsys):
    good = extends_baseline(tmp_path / "good.toml", 'name = "good"\n')
    out = tmp_path / "out"
    files = {
        "one_scenario": [MET_BASELINE],
        "missing_file": [MET_BASELINE, tmp_path / "missing.toml"],
        "unknown_key": [MET_BASELINE, extends_baseline(tmp_path / "unknown.toml",
                                                       "[drones]\nwingspan_m = 1.0\n")],
        "bad_dock": [MET_BASELINE, extends_baseline(
            tmp_path / "paris.toml", "[[docks]]\nname = 'Paris'\nlon = 2.35\nlat = 48.85\n")],
        "out_is_file": [MET_BASELINE, good],
    }[case]
    expect = {"one_scenario": "at least two", "missing_file": "not found",
              "unknown_key": "drones.wingspan_m", "bad_dock": "Paris",
              "out_is_file": "--out"}[case]
    if case == "out_is_file":
        write_toml(out, "")
    code, stdout, stderr = run_cli(["compare", *files, "--replications", "2", "--weeks", "0.2",
                                    "--workers", "1", "--out", out], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("dronesim: error:"), stderr
    assert expect in stderr and "Traceback" not in stderr
    assert stdout == ""
    if case == "out_is_file":
        assert out.read_text() == ""
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".toml") == (
        ["out"] if case == "out_is_file" else [])
