"""Trade-off fronts: the plans no other plan beats on every objective (the Pareto set).

A plan (a growth step of a sweep, a candidate of a siting search, a scenario of a comparison)
is judged here on three figures, each declared once in :mod:`dronesim.kpis.registry`:

* ``cost_per_year_gbp``: cost per year (lower is better);
* ``suited_share_within_target``: share of drone-suited incidents with a drone on scene within
  the target time (higher is better);
* ``equity_worst_share``: the worst borough's share of the same (higher is better).

Plan ``a`` *dominates* plan ``b`` when ``a`` is at least as good as ``b`` on every objective and
strictly better on at least one (the usual definition: Deb, *Multi-Objective Optimization
Using Evolutionary Algorithms*, Wiley 2001, section 2.4). The *front* is the set of plans no
plan dominates. Consequences that the tests pin:

* two plans equal on every objective do not dominate each other: both stay on the front (or
  both leave it, if a third plan beats them);
* a tie on one objective and a strict improvement on another dominates;
* a plan with a missing value (NaN: no cost model, an unstable step with no mean) is never on
  the front and never dominates another (it cannot be compared on every objective).

The figures compared are means over replications. The front does not account for their
sampling error: two plans whose intervals overlap may swap places in another set of
replications, so the tables built from it carry each mean's 95% interval beside it.

:func:`pareto_front` is the one place this is computed; the sweep
(:mod:`dronesim.experiment.sweep`), its table and report, and a siting search call it on their own
tables of plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Objective", "PLAN_OBJECTIVES", "dominates", "non_dominated", "pareto_front"]


@dataclass(frozen=True)
class Objective:
    """One figure of the comparison: its column (a registry key), whether lower or higher is
    better, and how a table or chart names it."""

    column: str
    sense: str  # "min" or "max"
    label: str
    unit: str

    def __post_init__(self) -> None:
        if self.sense not in ("min", "max"):
            raise ValueError(f"objective {self.column}: sense must be 'min' or 'max'")


#: The plan trade-off: cost against reach and against the worst borough's reach.
PLAN_OBJECTIVES: tuple[Objective, ...] = (
    Objective("cost_per_year_gbp", "min", "cost per year", "GBP"),
    Objective("suited_share_within_target", "max", "suited reached within target", "share"),
    Objective("equity_worst_share", "max", "worst borough: suited reached within target",
              "share"),
)


def _as_minimised(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """The values with every "max" column negated, so that lower is better everywhere."""
    v = np.array(values, dtype=float, copy=True)
    if v.ndim != 2 or v.shape[1] != len(senses):
        raise ValueError(f"expected a table of {len(senses)} columns, got shape {v.shape}")
    for j, s in enumerate(senses):
        if s == "max":
            v[:, j] = -v[:, j]
        elif s != "min":
            raise ValueError(f"sense must be 'min' or 'max', not {s!r}")
    return v


def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[str]) -> bool:
    """True when plan ``a`` is no worse than ``b`` on every objective and better on one (a
    missing value on either side: False)."""
    v = _as_minimised(np.array([a, b], dtype=float), senses)
    if not np.isfinite(v).all():
        return False
    return bool((v[0] <= v[1]).all() and (v[0] < v[1]).any())


def non_dominated(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows of ``values`` (plans x objectives) that no row dominates.

    Rows with a missing (non-finite) value are never on the front and never dominate. Row by
    row against all others (n^2 comparisons in memory of n): a few thousand plans in well
    under a second."""
    v = _as_minimised(values, senses)
    ok = np.isfinite(v).all(axis=1)
    front = ok.copy()
    w = v[ok]
    idx = np.flatnonzero(ok)
    for i, row in zip(idx, w):
        beaten = (w <= row).all(axis=1) & (w < row).any(axis=1)
        if beaten.any():
            front[i] = False
    return front


def pareto_front(table: pd.DataFrame,
                 objectives: Sequence[Objective] = PLAN_OBJECTIVES) -> pd.Series:
    """Which rows of ``table`` (one per plan, a column per objective) are on the front.

    Returns a boolean Series on ``table``'s index. A column missing from the table is an
    error (KeyError names it): a front on fewer objectives than asked would mislead."""
    missing = [o.column for o in objectives if o.column not in table.columns]
    if missing:
        raise KeyError(f"pareto_front: the table has no column {', '.join(missing)}")
    vals = table[[o.column for o in objectives]].to_numpy(dtype=float, na_value=np.nan)
    mask = non_dominated(vals, [o.sense for o in objectives])
    return pd.Series(mask, index=table.index, name="on_front")
