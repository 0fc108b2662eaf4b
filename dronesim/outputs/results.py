"""Reading a results folder written by ``dronesim run``, ``sweep`` or ``compare``.

The HTML report (:mod:`dronesim.outputs.html`) and the GeoPackage export
(:mod:`dronesim.outputs.geopackage`) read folders through this module only, so both agree on what a
results folder is:

* a folder holding dronesim's ``manifest.json`` and ``summary.json``; its kind is told from the
  summary (``steps``: a sweep; ``reference`` and ``differences``: a comparison; ``per_borough``
  and ``drone_response_s``: a run). Anything else is refused with one line
  (:class:`~dronesim.errors.InputError`: file, field, problem).
* the resolved scenario(s): ``scenario.resolved.toml`` (run, sweep) or
  ``scenarios/<label>.resolved.toml`` (compare);
* the incident table of a run: ``incidents.parquet``, one file or a folder of Parquet parts
  (``incidents/`` is accepted too). It can hold millions of rows, so it is read through
  :mod:`pyarrow.dataset` with only the columns asked for, a filter pushed down, and, for
  aggregates, batch by batch.

The map geometry of a scenario (:func:`scenario_geometry`) is rebuilt from the resolved scenario
and the built-in London data without running anything: docks, no-fly zones and the coverage
footprint that :func:`dronesim.siting.coverage.static_coverage` computes for the scenario's target
time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd
    import pyarrow.dataset as ds

    from ..engine.prepared import Prepared
    from ..inputs.airspace import NoFlyZones
    from ..inputs.geography import London
    from ..inputs.scenario import Scenario
    from ..siting.coverage import StaticCoverage

__all__ = ["Results", "open_results", "ScenarioGeometry", "scenario_geometry",
           "geometry_from_prepared", "WEEK_S", "KINDS"]

WEEK_S = 7 * 86_400.0
KINDS = ("run", "sweep", "compare")
_NOT_RESULTS = ("not a dronesim results folder (expected manifest.json and summary.json "
                "written by dronesim run, sweep or compare)")


def _read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "", f"{_NOT_RESULTS}: not UTF-8 text") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, "", f"{_NOT_RESULTS}: not valid JSON ({exc.msg}, line "
                                   f"{exc.lineno})") from None
    if not isinstance(obj, dict):
        raise InputError(path, "", f"{_NOT_RESULTS}: expected a JSON object")
    return obj


def _kind(summary: dict[str, Any]) -> str | None:
    if isinstance(summary.get("sensitivity"), dict):  # dronesim sensitivity
        return "sensitivity"
    if isinstance(summary.get("steps"), list) and "within_s" in summary:
        return "sweep"
    if "reference" in summary and isinstance(summary.get("differences"), dict):
        return "compare"
    if isinstance(summary.get("per_borough"), list) and "drone_response_s" in summary:
        return "run"
    return None


@dataclass(eq=False)
class Results:
    """One results folder: its kind, summary and manifest, with readers for its tables."""

    path: Path
    kind: str
    summary: dict[str, Any]
    manifest: dict[str, Any]
    _scenarios: dict[str, Any] | None = field(default=None, repr=False)

    # --- scenarios ---------------------------------------------------------------------------
    def scenario_files(self) -> dict[str, Path]:
        """Resolved scenario file of each scenario, by label (run and sweep: one)."""
        if self.kind == "compare":
            out = {}
            for s in self.summary.get("scenarios", []):
                label = str(s["label"])
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
                out[label] = self.path / "scenarios" / f"{safe}.resolved.toml"
            return out
        return {str(self.summary.get("scenario", "scenario")): self.path /
                "scenario.resolved.toml"}

    def scenarios(self) -> dict[str, Any]:
        """The resolved scenarios (:class:`dronesim.inputs.scenario.Scenario`), by label."""
        if self._scenarios is None:
            from ..inputs.scenario import load_scenario

            out = {}
            for label, path in self.scenario_files().items():
                if not path.is_file():
                    raise InputError(path, "", "resolved scenario missing from the results "
                                               "folder")
                out[label] = load_scenario(path)
            self._scenarios = out
        return self._scenarios

    @property
    def replications(self) -> int:
        return int(self.summary.get("replications") or 0)

    @property
    def title(self) -> str:
        """The scenario name, or ``A vs B`` for a comparison."""
        if self.kind == "compare":
            return " vs ".join(s["label"] for s in self.summary.get("scenarios", []))
        return str(self.summary.get("scenario", self.path.name))

    # --- tables ------------------------------------------------------------------------------
    def read_csv(self, name: str) -> pd.DataFrame:
        """A CSV table of the folder (``sweep.csv``, ``boroughs.csv``, ``differences.csv``...)."""
        path = self.path / name
        if not path.is_file():
            raise InputError(path, "", f"missing from the {self.kind} results folder")
        return pd.read_csv(path)

    def incidents_path(self) -> Path:
        """The incident table: ``incidents.parquet`` (file or folder of parts) or
        ``incidents/``."""
        for name in ("incidents.parquet", "incidents"):
            p = self.path / name
            if p.exists():
                return p
        raise InputError(self.path / "incidents.parquet", "",
                         f"missing: the {self.kind} results folder has no incident table")

    def _dataset(self):
        import pyarrow.dataset as ds

        return ds.dataset(self.incidents_path(), format="parquet", partitioning="hive")

    @property
    def window_s(self) -> tuple[float, float]:
        """The measured window ``[warm-up end, horizon)`` in simulated seconds (run)."""
        warm = float(self.summary.get("warmup_hours") or 0.0) * 3600.0
        return warm, warm + float(self.summary.get("weeks") or 0.0) * WEEK_S

    def _filter(self, replications: Sequence[int] | None, window: bool
                ) -> ds.Expression | None:
        import pyarrow.dataset as ds

        f = None
        if window:
            lo, hi = self.window_s
            f = (ds.field("t_call") >= lo) & (ds.field("t_call") < hi)
        if replications is not None:
            g = ds.field("replication").isin([int(r) for r in replications])
            f = g if f is None else f & g
        return f

    def count_incidents(self, replications: Sequence[int] | None = None,
                        window: bool = True) -> int:
        """Rows of the incident table (in the measured window, of the given replications)."""
        return int(self._dataset().count_rows(filter=self._filter(replications, window)))

    def read_incidents(self, columns: Sequence[str], replications: Sequence[int] | None = None,
                       window: bool = True) -> pd.DataFrame:
        """Only ``columns`` of the incidents of ``replications`` (default all), in the measured
        window unless ``window=False``."""
        cols = list(dict.fromkeys(columns))
        table = self._dataset().to_table(columns=cols,
                                         filter=self._filter(replications, window))
        return table.to_pandas()

    def iter_incidents(self, columns: Sequence[str], replications: Sequence[int] | None = None,
                       window: bool = True, batch_rows: int = 500_000
                       ) -> Iterator[pd.DataFrame]:
        """The incident table in batches (for aggregates over millions of rows)."""
        for batch in self._dataset().to_batches(
                columns=list(dict.fromkeys(columns)), filter=self._filter(replications, window),
                batch_size=batch_rows):
            if batch.num_rows:
                yield batch.to_pandas()

    def incident_replications(self) -> list[int]:
        """Replication numbers present in the incident table."""
        import pyarrow.compute as pc

        col = self._dataset().to_table(columns=["replication"]).column("replication")
        return sorted(int(v) for v in pc.unique(col).to_pylist())


def open_results(results_dir: str | Path) -> Results:
    """Open a results folder written by ``dronesim run``, ``sweep`` or ``compare``.

    Raises
    ------
    InputError
        One line naming the folder or file when it is missing, not a folder, or not a
        dronesim results folder.
    """
    folder = Path(results_dir)
    if not folder.exists():
        raise InputError(folder, "", "results folder not found")
    if not folder.is_dir():
        raise InputError(folder, "", f"{_NOT_RESULTS}: it is a file")
    man, summ = folder / "manifest.json", folder / "summary.json"
    if not man.is_file() or not summ.is_file():
        missing = " and ".join(p.name for p in (man, summ) if not p.is_file())
        raise InputError(folder, "", f"{_NOT_RESULTS}; missing {missing}")
    manifest = _read_json(man, folder)
    summary = _read_json(summ, folder)
    if "dronesim_version" not in manifest:
        raise InputError(man, "dronesim_version", f"{_NOT_RESULTS}: not a dronesim manifest")
    kind = _kind(summary)
    if kind is None:
        raise InputError(summ, "", f"{_NOT_RESULTS}: summary of an unknown kind")
    return Results(folder, kind, summary, manifest)


# --------------------------------------------------------------------------------------------
# Map geometry of a scenario
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class ScenarioGeometry:
    """What a map of a scenario needs, all in EPSG:27700.

    ``docks``: name, x, y, drones, service (one row per dock site); ``coverage``: the
    :class:`dronesim.siting.coverage.StaticCoverage` of the docks at the target time (its
    ``footprint`` is the reach actually computed, airspace included); ``zones``: no-fly polygons
    as a GeoDataFrame or None (``no_fly``: the same as
    :class:`dronesim.inputs.airspace.NoFlyZones`); ``notes``: what could not be rebuilt and why.
    """

    london: London
    docks: pd.DataFrame
    coverage: StaticCoverage
    zones: gpd.GeoDataFrame | None
    within_s: float
    reach_m: float
    range_m: float
    notes: list[str]
    no_fly: NoFlyZones | None = None


def scenario_geometry(scn: Scenario, base_dirs: Sequence[Path] = ()) -> ScenarioGeometry:
    """Docks, no-fly zones and coverage footprint of a resolved scenario, without running it.

    No-fly files named by relative paths are looked for in each of ``base_dirs`` in turn; when
    none holds them the map goes on without them and says so in ``notes``. A dispatch policy or
    trace is never loaded (a user's policy need not be registered to draw the map).
    """
    from ..inputs.airspace import AirspacePolicy, zones_for
    from ..inputs.geography import WEIGHT_COLUMNS, load_london
    from ..siting.coverage import static_coverage
    from ..siting.sites import build_docks

    london = load_london()
    notes: list[str] = []
    zones = None
    errors = []
    for base in [*base_dirs, None]:
        try:
            zones = zones_for(scn.airspace, base)
            break
        except (InputError, OSError) as exc:
            errors.append(str(exc))
    else:
        from ..inputs.airspace import london_frz

        zones = london_frz(scn.airspace.frz) if scn.airspace.frz else None
        notes.append(f"no-fly files not found, map drawn without them ({errors[-1]})")
    docks = build_docks(scn, london, zones)
    weights = tuple(dict.fromkeys(s.spatial_weight for s in scn.services.values()
                                  if s.spatial_weight in WEIGHT_COLUMNS)) or ("population",)
    a = scn.airspace
    cov = static_coverage(london, docks, scn.drones, scn.coverage, weights, zones,
                          AirspacePolicy(a.mode, a.authorisation_delay_s, a.margin_m))
    table = pd.DataFrame({
        "name": list(docks.names), "x": docks.x, "y": docks.y, "drones": docks.drones,
        "service": [d.service or "" for d in scn.docks],
    })
    return ScenarioGeometry(london, table, cov, zones.to_geodataframe() if zones is not None
                            else None, float(scn.coverage.within_s), float(cov.radius_m),
                            float(scn.drones.max_range_m), notes, zones)


def geometry_from_prepared(prep: Prepared) -> ScenarioGeometry:
    """The same as :func:`scenario_geometry`, from a :class:`dronesim.engine.prepared.Prepared`
    scenario (nothing recomputed that the run already holds)."""
    scn = prep.scenario
    cov = prep.static_coverage()
    docks = pd.DataFrame({"name": list(prep.docks.names), "x": prep.docks.x, "y": prep.docks.y,
                          "drones": prep.docks.drones,
                          "service": [d.service or "" for d in scn.docks]})
    zones = prep.zones
    return ScenarioGeometry(prep.london, docks, cov,
                            zones.to_geodataframe() if zones is not None else None,
                            float(scn.coverage.within_s), float(cov.radius_m),
                            float(scn.drones.max_range_m), [], zones)


def finite(v: Any) -> TypeGuard[float]:
    """True for a real, finite number (not None, NaN, a bool or a string)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def snap(values: np.ndarray, grid_m: float) -> np.ndarray:
    """Coordinates moved to the centre of their ``grid_m`` cell."""
    v = np.asarray(values, float)
    return (np.floor(v / grid_m) + 0.5) * grid_m
