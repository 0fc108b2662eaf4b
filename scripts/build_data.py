#!/usr/bin/env python3
"""Build the small derived data files used by the ``dronesim`` simulator.

Usage::

    python scripts/build_data.py SHARED_DATA_DIR [--out data]

``SHARED_DATA_DIR`` is the raw data folder described by its own README.md
(subfolders ``boroughs/``, ``population/``, ``incidents/``, ``stations/``).
None of the raw files is copied; every output below is derived from them.
All coordinates in the outputs are British National Grid (EPSG:27700, metres);
WGS84 lon/lat appears only as extra columns of the candidate-site table.

Outputs (relative to ``--out``):

``boroughs/london_boroughs.geojson``
    The 33 London local authorities (ONS LAD 2022, generalised 20 m), EPSG:27700,
    written with a GeoJSON ``crs`` member. Geometry simplified with
    ``shapely.simplify(preserve_topology=True)`` at the largest tolerance from
    ``BOROUGH_TOLERANCES_M`` for which every borough keeps its area within 0.5 %,
    then snapped to a 1 m grid. Columns: ``gss_code``, ``name``, ``inner_london``
    (ONS Inner London flag from the GLA borough file), ``area_km2`` (source
    geometry), ``population`` (ONS mid-2020 LSOA estimates summed per borough),
    ``population_census2011`` (Census 2011 usual residents). Sorted by gss_code.

``demand/lsoa_demand.parquet``
    GeoParquet, EPSG:27700, one row per LSOA 2021 (4,994). Geometry simplified
    (``LSOA_TOLERANCE_M``), made valid, snapped to 1 m. Columns: ``lsoa21cd``,
    ``gss_code``, ``area_km2`` (source geometry), ``population`` (ONS mid-2020
    LSOA-2011 population moved to LSOA 2021 by area-weighted overlay; weights are
    normalised per LSOA 2011 so the London total is preserved), ``crime_12m``
    (MPS recorded crime, all categories, 202503..202602), ``crime_violence_12m``
    (major category "VIOLENCE AGAINST THE PERSON"). City of London LSOAs have 0
    crime (not policed by the Met). Sorted by lsoa21cd.

``demand/call_profile_weekday_hour.csv``
    LFB 2023 sample: calls by weekday (0 = Monday) x hour of call, per incident
    group, and each cell's share of all calls. 168 rows.

``demand/las_incidents_by_borough.csv``
    London Ambulance Service incidents per borough summed over Sep 2014..Aug 2015
    and each borough's share. 33 rows.

``demand/lfb_incidents_2023.csv``
    The LFB 2023 sample (10,000 incidents) reduced to id, ISO call time, incident
    group, 50 m-rounded BNG point, borough, first-pump attendance time and
    station, number of pumps. Sorted by call_time, incident_id.

``sites/candidate_sites.csv``
    Candidate drone-dock sites: LFB fire stations (``fire:<callsign>``) and NHS
    Choices hospitals (``hosp:<OrganisationCode>``; co-located or same-named rows
    de-duplicated), with borough (point-in-polygon, nearest borough for the
    river station), BNG x/y and WGS84 lon/lat. Sorted by site_id.

``calibration/lfb_attendance_by_borough.csv``
    First-pump attendance statistics per borough and for London (E12000007).

``sites/emergency_departments.csv``
    London's type 1 emergency departments (hand-kept list
    ``data/calibration/london_type1_eds.csv`` joined to the NHS Choices hospitals by
    ODS code): site_id, ods_code, name, gss_code, BNG x/y, major_trauma_centre.

``calibration/lfb_travel_pairs.csv``
    For every sampled incident with a first-pump time, the straight-line
    distance from the deploying fire station to the incident point, for fitting
    a road travel model (turnout + circuity * distance / speed).

Re-running the script on the same inputs produces byte-identical files (fixed
row order, fixed rounding, fixed-decimal CSV formatting).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

BNG = 27700
WGS84 = 4326
LONDON_CODE = "E12000007"

# Borough simplification: candidate tolerances (m), tried largest first; the
# first one that keeps every borough's area within BOROUGH_MAX_AREA_ERR wins.
# Capped at 10 m (half of the source's 20 m generalisation) to keep borders
# usable for point-in-polygon assignment.
BOROUGH_TOLERANCES_M = (10.0, 5.0, 2.0, 1.0, 0.0)
BOROUGH_MAX_AREA_ERR = 0.005
LSOA_TOLERANCE_M = 10.0
LSOA_MAX_AREA_ERR = 0.10  # sanity bound per LSOA after simplification
COORD_GRID_M = 1.0

CRIME_MONTHS = [p.strftime("%Y%m") for p in pd.period_range("2025-03", "2026-02", freq="M")]
CRIME_VIOLENCE = "VIOLENCE AGAINST THE PERSON"
LAS_MONTHS = [p.strftime("%b %Y") for p in pd.period_range("2014-09", "2015-08", freq="M")]
LFB_GROUPS = {"Fire": "calls_fire", "Special Service": "calls_special_service",
              "False Alarm": "calls_false_alarm"}
LONDON_MID2020_TOTAL = 9_002_488
# Reference figures for the LFB sample from the shared data README (section 3/6).
LFB_REF = {"mean_s": 315.0, "median_s": 298.0, "p90_s": 474.0, "share_within_360s": 0.705}

# Spelling variants of station names (after norm_station) -> normalised station-list
# name. norm_station already handles case, whitespace, punctuation, "&"/"and",
# "Saint"/"St" and a trailing "Fire Station"; every name in the 2023 sample then
# matches the station list, so no explicit alias is needed. Add pairs here if a
# different LFB extract uses other spellings (the script prints unmatched names).
STATION_ALIASES: dict[str, str] = {}

SOURCES = {
    "lad22": "boroughs/london_lad22_gen20.shp",
    "gla_boroughs": "boroughs/London_Borough_Excluding_MHW.shp",
    "lsoa11": "population/LSOA_2011_London_gen_MHW.shp",
    "lsoa21": "population/london_lsoa21_gen20.shp",
    "pop2020": "population/london_lsoa11_mid2020_population.csv",
    "crime_lsoa": "incidents/mps_recorded_crime_lsoa21_2024-02_2026-02.parquet",
    "lfb": "incidents/lfb_incidents_2023_sample10k.csv",
    "las": "incidents/las_incidents_by_borough_monthly_2009-07_2015-08.csv",
    "stations": "stations/lfb_fire_stations_current.csv",
    "hospitals": "stations/london_hospitals_nhs_choices_2018.csv",
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj")


class DataError(Exception):
    """Raised for missing or inconsistent input data (exit code 2)."""


# --------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(msg, flush=True)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise DataError(msg)


def resolve_sources(src: Path) -> dict[str, Path]:
    if not src.is_dir():
        raise DataError(f"source folder not found: {src}")
    paths, missing = {}, []
    for key, rel in SOURCES.items():
        p = src / rel
        parts = [p.with_suffix(s) for s in SHAPEFILE_PARTS] if p.suffix == ".shp" else [p]
        missing += [str(q) for q in parts if not q.is_file()]
        paths[key] = p
    if missing:
        raise DataError("missing source file(s):\n  " + "\n  ".join(missing))
    return paths


def read_bng(path: Path, relaxed: bool = False) -> gpd.GeoDataFrame:
    """Read a vector file and make sure it is EPSG:27700 (never assumed).

    GLA shapefiles carry an ESRI WKT without authority code that pyproj only
    matches to 27700 with relaxed confidence; after checking that match the CRS
    is replaced by the canonical EPSG:27700 definition.
    """
    gdf = gpd.read_file(path)
    check(gdf.crs is not None, f"{path.name}: no CRS")
    epsg = gdf.crs.to_epsg(min_confidence=20) if relaxed else gdf.crs.to_epsg()
    check(epsg == BNG, f"{path.name}: CRS is not EPSG:27700 (got {gdf.crs.name!r})")
    if relaxed:
        gdf = gdf.set_crs(BNG, allow_override=True)
    check(gdf.crs.to_epsg() == BNG, f"{path.name}: CRS override failed")
    return gdf


def polygonal(geom):
    """Keep only the polygonal part of a geometry (after make_valid)."""
    if geom is None or geom.is_empty:
        return geom
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon":
            polys.append(part)
        elif part.geom_type == "MultiPolygon":
            polys.extend(shapely.get_parts(part))
        elif part.geom_type == "GeometryCollection":
            sub = polygonal(part)
            if sub is not None and not sub.is_empty:
                polys.extend(shapely.get_parts(sub))
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def clean_geoms(geoms: np.ndarray) -> np.ndarray:
    return np.array([polygonal(g) for g in shapely.make_valid(geoms)], dtype=object)


def fmt_fixed(series: pd.Series, decimals: int) -> pd.Series:
    """Format floats with a fixed number of decimals; NaN -> empty string."""
    return series.map(lambda v: "" if pd.isna(v) else f"{float(v):.{decimals}f}")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    log(f"  wrote {path} ({len(df)} rows, {path.stat().st_size:,} bytes)")


def norm_station(name: str) -> str:
    s = str(name).lower().replace("&", " and ")
    s = re.sub(r"[^a-z0-9]+", " ", s)
    s = re.sub(r"\b(fire station|station)\b", " ", s)
    s = re.sub(r"\bsaint\b", "st", s)
    s = " ".join(s.split())
    return STATION_ALIASES.get(s, s)


def norm_org(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", " ", str(name).lower().replace("&", " and "))
    s = re.sub(r"^the\b", " ", s.strip())
    return " ".join(s.split())


# --------------------------------------------------------------------------- outputs

def build_boroughs(p: dict[str, Path], out: Path) -> gpd.GeoDataFrame:
    log("[1] boroughs")
    lad = read_bng(p["lad22"])
    gla = read_bng(p["gla_boroughs"], relaxed=True)
    check(len(lad) == 33 and lad.LAD22CD.is_unique, "lad22: expected 33 unique boroughs")
    expected = {f"E090000{i:02d}" for i in range(1, 34)}
    check(set(lad.LAD22CD) == expected, "lad22: GSS codes are not E09000001..33")
    check(set(gla.GSS_CODE) == expected, "GLA borough file: GSS codes are not E09000001..33")

    lad = lad.sort_values("LAD22CD").reset_index(drop=True)
    inner = gla.set_index("GSS_CODE")["ONS_INNER"].map({"T": True, "F": False})
    check(inner.notna().all(), "GLA ONS_INNER has values other than T/F")

    pop = pd.read_csv(p["pop2020"])
    check(pop.LSOA11CD.is_unique and len(pop) == 4835, "mid-2020 file: expected 4,835 LSOAs")
    pop20 = pop.groupby("LAD11CD")["Persons_All-Ages"].sum()
    lsoa11 = read_bng(p["lsoa11"], relaxed=True)
    pop11 = lsoa11.groupby("LAD11CD")["USUALRES"].sum()
    check(set(pop20.index) == expected and set(pop11.index) == expected,
          "population files do not cover the 33 boroughs")

    src_geom = lad.geometry.values
    src_area = shapely.area(src_geom)
    chosen = None
    for tol in BOROUGH_TOLERANCES_M:
        g = shapely.set_precision(shapely.simplify(src_geom, tol, preserve_topology=True),
                                  COORD_GRID_M)
        g = clean_geoms(g)
        err = np.abs(shapely.area(g) / src_area - 1.0)
        if err.max() <= BOROUGH_MAX_AREA_ERR and not shapely.is_empty(g).any():
            chosen = (tol, g, err)
            break
    check(chosen is not None, "no simplification tolerance keeps borough areas within 0.5%")
    tol, geom, err = chosen
    assert err.max() <= BOROUGH_MAX_AREA_ERR
    worst = int(np.argmax(err))
    log(f"  simplify tolerance {tol:g} m, vertices {shapely.get_num_coordinates(src_geom).sum():,}"
        f" -> {shapely.get_num_coordinates(geom).sum():,}")
    log(f"  worst borough area error {err.max() * 100:.4f}% ({lad.LAD22NM[worst]})")
    overlap = shapely.area(geom).sum() - shapely.union_all(geom).area
    log(f"  overlap between simplified boroughs {overlap / 1e4:.2f} ha"
        " (independent simplification)")

    gdf = gpd.GeoDataFrame({
        "gss_code": lad.LAD22CD.astype(str).values,
        "name": lad.LAD22NM.astype(str).values,
        "inner_london": lad.LAD22CD.map(inner).astype(bool).values,
        "area_km2": np.round(src_area / 1e6, 3),
        "population": lad.LAD22CD.map(pop20).astype("int64").values,
        "population_census2011": lad.LAD22CD.map(pop11).astype("int64").values,
    }, geometry=geom, crs=BNG)
    log(f"  inner London boroughs: {int(gdf.inner_london.sum())};"
        f" area {gdf.area_km2.sum():.1f} km2;"
        f" population mid-2020 {gdf.population.sum():,};"
        f" census 2011 {gdf.population_census2011.sum():,}")
    check(gdf.population.sum() == LONDON_MID2020_TOTAL, "borough mid-2020 total != 9,002,488")

    path = out / "boroughs" / "london_boroughs.geojson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    gdf.to_file(path, driver="GeoJSON", layer="london_boroughs", COORDINATE_PRECISION=0)
    back = gpd.read_file(path)
    check(back.crs is not None and back.crs.to_epsg() == BNG, "GeoJSON read back is not EPSG:27700")
    check(len(back) == 33 and list(back.gss_code) == list(gdf.gss_code),
          "GeoJSON read-back mismatch")
    log(f"  wrote {path} (33 features, EPSG:{back.crs.to_epsg()} on read-back,"
        f" {path.stat().st_size:,} bytes)")
    # the full-resolution source polygons are used for point-in-polygon joins below
    return gpd.GeoDataFrame({"gss_code": lad.LAD22CD.astype(str).values,
                             "name": lad.LAD22NM.astype(str).values},
                            geometry=src_geom, crs=BNG)


def build_lsoa_demand(p: dict[str, Path], out: Path) -> None:
    log("[2] LSOA demand")
    l21 = read_bng(p["lsoa21"])
    check(len(l21) == 4994 and l21.LSOA21CD.is_unique, "lsoa21: expected 4,994 unique LSOAs")
    l21 = l21.sort_values("LSOA21CD").reset_index(drop=True)
    check(not l21.geometry.is_empty.any() and l21.geometry.is_valid.all(), "lsoa21: empty/invalid")

    l11 = read_bng(p["lsoa11"], relaxed=True)
    n_invalid = int((~l11.geometry.is_valid).sum())
    l11["geometry"] = clean_geoms(l11.geometry.values)
    check(l11.geometry.is_valid.all() and not l11.geometry.is_empty.any(),
          "lsoa11 make_valid failed")
    log(f"  LSOA 2011 polygons made valid: {n_invalid}")
    pop = pd.read_csv(p["pop2020"])[["LSOA11CD", "Persons_All-Ages"]]
    l11 = l11[["LSOA11CD", "geometry"]].merge(pop, on="LSOA11CD", how="left", validate="1:1")
    check(l11["Persons_All-Ages"].notna().all() and len(l11) == len(pop),
          "mid-2020 population codes do not match the LSOA 2011 polygons")
    l11 = l11.sort_values("LSOA11CD").reset_index(drop=True)
    total_src = float(l11["Persons_All-Ages"].sum())

    ov = gpd.overlay(l11, l21[["LSOA21CD", "geometry"]], how="intersection", keep_geom_type=True)
    ov["a"] = ov.geometry.area
    ov = ov[ov["a"] > 0].sort_values(["LSOA11CD", "LSOA21CD"]).reset_index(drop=True)
    covered = ov.groupby("LSOA11CD")["a"].sum()
    check(set(covered.index) == set(l11.LSOA11CD), "some LSOA 2011 polygons overlap no LSOA 2021")
    src_area = l11.set_index("LSOA11CD").geometry.area
    cover_share = covered.sum() / src_area.sum()
    raw = (ov["Persons_All-Ages"] * ov["a"] / ov.LSOA11CD.map(src_area)).sum()
    ov["pop"] = ov["Persons_All-Ages"] * ov["a"] / ov.LSOA11CD.map(covered)
    pop21 = ov.groupby("LSOA21CD")["pop"].sum()
    population = np.round(l21.LSOA21CD.map(pop21).fillna(0.0).to_numpy(float), 1)
    total = float(population.sum())
    rel = abs(total / total_src - 1.0)
    log(f"  overlay pieces {len(ov):,};"
        f" LSOA 2011 area covered by LSOA 2021 {cover_share * 100:.3f}%;"
        f" un-normalised total {raw:,.0f}")
    log(f"  London population mid-2020: source {total_src:,.0f}, on LSOA 2021 {total:,.1f}"
        f" (rel. diff {rel * 100:.5f}%); LSOAs with 0 population: {int((population == 0).sum())}")
    check(rel <= 0.001, "population total not preserved within 0.1%")

    crime = pd.read_parquet(p["crime_lsoa"])
    missing_cols = [m for m in CRIME_MONTHS if m not in crime.columns]
    check(not missing_cols, f"crime file lacks month columns {missing_cols}")
    cats = sorted(crime.major_category.unique())
    check(CRIME_VIOLENCE in cats, f"crime category {CRIME_VIOLENCE!r} not in {cats}")
    check(crime[CRIME_MONTHS].notna().all().all(), "crime file has missing monthly counts")
    crime["n"] = crime[CRIME_MONTHS].sum(axis=1)
    c_all = crime.groupby("lsoa_code")["n"].sum()
    c_vio = crime[crime.major_category == CRIME_VIOLENCE].groupby("lsoa_code")["n"].sum()
    unknown = sorted(set(c_all.index) - set(l21.LSOA21CD))
    check(not unknown, f"crime LSOA codes not in LSOA 2021 polygons: {unknown[:5]}")
    no_crime = l21[~l21.LSOA21CD.isin(c_all.index)]
    log(f"  crime months {CRIME_MONTHS[0]}..{CRIME_MONTHS[-1]}: total {int(c_all.sum()):,},"
        f" violence {int(c_vio.sum()):,}; LSOAs without Met data: {len(no_crime)}"
        f" ({', '.join(sorted(no_crime.LAD22NM.unique()))})")
    check((no_crime.LAD22CD == "E09000001").all(), "non-City LSOAs missing from Met crime data")

    geom = shapely.simplify(l21.geometry.values, LSOA_TOLERANCE_M, preserve_topology=True)
    geom = clean_geoms(shapely.set_precision(geom, COORD_GRID_M))
    check(not shapely.is_empty(geom).any(), "empty LSOA geometry after simplification")
    check(shapely.is_valid(geom).all(), "invalid LSOA geometry after simplification")
    src_a = l21.geometry.area.to_numpy()
    err = np.abs(shapely.area(geom) / src_a - 1.0)
    log(f"  simplify {LSOA_TOLERANCE_M:g} m:"
        f" vertices {shapely.get_num_coordinates(l21.geometry.values).sum():,}"
        f" -> {shapely.get_num_coordinates(geom).sum():,};"
        f" area error median {np.median(err) * 100:.3f}%,"
        f" worst {err.max() * 100:.2f}%")
    check(err.max() <= LSOA_MAX_AREA_ERR, "LSOA simplification changed an area by more than 10%")

    gdf = gpd.GeoDataFrame({
        "lsoa21cd": l21.LSOA21CD.astype(str).values,
        "gss_code": l21.LAD22CD.astype(str).values,
        "area_km2": np.round(src_a / 1e6, 5),
        "population": population,
        "crime_12m": l21.LSOA21CD.map(c_all).fillna(0).astype("int64").values,
        "crime_violence_12m": l21.LSOA21CD.map(c_vio).fillna(0).astype("int64").values,
    }, geometry=geom, crs=BNG)
    path = out / "demand" / "lsoa_demand.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    gdf.to_parquet(path, index=False, compression="zstd")
    back = gpd.read_parquet(path)
    check(back.crs.to_epsg() == BNG and len(back) == 4994, "parquet read-back mismatch")
    log(f"  wrote {path} ({len(gdf)} rows, EPSG:{back.crs.to_epsg()} on read-back,"
        f" {path.stat().st_size:,} bytes)")


def load_lfb(p: dict[str, Path]) -> pd.DataFrame:
    f = pd.read_csv(p["lfb"], dtype={"IncidentNumber": str})
    check(f.IncidentNumber.is_unique, "LFB IncidentNumber not unique")
    n0 = len(f)
    has_xy = f.Easting_rounded.notna() & f.Northing_rounded.notna()
    f = f[has_xy].copy()
    ts = pd.to_datetime(f.DateOfCall + " " + f.TimeOfCall, format="%Y-%m-%d %H:%M:%S")
    f["call_time"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S")
    f["weekday"] = ts.dt.day_of_week
    f["hour"] = ts.dt.hour
    check((f.hour == f.HourOfCall).all(), "LFB TimeOfCall disagrees with HourOfCall")
    unknown = set(f.IncidentGroup) - set(LFB_GROUPS)
    check(not unknown, f"unexpected LFB IncidentGroup values {unknown}")
    f = f.sort_values(["call_time", "IncidentNumber"]).reset_index(drop=True)
    log(f"  LFB sample: {n0:,} rows, {n0 - len(f)} dropped for missing coordinates,"
        f" {len(f):,} kept")
    return f


def build_call_profile(f: pd.DataFrame, out: Path) -> None:
    log("[3] call profile")
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    df = pd.DataFrame(index=grid)
    df["calls_all"] = f.groupby(["weekday", "hour"]).size()
    for group, col in LFB_GROUPS.items():
        df[col] = f[f.IncidentGroup == group].groupby(["weekday", "hour"]).size()
    df = df.fillna(0).astype("int64").reset_index()
    df = df[["weekday", "hour", "calls_all", "calls_fire", "calls_special_service",
             "calls_false_alarm"]]
    check(df.calls_all.sum() == len(f), "profile total != incidents")
    df["share_all"] = fmt_fixed(df.calls_all / df.calls_all.sum(), 6)
    by_hour = df.groupby("hour").calls_all.sum() / len(f)
    log(f"  {len(f):,} calls; quietest hour {by_hour.idxmin():02d}:00 ({by_hour.min() * 100:.1f}%),"
        f" busiest {by_hour.idxmax():02d}:00 ({by_hour.max() * 100:.1f}%)")
    write_csv(df, out / "demand" / "call_profile_weekday_hour.csv")


def build_las(p: dict[str, Path], boroughs: gpd.GeoDataFrame, out: Path) -> None:
    log("[4] LAS incidents by borough")
    las = pd.read_csv(p["las"], encoding="utf-8-sig")
    missing = [m for m in LAS_MONTHS if m not in las.columns]
    check(not missing, f"LAS file lacks month columns {missing}")
    las = las[las.Code.notna() & las.Code.astype(str).str.match(r"^E09\d{6}$")].copy()
    check(len(las) == 33 and set(las.Code) == set(boroughs.gss_code),
          "LAS: expected 33 borough rows")
    check(las[LAS_MONTHS].notna().all().all(), "LAS: missing monthly values")
    las["incidents_12m"] = las[LAS_MONTHS].sum(axis=1).round().astype("int64")
    names = boroughs.set_index("gss_code").name
    diff = las[las.Borough.str.strip() != las.Code.map(names)]
    if len(diff):
        log("  LAS names differing from ONS names (ONS names used): "
            + "; ".join(f"{a!r}->{names[c]!r}" for a, c in zip(diff.Borough, diff.Code)))
    df = pd.DataFrame({"gss_code": las.Code.astype(str), "name": las.Code.map(names),
                       "incidents_12m": las.incidents_12m})
    df = df.sort_values("gss_code").reset_index(drop=True)
    total = df.incidents_12m.sum()
    df["share"] = fmt_fixed(df.incidents_12m / total, 6)
    log(f"  {LAS_MONTHS[0]}..{LAS_MONTHS[-1]}: London total {total:,} incidents")
    write_csv(df, out / "demand" / "las_incidents_by_borough.csv")


def build_lfb_incidents(f: pd.DataFrame, boroughs: gpd.GeoDataFrame, out: Path) -> pd.DataFrame:
    log("[5] LFB incidents")
    check(set(f.IncGeo_BoroughCode) <= set(boroughs.gss_code), "LFB borough codes outside London")
    df = pd.DataFrame({
        "incident_id": f.IncidentNumber.astype(str),
        "call_time": f.call_time,
        "incident_group": f.IncidentGroup.astype(str),
        "x": f.Easting_rounded.round().astype("int64"),
        "y": f.Northing_rounded.round().astype("int64"),
        "gss_code": f.IncGeo_BoroughCode.astype(str),
        "first_pump_s": f.FirstPumpArriving_AttendanceTime.round().astype("Int64"),
        "first_pump_station": f.FirstPumpArriving_DeployedFromStation,
        "num_pumps": f.NumPumpsAttending.round().astype("Int64"),
    })
    pts = gpd.GeoDataFrame(df[["gss_code"]], geometry=gpd.points_from_xy(df.x, df.y), crs=BNG)
    j = gpd.sjoin(pts, boroughs[["gss_code", "geometry"]].rename(columns={"gss_code": "pip"}),
                  how="left", predicate="intersects")
    j = j[~j.index.duplicated(keep="first")]
    outside = int(j.pip.isna().sum())
    differ = int((j.pip.notna() & (j.pip != j.gss_code)).sum())
    log(f"  points outside borough polygons: {outside}; inside a different borough than"
        f" IncGeo_BoroughCode: {differ} (50 m rounding; IncGeo_BoroughCode kept)")
    log(f"  missing first_pump_s: {int(df.first_pump_s.isna().sum())}, missing num_pumps:"
        f" {int(df.num_pumps.isna().sum())}")
    write_csv(df, out / "demand" / "lfb_incidents_2023.csv")
    return df


def build_sites(p: dict[str, Path], boroughs: gpd.GeoDataFrame, out: Path) -> pd.DataFrame:
    log("[6] candidate sites")
    to_bng = pyproj.Transformer.from_crs(WGS84, BNG, always_xy=True)

    st = pd.read_csv(p["stations"])
    check(st.callsign.is_unique and st.callsign.notna().all(), "fire station callsigns not unique")
    check(st[["latitude", "longitude"]].notna().all().all(), "fire station without coordinates")
    fire = pd.DataFrame({
        "site_id": "fire:" + st.callsign.astype(str).str.strip(),
        "kind": "fire_station", "name": st.name.astype(str).str.strip(),
        "lon": st.longitude.astype(float), "lat": st.latitude.astype(float), "sector": "",
        "_check": st.area.astype(str).replace({"City": "City of London"}),
    })
    fx, fy = to_bng.transform(fire.lon.values, fire.lat.values)
    dev = np.hypot(fx - st.easting.values, fy - st.northing.values)
    log(f"  fire stations: {len(fire)};"
        f" max |pyproj BNG - source easting/northing| {dev.max():.3f} m")

    h = pd.read_csv(p["hospitals"], dtype={"OrganisationCode": str})
    check(h.OrganisationCode.is_unique, "hospital OrganisationCode not unique")
    check(h[["Latitude", "Longitude"]].notna().all().all(), "hospital without coordinates")
    h["_pc"] = h.Postcode.astype(str).str.upper().str.replace(r"\s+", "", regex=True)
    h["_nm"] = h.OrganisationName.map(norm_org)
    # preference when de-duplicating: NHS sector, SubType "Hospital", then code order
    h["_rank"] = list(zip((h.Sector != "NHS Sector").astype(int),
                          (h.SubType != "Hospital").astype(int), h.OrganisationCode))
    h = h.sort_values("_rank").reset_index(drop=True)
    keep = ~(h.duplicated("_pc") | h.duplicated("_nm"))
    dropped = h[~keep]
    for _, r in dropped.sort_values("OrganisationCode").iterrows():
        kept = h[keep & ((h._pc == r._pc) | (h._nm == r._nm))].iloc[0]
        log(f"  hospital duplicate dropped:"
            f" {r.OrganisationCode} {r.OrganisationName!r} ({r.Postcode})"
            f" -> kept {kept.OrganisationCode} {kept.OrganisationName!r} ({kept.Postcode})")
    h = h[keep]
    sector = h.Sector.map({"NHS Sector": "NHS", "Independent Sector": "Independent"})
    check(sector.notna().all(), "unexpected hospital Sector value")
    hosp = pd.DataFrame({
        "site_id": "hosp:" + h.OrganisationCode.str.strip(),
        "kind": "hospital", "name": h.OrganisationName.astype(str).str.strip(),
        "lon": h.Longitude.astype(float), "lat": h.Latitude.astype(float), "sector": sector,
        "_check": h.borough_gss_code.astype(str),
    })
    log(f"  hospitals: {len(h) + len(dropped)} rows, {len(dropped)} duplicates dropped,"
        f" {len(hosp)} kept"
        f" ({int((sector == 'NHS').sum())} NHS,"
        f" {int((sector == 'Independent').sum())} independent)")

    sites = pd.concat([fire, hosp], ignore_index=True)
    x, y = to_bng.transform(sites.lon.values, sites.lat.values)
    sites["x"], sites["y"] = np.round(x, 1), np.round(y, 1)
    pts = gpd.GeoDataFrame(sites[["site_id"]], geometry=gpd.points_from_xy(sites.x, sites.y),
                           crs=BNG)
    j = gpd.sjoin(pts, boroughs[["gss_code", "geometry"]], how="left", predicate="intersects")
    check(not j.index.duplicated().any(), "a site falls in two boroughs")
    sites["gss_code"] = j.gss_code
    out_idx = sites.index[sites.gss_code.isna()]
    if len(out_idx):
        near = gpd.sjoin_nearest(pts.loc[out_idx], boroughs[["gss_code", "geometry"]],
                                 how="left", distance_col="dist")
        near = near[~near.index.duplicated(keep="first")]
        sites.loc[out_idx, "gss_code"] = near.gss_code
        for i, r in near.iterrows():
            log(f"  {sites.site_id[i]} ({sites.name[i]}) outside polygons -> nearest {r.gss_code}"
                f" at {r.dist:.0f} m")
    names = boroughs.set_index("gss_code").name
    chk = sites._check.where(sites.kind == "hospital", sites._check.map(
        {v: k for k, v in names.items()}))
    mism = sites[chk != sites.gss_code]
    for _, r in mism.iterrows():
        log(f"  note: {r.site_id} {r['name']!r} joined to {names[r.gss_code]}"
            f" but source says {r._check}")

    sites["x"], sites["y"] = fmt_fixed(sites.x, 1), fmt_fixed(sites.y, 1)
    sites["lon"], sites["lat"] = fmt_fixed(sites.lon, 6), fmt_fixed(sites.lat, 6)
    sites = sites.sort_values("site_id").reset_index(drop=True)
    check(sites.site_id.is_unique, "site_id not unique")
    sites = sites[["site_id", "kind", "name", "gss_code", "x", "y", "lon", "lat", "sector"]]
    log(f"  boroughs with a site: {sites.gss_code.nunique()}")
    write_csv(sites, out / "sites" / "candidate_sites.csv")
    return sites


def build_attendance(inc: pd.DataFrame, boroughs: gpd.GeoDataFrame, out: Path) -> None:
    log("[7] LFB attendance by borough")

    def stats(d: pd.DataFrame) -> dict:
        t = d.first_pump_s.dropna().astype(float)
        return {"incidents": len(d), "with_first_pump": len(t), "mean_s": t.mean(),
                "median_s": t.median(), "p90_s": t.quantile(0.9),
                "share_within_360s": (t <= 360).mean()}

    names = boroughs.set_index("gss_code").name
    rows = [{"gss_code": code, "name": names[code], **stats(d)}
            for code, d in inc.groupby("gss_code", sort=True)]
    london = {"gss_code": LONDON_CODE, "name": "London", **stats(inc)}
    rows.append(london)
    df = pd.DataFrame(rows)
    for c in ("mean_s", "median_s", "p90_s"):
        df[c] = fmt_fixed(df[c], 1)
    df["share_within_360s"] = fmt_fixed(df.share_within_360s, 4)
    log(f"  London: incidents {london['incidents']:,},"
        f" with first pump {london['with_first_pump']:,},"
        f" mean {london['mean_s']:.1f} s, median {london['median_s']:.1f} s,"
        f" P90 {london['p90_s']:.1f} s,"
        f" within 6 min {london['share_within_360s'] * 100:.1f}%")
    ok = (abs(london["mean_s"] - LFB_REF["mean_s"]) < 1
          and abs(london["median_s"] - LFB_REF["median_s"]) < 1
          and abs(london["p90_s"] - LFB_REF["p90_s"]) < 1
          and abs(london["share_within_360s"] - LFB_REF["share_within_360s"]) < 0.001)
    check(ok, f"London first-pump figures differ from the shared README ({LFB_REF})")
    log("  matches shared README figures (315 s / 298 s / 474 s / 70.5%)")
    write_csv(df, out / "calibration" / "lfb_attendance_by_borough.csv")


def build_travel_pairs(inc: pd.DataFrame, sites: pd.DataFrame, out: Path) -> None:
    log("[8] LFB travel pairs")
    fire = sites[sites.kind == "fire_station"]
    lookup: dict[str, str] = {}
    for sid, name in zip(fire.site_id, fire.name):
        key = norm_station(name)
        check(key not in lookup, f"two fire stations normalise to {key!r}")
        lookup[key] = sid
    d = inc[inc.first_pump_s.notna()].copy()
    d["station_site_id"] = d.first_pump_station.map(
        lambda s: lookup.get(norm_station(s)) if pd.notna(s) else None)
    matched = d.station_site_id.notna()
    log(f"  incidents with first-pump time: {len(d):,}; station matched: {int(matched.sum()):,}"
        f" ({matched.mean() * 100:.2f}%)")
    if (~matched).any():
        um = d.loc[~matched, "first_pump_station"].fillna("<missing>").value_counts()
        log("  unmatched station names: " + ", ".join(f"{k!r} x{v}" for k, v in um.items()))
    d = d[matched]
    xy = fire.set_index("site_id")[["x", "y"]].astype(float)
    sx, sy = d.station_site_id.map(xy.x), d.station_site_id.map(xy.y)
    dist = np.hypot(d.x.astype(float) - sx, d.y.astype(float) - sy)
    df = pd.DataFrame({"incident_id": d.incident_id, "gss_code": d.gss_code,
                       "station_site_id": d.station_site_id, "distance_m": fmt_fixed(dist, 1),
                       "first_pump_s": d.first_pump_s})
    log(f"  distance median {np.median(dist):,.0f} m, P90 {np.percentile(dist, 90):,.0f} m,"
        f" max {dist.max():,.0f} m; stations used {df.station_site_id.nunique()}")
    write_csv(df, out / "calibration" / "lfb_travel_pairs.csv")


# --------------------------------------------------------------------------- the Thames
#: Closing radius (m) that bridges the Thames between the boroughs' mean-high-water edges: wider
#: than the river inside London (about 200 m at Kingston to 700 m at Erith), far narrower than
#: any borough.
THAMES_CLOSING_M = 600.0


#: The non-tidal Thames in London (above Teddington Lock the borough layer runs to mid-river,
#: so the river leaves no gap there): Teddington Lock, Kingston Bridge, Hampton Court Bridge
#: (WGS84 longitude, latitude of the structures; beyond Hampton Court the river is London's
#: boundary with Surrey).
THAMES_NONTIDAL_LONLAT = ((-0.3225, 51.4305), (-0.3083, 51.4117), (-0.3425, 51.4030))


def build_thames(paths: dict[str, Path], out: Path) -> None:
    """The Thames and its two banks, from the GLA borough layer that EXCLUDES the tidal river
    (mean high water): the river is the largest piece of (union of boroughs, closed by
    ``THAMES_CLOSING_M``) minus the union of boroughs, from Teddington to Erith. The bank line
    continues from the river's upstream end along ``THAMES_NONTIDAL_LONLAT`` to Hampton Court and
    then due west, and from its downstream end due east (below Erith the Thames is London's
    boundary). The north bank is the part of London's bounding box north of that line. Written
    as two features (``river``, ``north_bank``) simplified to 10 m."""
    from shapely.geometry import LineString, Point, box

    log("[9] Thames and banks")
    g = gpd.read_file(paths["gla_boroughs"]).to_crs(27700)
    u = shapely.union_all(g.geometry.values)
    gaps = u.buffer(THAMES_CLOSING_M).buffer(-THAMES_CLOSING_M).difference(u)
    river = max(getattr(gaps, "geoms", [gaps]), key=lambda p: p.area)
    minx, miny, maxx, maxy = u.bounds
    bb = box(minx - 1000, miny - 1000, maxx + 1000, maxy + 1000)
    pts = np.asarray(river.exterior.coords)
    e = pts[pts[:, 0].argmax()]
    tx, ty = pyproj.Transformer.from_crs(4326, 27700, always_xy=True).transform(
        *zip(*THAMES_NONTIDAL_LONLAT))
    upstream = list(zip(tx, ty))
    w = pts[np.argmin(np.hypot(pts[:, 0] - tx[0], pts[:, 1] - ty[0]))]  # nearest Teddington
    west = LineString([tuple(w), *upstream, (bb.bounds[0], upstream[-1][1])])
    east = LineString([tuple(e), (bb.bounds[2], e[1])])
    cut = shapely.union_all([river, west.buffer(1), east.buffer(1)])
    sides = bb.difference(cut)
    parts = list(getattr(sides, "geoms", [sides]))
    north = max((p for p in parts if p.bounds[3] >= bb.bounds[3] - 1), key=lambda p: p.area)
    check(river.area > 10e6, f"Thames polygon only {river.area / 1e6:.1f} km2")
    check(not north.contains(Point(517900, 169300)), "Kingston on the north bank")
    frame = gpd.GeoDataFrame({"kind": ["river", "north_bank"]},
                             geometry=[river.simplify(10), north.simplify(10)], crs=27700)
    log(f"  river {river.area / 1e6:.1f} km2 from x={pts[:, 0].min():.0f} to x={e[0]:.0f}")
    target = out / "boroughs" / "thames.geojson"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    frame.to_file(target, driver="GeoJSON", COORDINATE_PRECISION=1)


# --------------------------------------------------------------------------- main

#: The first line of the project's data/README.md: a folder holding it is this script's own.
DATA_README_TITLE = "# Derived data for `dronesim`"


def check_out_folder(out: Path) -> None:
    """The script replaces its own files by name, so it writes only where those names are its
    own: a new or empty folder, or the project's data folder (marked by its README). Anything
    else is refused before a file is touched: a user's folder is never overwritten."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: --out is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    readme = out / "README.md"
    try:
        first = (readme.read_text(encoding="utf-8").splitlines()[0].strip()
                 if readme.is_file() else "")
    except (OSError, UnicodeDecodeError, IndexError):
        first = ""
    if first != DATA_README_TITLE:
        raise DataError(f"{out}: --out holds files and is not the project's data folder (no "
                        f"README.md starting {DATA_README_TITLE!r}); give a new or empty folder")

# --------------------------------------------------------------------------- emergency departments
# (issue 17: ambulance conveyance, dronesim/engine/conveyance.py)

#: The hand-kept list of London's type 1 (consultant-led, 24-hour) emergency departments,
#: committed beside this script's data (data/README.md says where it comes from).
ED_LIST = Path(__file__).resolve().parent.parent / "data" / "calibration" / "london_type1_eds.csv"


def build_emergency_departments(p: dict[str, Path], out: Path) -> None:
    """``sites/emergency_departments.csv``: the type 1 EDs of ``ED_LIST`` joined to the NHS
    Choices hospitals file by ODS code (name checked), in EPSG:27700 (pyproj)."""
    log("[9] emergency departments")
    eds = pd.read_csv(ED_LIST, dtype=str)
    check(eds.ods_code.is_unique, f"{ED_LIST}: ods_code not unique")
    h = pd.read_csv(p["hospitals"], dtype={"OrganisationCode": str}).set_index(
        "OrganisationCode")
    missing = sorted(set(eds.ods_code) - set(h.index))
    check(not missing, f"{ED_LIST}: ODS codes not in the hospitals file: {missing}")
    rows = h.loc[eds.ods_code]
    bad = [c for c, n in zip(eds.ods_code, eds.name)
           if norm_org(n) != norm_org(str(rows.OrganisationName[c]))]
    check(not bad, f"{ED_LIST}: name differs from the hospitals file for {bad}")
    to_bng = pyproj.Transformer.from_crs(WGS84, BNG, always_xy=True)
    x, y = to_bng.transform(rows.Longitude.astype(float).values,
                            rows.Latitude.astype(float).values)
    df = pd.DataFrame({
        "site_id": ("ed:" + eds.ods_code).values, "ods_code": eds.ods_code.values,
        "name": rows.OrganisationName.astype(str).str.strip().values,
        "gss_code": rows.borough_gss_code.astype(str).values,
        "x": np.round(x, 1), "y": np.round(y, 1),
        "major_trauma_centre": eds.major_trauma_centre.astype(int).values,
    }).sort_values("site_id").reset_index(drop=True)
    df["x"], df["y"] = fmt_fixed(df.x, 1), fmt_fixed(df.y, 1)
    log(f"  {len(df)} type 1 EDs in {df.gss_code.nunique()} boroughs,"
        f" {int(df.major_trauma_centre.sum())} major trauma centres")
    write_csv(df, out / "sites" / "emergency_departments.csv")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, metavar="SHARED_DATA_DIR",
                    help="shared raw data folder (contains boroughs/, population/, ...)")
    ap.add_argument("--out", type=Path, default=Path("data"),
                    help="output folder (default: data): the project's data folder (it holds "
                         "this project's data/README.md), or a new or empty folder")
    args = ap.parse_args(argv)
    try:
        out = args.out
        check_out_folder(out)
        paths = resolve_sources(args.source)
        out.mkdir(parents=True, exist_ok=True)
        boroughs = build_boroughs(paths, out)
        build_lsoa_demand(paths, out)
        lfb = load_lfb(paths)
        build_call_profile(lfb, out)
        build_las(paths, boroughs, out)
        inc = build_lfb_incidents(lfb, boroughs, out)
        sites = build_sites(paths, boroughs, out)
        build_attendance(inc, boroughs, out)
        build_travel_pairs(inc, sites, out)
        build_emergency_departments(paths, out)
        build_thames(paths, out)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    log(f"done: {out} holds {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
