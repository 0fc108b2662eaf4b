"""GeoPackage export of a results folder, for QGIS and other GIS tools.

:func:`export_geopackage` reads a folder written by ``dronesim run``, ``sweep`` or ``compare``
(:mod:`dronesim.outputs.results`) and writes one GeoPackage in EPSG:27700 (British National Grid):

==================  ============  ===========================================================
layer               kind          contents
==================  ============  ===========================================================
``boroughs``        run           the 33 boroughs with their figures: incidents and drone
                                  deployments per week, mean drone and ground response (s,
                                  and m:ss text) with 95% intervals, P(drone first), static
                                  coverage; ``no_incidents`` where the window had none
``boroughs``        sweep         one feature per borough and step: static coverage and the
                                  simulated share of suited incidents reached within target
``boroughs``        compare       one feature per borough and scenario: static coverage
``docks``           run, compare  dock sites: name, drones, owning service (compare: scenario);
                                  run: each dock's figures (deployments, mean drone response,
                                  share of served suited reached within target, utilisation,
                                  recharge and grounded drone-hours) with 95% intervals
``sites``           sweep         dock sites of every step (step, fleet_size, site, drones)
``coverage``        all           the region a drone reaches within the target time, as
                                  :func:`dronesim.siting.coverage.static_coverage` computes it for
                                  the scenario (decision, launch, climb and descent subtracted;
                                  airspace cut included): per step (sweep) or per scenario
``flight_range``    all           the region within the drones' flight range of a dock
``no_fly_zones``    when present  restricted airspace the scenario flew around or through
``exposure``        run           overflight exposure of every 100 m cell a drone flew over
                                  or hovered within 200 m of, a week
                                  (:mod:`dronesim.outputs.exposure`)
``incidents``       run           incidents of replication 0 (all with
                                  ``all_replications=True``), each moved to the centre of its
                                  ``grid_m`` cell, with the hour of the call (not the second)
``dronesim_about``  all           attribute table: what wrote the file, from which folder, the
                                  grid size, and the attribution of the data
==================  ============  ===========================================================

Incident positions are snapped to a grid (default 100 m) and call times cut to the hour so that
real incident data (a replayed trace) is not republished at full precision.

Writing follows the output rules of the command line: the file is written under a temporary name
in the target folder and renamed into place only when complete (nothing half-written is left on
failure), and an existing file is replaced only if dronesim wrote it (it holds the
``dronesim_about`` table); anything else is refused with one line.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..experiment.store import check_output_file, write_output_file
from .results import Results, ScenarioGeometry, finite, open_results, scenario_geometry, snap
from .tables import mmss

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from ..inputs.scenario import Scenario

__all__ = ["export_geopackage", "ABOUT_LAYER", "ATTRIBUTION", "is_our_geopackage"]

CRS = "EPSG:27700"
ABOUT_LAYER = "dronesim_about"

#: Attribution of the data dronesim's outputs rest on (data/README.md, "Licences and
#: attribution"); published outputs carry it.
ATTRIBUTION = (
    ("ONS geography (boroughs, LSOA 2021)",
     "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
     "Contains OS data © Crown copyright and database right 2022."),
    ("ONS mid-year population estimates",
     "Source: Office for National Statistics licensed under the Open Government Licence v3.0."),
    ("GLA Statistical GIS Boundary Files for London",
     "Contains National Statistics data © Crown copyright and database right 2012. "
     "Contains Ordnance Survey data © Crown copyright and database right 2012."),
    ("Metropolitan Police Service recorded crime",
     "Contains public sector information from the Metropolitan Police Service licensed under "
     "the Open Government Licence v2.0."),
    ("London Fire Brigade incident records",
     "Contains public sector information from the London Fire Brigade licensed under the Open "
     "Government Licence v2.0."),
    ("London Ambulance Service incidents",
     "Contains public sector information from the London Ambulance Service NHS Trust licensed "
     "under the Open Government Licence."),
    ("NHS Choices hospitals",
     "Contains NHS Choices data licensed under the Open Government Licence."),
    ("LFB fire-station list",
     "Station list compiled by Shitian Zhang (MIT licence), from London Fire Brigade station "
     "information."),
)


# --------------------------------------------------------------------------------------------
# Safe writing
# --------------------------------------------------------------------------------------------


def is_our_geopackage(path: Path) -> bool:
    """True if the file is a GeoPackage dronesim wrote (it holds the ``dronesim_about`` table)."""
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # not a readable GeoPackage at all  # noqa: BLE001
        return False
    return ABOUT_LAYER in {str(name) for name, _ in layers}


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def _ci(block: dict[str, Any] | None, key: str = "mean") -> tuple[float, float, float]:
    if not block:
        return (np.nan, np.nan, np.nan)
    m = block.get(key)
    lo, hi = (block.get(f"ci95_{key}") or [None, None])
    m, lo, hi = (float(v) if finite(v) else np.nan for v in (m, lo, hi))
    return m, lo, hi


def _borough_layer_run(res: Results, geom: ScenarioGeometry) -> gpd.GeoDataFrame:
    import geopandas as gpd

    b = geom.london.boroughs[["gss_code", "name", "geometry"]].copy()
    rows = {r["gss_code"]: r for r in res.summary["per_borough"]}
    recs = []
    for code in b["gss_code"]:
        r = rows.get(code, {})
        dm, dlo, dhi = _ci(r.get("drone_response_s"))
        gm, glo, ghi = _ci(r.get("ground_response_s"))
        dep, deplo, dephi = _ci(r.get("drone_deployments_per_week"))
        pf, pflo, pfhi = _ci(r.get("p_drone_first"))
        ipw = r.get("incidents_per_week")
        recs.append({
            "incidents_per_week": float(ipw) if finite(ipw) else np.nan,
            "no_incidents": not r.get("ground_response_s"),
            "drone_deployments_per_week": dep, "drone_deployments_ci_low": deplo,
            "drone_deployments_ci_high": dephi,
            "drone_mean_s": dm, "drone_mean_ci_low_s": dlo, "drone_mean_ci_high_s": dhi,
            "drone_mean_mmss": mmss(dm),
            "ground_mean_s": gm, "ground_mean_ci_low_s": glo, "ground_mean_ci_high_s": ghi,
            "ground_mean_mmss": mmss(gm),
            "p_drone_first": pf, "p_drone_first_ci_low": pflo, "p_drone_first_ci_high": pfhi,
            "coverage_area_share": float(r.get("coverage_area_share") or 0.0),
            "coverage_population_share": float(r.get("coverage_population_share") or 0.0),
        })
    out = pd.concat([b.drop(columns="geometry").reset_index(drop=True), pd.DataFrame(recs)],
                    axis=1)
    return gpd.GeoDataFrame(out, geometry=b.geometry.values, crs=CRS)


#: Per-dock figures of a run's ``docks`` layer: summary.json ``per_dock`` key -> column stem.
_DOCK_COLUMNS = (("drone_deployments_per_week", "drone_deployments_per_week"),
                 ("suited_within_share", "suited_within_share"),
                 ("suited_within_target_per_week", "suited_within_per_week"),
                 ("drone_utilisation", "drone_utilisation"),
                 ("charge_hours_per_week", "charge_hours_per_week"),
                 ("grounded_drone_hours_per_week", "grounded_drone_hours_per_week"))


def _dock_layer_run(res: Results, pts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The dock points with each dock's figures (``summary.json`` ``per_dock``, in dock order;
    mean and 95% interval), when the summary has them."""
    rows = res.summary.get("per_dock") or []
    if len(rows) != len(pts):
        return pts
    recs = []
    for r in rows:
        dm, dlo, dhi = _ci(r.get("drone_response_s"))
        rec: dict[str, Any] = {"drone_mean_s": dm, "drone_mean_ci_low_s": dlo,
                               "drone_mean_ci_high_s": dhi, "drone_mean_mmss": mmss(dm)}
        for key, col in _DOCK_COLUMNS:
            if key in r:
                m, lo, hi = _ci(r.get(key))
                rec.update({col: m, f"{col}_ci_low": lo, f"{col}_ci_high": hi})
        recs.append(rec)
    out = pts.reset_index(drop=True)
    for col, v in pd.DataFrame(recs).items():
        out[col] = v.to_numpy()
    return out


def _coverage_rows(geom: ScenarioGeometry, **extra: Any) -> dict[str, Any]:
    cov = geom.coverage
    return {**extra, "within_s": geom.within_s, "within_mmss": mmss(geom.within_s),
            "reach_m": geom.reach_m, "area_share": cov.area_share,
            "population_share": cov.population_share, "boroughs_covered": cov.boroughs_covered,
            "description": f"drone on scene within {mmss(geom.within_s)} of the call (reach "
                           f"{geom.reach_m / 1000:.1f} km after decision, launch, climb and "
                           "descent; airspace included)"}


def _range_area(docks: pd.DataFrame, range_m: float) -> shapely.Geometry:
    import shapely

    if not len(docks) or range_m <= 0:
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(
        shapely.points(docks["x"].to_numpy(float), docks["y"].to_numpy(float)), range_m,
        quad_segs=32))


def _gdf(rows: list[dict[str, Any]], geoms: list[Any]) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms), crs=CRS)


def _points(df: pd.DataFrame, cols: list[str]) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(df[cols].reset_index(drop=True),
                            geometry=gpd.points_from_xy(df["x"], df["y"]), crs=CRS)


def _incident_layer(res: Results, grid_m: float, all_replications: bool
                    ) -> gpd.GeoDataFrame:
    wanted = ["replication", "t_call", "x", "y", "gss_code", "service", "priority",
              "drone_suited", "drone_outcome", "drone_response_s", "ground_response_s"]
    import pyarrow.dataset as ds

    names = set(ds.dataset(res.incidents_path(), format="parquet",
                           partitioning="hive").schema.names)
    cols = [c for c in wanted if c in names]
    reps = None if all_replications else res.incident_replications()[:1]
    inc = res.read_incidents(cols, replications=reps)
    inc["x"] = snap(inc["x"].to_numpy(float), grid_m)
    inc["y"] = snap(inc["y"].to_numpy(float), grid_m)
    inc["call_hour"] = np.floor(inc.pop("t_call").to_numpy(float) / 3600.0).astype(np.int64)
    for c in ("service", "drone_outcome", "gss_code"):
        if c in inc:
            inc[c] = inc[c].astype(str)
    keep = [c for c in inc.columns if c not in ("x", "y")]
    return _points(inc, keep)


def _about(res: Results, grid_m: float, all_replications: bool, layers: list[str]
           ) -> pd.DataFrame:
    rows = [
        ("written_by", f"dronesim {res.manifest.get('dronesim_version') or ''}".strip()),
        ("written_at", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")),
        ("results_folder", str(res.path.resolve())),
        ("kind", res.kind),
        ("scenario", res.title),
        ("replications", str(res.replications)),
        ("seed", str(res.summary.get("seed", ""))),
        ("crs", CRS),
        ("layers", ", ".join(layers)),
        ("incident_grid_m", f"{grid_m:g}"),
        ("incident_replications", "all" if all_replications else "first"),
        ("incident_precision", f"positions moved to the centre of their {grid_m:g} m grid cell; "
                               "call time as the hour since the simulated Monday 00:00"),
        ("coverage", "region a drone reaches within the target time "
                     "(dronesim.siting.coverage.static_coverage), not a fixed radius"),
    ]
    rows += [(f"attribution: {name}", text) for name, text in ATTRIBUTION]
    return pd.DataFrame(rows, columns=["key", "value"])


def _layers(res: Results, grid_m: float, all_replications: bool) -> dict[str, tuple[Any, str]]:
    """Every layer of the export: name -> (frame, description)."""
    layers: dict[str, tuple[Any, str]] = {}
    if res.kind == "sensitivity":  # points of a study, no map of their own
        raise InputError(res.path / "summary.json", "",
                         "a sensitivity folder has no map layers; export a run of its scenario")
    scns = res.scenarios()
    base = [res.path]
    src = res.manifest.get("scenario_file")
    if src:
        base.append(Path(src).parent)
    if res.kind == "run":
        (label, scn), = scns.items()
        geom = scenario_geometry(scn, base)
        layers["boroughs"] = (_borough_layer_run(res, geom),
                              "Boroughs with their figures over replications (mean, 95% CI)")
        d = geom.docks
        layers["docks"] = (_dock_layer_run(res, _points(d, ["name", "drones", "service"])),
                           "Dock sites with their figures")
        layers["coverage"] = (_gdf([_coverage_rows(geom, scenario=label)],
                                   [geom.coverage.footprint]),
                              "Region a drone reaches within the target time")
        layers["flight_range"] = (_gdf([{"scenario": label, "range_m": geom.range_m}],
                                       [_range_area(d, geom.range_m)]),
                                  "Region within the drones' flight range of a dock")
        zones = geom.zones
        layers["incidents"] = (_incident_layer(res, grid_m, all_replications),
                               f"Incidents, positions snapped to a {grid_m:g} m grid")
        exposure = _exposure_layer(res)
        if exposure is not None:
            layers["exposure"] = (exposure, "Overflight exposure a week per 100 m cell "
                                            "(dronesim.outputs.exposure): passes, minutes "
                                            "overhead, hover within 200 m, L_max, events")
    elif res.kind == "sweep":
        (label, scn), = scns.items()
        geom = scenario_geometry(scn, base)
        zones = geom.zones
        sites = res.read_csv("sites.csv")
        bdf = res.read_csv("boroughs.csv")
        shapes = geom.london.boroughs.set_index("gss_code").geometry
        layers["boroughs"] = (_gdf(bdf.to_dict("records"),
                                   [shapes.loc[c] for c in bdf["gss_code"]]),
                              "Boroughs per growth step: static and simulated coverage")
        layers["sites"] = (_points(sites, ["step", "fleet_size", "site", "drones"]),
                           "Dock sites of every growth step")
        rows, shapes_c, ranges, rrows = [], [], [], []
        for step, g in sites.groupby("step", sort=True):
            cov = _step_coverage(scn, geom, g)
            rows.append({**_coverage_rows(cov, step=int(step),
                                          fleet_size=int(g["fleet_size"].iloc[0]))})
            shapes_c.append(cov.coverage.footprint)
            rrows.append({"step": int(step), "fleet_size": int(g["fleet_size"].iloc[0]),
                          "range_m": geom.range_m})
            ranges.append(_range_area(g, geom.range_m))
        layers["coverage"] = (_gdf(rows, shapes_c), "Region a drone reaches within the target "
                                                    "time, per growth step")
        layers["flight_range"] = (_gdf(rrows, ranges), "Flight range of the docks, per step")
    else:
        zones = None
        drows, dgeo, crow, cgeo, rrow, rgeo, brow, bgeo = [], [], [], [], [], [], [], []
        for label, scn in scns.items():
            geom = scenario_geometry(scn, base)
            zones = geom.zones if zones is None else zones
            d = geom.docks.assign(scenario=label)
            drows += d[["scenario", "name", "drones", "service"]].to_dict("records")
            dgeo += list(_points(d, ["name"]).geometry)
            crow.append(_coverage_rows(geom, scenario=label))
            cgeo.append(geom.coverage.footprint)
            rrow.append({"scenario": label, "range_m": geom.range_m})
            rgeo.append(_range_area(d, geom.range_m))
            per = geom.coverage.per_borough
            shapes = geom.london.boroughs.set_index("gss_code").geometry
            for r in per.itertuples(index=False):
                brow.append({"scenario": label, "gss_code": r.gss_code, "name": r.name,
                             "coverage_area_share": float(r.area_share),
                             "coverage_population_share": float(r.population_share),
                             "covered": bool(r.covered)})
                bgeo.append(shapes.loc[r.gss_code])
        layers["boroughs"] = (_gdf(brow, bgeo), "Boroughs per scenario: static coverage")
        layers["docks"] = (_gdf(drows, dgeo), "Dock sites of every scenario")
        layers["coverage"] = (_gdf(crow, cgeo), "Region a drone reaches within the target "
                                                "time, per scenario")
        layers["flight_range"] = (_gdf(rrow, rgeo), "Flight range of the docks, per scenario")
    if zones is not None and len(zones):
        layers["no_fly_zones"] = (zones.set_crs(CRS, allow_override=True),
                                  "Restricted airspace (flight restriction zones, no-fly files)")
    return layers


def _exposure_layer(res: Results) -> gpd.GeoDataFrame | None:
    """The non-zero cells of the run's overflight exposure as squares (None without
    missions or flights)."""
    import shapely

    from .exposure import GRID_M, results_exposure

    if not (res.path / "missions.parquet").exists():
        return None
    grid = results_exposure(res.path).grid
    if grid.empty:
        return None
    h = GRID_M / 2
    x, y = grid["x"].to_numpy(), grid["y"].to_numpy()
    cells = shapely.box(x - h, y - h, x + h, y + h)
    cols = ["passes_per_week", "minutes_per_week", "hover_minutes_per_week", "lmax_dba",
            "events_per_week", "borough", "residents"]
    return _gdf(grid[cols].to_dict("records"), list(cells))


def _step_coverage(scn: Scenario, geom: ScenarioGeometry, sites: pd.DataFrame
                   ) -> ScenarioGeometry:
    """Static coverage of one sweep step's sites, with the scenario's drones and airspace."""
    import dataclasses

    from ..inputs.airspace import AirspacePolicy
    from ..siting.coverage import static_coverage
    from ..siting.sites import Docks

    x = sites["x"].to_numpy(float)
    y = sites["y"].to_numpy(float)
    docks = Docks(tuple(str(s) for s in sites["site"]), x, y,
                  geom.london.borough_of(x, y, nearest=True),
                  sites["drones"].to_numpy(np.int64))
    a = scn.airspace
    cov = static_coverage(geom.london, docks, scn.drones, scn.coverage, ("population",),
                          geom.no_fly,
                          AirspacePolicy(a.mode, a.authorisation_delay_s, a.margin_m))
    return dataclasses.replace(geom, coverage=cov, reach_m=float(cov.radius_m))


# --------------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------------


def export_geopackage(results_dir: str | Path, file: str | Path, grid_m: float = 100.0,
                      all_replications: bool = False) -> Path:
    """Write a results folder as a GeoPackage (EPSG:27700) for QGIS; see the module docstring.

    Parameters
    ----------
    results_dir
        A folder written by ``dronesim run``, ``sweep`` or ``compare``.
    file
        The GeoPackage to write. Its folder must exist; an existing file is replaced only if
        dronesim wrote it.
    grid_m
        Grid size (metres) incident positions are snapped to (cell centres); at least 1 m.
    all_replications
        Incidents of every replication instead of the first only (run folders).

    Returns
    -------
    The path written.

    Raises
    ------
    InputError
        One line (file, field, problem) for a folder that is not a dronesim results folder, a
        bad grid size, or an output file that may not be written. Nothing is written then.
    """
    if not (isinstance(grid_m, int | float) and finite(grid_m) and grid_m >= 1.0):
        raise InputError("<command line>", "--grid", f"grid size must be a number of metres "
                                                     f">= 1, got {grid_m!r}")
    res = open_results(results_dir)
    check_output_file(file, is_our_geopackage, "GeoPackage")  # before the layers are built
    layers = _layers(res, float(grid_m), all_replications)

    def produce(tmp: Path) -> None:
        import pyogrio

        for name, (frame, description) in layers.items():
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                    layer_options={"DESCRIPTION": description})
        pyogrio.write_dataframe(_about(res, float(grid_m), all_replications, list(layers)),
                                tmp, layer=ABOUT_LAYER, driver="GPKG")

    return write_output_file(file, produce, is_our_geopackage, "GeoPackage")
