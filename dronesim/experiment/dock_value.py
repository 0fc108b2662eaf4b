"""What each dock is worth: what closing it loses and what adding a candidate site gains.

``dronesim dock-value`` and :func:`dock_value` answer "what do we lose if Hyde Park closes?" and
"where would the next dock add most?" with one comparison (:mod:`dronesim.experiment.compare`):
the scenario as it stands is the reference, and every variant runs on common random numbers
(the reference's seed and replications), so the difference of a figure is paired replication by
replication and gets a Student-t 95% interval (:func:`dronesim.experiment.compare.difference`).

Variants
--------
* **Closing a dock**: the resolved scenario (every dock listed, as the run sites it) without
  that dock, **its drones removed** (the fleet shrinks by the dock's drones; the other docks
  keep theirs). This is the loss of the site and its drones together; moving its drones to the
  remaining docks would be another question (a scenario of its own for ``compare``).
* **Adding a candidate site**: the scenario plus one dock at the site with ``candidate_drones``
  drones (default 3, the Met's drones per site) on the ``[drones]`` airframe, owned by any
  service.

Candidate sites (``candidates``)
--------------------------------
* a number N (default :data:`DEFAULT_CANDIDATES`): the N best sites of the scenario's
  ``siting.candidates`` kinds (``data/sites/candidate_sites.csv``: fire stations and hospitals;
  ``hex``: a lattice) by *marginal static coverage*, chosen greedily as the maximal covering
  location problem's greedy heuristic does (Church and ReVelle 1974): each pick covers the most
  drone-suited demand (the scenario's expected drone-suited incidents per small area, the
  weights the dispatch policies see, :attr:`dronesim.engine.prepared.Prepared.policy_context`)
  within the target time's reach (:func:`dronesim.siting.sites.reach_radius_m`) that neither the
  existing docks nor an earlier pick cover. Each pick is then simulated on its own (added alone
  to the scenario). Static coverage ranks the candidates cheaply; the simulation measures them;
* a CSV file of sites (columns ``name`` and ``x``/``y`` (EPSG:27700) or ``lon``/``lat``,
  optional ``drones``), read by :func:`dronesim.siting.solvers.read_sites`;
* 0: no candidates (closures only).

The headline figures (:data:`HEADLINES`) are reported as ``variant - reference``: a closure's
loss is the negative of its difference. Every other compared figure is in ``differences``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..inputs.scenario import DockSite, Scenario, load_scenario
from .compare import ComparisonResult, _align, comparison_result
from .runner import Factor, prepare_checked, run_tasks, safe_label
from .store import DOCK_VALUE_ENTRIES, OutputFolder

__all__ = ["dock_value", "DockValueResult", "HEADLINES", "DEFAULT_CANDIDATES",
           "CANDIDATE_DRONES", "dock_value_factors", "dock_value_result", "best_candidates",
           "DOCK_VALUE_ENTRIES"]

#: The figures the table shows (``variant - reference``), in column order.
HEADLINES = ("suited_within_target", "drone_response_mean_s", "drone_deployments_per_week")
#: Candidate sites simulated when none are named: a few, so the study runs in minutes.
DEFAULT_CANDIDATES = 5
#: Drones at an added candidate site (the Met's three per site).
CANDIDATE_DRONES = 3
_CLI = "<command line>"


@dataclass(frozen=True)
class Variant:
    """One variant of the scenario: a dock closed or a candidate site added."""

    label: str
    kind: str  # "close" | "add"
    site: str
    x: float
    y: float
    drones: int


@dataclass(eq=False)
class DockValueResult:
    """What :func:`dock_value` found.

    ``table``: one row per variant (``kind``, ``site``, ``x``, ``y``, ``drones`` and, for each
    headline figure, ``<key>_diff``, ``<key>_low``, ``<key>_high``: variant minus reference
    with its paired 95% interval), closures first by loss of suited incidents reached within the
    target (largest loss first), then additions by gain (largest first).
    """

    comparison: ComparisonResult
    variants: list[Variant]
    table: pd.DataFrame
    summary: dict[str, Any]

    @property
    def differences(self) -> pd.DataFrame:
        return self.comparison.differences


def _resolved_docks(prep: Any) -> list[DockSite]:
    """The resolved scenario's docks (every site listed, as the run sites them)."""
    return list(prep.scenario.docks)


def best_candidates(prep: Any, n: int) -> pd.DataFrame:
    """The ``n`` candidate sites of the scenario's ``siting.candidates`` kinds that add most
    drone-suited demand within the target's reach, greedily (see the module docstring).
    Columns ``name, x, y, marginal_per_week`` (expected drone-suited incidents a week newly
    within reach)."""
    from ..siting import solvers
    from ..siting.sites import candidate_pool, reach_radius_m

    scn = prep.scenario
    if n <= 0:
        return pd.DataFrame(columns=["name", "x", "y", "marginal_per_week"])
    ctx = prep.policy_context
    pool = candidate_pool(scn, prep.london, prep.zones)
    radius = reach_radius_m(scn.drones, scn.coverage.within_s)
    pts = np.column_stack([ctx.demand_x, ctx.demand_y])
    w = np.asarray(ctx.demand_w, float).copy()
    if len(prep.docks) and radius > 0:
        covered = np.asarray(ctx.cover.sum(axis=0)).ravel() > 0
        w[covered] = 0.0
    if radius <= 0 or not len(pool):
        return pd.DataFrame(columns=["name", "x", "y", "marginal_per_week"])
    a = solvers.coverage_matrix(pool[["x", "y"]].to_numpy(float), pts, radius).tocsc()
    rows = []
    taken = np.zeros(a.shape[1], bool)
    for _ in range(min(n, a.shape[1])):
        gain = a.T @ w
        gain[taken] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        taken[j] = True
        name = pool["site_id"].iat[j] if "site_id" in pool.columns else f"site{j}"
        label = f"{name} {pool['name'].iat[j]}" if "name" in pool.columns else str(name)
        rows.append({"name": label, "x": float(pool["x"].iat[j]), "y": float(pool["y"].iat[j]),
                     "marginal_per_week": float(gain[j])})
        w[a[:, j].nonzero()[0]] = 0.0
    return pd.DataFrame(rows, columns=["name", "x", "y", "marginal_per_week"])


def _csv_candidates(path: Path, prep: Any, drones: int) -> list[tuple[str, float, float, int]]:
    from ..siting.solvers import read_sites

    if not Path(path).is_file():
        raise InputError(_CLI, "--candidates", f"{path}: no such file (a CSV of sites, or a "
                                               "number of candidate sites)")
    df = read_sites(path, london=prep.london)
    names = df["name"] if "name" in df.columns else [f"site{k}" for k in range(len(df))]
    counts = df["drones"] if "drones" in df.columns else [drones] * len(df)
    return [(str(nm), float(x), float(y), int(d) if d == d and int(d) > 0 else drones)
            for nm, x, y, d in zip(names, df["x"], df["y"], counts)]


def dock_value_factors(scn: Scenario, candidates: int | str | Path | None = None, *,
                       candidate_drones: int = CANDIDATE_DRONES,
                       data_dir: str | Path | None = None
                       ) -> tuple[list[Factor], list[Variant], int, list[str]]:
    """The reference and every variant as prepared factors (checked before anything runs),
    the variants, the replications and the alignment notes."""
    if isinstance(candidates, bool):
        raise InputError(_CLI, "--candidates", "a number of sites or a CSV file expected")
    if candidate_drones < 1:
        raise InputError(_CLI, "--candidate-drones", f"must be at least 1, got {candidate_drones}")
    base = prepare_checked(scn, data_dir)
    ref = base.scenario  # resolved: every dock listed
    docks = _resolved_docks(base)
    if not docks:
        raise InputError(scn.source or _CLI, "docks", "the scenario has no dock to value")
    variants: list[Variant] = []
    scns: list[Scenario] = [ref]
    used = {"reference"}

    def label(kind: str, name: str) -> str:
        lab = safe_label(f"{kind}_{name}")
        k = 2
        while lab in used:
            lab = safe_label(f"{kind}_{name}_{k}")
            k += 1
        used.add(lab)
        return lab

    for i, d in enumerate(docks):
        name = d.name or f"dock{i}"
        if len(docks) == 1 and base.scenario.fleet_size == d.drones:
            raise InputError(scn.source or _CLI, "docks",
                             f"{name!r} is the only dock: closing it leaves no drones to "
                             "compare")
        rest = tuple(x for j, x in enumerate(docks) if j != i)
        scns.append(dataclasses.replace(ref, docks=rest))
        variants.append(Variant(label("close", name), "close", name,
                                float(base.docks.x[i]), float(base.docks.y[i]), int(d.drones)))
    if candidates is None:
        candidates = DEFAULT_CANDIDATES
    if isinstance(candidates, int):
        if candidates < 0:
            raise InputError(_CLI, "--candidates", f"must be 0 or more, got {candidates}")
        best = best_candidates(base, candidates)
        sites = [(str(r.name), float(r.x), float(r.y), candidate_drones)
                 for r in best.itertuples(index=False)]
    else:
        sites = _csv_candidates(Path(candidates), base, candidate_drones)
    for name, x, y, n in sites:
        site = DockSite(name=name, x=x, y=y, drones=n, source="dock-value candidate")
        scns.append(dataclasses.replace(ref, docks=(*docks, site)))
        variants.append(Variant(label("add", name), "add", name, x, y, n))
    labels = ["reference", *(v.label for v in variants)]
    aligned, n_reps, notes = _align(scns, labels, None)
    factors = [Factor(lab, prepare_checked(s, data_dir)) for lab, s in zip(labels, aligned)]
    return factors, variants, n_reps, notes


def dock_value_result(comparison: ComparisonResult, variants: Sequence[Variant]
                      ) -> DockValueResult:
    """The dock-value table and summary from the comparison of the variants."""
    d = comparison.differences
    d = d[d["service"] == "all"]
    by = {(r.scenario, r.metric): r for r in d.itertuples(index=False)}
    rows = []
    for v in variants:
        row: dict[str, Any] = {"kind": v.kind, "site": v.site, "label": v.label, "x": v.x,
                               "y": v.y, "drones": v.drones}
        for key in HEADLINES:
            r = by.get((v.label, key))
            row[f"{key}_diff"] = float(r.diff_mean) if r is not None else math.nan
            row[f"{key}_low"] = float(r.ci_low) if r is not None else math.nan
            row[f"{key}_high"] = float(r.ci_high) if r is not None else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        key = f"{HEADLINES[0]}_diff"
        close = table[table["kind"] == "close"].sort_values(key, kind="stable")
        add = table[table["kind"] == "add"].sort_values(key, ascending=False, kind="stable")
        table = pd.concat([close, add], ignore_index=True)
    ref = comparison.results[0]
    means = comparison.summary["means"].get("reference", {}).get("all", {})
    summary = {
        "scenario": ref.scenario.name,
        "scenario_file": ref.scenario.source,
        "seed": comparison.summary["seed"],
        "replications": comparison.summary["replications"],
        "weeks": ref.summary["weeks"],
        "within_s": ref.scenario.coverage.within_s,
        "definition": "variant minus reference, paired on common random numbers (95% "
                      "Student-t interval); close: the dock and its drones removed; add: the "
                      "site with its drones added",
        "reference": {k: means.get(k) for k in HEADLINES},
        "headlines": list(HEADLINES),
        "variants": _clean_rows(table),
        "warnings": comparison.summary["warnings"],
        "notes": comparison.summary["notes"],
    }
    return DockValueResult(comparison, list(variants), table, summary)


def _clean_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in table.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in rec.items()})
    return out


def dock_value(scenario: Scenario | str | Path, *, candidates: int | str | Path | None = None,
               candidate_drones: int = CANDIDATE_DRONES, replications: int | None = None,
               weeks: float | None = None, workers: int | None = None,
               data_dir: str | Path | None = None, folder: OutputFolder | None = None,
               progress: Callable[[int, int], None] | None = None) -> DockValueResult:
    """What closing each dock of ``scenario`` loses and adding each candidate site gains
    (see the module docstring), paired on common random numbers.

    ``scenario``: a scenario or a scenario file; ``replications`` and ``weeks`` override its
    ``[simulation]``; ``candidates``: a number of sites (default :data:`DEFAULT_CANDIDATES`), a
    CSV of sites, or 0; ``folder``: an open :class:`~dronesim.experiment.store.OutputFolder`
    keeping each finished replication (a rerun resumes).
    """
    wall0 = time.perf_counter()
    sim: dict[str, Any] = {}
    if replications is not None:
        sim["replications"] = replications
    if weeks is not None:
        sim["weeks"] = weeks
    if isinstance(scenario, Scenario):
        scn = scenario
        if sim:
            scn = dataclasses.replace(scn, simulation=dataclasses.replace(scn.simulation, **sim))
    else:
        scn = load_scenario(scenario, {"simulation": sim} if sim else None)
    factors, variants, n, notes = dock_value_factors(
        scn, candidates, candidate_drones=candidate_drones, data_dir=data_dir)
    results = run_tasks(factors, n, workers=workers, folder=folder, data_dir=data_dir,
                        progress=progress)
    comparison = comparison_result(factors, results, n, notes, time.perf_counter() - wall0)
    return dock_value_result(comparison, variants)
