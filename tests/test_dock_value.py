"""Per-dock figures (engine aggregates, summary.json ``per_dock``, run table) and ``dronesim
dock-value`` (closing each dock, adding candidate sites, paired on common random numbers)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import INSIDE, MET_BASELINE, run_cli, tiny_scenario_dict

import dronesim
from dronesim.experiment.dock_value import HEADLINES, best_candidates, dock_value
from dronesim.inputs.scenario import DockSite


@pytest.fixture(scope="module")
def tiny_run():
    from dronesim.inputs.scenario import scenario_from_dict

    scn = scenario_from_dict(tiny_scenario_dict(simulation={"replications": 2}),
                             source="<tiny>")
    return dronesim.run_scenario(scn, workers=1)


# --- per-dock figures -------------------------------------------------------------------------


def test_per_dock_deployments_sum_to_the_total_and_utilisation_to_the_fleet(tiny_run):
    for k in tiny_run.kpis:
        per = k["per_dock"]
        assert len(per) == 2
        total = sum(d["drone_deployments_per_week"] for d in per)
        assert total == pytest.approx(k["drone_deployments_per_week"], rel=1e-12)
        assert total > 0
        # Airborne time of the docks' drones adds up to the fleet's.
        drones = [2, 1]
        fleet = sum(d["drone_utilisation"] * n for d, n in zip(per, drones))
        assert fleet == pytest.approx(k["drone_utilisation"] * 3, rel=1e-9)
    s = tiny_run.summary
    assert [r["name"] for r in s["per_dock"]] == ["Islington", "Croydon"]
    assert [r["drones"] for r in s["per_dock"]] == [2, 1]
    assert (s["per_dock"][0]["x"], s["per_dock"][0]["y"]) == pytest.approx(INSIDE["islington"])


def test_per_dock_figures_by_hand_from_the_tables(tiny_run):
    """Deployments, response mean, suited within target and utilisation of each dock,
    recomputed from replication 0's incident and mission tables."""
    prep = tiny_run.prepared
    lo, hi = prep.warmup_s, prep.horizon_s
    weeks = (hi - lo) / (7 * 86_400)
    within = prep.scenario.coverage.within_s
    rep = tiny_run.replications[0]
    inc, mis = rep.incidents, rep.missions
    per = tiny_run.kpis[0]["per_dock"]
    win = inc[(inc["t_call"] >= lo) & (inc["t_call"] < hi)]
    on = win[win["drone_outcome"] == "on_scene"]
    for d, n_drones in enumerate((2, 1)):
        mine = on[on["dock_id"] == d]
        assert per[d]["drone_deployments_per_week"] == pytest.approx(len(mine) / weeks)
        assert per[d]["drone"]["mean"] == pytest.approx(mine["drone_response_s"].mean())
        suited = mine[mine["drone_suited"]]
        hits = int((suited["drone_response_s"] <= within).sum())
        assert per[d]["suited_within_target_per_week"] == pytest.approx(hits / weeks)
        assert per[d]["suited_within_share"] == pytest.approx(hits / len(suited))
        legs = mis[mis["dock_id"] == d]
        air = (np.minimum(legs["t_landed"], hi) - np.maximum(legs["t_launch"], lo)).clip(lower=0)
        assert per[d]["drone_utilisation"] == pytest.approx(
            air.sum() / (n_drones * (hi - lo)), rel=1e-9)
        assert per[d]["charge_hours_per_week"] > 0


def test_run_table_lists_docks_busiest_first_and_says_how_many_more():
    from dronesim.outputs.tables import DOCK_LINES, dock_lines

    def row(name, dep):
        return {"name": name, "drones": 1, "drone_deployments_per_week": {"mean": dep},
                "drone_response_s": {"mean": 100.0}, "suited_within_share": {"mean": 0.5},
                "drone_utilisation": {"mean": 0.1}, "charge_hours_per_week": {"mean": 1.0}}

    rows = [row(f"d{k}", float(k)) for k in range(DOCK_LINES + 3)]
    lines = dock_lines({"per_dock": rows}, "2:00")
    assert lines[1].split()[0] == f"d{DOCK_LINES + 2}"  # busiest first
    assert len(lines) == 1 + DOCK_LINES + 1
    assert lines[-1].strip() == "... 3 more in summary.json per_dock"
    assert dock_lines({}, "2:00") == []


# --- dock value ---------------------------------------------------------------------------------


def test_closing_a_dock_that_serves_nothing_loses_exactly_nothing(tiny_scenario):
    scn = tiny_scenario(simulation={"replications": 2})
    empty = DockSite(name="empty", x=INSIDE["stratford"][0], y=INSIDE["stratford"][1], drones=0)
    scn = dataclasses.replace(scn, docks=(*scn.docks, empty))
    r = dock_value(scn, candidates=0, workers=1)
    row = r.table.set_index("site").loc["empty"]
    for key in HEADLINES:
        assert row[f"{key}_diff"] == 0.0, key
        assert row[f"{key}_low"] == 0.0 and row[f"{key}_high"] == 0.0, key


def test_closing_the_only_dock_near_the_demand_loses(tiny_scenario):
    """Croydon is 18 km from Islington, beyond the 3 km range: its calls are lost."""
    r = dock_value(tiny_scenario(simulation={"replications": 2}), candidates=0, workers=1)
    t = r.table.set_index("site")
    assert list(r.table["kind"]) == ["close", "close"]
    for site in ("Croydon", "Islington"):
        assert t.loc[site, "drone_deployments_per_week_diff"] < 0
        assert t.loc[site, "suited_within_target_diff"] < 0
    # Sorted by loss of suited incidents reached within the target, largest loss first.
    d = r.table["suited_within_target_diff"].to_numpy()
    assert (np.diff(d) >= 0).all()
    # Every replication loses (paired): the interval lies below zero for deployments.
    vals = r.comparison.values
    dep = vals[(vals["metric"] == "drone_deployments_per_week") & (vals["service"] == "all")]
    ref = dep[dep["scenario"] == "reference"].sort_values("replication")["value"].to_numpy()
    for lab in r.table["label"]:
        v = dep[dep["scenario"] == lab].sort_values("replication")["value"].to_numpy()
        assert (v < ref).all()


def test_adding_a_candidate_gains_and_candidates_rank_by_marginal_coverage(tiny_scenario):
    scn = tiny_scenario(simulation={"replications": 2})
    prep = dronesim.prepare(scn)
    best = best_candidates(prep, 3)
    assert len(best) == 3
    g = best["marginal_per_week"].to_numpy()
    assert (g > 0).all() and (np.diff(g) <= 1e-9).all()
    r = dock_value(scn, candidates=1, workers=1)
    add = r.table[r.table["kind"] == "add"]
    assert list(add["site"]) == [best["name"].iat[0]]
    assert add["drone_deployments_per_week_diff"].iat[0] > 0


# --- command line -------------------------------------------------------------------------------


def test_cli_dock_value_writes_its_folder(tmp_path, capsys):
    out = tmp_path / "dv"
    code, stdout, err = run_cli(["dock-value", MET_BASELINE, "--candidates", "1",
                                 "--replications", "2", "--weeks", "0.1", "--workers", "1",
                                 "--quiet", "--out", out], capsys)
    assert code == 0, err
    assert "close West End (3)" in stdout and "add " in stdout
    table = pd.read_csv(out / "dock_value.csv")
    assert list(table["kind"]) == ["close"] * 3 + ["add"]
    s = json.loads((out / "summary.json").read_text())
    assert s["replications"] == 2 and len(s["variants"]) == 4
    assert math.isfinite(s["variants"][0]["suited_within_target_diff"])
    # Rerun: every replication is kept in tasks/, nothing is simulated again.
    code, stdout2, _ = run_cli(["dock-value", MET_BASELINE, "--candidates", "1",
                                "--replications", "2", "--weeks", "0.1", "--workers", "1",
                                "--quiet", "--out", out], capsys)
    assert code == 0
    assert pd.read_csv(out / "dock_value.csv").equals(table)


@pytest.mark.parametrize("argv, field", [
    (["--candidates", "lots"], "--candidates"),
    (["--candidates", "-2"], "--candidates"),
    (["--report"], "--report"),
])
def test_cli_dock_value_bad_input_is_one_line(tmp_path, capsys, argv, field):
    code, out, err = run_cli(["dock-value", MET_BASELINE, *argv, "--out", tmp_path / "x"],
                             capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dronesim: error: <command line>: {field}: ")
    assert not (tmp_path / "x").exists()


def test_cli_dock_value_missing_scenario(tmp_path, capsys):
    code, _, err = run_cli(["dock-value", tmp_path / "nope.toml"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("dronesim: error: ")


def test_cli_dock_value_candidates_file(tmp_path, capsys):
    sites = tmp_path / "sites.csv"
    x, y = INSIDE["stratford"]
    sites.write_text(f"name,x,y,drones\nStratford,{x},{y},2\n", encoding="utf-8")
    out = tmp_path / "dv"
    code, stdout, err = run_cli(["dock-value", MET_BASELINE, "--candidates", sites,
                                 "--replications", "2", "--weeks", "0.05", "--workers", "1",
                                 "--quiet", "--out", out], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "dock_value.csv")
    row = table[table["kind"] == "add"]
    assert list(row["site"]) == ["Stratford"] and list(row["drones"]) == [2]
    assert "add Stratford (2)" in stdout
