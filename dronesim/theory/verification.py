"""Scenarios that are queueing models, and the figures that compare a run with the theory.

dronesim is checked against exact queueing results (:mod:`dronesim.theory.queueing`) by building
scenarios in which the simulator *is* the queueing model, then reading the same figures from the
run's incident and mission tables:

* :func:`mmc_scenario`: one dock of ``c`` drones, zero flight time, exponential time on scene:
  an M/M/c queue (Erlang C).
* :func:`hypercube_scenario`: several docks of one drone each, zero flight time, exponential
  time on scene, nearest-idle dispatch: Larson's (1974) hypercube model with distinguishable
  servers whose preference lists are the docks in order of distance. ``queue="infinite"`` lets
  calls wait for the first drone to come free (first come first served); ``queue="loss"`` sets
  ``max_queue_wait_s = 0``, so a call that finds every drone busy is abandoned at once.

Zero flight time cannot be written in a scenario file (``drones.speed_m_s <= 100``), so the
validated scenario's drone specification is replaced afterwards with an infinite cruise speed:
flight time exactly zero, while distances (``drone_distance_m``) are still recorded. Everything
else makes the queueing assumptions hold: no launch, climb, descent or decision time, no
recharge (a landed drone is ready at once), pilots never binding, a flat arrival profile, no
queue time limit (``"infinite"``), no restricted airspace, a range covering London, and ground
units so late (call handling 24 h) that they never cancel a drone. Such a scenario must run in
the process that built it (``workers=1``): a worker process would re-validate the speed.

The comparison functions read only the documented result tables (``RunResult.incidents`` and
``RunResult.missions``), so they work on any run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..inputs.scenario import Scenario, scenario_from_dict
from ..kpis import statistics as metrics
from .output_analysis import half_width
from .queueing import HypercubeResult, PreferenceAtoms, hypercube, mmc, preference_atoms

__all__ = ["mmc_scenario", "hypercube_scenario", "arrival_rate_per_s", "queue_waits",
           "per_drone_figures", "mmc_check", "hypercube_check", "HypercubeCheck"]

WEEK_S = 7 * 86_400.0


def _base(name: str, docks: list[dict[str, Any]], rate_per_s: float, mean_service_s: float,
          pilots: int, max_wait_s: float, weeks: float, replications: int, seed: int,
          warmup_hours: float) -> Scenario:
    d = {
        "name": name,
        "simulation": {"weeks": weeks, "warmup_hours": warmup_hours,
                       "replications": replications, "seed": seed},
        "drones": {"speed_m_s": 100.0, "decision_s": 0.0, "launch_overhead_s": 0.0,
                   "climb_s": 0.0, "descent_s": 0.0, "endurance_s": 86_400.0,
                   "reserve_s": 0.0, "recharge_full_s": 0.0, "min_on_scene_s": 0.0,
                   "max_range_m": 100_000.0, "loiter": "exponential",
                   "loiter_mean_s": mean_service_s},
        "docks": docks,
        "services": {"police": {
            "incidents_per_week": rate_per_s * WEEK_S, "spatial_weight": "population",
            "time_profile": "flat", "priority_shares": [1.0], "drone_suited_share": [1.0],
            "ground": {"call_handling_mean_s": 86_400.0, "call_handling_cv": 0.0,
                       "travel_model": "straight"}}},
        "control_room": {"pilots": pilots},
        "dispatch": {"policy": "nearest_idle", "max_queue_wait_s": max_wait_s},
        "airspace": {"frz": []},  # no flight restriction zones: every incident reachable
    }
    scn = scenario_from_dict(d)
    return scn.replace(drones=dataclasses.replace(scn.drones, speed_m_s=math.inf))


def mmc_scenario(servers: int, utilisation: float, mean_service_s: float = 600.0, *,
                 weeks: float = 1.5, replications: int = 10, seed: int = 4242,
                 warmup_hours: float = 24.0, x: float = 530_000.0, y: float = 180_000.0
                 ) -> Scenario:
    """An M/M/c queue as a scenario: one dock of ``servers`` drones (module docstring).

    Parameters
    ----------
    servers
        ``c``, the drones at the dock.
    utilisation
        ``rho = lambda / (c mu)`` (< 1); sets the call rate ``lambda = rho c / mean_service_s``.
    mean_service_s
        Mean (exponential) time on scene, the service time.
    weeks, replications, seed, warmup_hours
        The run; the warm-up starts the measurement from a queue near steady state.
    x, y
        The dock (EPSG:27700; default central London).
    """
    if not 0 < utilisation < 1:
        raise ValueError(f"utilisation must be in (0, 1); got {utilisation}")
    rate = utilisation * servers / mean_service_s
    return _base(f"mm{servers}", [{"name": "only", "x": x, "y": y, "drones": int(servers)}],
                 rate, mean_service_s, int(servers) + 10, math.inf, weeks, replications, seed,
                 warmup_hours)


def hypercube_scenario(docks: Sequence[tuple[str, float, float]], utilisation: float,
                       mean_service_s: float = 600.0, *, queue: str = "infinite",
                       weeks: float = 1.5, replications: int = 10, seed: int = 1974,
                       warmup_hours: float = 24.0) -> Scenario:
    """A hypercube queueing model as a scenario: one drone at each of ``docks`` (module
    docstring).

    Parameters
    ----------
    docks
        ``(name, x, y)`` of each dock (EPSG:27700); drone ``i`` is at dock ``i``.
    utilisation
        Offered load per drone, ``lambda mean_service_s / N``.
    queue
        ``"infinite"`` (calls wait for the first drone to come free) or ``"loss"`` (a call
        that finds every drone busy is abandoned at once, ``max_queue_wait_s = 0``).
    """
    if queue not in ("infinite", "loss"):
        raise ValueError(f"queue must be 'infinite' or 'loss'; got {queue!r}")
    n = len(docks)
    if not 0 < utilisation < (1 if queue == "infinite" else math.inf):
        raise ValueError(f"utilisation must be > 0 (and < 1 with a queue); got {utilisation}")
    rate = utilisation * n / mean_service_s
    return _base(f"hypercube{n}-{queue}",
                 [{"name": name, "x": float(x), "y": float(y), "drones": 1}
                  for name, x, y in docks],
                 rate, mean_service_s, n + 10, math.inf if queue == "infinite" else 0.0,
                 weeks, replications, seed, warmup_hours)


def arrival_rate_per_s(scn: Scenario) -> float:
    """Total drone-call arrival rate of a single-service, flat-profile scenario (per second)."""
    (svc,) = scn.services.values()
    return svc.incidents_per_week / WEEK_S


def _window(result: Any) -> tuple[pd.DataFrame, float, float]:
    prep = result.prepared
    inc = result.incidents
    w = metrics.in_window(inc, prep.warmup_s, prep.horizon_s)
    return w[w["drone_suited"].to_numpy(bool)], prep.warmup_s, prep.horizon_s


def queue_waits(result: Any) -> pd.DataFrame:
    """Per replication: mean wait for a drone and the share that waited (drone-suited calls in
    the measured window that a drone reached), and the share not reached (lost).

    The wait is assignment minus decision (``t_drone_assigned - t_drone_decision``).
    """
    w, _, _ = _window(result)
    rows = []
    for rep, g in w.groupby("replication", sort=True):
        on = (g["drone_outcome"] == "on_scene").to_numpy(bool)
        wait = (g["t_drone_assigned"] - g["t_drone_decision"]).to_numpy(float)[on]
        rows.append({"replication": int(rep), "calls": len(g), "served": int(on.sum()),
                     "mean_wait_s": float(wait.mean()) if wait.size else math.nan,
                     "p_wait": float((wait > 0).mean()) if wait.size else math.nan,
                     "p_lost": float(1 - on.mean()),
                     "mean_distance_m": float(g["drone_distance_m"].to_numpy(float)[on].mean())
                     if on.any() else math.nan})
    return pd.DataFrame(rows)


def per_drone_figures(result: Any) -> pd.DataFrame:
    """Per replication and drone: workload (share of the measured window from assignment to
    landing, clipped to the window) and share of the served calls it answered.

    Columns ``replication``, ``drone``, ``dock``, ``workload``, ``dispatch_share``.
    """
    w, lo, hi = _window(result)
    mis = result.missions
    prep = result.prepared
    n = int(np.sum(prep.docks.drones))
    dock_of = np.repeat(np.arange(len(prep.docks)), prep.docks.drones)
    rows = []
    for rep in sorted(w["replication"].unique()):
        m = mis[mis["replication"] == rep]
        busy = np.clip(np.minimum(m["t_landed"].to_numpy(float), hi)
                       - np.maximum(m["t_assigned"].to_numpy(float), lo), 0, None)
        load = np.bincount(m["drone_id"].to_numpy(np.int64), weights=busy, minlength=n)
        g = w[(w["replication"] == rep) & (w["drone_outcome"] == "on_scene")]
        calls = np.bincount(g["drone_id"].to_numpy(np.int64), minlength=n)
        for d in range(n):
            rows.append({"replication": int(rep), "drone": d, "dock": int(dock_of[d]),
                         "workload": load[d] / (hi - lo),
                         "dispatch_share": calls[d] / max(calls.sum(), 1)})
    return pd.DataFrame(rows)


def _row(figure: str, analytic: float, values: Sequence[float], unit: str,
         confidence: float) -> dict[str, Any]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    h = half_width(v, 1 - confidence)
    lo, hi = float(v.mean()) - h, float(v.mean()) + h
    return {"figure": figure, "unit": unit, "analytic": float(analytic),
            "simulated": float(np.nanmean(v)), "ci_low": lo, "ci_high": hi,
            "within_ci": bool(lo <= analytic <= hi)}


def mmc_check(result: Any, confidence: float = 0.95) -> pd.DataFrame:
    """Erlang C against a run of :func:`mmc_scenario`: P(wait), mean wait and utilisation, each
    as analytic value, simulated mean over replications and its Student-t interval
    (``confidence``, default 95%, for each figure on its own)."""
    scn = result.scenario
    c = scn.fleet_size
    q = mmc(arrival_rate_per_s(scn), scn.drones.loiter_mean_s, c)
    waits = queue_waits(result)
    drones = per_drone_figures(result)
    util = drones.groupby("replication")["workload"].mean()
    return pd.DataFrame([
        _row("P(wait)", q.p_wait, waits["p_wait"], "share", confidence),
        _row("mean wait", q.mean_wait, waits["mean_wait_s"], "s", confidence),
        _row("drone utilisation", q.utilisation, util, "share", confidence),
    ])


@dataclasses.dataclass(frozen=True)
class HypercubeCheck:
    """A run of :func:`hypercube_scenario` against the hypercube model.

    Attributes
    ----------
    table
        One row per figure: ``figure``, ``unit``, ``analytic``, ``simulated`` (mean over
        replications), ``ci_low``, ``ci_high`` (Student-t 95%), ``within_ci``.
    model
        The solved :class:`~dronesim.theory.queueing.HypercubeResult`.
    atoms
        The demand atoms (preference lists, shares and mean distances) estimated from the
        run's own call locations.
    per_drone
        :func:`per_drone_figures` of the run.
    """

    table: pd.DataFrame
    model: HypercubeResult
    atoms: PreferenceAtoms
    per_drone: pd.DataFrame


def hypercube_check(result: Any, queue: str | None = None, confidence: float = 0.95
                    ) -> HypercubeCheck:
    """The hypercube model for a run of :func:`hypercube_scenario`, and the comparison.

    The atoms (calls grouped by their nearest-first list of docks) and their shares of the calls
    come from the run's own incidents (every replication, measured window); the total rate, the
    service time and the docks from the scenario. Compared: each drone's workload and share of
    dispatches, the share of calls lost (loss) or that waited and the mean wait (infinite
    queue), and the mean flight distance of a dispatch (Larson's mean travel, as a distance:
    the drones fly at infinite speed here).
    """
    scn = result.scenario
    prep = result.prepared
    if queue is None:
        queue = "loss" if scn.dispatch.max_queue_wait_s == 0 else "infinite"
    if any(d != 1 for d in prep.docks.drones):
        raise ValueError("a hypercube scenario has one drone per dock")
    w, _, _ = _window(result)
    atoms = preference_atoms(w["x"].to_numpy(float), w["y"].to_numpy(float), prep.docks.x,
                             prep.docks.y, max_range=scn.drones.max_range_m)
    lam = arrival_rate_per_s(scn) * (1 - atoms.unreached_share)
    model = hypercube(atoms.shares * lam, atoms.preferences, scn.drones.loiter_mean_s,
                      servers=len(prep.docks), queue=queue)
    drones = per_drone_figures(result)
    waits = queue_waits(result)
    names = list(prep.docks.names)
    rows = []
    for i, name in enumerate(names):
        g = drones[drones["drone"] == i]
        rows.append(_row(f"workload, drone at {name}", model.workloads[i], g["workload"],
                         "share", confidence))
    for i, name in enumerate(names):
        g = drones[drones["drone"] == i]
        rows.append(_row(f"share of dispatches, {name}", model.dispatch_fractions[i],
                         g["dispatch_share"], "share", confidence))
    if queue == "loss":
        rows.append(_row("calls lost (all drones busy)", model.p_lost, waits["p_lost"],
                         "share", confidence))
    else:
        rows.append(_row("P(wait)", model.p_wait, waits["p_wait"], "share", confidence))
        rows.append(_row("mean wait", model.mean_wait, waits["mean_wait_s"], "s", confidence))
    rows.append(_row("mean flight distance", model.mean_travel(atoms.mean_distance),
                     waits["mean_distance_m"], "m", confidence))
    return HypercubeCheck(pd.DataFrame(rows), model, atoms, drones)
