"""Writing a run's outputs: tables, summary, manifest, resolved scenario and plots.

Everything is written into a temporary folder beside the target and moved into place only when
complete, so a failed run never leaves a half-written output folder.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from . import plotting
from .experiment import RunResult, safe_label, task_files
from .outputs import OutputFolder
from .scenario import dump_scenario_toml

__all__ = ["write_run", "write_sweep", "format_table", "format_sweep", "json_safe",
           "write_comparison", "format_comparison", "comparison_dir_name", "RUN_ENTRIES",
           "SWEEP_ENTRIES", "COMPARE_ENTRIES", "run_incidents"]

#: What each command writes at the top of its output folder (checked before a run: any of these
#: that exists and was not written by dronesim is refused).
RUN_ENTRIES = ("summary.json", "scenario.resolved.toml", "incidents.parquet", "missions.parquet",
               "plots", "tasks")
SWEEP_ENTRIES = ("summary.json", "scenario.resolved.toml", "sweep.csv", "boroughs.csv",
                 "sites.csv", "plots", "tasks")
COMPARE_ENTRIES = ("summary.json", "differences.csv", "values.csv", "scenarios", "plots", "tasks")

_PACKAGES = ("dronesim", "simpy", "numpy", "scipy", "pandas", "geopandas", "shapely", "pyproj",
             "pyarrow", "matplotlib")


def json_safe(obj: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return json_safe(obj.item())
    return obj


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def _provenance(argv: list[str] | None, wall_s: float, **fields: Any) -> dict[str, Any]:
    """The manifest fields every output folder shares, with the command's own fields."""
    versions = _versions()
    return {"dronesim_version": versions["dronesim"], "git_commit": _git_commit(), **fields,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "packages": versions, "wall_time_s": round(wall_s, 3), "command": argv}


def _save_figures(figs: dict[str, Any], folder: Path) -> list[Path]:
    """Save each figure as ``folder/name`` (PNG, 120 dpi) and close it."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        path = folder / name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def manifest(result: RunResult, argv: list[str] | None = None) -> dict[str, Any]:
    scn = result.scenario
    return _provenance(
        argv, result.wall_s, scenario=scn.name, scenario_file=scn.source,
        seed=scn.simulation.seed, replications=len(result.kpis),
        weeks=scn.simulation.weeks,
        replication_wall_time_s=[round(t.wall_s, 3) for t in result.tasks],
        resumed_replications=sum(t.resumed for t in result.tasks))


def run_incidents(result: RunResult, folder: Path | None, replication: int = 0,
                  columns: list[str] | None = None) -> pd.DataFrame:
    """One replication's incidents: from memory, or read back from the output folder's
    Parquet part (only ``columns``)."""
    if result.incidents is not None:
        df = result.incidents
        return df[df["replication"] == replication]
    task = next(t for t in result.tasks if t.ok and t.task.replication == replication)
    path = Path(folder) / "incidents.parquet" / f"{task.task.key}.parquet"
    return pd.read_parquet(path, columns=columns)


def write_plots(result: RunResult, plots: Path, folder: Path | None = None) -> list[Path]:
    prep = result.prepared
    scn = prep.scenario
    plots.mkdir(parents=True, exist_ok=True)
    first = min(t.task.replication for t in result.tasks if t.ok)
    rep0 = run_incidents(result, folder, first)
    window = rep0[(rep0["t_call"] >= prep.warmup_s) & (rep0["t_call"] < prep.horizon_s)]
    cov = prep.static_coverage()
    docks = pd.DataFrame({"name": prep.docks.names, "x": prep.docks.x, "y": prep.docks.y,
                          "drones": prep.docks.drones})
    figs = {
        "map.png": plotting.borough_map(
            prep.london.boroughs, docks, window, cov.footprint,
            zones=prep.zones.to_geodataframe() if prep.zones is not None else None,
            title=f"{scn.name}: {scn.fleet_size} drones at {len(docks)} docks; shaded: reachable "
                  f"within {scn.coverage.within_s / 60:g} min (replication {first} incidents)"),
        "response_cdf.png": plotting.response_distributions(
            window, title=f"{scn.name}: response time, drone against ground "
                          f"(replication {first})"),
        "boroughs.png": plotting.borough_responses(
            result.summary["per_borough"],
            title=f"{scn.name}: mean response by borough"),
    }
    return _save_figures(figs, plots)


def _json(obj: Any) -> str:
    return json.dumps(json_safe(obj), indent=2) + "\n"


def write_run(result: RunResult, folder: OutputFolder, argv: list[str] | None = None,
              plots: bool = True) -> Path:
    """Write a run's summary, resolved scenario, plots and manifest into ``folder`` (its task
    files, with the Parquet parts of every replication, are already kept there) and commit."""
    tmp = folder.staging
    (tmp / "summary.json").write_text(_json(result.summary), encoding="utf-8")
    (tmp / "scenario.resolved.toml").write_text(dump_scenario_toml(result.scenario),
                                                encoding="utf-8")
    if plots:
        write_plots(result, tmp / "plots", folder.path)
    return folder.commit(manifest(result, argv), keep=task_files(result.tasks, records=True))


def _mmss(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    total = int(round(s))
    m, sec = divmod(abs(total), 60)
    return f"{'-' if total < 0 else ''}{m}:{sec:02d}"


def format_table(summary: dict[str, Any]) -> str:
    """A short plain-text table of the headline figures."""
    d, g = summary["drone_response_s"], summary["ground_response_s"]

    def ci(block: dict[str, Any], key: str = "mean") -> str:
        lo, hi = block[f"ci95_{key}"]
        return f"[{_mmss(lo)}, {_mmss(hi)}]"

    def share(block: dict[str, Any]) -> str:
        m = block["mean"]
        lo, hi = block["ci95_mean"]
        if m is None or not math.isfinite(m):
            return "-"
        return f"{m:.1%} [{lo:.1%}, {hi:.1%}]"

    dep = summary["drone_deployments_per_week"]
    cov = summary["coverage"]
    lines = [
        f"scenario {summary['scenario']}: {summary['fleet_size']} drones, "
        f"{summary['dock_count']} docks, {summary['replications']} replications x "
        f"{summary['weeks']:g} weeks, seed {summary['seed']}",
        f"{'':28}{'mean':>8}  {'95% CI of mean':<18}{'median':>8}{'P90':>8}",
        f"{'drone response (m:ss)':28}{_mmss(d['mean']):>8}  {ci(d):<18}"
        f"{_mmss(d['median']):>8}{_mmss(d['p90']):>8}",
        f"{'officer response (m:ss)':28}{_mmss(g['mean']):>8}  {ci(g):<18}"
        f"{_mmss(g['median']):>8}{_mmss(g['p90']):>8}",
        f"drone deployments per week  {dep['mean']:.1f} "
        f"[{dep['ci95_mean'][0]:.1f}, {dep['ci95_mean'][1]:.1f}]",
        f"P(drone first)              {share(summary['p_drone_first'])}",
        f"drone utilisation           {share(summary['drone_utilisation'])}",
        f"pilot utilisation           {share(summary['pilot_utilisation'])}",
        f"coverage within {cov['within_s']:g} s      area {cov['area_share']:.1%}, "
        f"population {cov['population_share']:.1%}, boroughs {cov['boroughs_covered']}/33",
    ]
    if summary.get("unstable_replications"):
        lines.append(f"WARNING: {summary['unstable_replications']} replication(s) unstable "
                     "(queue growing without bound); means are not meaningful")
    return "\n".join(lines)


def write_sweep(result, scn, folder: OutputFolder, argv: list[str] | None = None,
                wall_s: float = 0.0, tasks=()) -> Path:
    """Write a sweep's tidy tables, summary, plots and manifest into ``folder`` and commit."""
    tmp = folder.staging
    result.steps.to_csv(tmp / "sweep.csv", index=False)
    result.boroughs.to_csv(tmp / "boroughs.csv", index=False)
    result.sites.to_csv(tmp / "sites.csv", index=False)
    (tmp / "summary.json").write_text(_json(result.summary), encoding="utf-8")
    (tmp / "scenario.resolved.toml").write_text(dump_scenario_toml(scn), encoding="utf-8")
    within = scn.coverage.within_s
    figs = {
        "coverage_vs_fleet.png": plotting.sweep_coverage(
            result.steps, within, title=f"{scn.name}: coverage within {within / 60:g} min as "
                                        "the fleet grows"),
        "response_vs_fleet.png": plotting.sweep_response(
            result.steps, title=f"{scn.name}: response as the fleet grows"),
        "borough_coverage.png": plotting.sweep_borough_heatmap(
            result.boroughs, scn.coverage.borough_population_share,
            title=f"{scn.name}: population within {within / 60:g} min by borough (%)"),
    }
    _save_figures(figs, tmp / "plots")
    man = _provenance(argv, wall_s, scenario_file=scn.source, seed=scn.simulation.seed,
                      resumed_tasks=sum(t.resumed for t in tasks))
    return folder.commit(man, keep=task_files(tasks, records=False))


def format_sweep(summary: dict[str, Any]) -> str:
    """Plain-text table of a sweep, one line per step."""
    lines = [f"{'fleet':>6}{'sites':>7}{'pilots':>7}{'drone mean':>12}{'reached<T':>11}"
             f"{'pop<T':>8}{'boroughs':>10}  note"]
    for s in summary["steps"]:
        d = s["drone_mean_s"]["mean"]
        r = s["suited_share_within_target"]["mean"]
        lines.append(f"{s['fleet_size']:>6}{s['sites']:>7}{s['pilots']:>7}{_mmss(d):>12}"
                     f"{'-' if r is None else f'{r:.0%}':>11}{s['population_share']:>8.0%}"
                     f"{s['boroughs_covered']:>7}/33  {'UNSTABLE' if s['unstable'] else ''}")
    small = summary["smallest_fleet_covering_every_borough"]
    lines.append(
        f"smallest fleet covering every borough (>= {summary['borough_population_share']:.0%} "
        f"of population within {summary['within_s'] / 60:g} min): "
        + (f"{small} drones" if small else f"not reached up to {summary['largest_fleet']} drones"))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Scenario comparisons (dronesim.compare)
# --------------------------------------------------------------------------------------------


_safe_name = safe_label


from .compare import comparison_dir_name  # noqa: E402  (re-exported: it was defined here)


def comparison_manifest(result, argv: list[str] | None = None) -> dict[str, Any]:
    """Provenance of a comparison: versions, scenario files, seed, wall times, command."""
    return _provenance(
        argv, result.wall_s,
        reference=result.reference,
        scenarios=[{"label": lab, "scenario": r.scenario.name,
                    "scenario_file": r.scenario.source, "weeks": r.scenario.simulation.weeks,
                    "wall_time_s": round(r.wall_s, 3),
                    "replication_wall_time_s": [round(t.wall_s, 3) for t in r.tasks]}
                   for lab, r in zip(result.labels, result.results)],
        seed=result.summary["seed"],
        replications=result.summary["replications"])


def write_comparison_plots(result, plots: Path) -> list[Path]:
    """One forest plot per service and a bar chart of mean responses, into ``plots``."""
    plots.mkdir(parents=True, exist_ok=True)
    labels = {k: v["label"] for k, v in result.summary["metrics"].items()}
    reps = result.summary["replications"]
    figs = {}
    for service in result.summary["services"]:
        figs[f"forest_{_safe_name(service)}.png"] = plotting.comparison_forest(
            result.differences, service, labels=labels,
            title=f"Difference from {result.reference}, {service} incidents "
                  f"(mean and 95% CI over {reps} replications)")
    figs["responses.png"] = plotting.comparison_responses(
        result.means, title=f"Mean response by scenario and service ({reps} replications)")
    return _save_figures(figs, plots)


def write_comparison(result, folder: OutputFolder, argv: list[str] | None = None,
                     plots: bool = True, tasks=()) -> Path:
    """Write a comparison into ``folder`` and commit: ``differences.csv``, ``values.csv`` (each
    figure per replication), ``summary.json``, ``manifest.json``, ``scenarios/<label>.toml``
    (each resolved scenario as run) and ``plots/``."""
    tmp = folder.staging
    result.differences.to_csv(tmp / "differences.csv", index=False)
    result.values.to_csv(tmp / "values.csv", index=False)
    (tmp / "summary.json").write_text(_json(result.summary), encoding="utf-8")
    scn_dir = tmp / "scenarios"
    scn_dir.mkdir()
    for lab, r in zip(result.labels, result.results):
        (scn_dir / f"{_safe_name(lab)}.resolved.toml").write_text(
            dump_scenario_toml(r.scenario), encoding="utf-8")
    if plots:
        write_comparison_plots(result, tmp / "plots")
    return folder.commit(comparison_manifest(result, argv),
                         keep=task_files(tasks, records=False))


def _cmp_value(v: float | None, unit: str) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if unit == "share":
        return f"{v:.1%}"
    if unit == "s":
        return _mmss(v) if abs(v) >= 60 else f"{v:.1f} s"
    return f"{v:.1f}"


def _cmp_diff(d: dict[str, Any], unit: str, reps: int) -> str:
    m = d["diff_mean"]
    if m is None or not math.isfinite(m):
        return "-"
    scale, suffix = (100.0, " pp") if unit == "share" else (1.0, " s" if unit == "s" else "")

    def f(x: float) -> str:
        return f"{x * scale + 0.0:+.1f}"

    lo, hi = d["ci95"]
    ok = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
    text = f"{f(m)}{suffix} " + (f"[{f(lo)}, {f(hi)}]" if ok else "[n/a]")
    if d["n"] < reps:
        text += f" n={d['n']}"
    return text + (" *" if d["ci_excludes_zero"] else "")


def format_comparison(summary: dict[str, Any]) -> str:
    """Plain-text tables of a comparison: per service, each metric's reference value, each
    scenario's value and its difference from the reference with a 95% interval (``*``: the
    interval excludes 0)."""
    ref = summary["reference"]
    reps = summary["replications"]
    others = [s["label"] for s in summary["scenarios"][1:]]
    weeks = sorted({s["weeks"] for s in summary["scenarios"]})
    lines = [f"compare: reference {ref}; {reps} replications x "
             f"{'/'.join(f'{w:g}' for w in weeks)} weeks, seed {summary['seed']}"]
    for s in summary["scenarios"][1:]:
        yes = [k for k, v in s["paired"].items() if v]
        no = [k for k, v in s["paired"].items() if not v]
        if not no:
            how = "paired on identical incidents (common random numbers)"
        elif not yes:
            how = "UNPAIRED: incidents differ from the reference's (Welch intervals)"
        else:
            how = (f"paired for {', '.join(yes)}; UNPAIRED for {', '.join(no)} (incidents "
                   "differ; Welch intervals)")
        lines.append(f"  {s['label']}: {s['fleet_size']} drones, {s['dock_count']} docks, "
                     f"{s['pilots']} pilots; {how}")
    lines += [f"WARNING: {w}" for w in summary["warnings"]]
    lines += [f"note: {n}" for n in summary["notes"]]
    mw = max(len(m["label"]) for m in summary["metrics"].values()) + 2
    vw = max(12, *(len(x) + 2 for x in [ref, *others]))
    dw = 32
    for service in summary["services"]:
        lines.append("")
        lines.append(f"service: {service}")
        head = f"{'metric':<{mw}}{ref:>{vw}}"
        for o in others:
            head += f"{o:>{vw}}  {('difference [95% CI]'):<{dw}}"
        lines.append(head.rstrip())
        for key, meta in summary["metrics"].items():
            unit = meta["unit"]
            refm = summary["means"].get(ref, {}).get(service, {}).get(key)
            row = f"{meta['label']:<{mw}}{_cmp_value(refm and refm['mean'], unit):>{vw}}"
            for o in others:
                om = summary["means"].get(o, {}).get(service, {}).get(key)
                d = summary["differences"].get(o, {}).get(service, {}).get(key)
                row += (f"{_cmp_value(om and om['mean'], unit):>{vw}}  "
                        f"{(_cmp_diff(d, unit, reps) if d else '-'):<{dw}}")
            lines.append(row.rstrip())
    lines.append("")
    lines.append("differences: scenario - reference, mean over replications with a 95% "
                 "interval; shares in percentage points (pp); * the interval excludes 0")
    return "\n".join(lines)
