"""The tables of a results folder as CSV, for spreadsheets (``dronesim export RESULTS --csv``).

What is written (only the tables the folder has):

* ``incidents.csv``, ``missions.csv``: the Parquet record tables of a run, every replication,
  row for row, the same columns (categories as their labels, NaN as an empty field, floats
  written with every digit so they read back to the same values);
* ``per_borough.csv``: ``summary.json``'s ``per_borough`` block of a run, one row per borough,
  a figure with an interval as three columns (``<figure>``, ``<figure>_ci_low``,
  ``<figure>_ci_high``);
* ``sweep_steps.csv``: a sweep's ``summary.json`` ``steps``, the same way;
* ``exposure_*.csv`` (a run with missions): the overflight exposure of
  :mod:`dronesim.outputs.exposure` (every cell touched, the ten most exposed, per borough, the
  summary figures with their intervals).

Where: by default a ``csv/`` folder inside the results folder, added to its manifest by the
commit protocol of :mod:`dronesim.experiment.store` (nothing half-written; a file of yours in
``csv/`` refuses the export); or any other folder, which becomes a dronesim output folder of its
own (new, empty, or written by an earlier export).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, naming

__all__ = ["export_csv", "csv_tables", "flatten_blocks"]

_CLI = "<command line>"
_FIELD = "--csv"


def flatten_blocks(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of summary figures as a flat table: a ``{"mean", "ci95_mean"}`` block becomes
    ``<key>``, ``<key>_ci_low``, ``<key>_ci_high``; a response block (``mean``, ``median``,
    ``p90``...) ``<key>_<part>``; other nested values are left out."""
    out = []
    for row in rows:
        flat: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, dict):
                if "ci95_mean" in v and "mean" in v:
                    flat[k] = v.get("mean")
                    lo, hi = (list(v.get("ci95_mean") or [None, None]) + [None, None])[:2]
                    flat[f"{k}_ci_low"], flat[f"{k}_ci_high"] = lo, hi
                else:
                    for part, x in v.items():
                        if not isinstance(x, dict | list):
                            flat[f"{k}_{part}"] = x
            elif not isinstance(v, list):
                flat[k] = v
        out.append(flat)
    return pd.DataFrame(out)


def csv_tables(results_dir: str | Path) -> dict[str, Callable[[], pd.DataFrame]]:
    """The tables of a results folder to write, by CSV file name (each built on demand)."""
    from .results import open_results

    res = open_results(results_dir)
    tables: dict[str, Callable[[], pd.DataFrame]] = {}
    if res.kind == "run":
        tables["incidents.csv"] = lambda: res.read_incidents(
            _columns(res.incidents_path()), window=False)
        missions = res.path / "missions.parquet"
        if missions.exists():
            tables["missions.csv"] = lambda: pd.read_parquet(missions)
        if isinstance(res.summary.get("per_borough"), list):
            tables["per_borough.csv"] = lambda: flatten_blocks(res.summary["per_borough"])
        if missions.exists():
            from .exposure import results_exposure

            cache: dict[str, Any] = {}

            def exposure() -> Any:
                if "e" not in cache:
                    cache["e"] = results_exposure(res.path)
                return cache["e"]

            tables["exposure_cells.csv"] = lambda: exposure().grid
            tables["exposure_top_cells.csv"] = lambda: exposure().top
            tables["exposure_boroughs.csv"] = lambda: exposure().boroughs
            tables["exposure_summary.csv"] = lambda: _summary_table(exposure().summary)
    elif res.kind == "sweep" and isinstance(res.summary.get("steps"), list):
        tables["sweep_steps.csv"] = lambda: flatten_blocks(res.summary["steps"])
    return tables


def _columns(path: Path) -> list[str]:
    import pyarrow.dataset as ds

    return list(ds.dataset(path, format="parquet", partitioning="hive").schema.names)


def _summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    from ..kpis.registry import EXPOSURE_METRICS

    rows = []
    for m in EXPOSURE_METRICS:
        b = summary.get(m.key) or {}
        lo, hi = (list(b.get("ci95_mean") or [None, None]) + [None, None])[:2]
        rows.append({"figure": m.key, "label": m.label, "mean": b.get("mean"),
                     "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, path: Path) -> None:
    """One table as CSV: UTF-8, a header row, no index, floats with every digit (``%.17g``
    reads back to the same double)."""
    with naming(path):
        df.to_csv(path, index=False, float_format="%.17g", lineterminator="\n")


def export_csv(results_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the results folder's tables as CSV (see the module docstring); returns the folder
    written."""
    from ..experiment.store import CSV_FILES, CSV_PART, OutputFolder
    from .results import open_results

    res = open_results(results_dir)
    home = res.path.resolve()
    target = home / CSV_PART if out is None else Path(out).expanduser()
    resolved = target.resolve()
    tables = csv_tables(res.path)
    if not tables:
        raise InputError(_CLI, _FIELD, f"{res.path}: a {res.kind} results folder has no "
                                       "Parquet or summary tables to export as CSV (its tables "
                                       "are CSV already)")
    if resolved == home / CSV_PART:
        folder = OutputFolder(home, entries=(CSV_PART,), field=_FIELD)
        with folder:
            staged = {}
            for name, build in tables.items():
                path = folder.staging / name
                write_table(build(), path)
                staged[name] = path
            folder.add_part(CSV_PART, staged)
        return home / CSV_PART
    if resolved == home or home in resolved.parents:
        raise InputError(_CLI, _FIELD, f"{target} is inside the results folder {res.path}, "
                                       f"where CSV tables go only into {CSV_PART}/ (give no "
                                       "folder, or one outside it)")
    folder = OutputFolder(target, entries=CSV_FILES, field=_FIELD)
    with folder:
        for name, build in tables.items():
            write_table(build(), folder.staging / name)
        folder.commit({"kind": "csv_export", "source": str(res.path),
                       "tables": sorted(tables)})
    return target
