"""Writing the outputs of run, sweep and compare into an output folder: summary, manifest,
resolved scenario, tables and plots.

Everything is staged in the :class:`~dronesim.experiment.store.OutputFolder` and committed file by
file when complete (see :mod:`dronesim.experiment.store`); the record tables of a run are already
there, one Parquet part per replication, kept by the experiment runner as each replication finished.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import naming
from ..experiment.compare import ComparisonResult, comparison_dir_name
from ..experiment.dock_value import DockValueResult
from ..experiment.runner import RunResult, TaskResult, safe_label, task_files
from ..experiment.store import OutputFolder
from ..experiment.sweep import SweepResult
from ..inputs.scenario import Scenario, dump_scenario_toml
from . import tables
from .results import geometry_from_prepared

__all__ = ["write_run", "write_sweep", "format_table", "format_sweep", "json_safe",
           "write_comparison", "format_comparison", "comparison_dir_name", "run_incidents",
           "write_sensitivity", "sensitivity_summary"]

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
        with naming(path):
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
    assert folder is not None, "a run that streamed its tables reads them from its folder"
    path = Path(folder) / "incidents.parquet" / f"{task.task.key}.parquet"
    return pd.read_parquet(path, columns=columns)


#: Incident columns the run's figures read.
_FIGURE_COLUMNS = ["t_call", "x", "y", "replication", "service", "drone_outcome",
                   "drone_response_s", "ground_response_s"]


def write_plots(result: RunResult, plots: Path, folder: Path | None = None) -> list[Path]:
    """The run's figures (:func:`dronesim.outputs.figures.run_figures`); the map is drawn from the
    first replication, the response distributions from every replication pooled (read back
    replication by replication from their Parquet parts; whole replications up to
    :data:`dronesim.outputs.html.MAX_CHART_ROWS` incidents, as the HTML report's chart, so a
    long run is never held in memory whole; the figure's title says how many were drawn)."""
    from .html import MAX_CHART_ROWS

    prep = result.prepared
    plots.mkdir(parents=True, exist_ok=True)
    parts: list[pd.DataFrame] = []
    total = 0
    for rep in sorted(t.task.replication for t in result.tasks if t.ok):
        inc = run_incidents(result, folder, rep, _FIGURE_COLUMNS)
        inc = inc[(inc["t_call"] >= prep.warmup_s) & (inc["t_call"] < prep.horizon_s)]
        if parts and total + len(inc) > MAX_CHART_ROWS:
            break
        parts.append(inc)
        total += len(inc)
    window = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    from . import figures  # matplotlib: imported only when figures are drawn

    figs = figures.run_figures(prep.scenario, geometry_from_prepared(prep), window,
                               result.summary)
    return _save_figures(figs, plots)


def _json(obj: Any) -> str:
    return json.dumps(json_safe(obj), indent=2) + "\n"


def _text(path: Path, text: str) -> None:
    """Write a staged text file; an error (a full disk) names it."""
    with naming(path):
        path.write_text(text, encoding="utf-8")


def _csv(df: pd.DataFrame, path: Path) -> None:
    with naming(path):
        df.to_csv(path, index=False)


def write_run(result: RunResult, folder: OutputFolder, argv: list[str] | None = None,
              plots: bool = True) -> Path:
    """Write a run's summary, resolved scenario, plots and manifest into ``folder`` (its task
    files, with the Parquet parts of every replication, are already kept there) and commit."""
    tmp = folder.staging
    _text(tmp / "summary.json", _json(result.summary))
    _text(tmp / "scenario.resolved.toml", dump_scenario_toml(result.scenario))
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
    """A short plain-text table of the headline figures
    (:func:`dronesim.outputs.tables.format_run_table`)."""
    return tables.format_run_table(summary)


def write_sweep(result: SweepResult, scn: Scenario, folder: OutputFolder,
                argv: list[str] | None = None, wall_s: float = 0.0,
                tasks: Sequence[TaskResult] = (), plots: bool = True) -> Path:
    """Write a sweep's tidy tables, summary, plots (unless ``plots`` is false) and manifest into
    ``folder`` and commit."""
    tmp = folder.staging
    _csv(result.steps, tmp / "sweep.csv")
    _csv(result.boroughs, tmp / "boroughs.csv")
    _csv(result.sites, tmp / "sites.csv")
    front = None
    if "front" in result.summary:  # the trade-off front (dronesim.kpis.pareto); needs [costs]
        from ..experiment.sweep import front_table

        front = front_table(result.summary["steps"])
        _csv(front, tmp / "front.csv")
    _text(tmp / "summary.json", _json(result.summary))
    _text(tmp / "scenario.resolved.toml", dump_scenario_toml(scn))
    if plots:
        from . import figures  # matplotlib: imported only when figures are drawn

        _save_figures(figures.sweep_figures(result.steps, result.boroughs, scn, front),
                      tmp / "plots")
    man = _provenance(argv, wall_s, scenario_file=scn.source, seed=scn.simulation.seed,
                      resumed_tasks=sum(t.resumed for t in tasks))
    return folder.commit(man, keep=task_files(tasks, records=False))


def format_sweep(summary: dict[str, Any]) -> str:
    """Plain-text table of a sweep, one line per step
    (:func:`dronesim.outputs.tables.format_sweep_table`)."""
    return tables.format_sweep_table(summary)


# --------------------------------------------------------------------------------------------
# Scenario comparisons (dronesim.experiment.compare)
# --------------------------------------------------------------------------------------------


_safe_name = safe_label


def comparison_manifest(result: ComparisonResult, argv: list[str] | None = None) -> dict[str, Any]:
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


def write_comparison_plots(result: ComparisonResult, plots: Path) -> list[Path]:
    """One forest plot per service and a bar chart of mean responses, into ``plots``."""
    plots.mkdir(parents=True, exist_ok=True)
    from . import figures  # matplotlib: imported only when figures are drawn

    figs = figures.comparison_figures(result.differences, result.means, result.summary)
    return _save_figures(figs, plots)


def write_comparison(result: ComparisonResult, folder: OutputFolder,
                     argv: list[str] | None = None, plots: bool = True,
                     tasks: Sequence[TaskResult] = ()) -> Path:
    """Write a comparison into ``folder`` and commit: ``differences.csv``, ``values.csv`` (each
    figure per replication), ``summary.json``, ``manifest.json``, ``scenarios/<label>.toml``
    (each resolved scenario as run) and ``plots/``."""
    tmp = folder.staging
    _csv(result.differences, tmp / "differences.csv")
    _csv(result.values, tmp / "values.csv")
    _text(tmp / "summary.json", _json(result.summary))
    scn_dir = tmp / "scenarios"
    scn_dir.mkdir()
    for lab, r in zip(result.labels, result.results):
        _text(scn_dir / f"{_safe_name(lab)}.resolved.toml", dump_scenario_toml(r.scenario))
    if plots:
        write_comparison_plots(result, tmp / "plots")
    return folder.commit(comparison_manifest(result, argv),
                         keep=task_files(tasks, records=False))


def format_comparison(summary: dict[str, Any]) -> str:
    """Plain-text tables of a comparison within 100 columns
    (:func:`dronesim.outputs.tables.format_comparison_table`)."""
    return tables.format_comparison_table(summary)


# --------------------------------------------------------------------------------------------
# Dock value (dronesim.experiment.dock_value)
# --------------------------------------------------------------------------------------------


def write_dock_value(result: DockValueResult, folder: OutputFolder,
                     argv: list[str] | None = None, tasks: Sequence[TaskResult] = ()) -> Path:
    """Write a dock-value study into ``folder`` and commit: ``dock_value.csv`` (one row per
    variant: the headline differences with their paired 95% intervals), ``summary.json`` (the
    same, with the reference's figures), ``differences.csv`` and ``values.csv`` (every compared
    figure, as ``compare`` writes them), ``scenarios/<label>.resolved.toml``."""
    cmp_ = result.comparison
    tmp = folder.staging
    _csv(result.table, tmp / "dock_value.csv")
    _text(tmp / "summary.json", _json(result.summary))
    _csv(cmp_.differences, tmp / "differences.csv")
    _csv(cmp_.values, tmp / "values.csv")
    scn_dir = tmp / "scenarios"
    scn_dir.mkdir()
    for lab, r in zip(cmp_.labels, cmp_.results):
        _text(scn_dir / f"{_safe_name(lab)}.resolved.toml", dump_scenario_toml(r.scenario))
    return folder.commit(comparison_manifest(cmp_, argv), keep=task_files(tasks, records=False))


# --------------------------------------------------------------------------------------------
# Sensitivity studies (dronesim.experiment.sensitivity)
# --------------------------------------------------------------------------------------------


def sensitivity_summary(result: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` of a sensitivity folder: what ran, and each headline figure's base
    value, envelope and driver (the full study is in ``sensitivity.json``)."""
    return {
        "scenario": result["scenario"], "seed": result["seed"],
        "replications": result["replications"], "weeks": result["weeks"],
        "sensitivity": {"file": "sensitivity.json", "methods": result["methods"],
                        "assumptions": len(result["assumptions"]),
                        "headlines": {h["key"]: {"base": h["base"],
                                                 "envelope": h.get("envelope"),
                                                 "driver": h.get("driver")}
                                      for h in result["headlines"]}}}


def write_sensitivity(result: dict[str, Any], scn: Scenario, folder: OutputFolder,
                      argv: list[str] | None = None, wall_s: float = 0.0,
                      tasks: Sequence[TaskResult] = (), plots: bool = True) -> Path:
    """Write a sensitivity study into ``folder`` and commit: ``sensitivity.json`` (everything),
    ``sensitivity.csv`` (one row per figure and assumption), ``sensitivity.md`` (the headline
    table), ``summary.json``, the base ``scenario.resolved.toml`` and ``plots/tornado_*.png``."""
    from ..experiment.sensitivity import markdown_table, table_rows

    tmp = folder.staging
    _text(tmp / "sensitivity.json", _json(result))
    _csv(pd.DataFrame(table_rows(result)), tmp / "sensitivity.csv")
    _text(tmp / "sensitivity.md", markdown_table(result))
    _text(tmp / "summary.json", _json(sensitivity_summary(result)))
    _text(tmp / "scenario.resolved.toml", dump_scenario_toml(scn))
    if plots:
        from . import figures  # matplotlib: imported only when figures are drawn

        _save_figures(figures.sensitivity_figures(json_safe(result)), tmp / "plots")
    man = _provenance(argv, wall_s, scenario_file=scn.source, seed=scn.simulation.seed,
                      resumed_tasks=sum(t.resumed for t in tasks))
    return folder.commit(man, keep=task_files(tasks, records=False))
