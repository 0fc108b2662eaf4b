"""Fleet-growth sweeps: from today's fleet to many drones, with common random numbers.

A growth pathway keeps the scenario's listed docks (today's sites) and adds sites chosen by
nested maximal coverage (:func:`dronesim.siting.solvers.nested_max_coverage`): each step keeps every
site of the step before, so static coverage never falls. Every step and replication is simulated
with the scenario's seed, so all steps see the same incidents (common random numbers) and
differences between steps are not sampling noise in demand.

Outputs are tidy tables: one row per step and replication (``steps``), one per step and borough
(``boroughs``), one per step and site (``sites``). A step whose runs are unstable (queues growing
without bound: the ``unstable`` flag of :class:`dronesim.engine.aggregates.Aggregates`) is
flagged and left out of the confidence bands rather than averaged.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..engine.replication import prepare
from ..errors import InputError
from ..inputs.scenario import DockSite, Scenario
from ..kpis import registry
from ..kpis import statistics as metrics
from ..siting.sites import candidate_pool, reach_radius_m, siting_weights, unreachable_demand
from .runner import Factor, TaskResult, prepare_checked, run_tasks

__all__ = ["parse_fleet", "plan_growth", "run_sweep", "sweep_factors", "sweep_result",
           "SweepResult", "front_table"]


#: At most this many fleet sizes in one sweep (each is a factor of the experiment).
MAX_STEPS = 200


def parse_fleet(text: str, steps: int = 8) -> list[int]:
    """``"9:300"`` (``steps`` evenly spaced sizes), ``"9:300:30"`` (every 30) or ``"9,30,60"``.

    Ranges must go up (``A <= B``, ``STEP >= 1``), sizes are whole numbers from 1 to
    :data:`dronesim.inputs.scenario.MAX_FLEET`, and a sweep has at most :data:`MAX_STEPS` sizes.
    Anything else is an :class:`~dronesim.errors.InputError` for ``--fleet``.
    """
    from ..inputs.scenario import MAX_FLEET

    def bad(problem: str) -> InputError:
        return InputError("<command line>", "--fleet", problem)

    text = text.strip()
    form = "expected A:B, A:B:STEP or a list like 9,30,60"
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            if lo > hi:
                raise bad(f"the range goes down ({lo} to {hi}); write it from the smaller "
                          f"size, e.g. {hi}:{lo}")
            if len(parts) == 2:
                if not 1 <= steps <= MAX_STEPS:
                    raise InputError("<command line>", "--steps",
                                     f"must be from 1 to {MAX_STEPS}; got {steps}")
                sizes = list(np.unique(np.round(np.linspace(lo, hi, max(2, steps))).astype(int)))
            else:
                step = parts[2]
                if step < 1:
                    raise bad(f"STEP must be >= 1; got {step}")
                if (hi - lo) // step + 2 > MAX_STEPS:
                    raise bad(f"{text} gives more than {MAX_STEPS} sizes; use a larger STEP")
                sizes = list(range(lo, hi + 1, step))
                if sizes[-1] != hi:
                    sizes.append(hi)
        else:
            sizes = [int(p) for p in re.split(r"[,\s]+", text) if p]
    except InputError:
        raise
    except ValueError:  # int() of something that is not a whole number
        raise bad(f"{form}; got {text!r}") from None
    if not sizes:
        raise bad(f"{form}; got {text!r}")
    if len(sizes) > MAX_STEPS:
        raise bad(f"{len(sizes)} sizes; at most {MAX_STEPS}")
    sizes = sorted(set(int(s) for s in sizes))
    if sizes[0] < 1:
        raise bad(f"fleet sizes must be >= 1; got {text!r}")
    if sizes[-1] > MAX_FLEET:
        raise bad(f"fleet sizes must be <= {MAX_FLEET:,}; got {sizes[-1]:,}")
    return sizes


def plan_growth(scn: Scenario, fleet_sizes: Sequence[int], data_dir: str | Path | None = None
                ) -> list[tuple[int, tuple[DockSite, ...]]]:
    """Dock networks for each fleet size: listed docks pinned, new sites by nested max coverage.

    The fleet of a step is the listed docks' drones plus ``siting.drones_per_site`` per added
    site; a size below the listed fleet keeps the listed docks only. Sizes are rounded up to
    whole sites, so a step may hold up to ``drones_per_site - 1`` drones more than asked.
    """
    from ..siting import solvers as siting

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


@dataclass(eq=False)
class SweepResult:
    steps: pd.DataFrame  # one row per step and replication
    boroughs: pd.DataFrame  # one row per step and borough
    sites: pd.DataFrame  # one row per step and site
    summary: dict[str, Any]
    failures: list[str] = dataclasses.field(default_factory=list)


def sweep_factors(scn: Scenario, fleet_sizes: Sequence[int],
                  data_dir: str | Path | None = None) -> tuple[list[int], list[Factor]]:
    """The growth pathway's steps as experiment factors: ``(requested sizes, factors)``.

    Each factor is the scenario with that step's docks listed (siting solved once, here); all
    share the scenario's seed, so every step answers the same incidents.
    """
    plans = plan_growth(scn, fleet_sizes, data_dir)
    factors = []
    for k, (n, docks) in enumerate(plans):
        step = dataclasses.replace(scn, docks=docks,
                                   siting=dataclasses.replace(scn.siting, method="listed"))
        factors.append(Factor(f"step{k:03d}-fleet{n}", prepare_checked(step, data_dir)))
    return [n for n, _ in plans], factors


def sweep_result(scn: Scenario, requested: Sequence[int], factors: Sequence[Factor],
                 results: Sequence[TaskResult], reps: int) -> SweepResult:
    """Tidy tables and summary of a sweep from its tasks' KPIs (failed tasks left out and
    listed)."""
    rows, brows = [], []
    static = [f.prepared.static_coverage(("population",)) for f in factors]
    failures = []
    for r in results:
        step, rep = r.task.factor, r.task.replication
        if not r.ok:
            failures.append(f"fleet {requested[step]}, replication {rep}: {r.error}")
            continue
        k, cov, prep = r.ran_kpis, static[step], factors[step].prepared
        row = {"step": step, "fleet_requested": requested[step],
               "fleet_size": prep.scenario.fleet_size, "sites": len(prep.docks),
               "pilots": k["pilots"], "replication": rep}
        for m in registry.sweep_columns():  # the figures declared in dronesim.kpis.registry
            if m.present(k):
                row[m.sweep] = m.value(k)
        row.update({"unstable": k["unstable"], "area_share": cov.area_share,
                    "population_share": cov.population_share,
                    "boroughs_covered": cov.boroughs_covered})
        rows.append(row)
        for b in k["per_borough"]:
            if b["suited"]:
                brows.append({"step": step, "gss_code": b["gss_code"], "replication": rep,
                              "share_within": b["suited_within_share"]})
    steps = pd.DataFrame(rows).sort_values(["step", "replication"]).reset_index(drop=True)
    dyn = (pd.DataFrame(brows, columns=["step", "gss_code", "replication", "share_within"])
           .groupby(["step", "gss_code"], as_index=False)["share_within"].mean())
    per = [static[k].per_borough.assign(step=k, fleet_size=f.scenario.fleet_size)
           for k, f in enumerate(factors)]
    boroughs = pd.concat(per, ignore_index=True).merge(
        dyn.rename(columns={"share_within": "simulated_share_within_target"}),
        on=["step", "gss_code"], how="left")
    site_rows = [{"step": k, "fleet_size": f.scenario.fleet_size, "site": d.name,
                  "x": x, "y": y, "drones": int(n)}
                 for k, f in enumerate(factors)
                 for d, x, y, n in zip(f.scenario.docks, f.prepared.docks.x, f.prepared.docks.y,
                                       f.prepared.docks.drones)]
    london = factors[0].prepared.london
    summary = _summary(scn, steps, reps, len(london.boroughs))
    if failures:
        summary["failed_tasks"] = failures
    return SweepResult(steps, boroughs, pd.DataFrame(site_rows), summary, failures)


def run_sweep(scn: Scenario, fleet_sizes: Sequence[int], *, replications: int | None = None,
              workers: int | None = None, data_dir: str | Path | None = None,
              scheduler: str | None = None, plugins: Sequence[str] = (),
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Simulate the growth pathway; see the module docstring."""
    from .workers import load_plugins

    reps = replications or scn.simulation.replications
    load_plugins(plugins)  # in this process too, before the scenario's policy is checked
    requested, factors = sweep_factors(scn, fleet_sizes, data_dir)
    results = run_tasks(factors, reps, workers=workers, scheduler=scheduler, plugins=plugins,
                        on_error="raise", data_dir=data_dir, progress=progress)
    return sweep_result(scn, requested, factors, results, reps)


def _marginal_costs(per_step: list[dict[str, Any]]) -> None:
    """What each step adds: ``marginal_cost_per_minute_saved_gbp``, the extra cost per year of
    the step over the one before divided by the extra minutes saved in a year (means over
    replications; None for the first step, an unstable step, or no extra minute saved)."""
    from ..inputs.demand import WEEK_S
    from ..kpis.costs import YEAR_S

    prev = None
    for row in per_step:
        c = (row.get("cost_per_year_gbp") or {}).get("mean")
        m = (row.get("minutes_saved_per_week") or {}).get("mean")
        if c is None or m is None:
            prev = None
            continue
        out = None
        if prev is not None and m > prev[1]:
            out = (c - prev[0]) / ((m - prev[1]) * YEAR_S / WEEK_S)
        if "cost_per_year_gbp" in row:
            row["marginal_cost_per_minute_saved_gbp"] = out
        prev = (c, m)


def _summary(scn: Scenario, steps: pd.DataFrame, reps: int, n_boroughs: int) -> dict[str, Any]:
    per_step = []
    for step, g in steps.groupby("step"):
        unstable = bool(g["unstable"].any())
        row: dict[str, Any] = {
            "step": int(step), "fleet_size": int(g["fleet_size"].iloc[0]),
            "sites": int(g["sites"].iloc[0]), "pilots": int(g["pilots"].iloc[0]),
            "unstable": unstable,
            "area_share": float(g["area_share"].iloc[0]),
            "population_share": float(g["population_share"].iloc[0]),
            "boroughs_covered": int(g["boroughs_covered"].iloc[0])}
        for m in registry.step_metrics():  # declared in dronesim.kpis.registry (step=True)
            if m.sweep not in g:
                continue
            vals = g[m.sweep].to_numpy(float)
            ok = vals[~np.isnan(vals)]
            low, high = m.limits
            row[m.sweep] = {"mean": None if unstable or not ok.size else float(ok.mean()),
                            "ci95_mean": [None, None] if unstable else metrics.clipped_ci95(
                                ok, low, high)}
        per_step.append(row)
    _marginal_costs(per_step)
    front = _mark_front(per_step)
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
        **({"front": front} if front is not None else {}),
    }


# --- trade-off front (dronesim.kpis.pareto) ----------------------------------------------------


def front_table(per_step: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per step: fleet, sites, and each objective of
    :data:`dronesim.kpis.pareto.PLAN_OBJECTIVES` as its mean over replications with the 95%
    interval (``<key>``, ``<key>_ci_low``, ``<key>_ci_high``), and ``on_front`` (no other step
    beats it on every objective; see :func:`dronesim.kpis.pareto.pareto_front`)."""
    from ..kpis.pareto import PLAN_OBJECTIVES, pareto_front

    rows = []
    for st in per_step:
        row: dict[str, Any] = {"step": st["step"], "fleet_size": st["fleet_size"],
                               "sites": st["sites"], "pilots": st["pilots"],
                               "unstable": st["unstable"]}
        for o in PLAN_OBJECTIVES:
            b = st.get(o.column) or {}
            lo, hi = b.get("ci95_mean") or [None, None]
            row[o.column] = b.get("mean")
            row[f"{o.column}_ci_low"], row[f"{o.column}_ci_high"] = lo, hi
        rows.append(row)
    table = pd.DataFrame(rows)
    if not len(table):
        return table.assign(on_front=pd.Series(dtype=bool))
    num = [c for c in table.columns if c.startswith(tuple(o.column for o in PLAN_OBJECTIVES))]
    table[num] = table[num].astype(float)
    table["on_front"] = pareto_front(table)
    return table


def _mark_front(per_step: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each step's ``on_front`` and the summary's ``front`` block (None when a step lacks an
    objective: no [costs] section, say)."""
    from ..kpis.pareto import PLAN_OBJECTIVES

    if not per_step or not all(o.column in st for st in per_step for o in PLAN_OBJECTIVES):
        return None
    table = front_table(per_step)
    for st, on in zip(per_step, table["on_front"]):
        st["on_front"] = bool(on)
    return {"objectives": [{"key": o.column, "better": "lower" if o.sense == "min" else "higher",
                            "label": o.label} for o in PLAN_OBJECTIVES],
            "fleet_sizes": [int(f) for f, on in zip(table["fleet_size"], table["on_front"])
                            if on],
            "note": "means over replications; steps whose intervals overlap may change places "
                    "in another set of replications"}
