"""The test oracle: each replication's KPIs recomputed from its whole record tables.

dronesim computes every figure once, from record chunks, in the running aggregates
(:class:`dronesim.engine.aggregates.Aggregates`). These functions compute the same figures the
plain way, from the finished incident and mission tables (as read back from Parquet), so the
tests can check the aggregates against an independent implementation
(``tests/test_streaming.py``). They are tests' code, not the package's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dronesim.kpis.statistics import WITHIN_S, in_window

__all__ = ["replication_kpis", "suited_within_share", "ground_extra"]


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
