"""KPIs from record tables: warm-up filter, per-replication figures, confidence intervals.

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
* Suited reached within target (:func:`suited_within_share`, the one definition used by ``run``,
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
from scipy import stats

__all__ = ["ci95", "clipped_ci95", "in_window", "replication_kpis", "combine", "response_block",
           "per_borough_kpis", "suited_within_share", "ground_extra", "WITHIN_S"]

WITHIN_S = (120, 300, 600, 900)


def ci95(values: Iterable[float]) -> list[float]:
    """Student-t 95% interval of the mean of independent values.

    Fewer than two values give no interval: ``[nan, nan]`` (written as null in ``summary.json``
    and shown as "n/a"), never a zero-width interval around the single value.
    """
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    if v.size < 2:
        return [math.nan, math.nan]
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
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


def _resp(v: np.ndarray) -> dict[str, float]:
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"mean": math.nan, "median": math.nan, "p90": math.nan, "n": 0}
    return {"mean": float(v.mean()), "median": float(np.median(v)),
            "p90": float(np.quantile(v, 0.9)), "n": int(v.size)}


def _nanmean(v: np.ndarray) -> float:
    """Mean of the defined values; NaN (without a warning) when there are none."""
    v = np.asarray(v, float)
    ok = ~np.isnan(v)
    return float(v[ok].mean()) if ok.any() else math.nan


def _busy(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> float:
    return float(np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0, None).sum())


def _unstable(t: np.ndarray, wait: np.ndarray, lo: float, hi: float) -> bool:
    ok = ~np.isnan(wait)
    t, wait = t[ok], wait[ok]
    if t.size < 10:
        return False
    span = hi - lo
    first = wait[t < lo + span / 5]
    last = wait[t >= hi - span / 5]
    if first.size == 0 or last.size == 0:
        return False
    return bool(last.mean() > 2 * first.mean() + 600)


def suited_within_share(incidents: pd.DataFrame, warmup_s: float, horizon_s: float,
                        within_s: float) -> float:
    """Share of drone-suited incidents reached by a drone within ``within_s`` of the call.

    The one definition of "suited incidents reached within the target" (module docstring):
    drone-suited incidents called in ``[warmup_s, horizon_s)`` with a drone on scene at most
    ``within_s`` seconds after the call, over every drone-suited incident called in that window.
    NaN when the window holds no drone-suited incident.

    Parameters
    ----------
    incidents
        Incident records of one replication (columns ``t_call``, ``drone_suited``,
        ``drone_outcome``, ``drone_response_s``), possibly of one service only.
    warmup_s, horizon_s
        The measured window.
    within_s
        The target time, normally the scenario's ``coverage.within_s``.
    """
    t = incidents["t_call"].to_numpy(float)
    suited = (t >= warmup_s) & (t < horizon_s) & incidents["drone_suited"].to_numpy(bool)
    if not suited.any():
        return math.nan
    resp = incidents["drone_response_s"].to_numpy(float)[suited]
    on = (incidents["drone_outcome"] == "on_scene").to_numpy(bool)[suited]
    with np.errstate(invalid="ignore"):
        hit = on & (resp <= within_s)
    return float(hit.mean())


def replication_kpis(df: pd.DataFrame, missions: pd.DataFrame, *, warmup_s: float,
                     horizon_s: float, fleet_size: int, pilots: int,
                     within_s: float | None = None) -> dict[str, Any]:
    """Scalar KPIs of one replication (incidents already restricted to one replication).

    With ``within_s`` (the scenario's target time) the result also holds
    ``suited_within_target`` (:func:`suited_within_share`).
    """
    w = in_window(df, warmup_s, horizon_s)
    weeks = (horizon_s - warmup_s) / (7 * 86_400)
    on = w["drone_outcome"] == "on_scene"
    drone = w.loc[on, "drone_response_s"].to_numpy()
    ground_all = w["ground_response_s"].to_numpy()
    ground_d = w.loc[on, "ground_response_s"].to_numpy()
    first = drone < ground_d
    if "drone_resolved" in w:  # resolved by the drone alone: no ground unit came, drone first
        first = first | w.loc[on, "drone_resolved"].to_numpy(bool)
    suited = w["drone_suited"].to_numpy()
    out = {
        "incidents_per_week": len(w) / weeks,
        "drone_suited_per_week": suited.sum() / weeks,
        "drone_deployments_per_week": on.sum() / weeks,
        "drone": _resp(drone),
        "ground": _resp(ground_all),
        "ground_on_drone_incidents": _resp(ground_d),
        "p_drone_first": float(first.mean()) if first.size else math.nan,
        "time_saved_s": _nanmean(ground_d - drone) if drone.size else math.nan,
        "drone_within": {str(t): float((drone <= t).mean()) if drone.size else math.nan
                         for t in WITHIN_S},
        "ground_within": {str(t): float((ground_all <= t).mean()) if ground_all.size else math.nan
                          for t in WITHIN_S},
    }
    counts = w["drone_outcome"].value_counts()
    for name in ("out_of_range", "declined", "queue_abandoned", "cancelled", "pending"):
        out[f"{name}_per_week"] = float(counts.get(name, 0)) / weeks
    qwait = (w["t_drone_assigned"] - w["t_drone_decision"]).to_numpy()
    pwait = (w["t_pilot"] - w["t_drone_assigned"]).to_numpy()
    out["drone_queue_wait_s"] = _nanmean(qwait[on]) if on.any() else math.nan
    out["pilot_wait_s"] = _nanmean(pwait[on]) if on.any() else math.nan
    out["p_pilot_wait"] = float((pwait[on] > 1e-9).mean()) if on.any() else math.nan
    span = horizon_s - warmup_s
    if len(missions):
        air = _busy(missions["t_launch"].to_numpy(), missions["t_landed"].to_numpy(),
                    warmup_s, horizon_s)
        held = _busy(missions["t_pilot"].to_numpy(), missions["t_landed"].to_numpy(),
                     warmup_s, horizon_s)
    else:
        air = held = 0.0
    out["drone_utilisation"] = air / (fleet_size * span) if fleet_size else math.nan
    out["pilot_utilisation"] = held / (pilots * span) if pilots else math.nan
    gwait = (w["t_ground_dispatch"] - w["t_call"]).to_numpy()
    out["ground_dispatch_delay_s"] = _nanmean(gwait)
    t = w["t_call"].to_numpy()
    out["unstable"] = _unstable(t, gwait, warmup_s, horizon_s) or _unstable(
        t[on], qwait[on], warmup_s, horizon_s)
    if within_s is not None:
        out["suited_within_target"] = suited_within_share(w, warmup_s, horizon_s, within_s)
    out.update(ground_extra(w))
    gd = (on & w["ground_response_s"].notna()).to_numpy()
    if "t_relief_leave" in w:
        end = np.fmax(w["t_drone_leave"].to_numpy(float), w["t_relief_leave"].to_numpy(float))
        gap = w["relief_gap_s"].to_numpy(float)
        with np.errstate(invalid="ignore"):
            covered = gd & (end >= w["t_ground_arrival"].to_numpy(float) - 1e-9) & ~(gap > 0)
        out["covered_until_handover"] = float(covered.sum() / gd.sum()) if gd.any() \
            else math.nan
    return out


def ground_extra(w: pd.DataFrame) -> dict[str, float]:
    """Mutual aid share (ground responses by a unit of another borough,
    :mod:`dronesim.engine.ground`; only when some incident had mutual aid) and the priority-1
    ground response (mean, share within 15 minutes) of windowed incidents: the figures compared
    with published per-borough I-grade anchors."""
    g = w["ground_response_s"].to_numpy(float)
    ok = ~np.isnan(g)
    g1 = g[ok & (w["priority"].to_numpy() == 1)]
    out = {"ground_priority1_mean_s": float(g1.mean()) if g1.size else math.nan,
           "ground_priority1_within_900": float((g1 <= 900).mean()) if g1.size else math.nan}
    aided = (w["mutual_aid_from"].astype(str) != "").to_numpy() if "mutual_aid_from" in w \
        else np.zeros(len(w), bool)
    if aided.any():  # (the running aggregates give it whenever mutual aid is on)
        out["mutual_aid_share"] = float(aided[ok].mean())
    return out


def response_block(reps: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Combine per-replication response dicts into mean/median/p90 with 95% intervals."""
    out: dict[str, Any] = {}
    for key in ("mean", "median", "p90"):
        vals = [r[key] for r in reps if not math.isnan(r[key])]
        out[key] = float(np.mean(vals)) if vals else math.nan
        out[f"ci95_{key}"] = clipped_ci95(vals)  # response times are never negative
    out["n"] = int(sum(r["n"] for r in reps))
    return out


def _scalar_block(vals: Sequence[float], share: bool = False, nonneg: bool = False
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
        out[f"{key}_s"] = {t: _scalar_block([k[key][t] for k in kpis], share=True)
                           for t in kpis[0][key]}
    out["unstable_replications"] = int(sum(k["unstable"] for k in kpis))
    return out


def per_borough_kpis(df: pd.DataFrame, *, warmup_s: float, horizon_s: float,
                     codes: Sequence[str], names: Sequence[str]) -> list[dict[str, Any]]:
    """Per-borough response figures, each combined across replications."""
    w = in_window(df, warmup_s, horizon_s)
    weeks = (horizon_s - warmup_s) / (7 * 86_400)
    reps = sorted(w["replication"].unique())
    rows = []
    grouped = {key: g for key, g in w.groupby(["gss_code", "replication"], observed=True)}
    for code, name in zip(codes, names):
        per_rep = [grouped.get((code, r)) for r in reps]
        drone, ground, first, deploy = [], [], [], []
        for g in per_rep:
            if g is None:
                continue
            on = g["drone_outcome"] == "on_scene"
            dr = g.loc[on, "drone_response_s"].to_numpy()
            gr = g["ground_response_s"].to_numpy()
            drone.append(_resp(dr))
            ground.append(_resp(gr))
            deploy.append(on.sum() / weeks)
            if dr.size:
                first.append(float((dr < g.loc[on, "ground_response_s"].to_numpy()).mean()))
        rows.append({
            "gss_code": code,
            "name": name,
            "incidents_per_week": float(
                np.mean([len(g) / weeks for g in per_rep if g is not None])) if drone else 0.0,
            "drone_deployments_per_week": _scalar_block(deploy, nonneg=True),
            "drone_response_s": response_block(drone) if drone else None,
            "ground_response_s": response_block(ground) if ground else None,
            "p_drone_first": _scalar_block(first, share=True),
        })
    return rows
