"""Replications of a scenario, sequential or across processes, and the summary they produce.

Replication r of a scenario with seed s always draws from streams keyed by (s, r, name), so the
result does not depend on how replications are spread over processes: parallel equals
sequential. A process pool is the default for more than one replication (on 2 cores it reaches
over 90% efficiency, ../shared/design/PERFORMANCE.md); workers receive the scenario as a plain
dict and rebuild it, and each loads the map once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics
from .model import Prepared, ReplicationResult, prepare, run_replication
from .scenario import Scenario, scenario_from_dict, scenario_to_dict

__all__ = ["RunResult", "run_scenario", "summarise"]


@dataclass(eq=False)
class RunResult:
    """Everything one scenario run produced."""

    prepared: Prepared
    replications: list[ReplicationResult]
    incidents: pd.DataFrame
    missions: pd.DataFrame
    kpis: list[dict[str, Any]]
    summary: dict[str, Any]
    wall_s: float

    @property
    def scenario(self) -> Scenario:
        return self.prepared.scenario


def _worker(scn_dict: dict[str, Any], source: str, data_dir: str | None, rep: int
            ) -> ReplicationResult:
    scn = scenario_from_dict(scn_dict, source=source)
    return run_replication(prepare(scn, data_dir), rep)


def _kpis(prep: Prepared, res: ReplicationResult) -> dict[str, Any]:
    """KPIs of one replication: all services together, and ``by_service``.

    Utilisation per service is that service's share of the whole fleet's (pilots') time.
    """
    within = prep.scenario.coverage.within_s
    k = metrics.replication_kpis(res.incidents, res.missions, warmup_s=res.warmup_s,
                                 horizon_s=res.horizon_s, fleet_size=res.fleet_size,
                                 pilots=res.pilots, within_s=within)
    k["by_service"] = {}
    if len(prep.scenario.services) > 1:
        for name in prep.scenario.services:
            inc = res.incidents[res.incidents["service"] == name]
            mis = res.missions[res.missions["service"] == name] if "service" in res.missions \
                else res.missions.iloc[0:0]
            k["by_service"][name] = metrics.replication_kpis(
                inc, mis, warmup_s=res.warmup_s, horizon_s=res.horizon_s,
                fleet_size=res.fleet_size, pilots=res.pilots, within_s=within)
    return k


def summarise(prep: Prepared, reps: list[ReplicationResult], kpis: list[dict[str, Any]],
              incidents: pd.DataFrame) -> dict[str, Any]:
    """The ``summary.json`` contract (see README, "Outputs")."""
    scn = prep.scenario
    cov = prep.static_coverage()
    combined = metrics.combine(kpis)
    summary: dict[str, Any] = {
        "scenario": scn.name,
        "replications": len(reps),
        "seed": scn.simulation.seed,
        # With a trace the window is the trace's (simulation.weeks is ignored).
        "weeks": (scn.simulation.weeks if prep.trace is None
                  else (prep.horizon_s - prep.warmup_s) / (7 * 86_400.0)),
        "warmup_hours": scn.simulation.warmup_hours,
        "fleet_size": scn.fleet_size,
        "dock_count": len(prep.docks),
        "pilots": scn.control_room.pilots_for(scn.fleet_size),
        "ground_units": reps[0].ground_units if reps else {},
        "policy": scn.dispatch.policy,
        **combined,
        "coverage": {
            "within_s": scn.coverage.within_s,
            "radius_m": cov.radius_m,
            "area_share": cov.area_share,
            "population_share": cov.population_share,
            "demand_share": cov.demand_share,
            "boroughs_covered": cov.boroughs_covered,
            "borough_population_share_threshold": scn.coverage.borough_population_share,
        },
        "per_service": {name: metrics.combine([k["by_service"][name] for k in kpis])
                        for name in (scn.services if len(scn.services) > 1 else ())},
        "per_borough": metrics.per_borough_kpis(
            incidents, warmup_s=prep.warmup_s, horizon_s=prep.horizon_s,
            codes=list(prep.london.borough_codes), names=list(prep.london.borough_names)),
    }
    cov_b = cov.per_borough.set_index("gss_code")
    for row in summary["per_borough"]:
        c = cov_b.loc[row["gss_code"]]
        row["coverage_area_share"] = float(c["area_share"])
        row["coverage_population_share"] = float(c["population_share"])
    return summary


def run_scenario(scn: Scenario, *, replications: int | None = None, workers: int | None = None,
                 data_dir: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run all replications of a scenario and summarise them.

    Parameters
    ----------
    replications
        Overrides ``simulation.replications``.
    workers
        Processes to use; default: one per core, at most one per replication. 1 runs in-process.
    progress
        Called as ``progress(done, total)`` after each replication.
    """
    wall0 = time.perf_counter()
    n = replications or scn.simulation.replications
    prep = prepare(scn, data_dir)
    workers = workers or min(n, os.cpu_count() or 1)
    results: dict[int, ReplicationResult] = {}
    if workers <= 1 or n == 1:
        for r in range(n):
            results[r] = run_replication(prep, r)
            if progress:
                progress(len(results), n)
    else:
        plain = scenario_to_dict(scn)
        dd = str(data_dir) if data_dir is not None else None
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futs = {pool.submit(_worker, plain, scn.source, dd, r): r for r in range(n)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if progress:
                    progress(len(results), n)
    reps = [results[r] for r in range(n)]
    incidents = pd.concat([r.incidents for r in reps], ignore_index=True)
    start = 0
    for r in reps:  # keep one copy: each replication's table becomes a slice of the whole
        n = len(r.incidents)
        r.incidents = incidents.iloc[start:start + n]
        start += n
    missions = pd.concat([r.missions for r in reps], ignore_index=True)
    kpis = [_kpis(prep, r) for r in reps]
    summary = summarise(prep, reps, kpis, incidents)
    return RunResult(prep, reps, incidents, missions, kpis, summary,
                     time.perf_counter() - wall0)
