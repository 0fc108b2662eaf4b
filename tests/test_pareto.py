"""The trade-off front (dronesim.kpis.pareto): the non-dominated set by hand on toy tables
(ties, duplicates, missing values), against the definition on random tables, its plot, and
the sweep's outputs that carry it (summary, front.csv, the table, the HTML report)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.kpis.pareto import PLAN_OBJECTIVES, dominates, non_dominated, pareto_front

COST, REACH, WORST = (o.column for o in PLAN_OBJECTIVES)
SENSES = [o.sense for o in PLAN_OBJECTIVES]


def _plans(rows):
    return pd.DataFrame(rows, columns=["plan", COST, REACH, WORST]).set_index("plan")


def test_front_by_hand():
    t = _plans([
        ("A", 100, 0.50, 0.10),  # cheapest
        ("B", 200, 0.60, 0.10),  # dearer, reaches more
        ("C", 200, 0.55, 0.10),  # same cost as B, reaches less, same worst: B beats it
        ("D", 300, 0.60, 0.20),  # same reach as B, better worst borough: on the front
        ("E", 300, 0.60, 0.20),  # duplicate of D: neither beats the other, both on
        ("F", 100, 0.50, 0.10),  # duplicate of A
        ("G", 150, 0.40, 0.30),  # best worst borough at a middling cost: on
        ("H", 400, 0.60, 0.20),  # D at a higher cost: beaten (tie on two, worse on one)
        ("I", 50, math.nan, 0.9),  # no reach figure: never on the front, never beats
    ])
    front = pareto_front(t)
    assert front.name == "on_front"
    assert sorted(t.index[front]) == ["A", "B", "D", "E", "F", "G"]


def test_missing_value_does_not_dominate():
    t = _plans([("A", 100, 0.5, 0.1), ("B", math.nan, 0.9, 0.9)])
    assert list(pareto_front(t)) == [True, False]
    assert not dominates([math.nan, 0.9, 0.9], [100, 0.5, 0.1], SENSES)


def test_dominates_needs_one_strict_improvement():
    assert not dominates([1, 0.5, 0.1], [1, 0.5, 0.1], SENSES)
    assert dominates([1, 0.5, 0.1], [1, 0.5, 0.09], SENSES)
    assert dominates([0.9, 0.5, 0.1], [1, 0.5, 0.1], SENSES)
    assert not dominates([0.9, 0.4, 0.1], [1, 0.5, 0.1], SENSES)  # a trade-off


def test_missing_column_is_named():
    with pytest.raises(KeyError, match="equity_worst_share"):
        pareto_front(pd.DataFrame({COST: [1.0], REACH: [0.5]}))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
                min_size=1, max_size=25))
def test_front_matches_the_definition(rows):
    """Small integer grids force many ties and duplicates."""
    v = np.array(rows, float)
    mask = non_dominated(v, SENSES)
    for i in range(len(v)):
        beaten = any(dominates(v[j], v[i], SENSES) for j in range(len(v)) if j != i)
        assert mask[i] == (not beaten)
    assert mask.any()  # a finite set always has a non-dominated plan


def test_front_table_and_plot():
    from dronesim.experiment.sweep import front_table
    from dronesim.outputs.plots import trade_off_front

    def step(k, n, cost, reach, worst, unstable=False):
        if unstable:  # an unstable step has no mean and no interval
            return {"step": k, "fleet_size": n, "sites": n // 3, "pilots": 2, "unstable": True,
                    **{c: {"mean": None, "ci95_mean": [None, None]} for c in (COST, REACH,
                                                                             WORST)}}
        return {"step": k, "fleet_size": n, "sites": n // 3, "pilots": 2, "unstable": unstable,
                COST: {"mean": cost, "ci95_mean": [cost * 0.9, cost * 1.1]},
                REACH: {"mean": reach, "ci95_mean": [reach - 0.05, reach + 0.05]},
                WORST: {"mean": worst, "ci95_mean": [None, None]}}

    steps = [step(0, 9, 1e6, 0.05, 0.0), step(1, 20, 2e6, 0.04, 0.0),  # 20: beaten by 9
             step(2, 30, 3e6, 0.20, 0.01), step(3, 40, None, None, None, unstable=True)]
    t = front_table(steps)
    assert list(t["on_front"]) == [True, False, True, False]
    assert t.loc[0, f"{COST}_ci_low"] == pytest.approx(0.9e6)
    assert math.isnan(t.loc[0, f"{WORST}_ci_high"])
    fig = trade_off_front(t, 120.0, title="toy front")
    ax = fig.axes[0]
    assert ax.get_title() == "toy front"
    assert "GBP" in ax.get_xlabel() and "2:00" in ax.get_ylabel()
    assert "Worst borough" in fig.axes[1].get_ylabel()  # the colour bar
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert any("front" in x for x in labels)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_sweep_outputs_carry_the_front(results_folders, tmp_path):
    from dronesim.outputs.html import write_html_report
    from dronesim.outputs.tables import format_sweep_table

    folder = results_folders["sweep"]
    summary = json.loads((folder / "summary.json").read_text())
    front = pd.read_csv(folder / "front.csv")
    assert list(front["fleet_size"]) == [s["fleet_size"] for s in summary["steps"]]
    # recomputed from the summary's means, the same front
    means = pd.DataFrame([{o.column: (s.get(o.column) or {}).get("mean")
                           for o in PLAN_OBJECTIVES} for s in summary["steps"]]).astype(float)
    assert list(pareto_front(means)) == list(front["on_front"])
    assert [s["on_front"] for s in summary["steps"]] == list(front["on_front"])
    assert summary["front"]["fleet_sizes"] == list(front.loc[front["on_front"], "fleet_size"])
    assert (folder / "plots" / "trade_off_front.png").stat().st_size > 10_000
    text = format_sweep_table(summary)
    assert "front: steps no other step beats" in text
    page = write_html_report(folder, tmp_path / "sweep.html").read_text()
    assert 'id="front"' in page and "Trade-off front" in page
