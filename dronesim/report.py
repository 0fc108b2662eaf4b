"""Writing a run's outputs: tables, summary, manifest, resolved scenario and plots.

Everything is written into a temporary folder beside the target and moved into place only when
complete, so a failed run never leaves a half-written output folder.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from . import figures, tables
from .experiment import RunResult
from .results import geometry_from_prepared
from .scenario import dump_scenario_toml

__all__ = ["write_run", "write_sweep", "atomic_output_dir", "format_table", "format_sweep",
           "json_safe", "write_comparison", "format_comparison", "comparison_dir_name"]

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
        seed=scn.simulation.seed, replications=len(result.replications),
        weeks=scn.simulation.weeks,
        replication_wall_time_s=[round(r.wall_s, 3) for r in result.replications])


@contextmanager
def atomic_output_dir(out: Path):
    """Yield a temporary folder; on success it replaces ``out``, on failure it is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{tmp.name[-8:]}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_plots(result: RunResult, plots: Path) -> list[Path]:
    prep = result.prepared
    plots.mkdir(parents=True, exist_ok=True)
    window = result.incidents[(result.incidents["t_call"] >= prep.warmup_s)]
    figs = figures.run_figures(prep.scenario, geometry_from_prepared(prep), window,
                               result.summary)
    return _save_figures(figs, plots)


def write_run(result: RunResult, out: Path, argv: list[str] | None = None,
              plots: bool = True) -> Path:
    """Write every output of a run into ``out`` (atomically); ``plots=False`` skips plots/."""
    with atomic_output_dir(Path(out)) as tmp:
        result.incidents.to_parquet(tmp / "incidents.parquet", index=False)
        result.missions.to_parquet(tmp / "missions.parquet", index=False)
        (tmp / "summary.json").write_text(
            json.dumps(json_safe(result.summary), indent=2) + "\n")
        (tmp / "scenario.resolved.toml").write_text(dump_scenario_toml(result.scenario))
        (tmp / "manifest.json").write_text(json.dumps(json_safe(manifest(result, argv)),
                                                      indent=2) + "\n")
        if plots:
            write_plots(result, tmp / "plots")
    return Path(out)


def _mmss(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    total = int(round(s))
    m, sec = divmod(abs(total), 60)
    return f"{'-' if total < 0 else ''}{m}:{sec:02d}"


def format_table(summary: dict[str, Any]) -> str:
    """A short plain-text table of the headline figures (:func:`dronesim.tables.format_run_table`)."""
    return tables.format_run_table(summary)


def write_sweep(result, scn, out: Path, argv: list[str] | None = None, wall_s: float = 0.0
                ) -> Path:
    """Write a sweep's tidy tables, summary, plots and manifest into ``out`` (atomically)."""
    with atomic_output_dir(Path(out)) as tmp:
        result.steps.to_csv(tmp / "sweep.csv", index=False)
        result.boroughs.to_csv(tmp / "boroughs.csv", index=False)
        result.sites.to_csv(tmp / "sites.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(json_safe(result.summary), indent=2) + "\n")
        (tmp / "scenario.resolved.toml").write_text(dump_scenario_toml(scn))
        (tmp / "manifest.json").write_text(json.dumps(json_safe(_provenance(
            argv, wall_s, scenario_file=scn.source, seed=scn.simulation.seed)), indent=2) + "\n")
        figs = figures.sweep_figures(result.steps, result.boroughs, scn)
        _save_figures(figs, tmp / "plots")
    return Path(out)


def format_sweep(summary: dict[str, Any]) -> str:
    """Plain-text table of a sweep, one line per step (:func:`dronesim.tables.format_sweep_table`)."""
    return tables.format_sweep_table(summary)


# --------------------------------------------------------------------------------------------
# Scenario comparisons (dronesim.compare)
# --------------------------------------------------------------------------------------------


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def comparison_dir_name(labels: list[str]) -> str:
    """Default folder name of a comparison: ``compare_<A>_vs_<B>...`` (file-name safe)."""
    return _safe_name("compare_" + "_vs_".join(labels))


def comparison_manifest(result, argv: list[str] | None = None) -> dict[str, Any]:
    """Provenance of a comparison: versions, scenario files, seed, wall times, command."""
    return _provenance(
        argv, result.wall_s,
        reference=result.reference,
        scenarios=[{"label": lab, "scenario": r.scenario.name,
                    "scenario_file": r.scenario.source, "weeks": r.scenario.simulation.weeks,
                    "wall_time_s": round(r.wall_s, 3),
                    "replication_wall_time_s": [round(x.wall_s, 3) for x in r.replications]}
                   for lab, r in zip(result.labels, result.results)],
        seed=result.summary["seed"],
        replications=result.summary["replications"])


def write_comparison_plots(result, plots: Path) -> list[Path]:
    """One forest plot per service and a bar chart of mean responses, into ``plots``."""
    plots.mkdir(parents=True, exist_ok=True)
    figs = figures.comparison_figures(result.differences, result.means, result.summary)
    return _save_figures(figs, plots)


def write_comparison(result, out: Path, argv: list[str] | None = None,
                     plots: bool = True) -> Path:
    """Write a comparison into ``out`` (atomically): ``differences.csv``, ``values.csv`` (each
    figure per replication), ``summary.json``, ``manifest.json``, ``scenarios/<label>.toml``
    (each resolved scenario as run) and ``plots/``."""
    with atomic_output_dir(Path(out)) as tmp:
        result.differences.to_csv(tmp / "differences.csv", index=False)
        result.values.to_csv(tmp / "values.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(json_safe(result.summary), indent=2) + "\n")
        (tmp / "manifest.json").write_text(
            json.dumps(json_safe(comparison_manifest(result, argv)), indent=2) + "\n")
        scn_dir = tmp / "scenarios"
        scn_dir.mkdir()
        for lab, r in zip(result.labels, result.results):
            (scn_dir / f"{_safe_name(lab)}.resolved.toml").write_text(
                dump_scenario_toml(r.scenario))
        if plots:
            write_comparison_plots(result, tmp / "plots")
    return Path(out)


def format_comparison(summary: dict[str, Any]) -> str:
    """Plain-text tables of a comparison within 100 columns
    (:func:`dronesim.tables.format_comparison_table`)."""
    return tables.format_comparison_table(summary)
