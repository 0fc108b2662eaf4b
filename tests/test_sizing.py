"""Greedy sizing, the ceiling (:mod:`dronesim.experiment.sizing`) and the Kim-Nelson selection
(:func:`dronesim.experiment.siting_search.kn_select`).

KN is checked on synthetic normal systems with known means (the slippage configuration, the
least favourable for an indifference-zone rule: the best exactly ``delta`` above the rest) and
common random numbers: over many seeded repetitions it picks the best with probability at least
``1 - alpha``. Sizing uses the tiny synthetic London of ``test_siting_search`` (every incident
at one hot spot in Croydon): the least plan is known (one dock at the hot spot).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli
from test_siting_search import FAR, HOT, _scenario

from dronesim.errors import InputError
from dronesim.experiment import siting_search as ss
from dronesim.experiment import sizing


def _kn_run(seed: int, alpha: float, k: int = 5, delta: float = 0.5, n0: int = 10) -> bool:
    rng = np.random.default_rng(seed)
    mu = np.zeros(k)
    mu[2] = delta  # the best, exactly delta above the others
    common = rng.standard_normal(5000)  # common random numbers: shared by every system
    own = rng.standard_normal((k, 5000))
    res = ss.kn_select(lambda i, r: mu[i] + 0.7 * common[r] + own[i, r], k, n0=n0,
                       delta=delta, alpha=alpha)
    assert res["guaranteed"] and res["survivors"] == [res["best"]]
    return res["best"] == 2


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_kn_correct_selection_probability_at_least_1_minus_alpha(alpha):
    pcs = np.mean([_kn_run(seed, alpha) for seed in range(300)])
    assert pcs >= 1 - alpha, pcs
    # and it is not trivially 1 at the loose level: the rule spends only what alpha allows
    if alpha == 0.3:
        assert pcs < 0.97


def test_kn_stops_on_ties_and_at_the_observation_cap():
    same = ss.kn_select(lambda i, r: float(r % 3), 3, n0=3, delta=0.1)
    assert same["guaranteed"] and same["best"] == 0 and same["observations"] >= 9
    noisy = np.random.default_rng(1).standard_normal((4, 1000))
    capped = ss.kn_select(lambda i, r: noisy[i, r], 4, n0=5, delta=0.01, max_obs=40)
    assert not capped["guaranteed"] and capped["observations"] <= 40
    assert capped["best"] in capped["survivors"]
    with pytest.raises(ValueError, match="n0"):
        ss.kn_select(lambda i, r: 0.0, 2, n0=1, delta=0.1)


def test_site_search_reports_the_kn_rule(tmp_path):
    space = ss.search_space(_scenario(tmp_path), candidates=pd.DataFrame([*FAR, HOT],
                                                                         columns=["x", "y"]))
    res = ss.site_search(space, fleet=2, budget=8, replications=2, start=(0,), delta=0.05)
    s = res.summary
    assert res.best == (4,) and s["delta"] == 0.05 and "Kim & Nelson" in s["rule"]
    assert s["evaluations"] <= 8
    assert any(f["selected"] for f in s["finalists"])
    with pytest.raises(InputError, match="--alpha"):
        ss.site_search(space, fleet=2, budget=8, replications=2, alpha=1.5)


def test_greedy_sizing_adds_the_hot_spot_and_drops_what_is_not_needed(tmp_path):
    scn = _scenario(tmp_path)
    cands = pd.DataFrame([*FAR, HOT], columns=["x", "y"])
    # From the listed dock only (nothing in reach): the hot spot's dock is added.
    out = sizing.size_greedy(scn, target=0.5, within_s=120.0, replications=2, budget=10,
                             candidates=cands)
    s = out.summary
    assert s["feasible"] and s["stop"] == "target met"
    assert [d["name"] for d in s["plan"]["docks"]][1:] == ["candidate:4"]
    assert s["plan"]["fleet"] == 2 and math.isfinite(s["plan"]["cost_per_year_gbp"])
    row = out.boroughs.set_index("name").loc["Croydon"]
    assert row["meets"] and row["share_within"] >= 0.5
    assert [b["name"] for b in s["binding_boroughs"]] == ["Croydon"]
    # From maximal coverage for 3 drones (population demand: two far docks): the hot spot is
    # added, then both far docks are dropped as not needed.
    space = ss.search_space(scn, candidates=cands)
    start = ss.mclp_plan(space, 2)
    assert 4 not in start and len(start) == 2
    out2 = sizing.size_greedy(scn, target=0.5, within_s=120.0, start_fleet=3, replications=2,
                              budget=10, candidates=cands)
    assert [d["name"] for d in out2.summary["plan"]["docks"]][1:] == ["candidate:4"]
    assert out2.steps["move"].str.startswith("drop").sum() == 2
    assert out2.summary["drop_trials"] == 3 and out2.summary["drop_phase_complete"]
    # A fleet cap below what the target needs: stopped, not met.
    capped = sizing.size_greedy(scn, target=0.5, within_s=120.0, replications=2, budget=10,
                                candidates=cands, max_fleet=1)
    assert not capped.summary["feasible"] and capped.summary["stop"] == "fleet cap"


def test_losses_add_up_and_agree_with_the_kpi(tmp_path):
    scn = _scenario(tmp_path)
    space = ss.search_space(scn, candidates=pd.DataFrame([*FAR, HOT], columns=["x", "y"]))
    loss = sizing.losses(space, (4,), 2)
    b = loss["boroughs"]
    total = b[list(sizing.LOSS_COLUMNS)].sum(axis=1)
    assert np.allclose(total, 1.0)
    objective = ss.Evaluator(space, 2).figures((4,)).mean()
    assert loss["london"]["reached"] == pytest.approx(objective)
    # The ceiling bounds what the plan reached; with the far dock nothing is reached but the
    # ceiling (a doorstep dock) is unchanged: it does not depend on where the docks are.
    assert loss["london"]["ceiling"] >= loss["london"]["reached"] - 1e-12
    far = sizing.losses(space, (0,), 2)
    assert far["london"]["reached"] == 0.0 and far["london"]["out_of_range"] == 1.0
    # Every suited incident of the far plan is out of range, so no weather figure is known:
    # the ceiling is then 1 (no observed non-siting loss).
    assert far["london"]["ceiling"] == pytest.approx(1.0)


def test_cli_size_greedy_and_its_errors(tmp_path, capsys):
    code, out, err = run_cli(["size", str(REPO / "scenarios/met_growth.toml"), "--target",
                              "0.8", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--fleet" in err and err.count("\n") == 1, err
    code, out, err = run_cli(["size", str(REPO / "scenarios/met_growth.toml"), "--target",
                              "0.8", "--method", "greedy", "--fleet", "9:30",
                              "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--fleet" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
