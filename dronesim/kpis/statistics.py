"""The definitions of the KPIs and how replications combine: warm-up filter, confidence
intervals, summary blocks. The figures themselves are counted once, chunk by chunk, by the
running aggregates (:class:`dronesim.engine.aggregates.Aggregates`).

Every figure is computed per replication first; the summary reports the mean over replications
with a Student-t 95% confidence interval (replications are independent; incidents within one
replication are not). Median and P90 are likewise means of per-replication values.

Definitions (../shared/design/MODEL.md)
---------------------------------------
* Drone response = drone on scene - call; ground response = first ground unit on scene - call.
* P(drone first): among incidents a drone reached, the share where it arrived before the ground.
* Time saved: ground response - drone response on incidents a drone reached.
* Utilisation: drone airborne time (launch to landing) over fleet x window; pilot occupancy
  (assigned to landing) over pilots x window.
* Suited reached within target (``suited_within_share``, the one definition used by ``run``,
  ``sweep`` and ``compare``): among the drone-suited incidents called in the measured window, the
  share with a drone on scene within the target time (``coverage.within_s``) of the call. Suited
  incidents no drone reached (out of range, declined, abandoned in the queue) count as not reached,
  so the figure shows fleet size, siting and queueing at once. It is *not* the share of drone
  arrivals within the target (``drone_within_s``), which counts only incidents a drone reached.
* Unstable: a queue that grows without bound does not have a mean worth reporting. A run is
  flagged when the mean queue wait in the last fifth of the window exceeds twice that of the first
  fifth plus 10 minutes (ground units, or drones).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["t_quantile", "ci95", "clipped_ci95", "in_window", "combine", "response_block",
           "metric_block", "scalar_block", "WITHIN_S"]

WITHIN_S = (120, 300, 600, 900)


def t_quantile(p: float, dof: float) -> float:
    """The Student-t quantile ``p`` with ``dof`` degrees of freedom: the one place every
    interval and stopping rule takes it from (scipy.stats, imported here on first use: it costs
    about half a second of start-up that a run without intervals does not need)."""
    from scipy import stats

    return float(stats.t.ppf(p, dof))


def ci95(values: Iterable[float]) -> list[float]:
    """Student-t 95% interval of the mean of independent values.

    Fewer than two values give no interval: ``[nan, nan]`` (written as null in ``summary.json``
    and shown as "n/a"), never a zero-width interval around the single value.
    """
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    if v.size < 2:
        return [math.nan, math.nan]
    half = t_quantile(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return [float(v.mean() - half), float(v.mean() + half)]


def clipped_ci95(values: Iterable[float], low: float | None = 0.0,
                 high: float | None = None) -> list[float]:
    """:func:`ci95` clipped to ``[low, high]``: a non-negative figure (a response time, a count)
    has no interval below 0, a share none above 1, however few the replications."""
    out = []
    for c in ci95(values):
        if not math.isnan(c):
            if low is not None:
                c = max(c, low)
            if high is not None:
                c = min(c, high)
        out.append(c)
    return out


def in_window(df: pd.DataFrame, warmup_s: float, horizon_s: float) -> pd.DataFrame:
    """Incidents called after the warm-up and before the horizon."""
    return df[(df["t_call"] >= warmup_s) & (df["t_call"] < horizon_s)]


def response_block(reps: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Combine per-replication response dicts into mean/median/p90 with 95% intervals."""
    out: dict[str, Any] = {}
    for key in ("mean", "median", "p90"):
        vals = [r[key] for r in reps if not math.isnan(r[key])]
        out[key] = float(np.mean(vals)) if vals else math.nan
        out[f"ci95_{key}"] = clipped_ci95(vals)  # response times are never negative
    out["n"] = int(sum(r["n"] for r in reps))
    return out


def scalar_block(vals: Sequence[float], share: bool = False, nonneg: bool = False
                  ) -> dict[str, Any]:
    """Mean and 95% interval; clipped to [0, 1] for a share, at 0 for a non-negative figure."""
    v = [x for x in vals if not math.isnan(x)]
    if share:
        ci = clipped_ci95(v, 0.0, 1.0)
    else:
        ci = clipped_ci95(v, 0.0 if nonneg else None)
    return {"mean": float(np.mean(v)) if v else math.nan, "ci95_mean": ci}


def metric_block(metric: Any, vals: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% interval of one :mod:`dronesim.kpis.registry` figure over replications, the
    interval clipped as the figure declares (:attr:`dronesim.kpis.registry.Metric.limits`)."""
    v = [x for x in vals if not math.isnan(x)]
    low, high = metric.limits
    return {"mean": float(np.mean(v)) if v else math.nan,
            "ci95_mean": clipped_ci95(v, low, high)}


def combine(kpis: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Across replications: responses as blocks, scalars as mean with a 95% interval, as
    declared in :mod:`dronesim.kpis.registry` (a figure absent from the replications' KPIs, its
    feature off, is left out)."""
    from . import registry

    out: dict[str, Any] = {r.key: response_block([k[r.source] for k in kpis])
                           for r in registry.RESPONSES}
    for m in registry.METRICS:
        if m.summary and m.present(kpis[0]):
            out[m.key] = metric_block(m, [m.value(k) for k in kpis])
    for key in ("drone_within", "ground_within"):
        out[f"{key}_s"] = {t: scalar_block([k[key][t] for k in kpis], share=True)
                           for t in kpis[0][key]}
    out["unstable_replications"] = int(sum(k["unstable"] for k in kpis))
    return out
