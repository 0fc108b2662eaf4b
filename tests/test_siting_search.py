"""Siting by simulation and sizing (:mod:`dronesim.experiment.siting_search`).

A tiny synthetic London: every incident is at one place in Croydon (a replayed trace), one
listed drone sits in Islington, out of its reach. The best plan is then known (a dock at the
hot spot); the search must find it from a start plan far away, evaluations must be common random
numbers (the same plan twice gives the same figures), the selection rule must separate a large
gap and call identical plans equal, and sizing must return the smallest fleet meeting the target.
Horizons are a day of trace, two replications, so the module takes seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import INSIDE, REPO, run_cli, tiny_scenario_dict

from dronesim.errors import InputError
from dronesim.experiment import siting_search as ss
from dronesim.inputs.scenario import scenario_from_dict

HOT = INSIDE["croydon"]
#: Candidates: the hot spot, and points 6-9 km away from it (all inside London).
FAR = [(HOT[0] + 7000.0, HOT[1] + 2000.0), (HOT[0] - 6000.0, HOT[1] + 3000.0),
       (HOT[0] + 1000.0, HOT[1] + 8000.0), (HOT[0] - 5000.0, HOT[1] + 6000.0)]


def _trace(tmp_path, every_s: float, hours: float = 24.0):
    t = np.arange(3 * 3600.0, 3 * 3600.0 + hours * 3600.0, every_s)
    path = tmp_path / f"trace_{int(every_s)}.csv"
    pd.DataFrame({"time": t, "x": HOT[0], "y": HOT[1], "service": "police", "priority": 1,
                  "drone_suited": 1}).to_csv(path, index=False)
    return path


def _scenario(tmp_path, every_s: float = 1800.0):
    d = tiny_scenario_dict(
        demand={"trace": str(_trace(tmp_path, every_s))},
        docks=[{"name": "Islington", "x": INSIDE["islington"][0], "y": INSIDE["islington"][1],
                "drones": 1}],
        siting={"drones_per_site": 1},
        control_room={"pilots": 20})
    return scenario_from_dict(d, source="<tiny>")


def _space(tmp_path, cands, every_s: float = 1800.0):
    df = pd.DataFrame(cands, columns=["x", "y"])
    return ss.search_space(_scenario(tmp_path, every_s), candidates=df)


def test_search_finds_the_known_best_plan_from_a_far_start(tmp_path):
    space = _space(tmp_path, [*FAR, HOT])  # the hot spot is candidate 4
    res = ss.site_search(space, fleet=2, budget=8, replications=2, start=(0,))
    assert res.start == (0,)
    assert res.best == (4,)
    s = res.summary
    assert s["start"]["mean"] == 0.0  # no drone within reach of the incidents
    assert s["best"]["mean"] > 0.5
    assert s["best_minus_start"]["verdict"] == "b better"
    assert s["interval_excludes_zero"]
    assert s["evaluations"] <= 8
    assert res.trace["accepted"].iloc[-1] or (res.trace["accepted"].sum() >= 2)
    assert set(res.sites["plan"]) == {"start", "best"}


@pytest.mark.parametrize("budget", [4, 5, 7])
def test_search_never_exceeds_its_budget(tmp_path, budget):
    space = _space(tmp_path, [*FAR, HOT])
    res = ss.site_search(space, fleet=2, budget=budget, replications=2, start=(0,))
    assert res.summary["evaluations"] <= budget
    assert len(res.trace) <= budget
    assert res.trace["move"].iloc[0] == "start (given)"


def test_same_plan_twice_gives_identical_figures_crn(tmp_path):
    space = _space(tmp_path, [*FAR, HOT])
    a = ss.Evaluator(space, 2).figures((4,))
    b = ss.Evaluator(space, 2).figures((4,))
    assert a.objective == b.objective and a.borough == b.borough and a.cost == b.cost
    ev = ss.Evaluator(space, 2)
    first = list(ev.figures((4,)).objective)
    assert ev.figures((4,)).objective == first and ev.evaluations == 1  # cached, not re-run
    ev.figures((4,), 4)  # two more replications: one more plan-evaluation, first two kept
    assert ev.evaluations == 2 and ev.figures((4,)).objective[:2] == first


def test_selection_rule_separates_a_large_gap_and_calls_identical_plans_equal(tmp_path):
    space = _space(tmp_path, [*FAR, HOT])
    ev = ss.Evaluator(space, 3)
    far, hot = ev.figures((0,)).objective, ev.figures((4,)).objective
    assert ss.paired_verdict(far, hot)["verdict"] == "b better"
    assert ss.paired_verdict(hot, far)["verdict"] == "a better"
    same = ss.paired_verdict(hot, list(ev.figures((4,)).objective))
    assert same["verdict"] == "no difference" and same["diff_mean"] == 0.0
    assert ss.screen([far, hot]) == [1]
    assert ss.screen([hot, hot]) == [0, 1]
    # Noise larger than the gap: no verdict either way.
    assert ss.paired_verdict([0.5, 0.7, 0.4], [0.6, 0.5, 0.55])["verdict"] == "no difference"


def test_sizing_returns_the_smallest_fleet_meeting_the_target(tmp_path):
    # Heavy demand at the hot spot, candidates around it: more drones, more incidents in time.
    near = [(HOT[0] + dx, HOT[1] + dy) for dx, dy in
            ((0, 0), (300, 0), (0, 300), (-300, 0), (0, -300), (300, 300))]
    scn = _scenario(tmp_path, every_s=300.0)
    cands = pd.DataFrame(near, columns=["x", "y"])
    fleets = [1, 2, 3, 4, 5, 6, 7]
    full = ss.size_search(scn, fleets, target=0.99, within_s=120.0, replications=2,
                          budget=20, candidates=cands)
    worst = dict(zip(full.steps["fleet"], full.steps["worst_share"]))
    # Brute force: every fleet of the pathway simulated.
    space = ss.search_space(scn, candidates=cands)
    ev = ss.Evaluator(space, 2)
    counts = [space.sites_for(f) for f in fleets]
    plans = ss.nested_plans(space, counts)
    shares = {1: 0.0}
    for f, c in zip(fleets[1:], counts[1:]):
        shares[f] = min(ev.figures(plans[c]).borough_means().values())
    assert shares[1] == 0.0 and shares[7] > shares[2]
    for f, v in worst.items():
        assert v == pytest.approx(shares[f])
    target = shares[3] if shares[3] > shares[2] else shares[4]
    out = ss.size_search(scn, fleets, target=target, within_s=120.0, replications=2,
                         budget=20, candidates=cands)
    least = min(f for f in fleets if shares[f] >= target)
    assert out.summary["feasible"] and out.summary["least_fleet"] == least
    assert out.summary["fleet_below_fails"]["fleet"] == least - 1 or least == fleets[0]
    # An unreachable target: infeasible, with the best plan and its gap.
    none = ss.size_search(scn, [1], target=0.5, within_s=120.0, replications=2, budget=4,
                          candidates=cands)
    assert not none.summary["feasible"] and none.summary["least_fleet"] is None
    assert none.summary["gap"] > 0 and none.summary["binding_boroughs"]


def test_bad_input_is_one_line(tmp_path, capsys):
    space = _space(tmp_path, [*FAR, HOT])
    with pytest.raises(InputError, match="--budget"):
        ss.site_search(space, fleet=2, budget=3, replications=2)
    with pytest.raises(InputError, match="--fleet"):
        ss.site_search(space, fleet=1, budget=5, replications=2)
    with pytest.raises(InputError, match="--replications"):
        ss.Evaluator(space, 1)
    with pytest.raises(InputError, match="candidate"):
        ss.site_search(space, fleet=20, budget=5, replications=2)
    with pytest.raises(InputError, match="--target"):
        ss.size_search(space.scenario, [1, 2], target=1.5, within_s=120.0)
    with pytest.raises(InputError, match="--within"):
        ss.size_search(space.scenario, [1, 2], target=0.5, within_s=5.0)
    for argv in (["site", "scenarios/met_growth.toml", "--fleet", "30", "--budget", "2"],
                 ["site", "scenarios/met_growth.toml", "--fleet", "30", "--replications", "1"],
                 ["size", "scenarios/met_growth.toml", "--fleet", "9:30", "--target", "1.5"],
                 ["size", "scenarios/met_growth.toml", "--fleet", "30:9", "--target", "0.8"],
                 ["site", "scenarios/met_growth.toml", "--fleet", "zero"]):
        argv[1] = str(REPO / argv[1])
        code, out, err = run_cli(argv + ["--out", str(tmp_path / "o")], capsys)
        assert code == 2, (argv, err)
        assert err.startswith("dronesim: error:") and err.count("\n") == 1, err
        assert not (tmp_path / "o").exists()


def test_cli_site_writes_search_outputs(tmp_path, capsys):
    import json

    from conftest import write_toml

    tr = _trace(tmp_path, 1800.0)
    body = f"""
name = "tiny_site"
[simulation]
weeks = 0.2
warmup_hours = 2.0
replications = 2
seed = 7
[demand]
trace = "{tr.as_posix()}"
[drones]
max_range_m = 3000.0
[[docks]]
name = "Croydon"
x = {HOT[0]}
y = {HOT[1]}
drones = 1
[services.police]
incidents_per_week = 100.0
[control_room]
pilots = 5
[siting]
drones_per_site = 1
candidates = ["fire_station"]
"""
    path = write_toml(tmp_path / "tiny_site.toml", body)
    code, out, err = run_cli(["site", path, "--fleet", "3", "--budget", "4", "--quiet",
                              "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "search.json").read_text())
    assert summary["fleet"] == 3 and summary["evaluations"] <= 4
    assert math.isfinite(summary["best"]["mean"])
    trace = pd.read_csv(tmp_path / "out" / "trace.csv")
    assert list(trace.columns) == ["evaluation", "move", "mean", "accepted", "plan"]
    assert (tmp_path / "out" / "manifest.json").exists()
