"""Fleet-growth sweeps: from today's fleet to many drones, with common random numbers.

A growth pathway keeps the scenario's listed docks (today's sites) and adds sites chosen by
nested maximal coverage (:func:`dronesim.siting.nested_max_coverage`): each step keeps every site
of the step before, so static coverage never falls. Every step and replication is simulated with
the scenario's seed, so all steps see the same incidents (common random numbers) and differences
between steps are not sampling noise in demand.

Outputs are tidy tables: one row per step and replication (``steps``), one per step and borough
(``boroughs``), one per step and site (``sites``). A step whose runs are unstable (queues growing
without bound, :func:`dronesim.metrics.replication_kpis`) is flagged and left out of the
confidence bands rather than averaged.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import metrics
from .coverage import reach_radius_m
from .errors import InputError
from .model import prepare, run_replication
from .scenario import DockSite, Scenario, scenario_from_dict, scenario_to_dict
from .sites import candidate_pool, siting_weights, unreachable_demand

__all__ = ["parse_fleet", "plan_growth", "run_sweep", "SweepResult"]


def parse_fleet(text: str, steps: int = 8) -> list[int]:
    """``"9:300"`` (``steps`` evenly spaced sizes), ``"9:300:30"`` (every 30) or ``"9,30,60"``."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) == 2:
                lo, hi = parts
                sizes = np.unique(np.round(np.linspace(lo, hi, max(2, steps))).astype(int))
            elif len(parts) == 3:
                lo, hi, step = parts
                if step < 1 or lo > hi:
                    raise ValueError
                sizes = list(range(lo, hi + 1, step))
                if sizes[-1] != hi:
                    sizes.append(hi)
            else:
                raise ValueError
        else:
            sizes = [int(p) for p in re.split(r"[,\s]+", text) if p]
    except ValueError:
        raise InputError("<command line>", "--fleet",
                         f"expected A:B, A:B:STEP or a list like 9,30,60; got {text!r}") from None
    sizes = sorted(set(int(s) for s in sizes))
    if not sizes or sizes[0] < 1:
        raise InputError("<command line>", "--fleet", f"fleet sizes must be >= 1; got {text!r}")
    return sizes


def plan_growth(scn: Scenario, fleet_sizes: Sequence[int], data_dir: str | Path | None = None
                ) -> list[tuple[int, tuple[DockSite, ...]]]:
    """Dock networks for each fleet size: listed docks pinned, new sites by nested max coverage.

    The fleet of a step is the listed docks' drones plus ``siting.drones_per_site`` per added
    site; a size below the listed fleet keeps the listed docks only. Sizes are rounded up to
    whole sites, so a step may hold up to ``drones_per_site - 1`` drones more than asked.
    """
    from . import siting

    prep = prepare(dataclasses.replace(scn, siting=dataclasses.replace(scn.siting,
                                                                       method="listed")), data_dir)
    london, zones, sp = prep.london, prep.zones, scn.siting
    listed = tuple(prep.scenario.docks)
    base_drones = sum(d.drones for d in listed)
    per = sp.drones_per_site
    counts = [len(listed) + max(0, math.ceil((n - base_drones) / per)) for n in fleet_sizes]
    cands = candidate_pool(prep.scenario, london, zones)
    if counts[-1] - len(listed) > len(cands):
        raise InputError(scn.source, "siting.candidates",
                         f"{len(cands)} usable candidate sites; the largest step needs "
                         f"{counts[-1] - len(listed)}")
    cand_xy = np.vstack([np.column_stack([prep.docks.x, prep.docks.y]),
                         cands[["x", "y"]].to_numpy(float)])
    pts = siting.demand_points(london, "population")
    w = siting_weights(london, sp.weight,
                       unreachable_demand(pts.x, pts.y, zones, scn.airspace.mode))
    radius = reach_radius_m(scn.drones, scn.coverage.within_s)
    distinct = sorted(set(c for c in counts if c > len(listed)))
    chosen: dict[int, np.ndarray] = {len(listed): np.arange(len(listed))}
    if distinct:
        results = siting.nested_max_coverage(cand_xy, pts.xy, w, radius, distinct,
                                             np.arange(len(listed)), time_limit_s=sp.time_limit_s)
        for c, res in zip(distinct, results):
            chosen[c] = res.chosen
    plans = []
    for n, c in zip(fleet_sizes, counts):
        new = [j - len(listed) for j in chosen[c] if j >= len(listed)]
        sites = tuple(DockSite(name=str(r.site_id), x=float(r.x), y=float(r.y), drones=per,
                               source=f"nested max coverage ({sp.weight}), {r.kind}")
                      for r in cands.iloc[sorted(new)].itertuples())
        plans.append((n, listed + sites))
    return plans


def _borough_dynamic(df: pd.DataFrame, warmup_s: float, horizon_s: float, within_s: float
                     ) -> pd.DataFrame:
    """Per borough: the share of drone-suited incidents reached by a drone within T
    (:func:`dronesim.metrics.suited_within_share`)."""
    w = metrics.in_window(df, warmup_s, horizon_s)
    w = w[w["drone_suited"]]
    rows = [{"gss_code": code, "suited": len(g),
             "share_within": metrics.suited_within_share(g, warmup_s, horizon_s, within_s)}
            for code, g in w.groupby("gss_code", observed=True)]
    return pd.DataFrame(rows, columns=["gss_code", "suited", "share_within"])


def _task(plain: dict[str, Any], source: str, data_dir: str | None, step: int, rep: int
          ) -> tuple[int, int, dict[str, Any], pd.DataFrame]:
    scn = scenario_from_dict(plain, source=source)
    prep = prepare(scn, data_dir)
    res = run_replication(prep, rep)
    k = metrics.replication_kpis(res.incidents, res.missions, warmup_s=res.warmup_s,
                                 horizon_s=res.horizon_s, fleet_size=res.fleet_size,
                                 pilots=res.pilots, within_s=scn.coverage.within_s)
    k["suited_share_within_target"] = k["suited_within_target"]  # sweep.csv's column name
    k["pilots"] = res.pilots
    bd = _borough_dynamic(res.incidents, res.warmup_s, res.horizon_s, scn.coverage.within_s)
    return step, rep, k, bd


@dataclass(eq=False)
class SweepResult:
    steps: pd.DataFrame  # one row per step and replication
    boroughs: pd.DataFrame  # one row per step and borough
    sites: pd.DataFrame  # one row per step and site
    summary: dict[str, Any]


def run_sweep(scn: Scenario, fleet_sizes: Sequence[int], *, replications: int | None = None,
              workers: int | None = None, data_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Simulate the growth pathway; see the module docstring."""
    reps = replications or scn.simulation.replications
    plans = plan_growth(scn, fleet_sizes, data_dir)
    step_scn = [dataclasses.replace(scn, docks=docks,
                                    siting=dataclasses.replace(scn.siting, method="listed"))
                for _, docks in plans]
    preps = [prepare(s, data_dir) for s in step_scn]
    tasks = [(scenario_to_dict(s), scn.source, None if data_dir is None else str(data_dir), k, r)
             for k, s in enumerate(step_scn) for r in range(reps)]
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    out: list[tuple[int, int, dict[str, Any], pd.DataFrame]] = []
    if workers <= 1:
        for t in tasks:
            out.append(_task(*t))
            if progress:
                progress(len(out), len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futs = [pool.submit(_task, *t) for t in tasks]
            for f in futs:  # in submission order: results do not depend on completion order
                out.append(f.result())
                if progress:
                    progress(len(out), len(tasks))
    rows, brows, srows = [], [], []
    static = [p.static_coverage(("population",)) for p in preps]
    for step, rep, k, bd in out:
        cov = static[step]
        rows.append({
            "step": step, "fleet_requested": plans[step][0], "fleet_size": preps[step].scenario.fleet_size,
            "sites": len(preps[step].docks), "pilots": k["pilots"], "replication": rep,
            "drone_mean_s": k["drone"]["mean"], "drone_median_s": k["drone"]["median"],
            "drone_p90_s": k["drone"]["p90"], "ground_mean_s": k["ground"]["mean"],
            "deployments_per_week": k["drone_deployments_per_week"],
            "suited_per_week": k["drone_suited_per_week"],
            "suited_share_within_target": k["suited_share_within_target"],
            "p_drone_first": k["p_drone_first"], "time_saved_s": k["time_saved_s"],
            "drone_utilisation": k["drone_utilisation"],
            "pilot_utilisation": k["pilot_utilisation"], "p_pilot_wait": k["p_pilot_wait"],
            "out_of_range_per_week": k["out_of_range_per_week"],
            "declined_per_week": k["declined_per_week"],
            "queue_abandoned_per_week": k["queue_abandoned_per_week"],
            "unstable": k["unstable"],
            "area_share": cov.area_share, "population_share": cov.population_share,
            "boroughs_covered": cov.boroughs_covered,
        })
        bd = bd.assign(step=step, replication=rep)
        brows.append(bd)
    steps = pd.DataFrame(rows).sort_values(["step", "replication"]).reset_index(drop=True)
    london = preps[0].london
    dyn = pd.concat(brows, ignore_index=True).groupby(["step", "gss_code"], as_index=False)[
        "share_within"].mean()
    for k, p in enumerate(preps):
        per = static[k].per_borough.assign(step=k, fleet_size=p.scenario.fleet_size)
        srows.append(per)
    boroughs = pd.concat(srows, ignore_index=True).merge(
        dyn.rename(columns={"share_within": "simulated_share_within_target"}),
        on=["step", "gss_code"], how="left")
    site_rows = [{"step": k, "fleet_size": p.scenario.fleet_size, "site": d.name,
                  "x": x, "y": y, "drones": int(n)}
                 for k, p in enumerate(preps)
                 for d, x, y, n in zip(p.scenario.docks, p.docks.x, p.docks.y, p.docks.drones)]
    sites = pd.DataFrame(site_rows)
    summary = _summary(scn, steps, reps, len(london.boroughs))
    return SweepResult(steps, boroughs, sites, summary)


def _summary(scn: Scenario, steps: pd.DataFrame, reps: int, n_boroughs: int) -> dict[str, Any]:
    per_step = []
    for step, g in steps.groupby("step"):
        unstable = bool(g["unstable"].any())
        row = {"step": int(step), "fleet_size": int(g["fleet_size"].iloc[0]),
               "sites": int(g["sites"].iloc[0]), "pilots": int(g["pilots"].iloc[0]),
               "unstable": unstable,
               "area_share": float(g["area_share"].iloc[0]),
               "population_share": float(g["population_share"].iloc[0]),
               "boroughs_covered": int(g["boroughs_covered"].iloc[0])}
        for col in ("drone_mean_s", "drone_p90_s", "ground_mean_s", "deployments_per_week",
                    "suited_share_within_target", "p_drone_first", "drone_utilisation",
                    "pilot_utilisation"):
            vals = g[col].to_numpy(float)
            # Every figure here is non-negative, the last four are shares: clipped intervals.
            high = None if col.endswith(("_s", "_per_week")) else 1.0
            row[col] = {"mean": None if unstable else float(np.nanmean(vals)),
                        "ci95_mean": [None, None] if unstable else metrics.clipped_ci95(
                            vals, 0.0, high)}
        per_step.append(row)
    covering = [s for s in per_step if s["boroughs_covered"] >= n_boroughs]
    smallest = covering[0]["fleet_size"] if covering else None
    return {
        "scenario": scn.name, "seed": scn.simulation.seed, "replications": reps,
        "weeks": scn.simulation.weeks, "within_s": scn.coverage.within_s,
        "borough_population_share": scn.coverage.borough_population_share,
        "drones_per_site": scn.siting.drones_per_site, "siting_weight": scn.siting.weight,
        "smallest_fleet_covering_every_borough": smallest,
        "largest_fleet": per_step[-1]["fleet_size"] if per_step else None,
        "steps": per_step,
    }
