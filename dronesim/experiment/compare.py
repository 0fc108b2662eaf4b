"""Comparing scenarios against a reference, replication by replication (common random numbers).

Every scenario runs with the reference's seed and number of replications, so replication r of
each scenario draws its demand from the same streams (:mod:`dronesim.inputs.streams`): when the
demand settings are equal, every scenario answers exactly the same incidents, and the difference
``B_r - A_r`` of a figure removes most of the demand noise that separate runs would carry. The
mean of those paired differences gets a Student-t 95% interval over replications.

Whether the incidents really are identical is checked, not assumed: the call times, positions and
services of replication 0 are compared with the reference's, for all incidents and for each
service on its own (each service draws from its own streams, so adding fire demand leaves the
police incidents unchanged). Where they differ (other demand settings, another trace, another
horizon) the comparison is labelled *unpaired* and uses Welch's interval for the difference of
two independent means instead.

A figure that is undefined in a replication (a drone response mean when no drone flew) is left
out of that replication's pair; ``n`` says how many pairs remain. Figures per replication come
from the replication's running aggregates (:class:`dronesim.engine.aggregates.Aggregates`;
``by_service`` for each service of a multi-service scenario), the share of drone-suited incidents
reached within the target included (the same definition as ``run`` and ``sweep``).
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
from ..inputs.scenario import Scenario
from ..kpis import registry
from ..kpis import statistics as metrics
from ..kpis.registry import Metric
from ..kpis.statistics import t_quantile
from .runner import (
    Factor,
    RunResult,
    TaskFailure,
    TaskResult,
    prepare_checked,
    run_result,
    run_tasks,
    safe_label,
)
from .store import OutputFolder
from .workers import load_plugins

__all__ = ["Metric", "METRICS", "ComparisonResult", "compare_scenarios", "difference",
           "scenario_labels", "same_incidents", "UNITS"]

#: Unit groups, in the order tables and plots show them (declared in :mod:`dronesim.kpis.registry`).
UNITS = {key: unit.name for key, unit in registry.UNITS.items()}

#: The compared figures, declared once in :mod:`dronesim.kpis.registry` (``compare=True``).
METRICS: tuple[Metric, ...] = registry.compare_metrics()

_DIFF_COLUMNS = ["scenario", "reference", "service", "metric", "reference_mean", "scenario_mean",
                 "diff_mean", "ci_low", "ci_high", "n", "paired", "unit", "n_reference",
                 "n_scenario"]


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def difference(reference: Sequence[float], scenario: Sequence[float], paired: bool = True
               ) -> dict[str, Any]:
    """Mean difference ``scenario - reference`` with a 95% interval.

    Parameters
    ----------
    reference, scenario
        One value per replication (NaN where undefined). Paired: equally long, element ``r`` of
        both from replication ``r`` under common random numbers.
    paired
        True: Student-t interval of the per-replication differences, over replications where
        both values are defined (their count is ``n``; the two means are over the same
        replications). False: Welch's interval for two independent means, each over its own
        defined values (``n`` is the smaller count).

    Returns
    -------
    dict with reference_mean, scenario_mean, diff_mean, ci_low, ci_high, n, n_reference,
    n_scenario. The interval is NaN when fewer than two values (or pairs) are left.
    """
    a = np.asarray(reference, float)
    b = np.asarray(scenario, float)
    nan = math.nan
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}")
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        d = b - a
        n = int(d.size)
        lo, hi = metrics.ci95(d) if n >= 2 else (nan, nan)
        return {"reference_mean": float(a.mean()) if n else nan,
                "scenario_mean": float(b.mean()) if n else nan,
                "diff_mean": float(d.mean()) if n else nan,
                "ci_low": lo, "ci_high": hi, "n": n, "n_reference": n, "n_scenario": n}
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = int(a.size), int(b.size)
    ma = float(a.mean()) if na else nan
    mb = float(b.mean()) if nb else nan
    diff = mb - ma
    lo = hi = nan
    if na >= 2 and nb >= 2:
        va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
        se = math.sqrt(va + vb)
        if se == 0.0:
            lo = hi = diff
        else:  # Welch-Satterthwaite degrees of freedom
            dof = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
            half = t_quantile(0.975, dof) * se
            lo, hi = diff - half, diff + half
    return {"reference_mean": ma, "scenario_mean": mb, "diff_mean": diff, "ci_low": lo,
            "ci_high": hi, "n": min(na, nb), "n_reference": na, "n_scenario": nb}


def _mean_ci(values: np.ndarray, metric: Metric) -> tuple[float, float, float, int]:
    """Mean and 95% interval of one figure over replications, clipped as the figure declares
    (:attr:`dronesim.kpis.registry.Metric.limits`: at 0 for a non-negative figure, a share's at 1
    too, a signed one such as time saved not at all)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan, math.nan, 0
    lo, hi = metrics.clipped_ci95(v, *metric.limits)
    return float(v.mean()), lo, hi, int(v.size)


# --------------------------------------------------------------------------------------------
# Per-replication figures
# --------------------------------------------------------------------------------------------


def scenario_labels(scenarios: Sequence[Scenario]) -> list[str]:
    """Unique labels: scenario names; where names repeat, the file names if those are unique,
    else the names numbered ``name_2``, ``name_3``, ..."""
    names = [s.name for s in scenarios]
    if len(set(names)) == len(names):
        return names
    stems = [Path(s.source).stem if s.source and not s.source.startswith("<") else None
             for s in scenarios]
    if all(stems) and len(set(stems)) == len(stems):
        return [str(s) for s in stems]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def comparison_dir_name(labels: Sequence[str]) -> str:
    """Default folder name of a comparison: ``compare_<A>_vs_<B>...`` (file-name safe, at most
    120 characters)."""
    name = safe_label("compare_" + "_vs_".join(labels))
    return name if len(name) <= 120 else f"{name[:100]}_and_{len(labels) - 2}_more"


def _services(scenarios: Sequence[Scenario]) -> list[str]:
    """"all", then each service by name when any scenario has more than one or they differ."""
    sets = [tuple(s.services) for s in scenarios]
    if all(len(s) == 1 for s in sets) and len(set(sets)) == 1:
        return ["all"]
    names: list[str] = []
    for s in sets:
        names += [n for n in s if n not in names]
    return ["all", *names]


def _service_kpis(k: dict[str, Any], scn: Scenario, service: str) -> dict[str, Any] | None:
    if service == "all":
        return k
    by = k.get("by_service") or {}
    if service in by:
        return by[service]
    if tuple(scn.services) == (service,):
        return k
    return None


def _values(label: str, res: RunResult, services: Sequence[str]) -> pd.DataFrame:
    """One row per service, metric and replication of one run (from its per-replication KPIs)."""
    scn = res.scenario
    rows = []
    for r, k in enumerate(res.kpis):
        for service in services:
            ks = _service_kpis(k, scn, service)
            if ks is None:
                continue
            for m in METRICS:
                if m.present(ks):  # a figure of a feature that is off is left out
                    rows.append((label, service, m.key, r, m.value(ks)))
    return pd.DataFrame(rows, columns=["scenario", "service", "metric", "replication", "value"])


def same_incidents(a: RunResult, b: RunResult, service: str = "all") -> bool:
    """True if replication 0 of both runs held the same incidents (call time, place, service),
    all of them or those of one ``service`` (compared by their digests)."""
    fa = a.kpis[0]["demand_fingerprint"].get(service)
    fb = b.kpis[0]["demand_fingerprint"].get(service)
    return fa is not None and fa == fb


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class ComparisonResult:
    """Everything a comparison produced; the first scenario is the reference.

    Attributes
    ----------
    results
        One :class:`~dronesim.experiment.runner.RunResult` per scenario, in the order given.
    labels
        Unique scenario labels used in every table.
    differences
        Tidy: one row per (scenario, service, metric) against the reference.
    values
        Tidy: one row per (scenario, service, metric, replication), the per-replication figure.
    means
        Tidy: one row per (scenario, service, metric): mean over replications and 95% interval.
    summary
        The ``summary.json`` contract.
    """

    results: list[RunResult]
    labels: list[str]
    differences: pd.DataFrame
    values: pd.DataFrame
    means: pd.DataFrame
    summary: dict[str, Any]
    wall_s: float

    @property
    def reference(self) -> str:
        return self.labels[0]


def _align(scenarios: Sequence[Scenario], labels: Sequence[str], replications: int | None
           ) -> tuple[list[Scenario], int, list[str]]:
    """Every scenario on the reference's seed and replication count; notes on what changed."""
    ref = scenarios[0].simulation
    n = replications or ref.replications
    notes = []
    out = []
    for s, lab in zip(scenarios, labels):
        if s.simulation.seed != ref.seed:
            notes.append(f"{lab}: seed {s.simulation.seed} replaced by the reference's "
                         f"{ref.seed} (common random numbers)")
        if replications is None and s.simulation.replications != n:
            notes.append(f"{lab}: runs {n} replications like the reference "
                         f"(its file says {s.simulation.replications})")
        out.append(dataclasses.replace(s, simulation=dataclasses.replace(
            s.simulation, seed=ref.seed, replications=n)))
    return out, n, notes


def compare_scenarios(scenarios: Sequence[Scenario], replications: int | None = None,
                      workers: int | None = None, *, data_dir: str | Path | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      labels: Sequence[str] | None = None, scheduler: str | None = None,
                      plugins: Sequence[str] = (), folder: OutputFolder | None = None,
                      on_error: str = "raise") -> ComparisonResult:
    """Run scenarios with common random numbers and compare each with the first.

    Parameters
    ----------
    scenarios
        At least two; the first is the reference. Each runs with the reference's seed and
        replication count (changes are listed in ``summary["notes"]``).
    replications
        Overrides every scenario's ``simulation.replications``.
    workers, scheduler, plugins, folder, on_error
        How the tasks (scenario x replication) run: see
        :func:`dronesim.experiment.runner.run_tasks`.
    progress
        Called as ``progress(done, total)`` after each replication of each scenario.
    labels
        Names for the tables (default :func:`scenario_labels`).

    Every scenario is checked against the map (:func:`dronesim.prepare`) before any run starts,
    so bad input fails fast with :class:`~dronesim.InputError`.
    """
    wall0 = time.perf_counter()
    if len(scenarios) < 2:
        raise InputError("<command line>", "scenarios",
                         f"compare needs at least two scenarios, got {len(scenarios)}")
    labels = list(labels) if labels is not None else scenario_labels(scenarios)
    if len(labels) != len(scenarios) or len(set(labels)) != len(labels):
        raise InputError("<command line>", "labels",
                         "one unique label per scenario expected")
    scns, n, notes = _align(scenarios, labels, replications)
    load_plugins(plugins)  # in this process too, before the scenarios' policies are checked
    # Fail before any run; run the prepared scenarios, so a siting method is solved only once.
    factors = [Factor(lab, prepare_checked(s, data_dir)) for lab, s in zip(labels, scns)]
    results = run_tasks(factors, n, workers=workers, scheduler=scheduler, plugins=plugins,
                        folder=folder, on_error=on_error, data_dir=data_dir, progress=progress)
    return comparison_result(factors, results, n, notes, time.perf_counter() - wall0)


def comparison_result(factors: Sequence[Factor], results: Sequence[TaskResult], n: int,
                      notes: Sequence[str], wall_s: float) -> ComparisonResult:
    """The comparison's tables and summary from its tasks (factor = scenario)."""
    labels = [f.label for f in factors]
    by_factor: list[list[TaskResult]] = [[] for _ in factors]
    for r in results:
        by_factor[r.task.factor].append(r)
    runs = [run_result(f, rs, sum(r.wall_s for r in rs), keep_tables=False)
            for f, rs in zip(factors, by_factor)]
    failures = [f"{factors[r.task.factor].label}, replication {r.task.replication}: {r.error}"
                for r in results if not r.ok]
    if failures:
        raise TaskFailure("; ".join(failures))
    services = _services([f.scenario for f in factors])
    values = pd.concat([_values(lab, res, services) for lab, res in zip(labels, runs)],
                       ignore_index=True)
    paired = {lab: {svc: same_incidents(runs[0], res, svc) for svc in services
                    if _service_kpis(res.kpis[0], res.scenario, svc) is not None
                    and _service_kpis(runs[0].kpis[0], runs[0].scenario, svc) is not None}
              for lab, res in zip(labels[1:], runs[1:])}
    differences = _differences(values, labels, paired)
    means = _means(values)
    summary = _summary(runs, labels, services, n, paired, list(notes), differences, means)
    return ComparisonResult(runs, labels, differences, values, means, summary, wall_s)


def _differences(values: pd.DataFrame, labels: list[str], paired: dict[str, dict[str, bool]]
                 ) -> pd.DataFrame:
    ref = labels[0]
    units = {m.key: m.unit for m in METRICS}
    table = {key: g.sort_values("replication")["value"].to_numpy(float)
             for key, g in values.groupby(["scenario", "service", "metric"], sort=False)}
    rows = []
    for lab in labels[1:]:
        for service in values["service"].unique():
            for m in METRICS:
                a = table.get((ref, service, m.key))
                b = table.get((lab, service, m.key))
                if a is None or b is None:
                    continue
                p = paired[lab][service]
                d = difference(a, b, paired=p)
                rows.append({"scenario": lab, "reference": ref, "service": service,
                             "metric": m.key, **d, "paired": p, "unit": units[m.key]})
    return pd.DataFrame(rows, columns=_DIFF_COLUMNS)


def _means(values: pd.DataFrame) -> pd.DataFrame:
    units = {m.key: m.unit for m in METRICS}
    rows = []
    for (lab, service, metric), g in values.groupby(["scenario", "service", "metric"],
                                                    sort=False):
        mean, lo, hi, n = _mean_ci(g["value"].to_numpy(float), registry.metric(metric))
        rows.append({"scenario": lab, "service": service, "metric": metric,
                     "unit": units[metric], "mean": mean, "ci_low": lo, "ci_high": hi, "n": n})
    return pd.DataFrame(rows, columns=["scenario", "service", "metric", "unit", "mean", "ci_low",
                                       "ci_high", "n"])


def _summary(results: list[RunResult], labels: list[str], services: list[str], n: int,
             paired: dict[str, dict[str, bool]], notes: list[str], differences: pd.DataFrame,
             means: pd.DataFrame) -> dict[str, Any]:
    ref = results[0].scenario
    warnings = []
    for lab, by in paired.items():
        bad = [svc for svc, ok in by.items() if not ok]
        if bad:
            which = "its incidents" if bad == list(by) else f"its incidents ({', '.join(bad)})"
            warnings.append(f"{lab}: {which} differ from {labels[0]}'s (demand settings, "
                            "trace or horizon differ); those differences are unpaired, not on "
                            "identical incidents (Welch intervals)")
    targets = {lab: r.scenario.coverage.within_s for lab, r in zip(labels, results)}
    if len(set(targets.values())) > 1:
        warnings.append("targets (coverage.within_s) differ: 'suited reached within target' "
                        "compares different thresholds: "
                        + ", ".join(f"{k} {v:g} s" for k, v in targets.items()))
    for lab, r in zip(labels, results):
        bad = r.summary.get("unstable_replications", 0)
        if bad:
            warnings.append(f"{lab}: {bad} replication(s) unstable (queue growing without "
                            "bound); its means are not meaningful")
    scenarios = []
    for lab, r in zip(labels, results):
        s, sm = r.scenario, r.summary
        scenarios.append({
            "label": lab, "name": s.name, "scenario_file": s.source,
            "paired": paired.get(lab), "weeks": sm["weeks"], "fleet_size": sm["fleet_size"],
            "dock_count": sm["dock_count"], "pilots": sm["pilots"], "policy": sm["policy"],
            "services": list(s.services), "within_s": s.coverage.within_s,
            "unstable_replications": sm.get("unstable_replications", 0),
            "wall_time_s": round(r.wall_s, 3)})
    diffs: dict[str, Any] = {}
    for row in differences.itertuples(index=False):
        diffs.setdefault(row.scenario, {}).setdefault(row.service, {})[row.metric] = {
            "reference_mean": row.reference_mean, "scenario_mean": row.scenario_mean,
            "diff_mean": row.diff_mean, "ci95": [row.ci_low, row.ci_high], "n": row.n,
            "paired": bool(row.paired), "ci_excludes_zero": bool(
                row.ci_low > 0 or row.ci_high < 0)}
    per: dict[str, Any] = {}
    for row in means.itertuples(index=False):
        per.setdefault(row.scenario, {}).setdefault(row.service, {})[row.metric] = {
            "mean": row.mean, "ci95": [row.ci_low, row.ci_high], "n": row.n}
    return {
        "reference": labels[0],
        "scenarios": scenarios,
        "seed": ref.simulation.seed,
        "replications": n,
        "services": services,
        "metrics": {m.key: {"label": m.label, "unit": m.unit} for m in METRICS
                    if (means["metric"] == m.key).any()},
        "paired": paired,
        "warnings": warnings,
        "notes": notes,
        "differences": diffs,
        "means": per,
    }
