"""Where docks could go and where they should go: site files, candidate sets, generators, and
siting optimisation.

This module owns

* reading dock sites from a file (:func:`read_sites`: CSV, GeoJSON, GeoPackage, ...) into one
  table of ``name, x, y[, drones]`` in British National Grid (EPSG:27700, metres);
* candidate sets and generators: the LFB fire stations and hospitals of
  ``data/sites/candidate_sites.csv`` (:func:`candidate_sites`), one demand-weighted site per borough
  (:func:`one_per_borough`), a hexagonal lattice (:func:`hex_grid`);
* demand points for optimisation: one representative point per small area with a population /
  crime / area weight (:func:`demand_points`), or a regular grid clipped to London for area
  coverage (:func:`area_grid`);
* the classic location models, solved exactly (to a stated MIP gap) with
  :func:`scipy.optimize.milp` (HiGHS) on sparse coverage matrices built with
  :class:`scipy.spatial.cKDTree`:

  - :func:`max_coverage`, the maximal covering location problem (Church and ReVelle 1974, "The
    maximal covering location problem", *Papers of the Regional Science Association* 32:101-118);
  - :func:`min_sites_full_coverage`, the location set covering problem (Toregas, Swain, ReVelle
    and Bergman 1971, "The location of emergency service facilities", *Operations Research*
    19(6):1363-1373), with a partial-coverage variant;
  - :func:`p_median` (Hakimi 1964; ReVelle and Swain 1970) in the sparse radius formulation of
    Garcia, Labbe and Marin (2011), truncated to each demand point's ``k`` nearest candidates with
    a check that the truncation did not change the optimum (see the function), and
    :func:`aggregate_points` to shrink large demand sets for it;
  - :func:`nested_max_coverage`, a growth pathway in which each step keeps every site of the
    previous step, so covered demand never falls as the network grows.

Nothing here simulates (no SimPy) and nothing draws random numbers.

Modelling assumptions
---------------------
* A demand point is *covered* by a site within ``radius_m`` in a straight line (inclusive), the
  static-coverage geometry of :mod:`dronesim.siting.coverage`. For a 2-minute arrival at 20 m/s the
  service radius is about 1.8-2.0 km (../shared/design/MODEL.md, "Drone parameters").
* Small-area demand sits at one point inside each LSOA 2021 (:func:`shapely.point_on_surface`,
  which, unlike the centroid, is always inside the polygon). LSOAs average 0.3 km^2 in London, so
  whole-LSOA coverage is a close approximation of the area-weighted shares of
  :mod:`dronesim.siting.coverage` at a 2 km radius; use :func:`area_grid` for area coverage.
* Area coverage uses cells of a regular grid aligned to the BNG origin, each clipped to London and
  weighted by its clipped area; a cell counts as covered when its representative point is.
  Finer cells approach the exact geometry; 250 m cells (about 25,000 points) are the default.
* Geometry check (MODEL.md, "Coverage"): London's 1,573 km^2 (data/README.md) over one 2 km disc,
  pi x 2^2 = 12.57 km^2, gives the lower bound 125.2 -> **126 sites**; hexagons inscribed in the
  discs (area 3 sqrt(3)/2 r^2 = 10.39 km^2) tile the plane, giving 151.4 -> **152** hexagon-areas.
  A real lattice needs more sites than that, because the cells cut by London's 413 km outer
  boundary each count as a whole site (measured: about 190 sites at 2 km).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import shapely.ops
from pyproj import CRS
from scipy.spatial import cKDTree

from .._lazy import module
from ..errors import InputError, input_file
from ..inputs.geography import (
    BNG,
    WEIGHT_COLUMNS,
    London,
    check_lonlat_extent,
    default_data_dir,
    lonlat_to_bng,
)

if TYPE_CHECKING:
    from scipy.optimize import LinearConstraint

# The MILP solver and the geodata reader are imported when a plan is solved or a candidate
# file read (a run on listed docks needs neither: dronesim._lazy.module).
optimize = module("scipy.optimize")
gpd = module("geopandas")

__all__ = [
    "DemandPoints",
    "InfeasibleError",
    "SitingResult",
    "aggregate_points",
    "area_grid",
    "candidate_sites",
    "coverage_matrix",
    "demand_points",
    "hex_grid",
    "max_coverage",
    "min_sites_full_coverage",
    "nested_max_coverage",
    "one_per_borough",
    "p_median",
    "read_sites",
]

CANDIDATE_KINDS = ("fire_station", "hospital")

#: File suffixes read through geopandas/pyogrio (points with a CRS).
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml"}

#: Column pairs recognised in a CSV, in order of preference: BNG first (exact), then WGS84.
_BNG_PAIRS = (("x", "y"), ("easting", "northing"))
_LONLAT_PAIRS = (("lon", "lat"), ("longitude", "latitude"))

#: Generous bounds of British National Grid coordinates (EPSG:27700 area of use, in metres).
_BNG_X = (-110_000.0, 700_000.0)
_BNG_Y = (-20_000.0, 1_250_000.0)


# ---------------------------------------------------------------------------------------------
# Reading sites from a file
# ---------------------------------------------------------------------------------------------


def read_sites(path: str | Path, *, london: London | None = None,
               layer: str | int | None = None) -> pd.DataFrame:
    """Read dock sites from a CSV, GeoJSON, GeoPackage (or other OGR point file).

    Parameters
    ----------
    path
        A ``.csv`` with either ``x``/``y`` (or ``easting``/``northing``) columns in EPSG:27700, or
        ``lon``/``lat`` (or ``longitude``/``latitude``) columns in WGS84; when both pairs are
        present the BNG pair is used; optional ``name`` and ``drones``; any other column is
        refused (it would be dropped unread). Or a point layer (``.geojson``, ``.gpkg``,
        ``.shp``, ..., or GeoParquet ``.parquet``) in any CRS, reprojected to EPSG:27700; a
        layer without a CRS
        is refused (a GeoPackage or shapefile written without one). GeoJSON is WGS84 by
        definition (RFC 7946), so GDAL reads a GeoJSON without a ``crs`` member as EPSG:4326.
        Column names are matched case-insensitively.
    london
        If given, every site must lie inside London (any borough polygon).
    layer
        Layer name or index of a multi-layer file (GeoPackage); default the first.

    Returns
    -------
    pandas.DataFrame
        Columns ``name`` (str; ``site0``, ``site1``, ... when the file has none), ``x``, ``y``
        (float, EPSG:27700) and, if the file has a ``drones`` column, ``drones`` (int >= 0). Row
        order as in the file.

    Raises
    ------
    InputError
        ``FILE: FIELD: PROBLEM`` for a missing or unreadable file, an unsupported suffix, missing
        coordinate columns, a missing CRS, non-point or empty geometries, non-numeric or NaN
        coordinates, coordinates outside their valid range, bad ``drones`` values, empty or
        duplicate names, or (with ``london``) a site outside London.
    """
    path = input_file(path, "site file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        attrs, x, y = _read_csv_points(path)
    elif suffix in _GEO_SUFFIXES or suffix == ".parquet":
        attrs, x, y = _read_geo_points(path, layer)
    else:
        raise InputError(path, "", f"unsupported file type {suffix!r} "
                                   "(use .csv, .geojson, .gpkg, .shp or .parquet)")
    out = pd.DataFrame({"name": _site_names(path, attrs), "x": x, "y": y})
    if "drones" in attrs.columns:
        out["drones"] = _drone_counts(path, attrs["drones"])
    if london is not None and len(out):
        inside = london.borough_of(out["x"].to_numpy(), out["y"].to_numpy()) >= 0
        if not inside.all():
            k = int(np.flatnonzero(~inside)[0])
            raise InputError(path, f"row {k + 1}",
                             f"site {out['name'].iat[k]!r} at ({out['x'].iat[k]:.0f}, "
                             f"{out['y'].iat[k]:.0f}) is outside London")
    return out


def _lower_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    lower = [str(c).strip().lower() for c in df.columns]
    dup = sorted({c for c in lower if lower.count(c) > 1})
    if dup:
        raise InputError(path, dup[0], "column appears more than once (names are case-insensitive)")
    return df.set_axis(lower, axis=1)


def _numeric_column(path: Path, df: pd.DataFrame, col: str) -> np.ndarray:
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        value = raw.iat[k]
        if pd.isna(value) or (isinstance(value, str) and not value.strip()):
            problem = f"missing value (NaN) in row {k + 1}"
        else:
            problem = f"not a finite number in row {k + 1}: {value!r}"
        raise InputError(path, col, problem)
    return num


def _read_csv_points(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(path, "", "file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(path, "", f"cannot read as CSV ({exc})") from None
    df = _lower_columns(df, path)
    cols = set(df.columns)
    known = ("name", "drones", *(c for pair in (*_BNG_PAIRS, *_LONLAT_PAIRS) for c in pair))
    # Blank columns a spreadsheet leaves after the last one (no heading, no value) are no data.
    unknown = [c for c in df.columns if c not in known
               and not (c.startswith("unnamed: ") and df[c].isna().all())]
    if unknown:  # refused like an unknown scenario key, not dropped unread
        raise InputError(path, unknown[0], f"unknown column (known columns: {', '.join(known)})")
    for cx, cy in _BNG_PAIRS:
        if cx in cols and cy in cols:
            x = _numeric_column(path, df, cx)
            y = _numeric_column(path, df, cy)
            if len(x) and np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90):
                raise InputError(path, cx, f"{cx}/{cy} look like longitude/latitude; name the "
                                           "columns lon and lat, or give EPSG:27700 metres")
            _check_range(path, cx, x, _BNG_X, "an EPSG:27700 easting (m)")
            _check_range(path, cy, y, _BNG_Y, "an EPSG:27700 northing (m)")
            return df, x, y
    for cx, cy in _LONLAT_PAIRS:
        if cx in cols and cy in cols:
            lon = _numeric_column(path, df, cx)
            lat = _numeric_column(path, df, cy)
            _check_range(path, cx, lon, (-180.0, 180.0), "a longitude (degrees)")
            _check_range(path, cy, lat, (-90.0, 90.0), "a latitude (degrees)")
            x, y = lonlat_to_bng(lon, lat)
            return df, np.atleast_1d(x), np.atleast_1d(y)
    half = [c for pair in (*_BNG_PAIRS, *_LONLAT_PAIRS) for c in pair if c in cols]
    hint = f" (found only {', '.join(half)})" if half else ""
    raise InputError(path, "x", "missing coordinate columns: need x and y (EPSG:27700) or "
                                f"lon and lat (WGS84){hint}")


def _check_range(path: Path, col: str, v: np.ndarray, lim: tuple[float, float], what: str) -> None:
    bad = (v < lim[0]) | (v > lim[1])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(path, col, f"value {v[k]:g} in row {k + 1} is not {what}")


def _read_geo_points(path: Path, layer: str | int | None
                     ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    try:
        if path.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path, layer=layer) if layer is not None else gpd.read_file(path)
    except Exception as exc:  # pyogrio/pyarrow raise many types; report them as bad input
        raise InputError(path, "", f"cannot read ({exc})") from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        raise InputError(path, "geometry", "no geometry column; expected point features")
    if gdf.crs is None:
        raise InputError(path, "crs", "missing; cannot tell what the coordinates mean "
                                      "(write the file with a CRS such as EPSG:27700 or EPSG:4326)")
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise InputError(path, "geometry", f"empty or missing geometry in row {k + 1}")
    kinds = shapely.get_type_id(geoms)
    not_point = kinds != shapely.GeometryType.POINT
    if not_point.any():
        k = int(np.flatnonzero(not_point)[0])
        raise InputError(path, "geometry", f"row {k + 1} is a {geoms[k].geom_type}; "
                                           "expected points")
    check_lonlat_extent(path, gdf)
    if not CRS(gdf.crs).equals(BNG, ignore_axis_order=True):
        crs_name = gdf.crs.to_string()
        try:
            gdf = gdf.to_crs(BNG)
        except Exception as exc:  # pyproj raises several types for impossible transforms
            raise InputError(path, "crs", f"cannot reproject {crs_name} to "
                                          f"EPSG:27700 ({exc})") from None
        logging.getLogger("dronesim").warning("%s: reprojected from %s to EPSG:27700", path,
                                              crs_name)
    geoms = np.asarray(gdf.geometry.values)
    x = shapely.get_x(geoms).astype(float)
    y = shapely.get_y(geoms).astype(float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(path, "geometry", f"coordinates of row {k + 1} are NaN or infinite "
                                           "(after reprojection to EPSG:27700)")
    attrs = _lower_columns(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), path)
    return attrs, x, y


def _site_names(path: Path, attrs: pd.DataFrame) -> list[str]:
    if "name" not in attrs.columns:
        return [f"site{k}" for k in range(len(attrs))]
    names = []
    for k, v in enumerate(attrs["name"]):
        if pd.isna(v) or not str(v).strip():
            raise InputError(path, "name", f"empty name in row {k + 1}")
        names.append(str(v).strip())
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(path, "name", f"duplicate site name {n!r}")
        seen.add(n)
    return names


def _drone_counts(path: Path, col: pd.Series) -> np.ndarray:
    """Drones per site, held to the same bounds as ``[[docks]] drones`` in a scenario."""
    from ..inputs.scenario import MAX_DRONES_PER_SITE, MAX_FLEET

    v = _numeric_column(path, col.to_frame("drones"), "drones")
    bad = (v < 0) | (v != np.round(v)) | (v > MAX_DRONES_PER_SITE)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(path, "drones", f"must be a whole number from 0 to "
                                         f"{MAX_DRONES_PER_SITE}; got {v[k]:g} in row {k + 1}")
    if v.sum() > MAX_FLEET:
        raise InputError(path, "drones", f"{v.sum():,.0f} drones in all; at most "
                                         f"{MAX_FLEET:,} are allowed")
    return v.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Candidate sets and generators
# ---------------------------------------------------------------------------------------------


def _data_dir(where: London | str | Path | None) -> Path:
    if isinstance(where, London):
        return Path(where.data_dir)
    return Path(where) if where is not None else default_data_dir()


def candidate_sites(where: London | str | Path | None = None,
                    kinds: Sequence[str] = CANDIDATE_KINDS) -> pd.DataFrame:
    """Candidate dock sites from ``data/sites/candidate_sites.csv``.

    Parameters
    ----------
    where
        A loaded :class:`~dronesim.inputs.geography.London` (its ``data_dir`` is used), a data
        folder, or ``None`` for :func:`~dronesim.inputs.geography.default_data_dir`.
    kinds
        Which kinds to keep: ``"fire_station"`` (103 LFB stations incl. the Lambeth river
        station) and/or ``"hospital"`` (147 sites of the 2018 NHS Choices list).

    Returns
    -------
    pandas.DataFrame
        ``site_id, kind, name, gss_code, x, y, lon, lat`` (x/y EPSG:27700), in file order
        (sorted by ``site_id``), index reset.
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in CANDIDATE_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {CANDIDATE_KINDS}; got {kinds}")
    path = _data_dir(where) / "sites" / "candidate_sites.csv"
    input_file(path, hint="run scripts/build_data.py, see data/README.md")
    df = pd.read_csv(path)
    df = _lower_columns(df, path)
    for col in ("site_id", "kind", "name", "gss_code", "x", "y", "lon", "lat"):
        if col not in df.columns:
            raise InputError(path, col, "missing column")
    for col in ("x", "y"):
        _numeric_column(path, df, col)
    df = df.loc[df["kind"].isin(kinds),
                ["site_id", "kind", "name", "gss_code", "x", "y", "lon", "lat"]]
    return df.astype({"x": float, "y": float}).reset_index(drop=True)


def _lsoa_weights(london: London, weight: str) -> np.ndarray:
    if weight == "area":
        return london.lsoa["area_km2"].to_numpy(dtype=float) * 1e6
    if weight not in WEIGHT_COLUMNS:
        raise ValueError(
            f"weight must be 'area' or one of {sorted(WEIGHT_COLUMNS)}; got {weight!r}")
    return london.weights(weight)


def _snap_inside(poly: shapely.Geometry, x: float, y: float, inset_m: float) -> tuple[float, float]:
    """``(x, y)`` if inside ``poly``, else a point inside it within ``inset_m`` of its edge
    nearest to ``(x, y)``."""
    if shapely.contains_xy(poly, x, y):
        return x, y
    edge = shapely.ops.nearest_points(poly, shapely.Point(x, y))[0]
    patch = shapely.intersection(poly, shapely.buffer(edge, inset_m))
    if patch.is_empty:  # pragma: no cover - nearest point is on poly, the patch cannot be empty
        patch = poly
    p = shapely.point_on_surface(patch)
    return float(p.x), float(p.y)


def one_per_borough(london: London, weight: str = "population", inset_m: float = 25.0
                    ) -> pd.DataFrame:
    """One site per borough at its demand-weighted centroid, moved inside the borough if needed.

    The weighted centroid of the borough's LSOA centroids, weights from ``weight``. A centroid
    can fall outside a concave borough (or in the Thames); it is then moved to a point inside the
    borough within ``inset_m`` of the nearest edge. A borough whose total weight is zero (the
    City of London has no Met crime) uses area weights.

    Parameters
    ----------
    london
        The loaded geography.
    weight
        ``"population"``, ``"crime"``, ``"crime_violence"`` or ``"area"``.
    inset_m
        How far inside the edge a snapped site is placed (at most).

    Returns
    -------
    pandas.DataFrame
        ``name, gss_code, x, y, snapped`` with one row per borough, in ``gss_code`` order.
    """
    w = _lsoa_weights(london, weight)
    area = _lsoa_weights(london, "area")
    cent = shapely.centroid(np.asarray(london.lsoa.geometry.values))
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    b = london.lsoa_borough
    nb = london.n_boroughs
    wb = np.bincount(b, weights=w, minlength=nb)
    use = np.where(wb[b] > 0, w, area)
    tot = np.bincount(b, weights=use, minlength=nb)
    mx = np.bincount(b, weights=use * cx, minlength=nb) / tot
    my = np.bincount(b, weights=use * cy, minlength=nb) / tot
    geoms = np.asarray(london.boroughs.geometry.values)
    xs, ys, snapped = [], [], []
    for k in range(nb):
        x, y = _snap_inside(geoms[k], float(mx[k]), float(my[k]), inset_m)
        xs.append(x)
        ys.append(y)
        snapped.append(x != mx[k] or y != my[k])
    return pd.DataFrame({"name": london.borough_names, "gss_code": london.borough_codes,
                         "x": xs, "y": ys, "snapped": snapped})


def _hex_lattice(bounds: tuple[float, float, float, float], spacing: float, margin: float,
                 ox: float, oy: float) -> tuple[np.ndarray, np.ndarray]:
    """Points of a hexagonal lattice (rows ``spacing`` apart along x, row pitch
    ``spacing x sqrt(3)/2``, odd rows shifted half a spacing) covering ``bounds`` + ``margin``."""
    minx, miny, maxx, maxy = bounds
    dy = spacing * math.sqrt(3) / 2
    j = np.arange(math.floor((miny - margin - oy) / dy) - 1,
                  math.ceil((maxy + margin - oy) / dy) + 2)
    i = np.arange(math.floor((minx - margin - ox) / spacing) - 2,
                  math.ceil((maxx + margin - ox) / spacing) + 2)
    jj, ii = np.meshgrid(j, i, indexing="ij")
    x = ox + (ii + 0.5 * (jj % 2)) * spacing
    y = oy + jj * dy
    return x.ravel(), y.ravel()


def hex_grid(london: London, radius_m: float | None = None, *, spacing_m: float | None = None,
             keep: Literal["cell", "disc"] = "cell", origin: tuple[float, float] = (0.0, 0.0),
             offsets: int = 1) -> pd.DataFrame:
    """Sites on a hexagonal lattice that together cover all of London.

    For a coverage radius ``r`` the lattice spacing is ``r sqrt(3)``: each site's Voronoi cell is
    then a regular hexagon inscribed in its coverage disc, and the cells tile the plane, so the
    discs cover every point of the plane with the fewest sites per unit area of any lattice
    (Kershner 1939, "The number of circles covering a set", *Am. J. Math.* 61:665-671).

    Parameters
    ----------
    london
        The loaded geography.
    radius_m
        Coverage radius; the spacing is ``radius_m * sqrt(3)``.
    spacing_m
        Lattice spacing instead of ``radius_m`` (give exactly one); then ``radius_m`` is taken as
        ``spacing_m / sqrt(3)``.
    keep
        ``"cell"`` (default) keeps a site when its hexagonal cell meets London: the fewest lattice
        sites that still cover every point of London, since every point lies in some kept cell
        and the cell lies inside that site's disc. ``"disc"`` keeps a site when its coverage
        disc meets London (a few more sites whose discs only graze the boundary).
    origin
        A lattice point (EPSG:27700); the default, the BNG origin, makes the lattice independent
        of the data.
    offsets
        If > 1, try ``offsets x offsets`` translations of the lattice over one lattice cell and
        keep the one with the fewest sites (ties: the first tried). 1 uses ``origin`` only.

    Returns
    -------
    pandas.DataFrame
        ``name`` (``hex000``, ...), ``x``, ``y``, sorted by northing then easting.

    Notes
    -----
    At ``radius_m=2000`` over London (1,573 km^2) this gives about 190 sites (189-198 depending on
    the lattice offset), against 151.4 hexagon-areas (the "about 152" of MODEL.md) and the disc
    lower bound of 126: cells cut by London's long outer boundary are whole sites.
    """
    if (radius_m is None) == (spacing_m is None):
        raise ValueError("give exactly one of radius_m and spacing_m")
    if radius_m is None:
        assert spacing_m is not None
        radius_m = spacing_m / math.sqrt(3)
    spacing = radius_m * math.sqrt(3)
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0; got {radius_m}")
    if keep not in ("cell", "disc"):
        raise ValueError(f"keep must be 'cell' or 'disc'; got {keep!r}")
    if offsets < 1:
        raise ValueError(f"offsets must be >= 1; got {offsets}")
    outline = london.outline
    bounds = tuple(outline.bounds)
    ang = np.deg2rad(30.0 + 60.0 * np.arange(6))  # pointy-top hexagon, circumradius r
    best: tuple[np.ndarray, np.ndarray] | None = None
    for a in range(offsets):
        for b in range(offsets):
            ox = origin[0] + (a / offsets) * spacing
            oy = origin[1] + (b / offsets) * spacing * math.sqrt(3)
            x, y = _hex_lattice(bounds, spacing, radius_m, ox, oy)
            if keep == "disc":
                ok = shapely.dwithin(outline, shapely.points(x, y), radius_m)
            else:
                ring = np.stack([x[:, None] + radius_m * np.cos(ang),
                                 y[:, None] + radius_m * np.sin(ang)], axis=-1)
                ok = shapely.intersects(outline, shapely.polygons(ring))
            if best is None or ok.sum() < best[0].size:
                best = (x[ok], y[ok])
    assert best is not None
    x, y = best
    order = np.lexsort((x, y))
    x, y = x[order], y[order]
    width = max(3, len(str(x.size)))
    names = [f"hex{k:0{width}d}" for k in range(x.size)]
    return pd.DataFrame({"name": names, "x": x, "y": y})


# ---------------------------------------------------------------------------------------------
# Demand points
# ---------------------------------------------------------------------------------------------


class DemandPoints(NamedTuple):
    """Demand points for siting: coordinates (EPSG:27700) and non-negative weights.

    Unpacks as ``x, y, w``.
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray

    @property
    def xy(self) -> np.ndarray:
        """``(n, 2)`` array of coordinates."""
        return np.column_stack([self.x, self.y])


def demand_points(london: London, weight: str = "population", *,
                  cell_m: float | None = None) -> DemandPoints:
    """One weighted demand point per small area (LSOA 2021), or an area grid.

    Parameters
    ----------
    london
        The loaded geography.
    weight
        ``"population"`` (ONS mid-2020), ``"crime"`` (Met recorded crime, 12 months),
        ``"crime_violence"`` or ``"area"`` (the LSOA's source area ``area_km2``, in m^2; the
        simplified polygons' own areas differ by up to 6 %, data/README.md).
    cell_m
        Only with ``weight="area"``: return :func:`area_grid` points with this cell size instead
        of one point per LSOA.

    Returns
    -------
    DemandPoints
        ``x, y`` at :func:`shapely.point_on_surface` of each LSOA (always inside it), ``w``.
    """
    if cell_m is not None:
        if weight != "area":
            raise ValueError("cell_m (a regular grid) is only available for weight='area'")
        return area_grid(london, cell_m)
    w = _lsoa_weights(london, weight)
    pts = shapely.point_on_surface(np.asarray(london.lsoa.geometry.values))
    return DemandPoints(shapely.get_x(pts).astype(float), shapely.get_y(pts).astype(float),
                        np.asarray(w, float))


def area_grid(london: London, cell_m: float = 250.0) -> DemandPoints:
    """Regular grid of square cells clipped to London, weighted by clipped area (m^2).

    Cells are aligned to the BNG origin (centres at ``(i + 1/2) cell_m``). A cell wholly inside
    London is represented by its centre with weight ``cell_m^2``; a cell cut by the boundary by its
    centre when that lies inside London, else by a point inside the clipped part, with the clipped
    area as weight. The weights sum to London's (simplified) area.
    """
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0; got {cell_m}")
    outline = london.outline
    minx, miny, maxx, maxy = outline.bounds
    i = np.arange(math.floor(minx / cell_m), math.ceil(maxx / cell_m))
    j = np.arange(math.floor(miny / cell_m), math.ceil(maxy / cell_m))
    jj, ii = np.meshgrid(j, i, indexing="ij")
    x0 = (ii * cell_m).ravel().astype(float)
    y0 = (jj * cell_m).ravel().astype(float)
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    inside = shapely.contains_properly(outline, boxes)
    edge = ~inside & shapely.intersects(outline, boxes)
    cx = x0 + cell_m / 2
    cy = y0 + cell_m / 2
    w = np.where(inside, cell_m * cell_m, 0.0)
    if edge.any():
        clipped = shapely.intersection(boxes[edge], outline)
        w[edge] = shapely.area(clipped)
        centre_in = shapely.contains_xy(outline, cx[edge], cy[edge])
        rep = shapely.point_on_surface(clipped)
        ex = np.where(centre_in, cx[edge], shapely.get_x(rep))
        ey = np.where(centre_in, cy[edge], shapely.get_y(rep))
        cx[edge] = ex
        cy[edge] = ey
    keep = w > 0
    return DemandPoints(cx[keep], cy[keep], w[keep])


# ---------------------------------------------------------------------------------------------
# Coverage matrices and the MILP solver wrapper
# ---------------------------------------------------------------------------------------------


class InfeasibleError(ValueError):
    """A siting problem with no feasible solution (or none found within the time limit)."""


@dataclass(frozen=True)
class SitingResult:
    """Solution of a siting model.

    Attributes
    ----------
    chosen
        Indices into the candidate array of the open sites, ascending (fixed sites included).
    objective
        The model's objective at ``chosen``: covered weight (:func:`max_coverage`), number of
        sites (:func:`min_sites_full_coverage`), weighted mean distance in metres
        (:func:`p_median`).
    covered_share
        Share of the total demand weight within ``radius_m`` of an open site (``nan`` for
        :func:`p_median`, which has no radius).
    coverable_share
        Share of the total demand weight within ``radius_m`` of *any* candidate (the most any
        choice could cover; ``nan`` for :func:`p_median`).
    status
        ``"optimal"`` (optimal within ``mip_rel_gap``) or ``"time_limit"`` (the best solution found
        when a limit stopped HiGHS; see ``mip_gap``).
    mip_gap
        HiGHS's relative gap between the solution and its best bound (0 when proven optimal).
    bound
        HiGHS's best bound on the objective (the value no solution can beat), in the same units as
        ``objective``.
    solve_time_s
        Wall-clock time spent in HiGHS.
    message
        HiGHS's status message.
    """

    chosen: np.ndarray
    objective: float
    covered_share: float
    coverable_share: float
    status: str
    mip_gap: float
    bound: float
    solve_time_s: float
    message: str

    @property
    def n_sites(self) -> int:
        """Number of open sites."""
        return int(self.chosen.size)


def _as_xy(a: np.ndarray | Sequence[Sequence[float]], what: str) -> np.ndarray:
    xy = np.asarray(a, dtype=float)
    if xy.ndim == 1 and xy.size == 0:
        xy = xy.reshape(0, 2)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"{what} must be an (n, 2) array of x, y; got shape {xy.shape}")
    if not np.isfinite(xy).all():
        raise ValueError(f"{what} contains NaN or infinite coordinates")
    return xy


def _as_weights(w: np.ndarray | Sequence[float] | None, n: int) -> np.ndarray:
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=float).ravel()
    if w.size != n:
        raise ValueError(f"w has {w.size} weights for {n} demand points")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and >= 0")
    return w


def _as_fixed(fixed: Iterable[int], m: int) -> np.ndarray:
    f = np.unique(np.asarray(list(fixed), dtype=np.int64))
    if f.size and (f.min() < 0 or f.max() >= m):
        raise ValueError(f"fixed site indices must be in 0..{m - 1}; got {f.tolist()}")
    return f


def coverage_matrix(cand_xy: np.ndarray, demand_xy: np.ndarray, radius_m: float) -> sp.csr_matrix:
    """Sparse 0/1 matrix ``A[i, j] = 1`` when demand point ``i`` is within ``radius_m`` of
    candidate ``j`` (inclusive, with a relative tolerance of 1e-9 for points exactly on the
    circle). Shape ``(n_demand, n_candidates)``.
    """
    cand = _as_xy(cand_xy, "cand_xy")
    dem = _as_xy(demand_xy, "demand_xy")
    if not radius_m > 0:
        raise ValueError(f"radius_m must be > 0; got {radius_m}")
    n, m = dem.shape[0], cand.shape[0]
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m), dtype=np.int8)
    hits = cKDTree(cand).query_ball_point(dem, r=radius_m * (1 + 1e-9), return_sorted=True)
    lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=n)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = (np.concatenate([np.asarray(h, np.int64) for h in hits]) if indptr[-1]
               else np.zeros(0, np.int64))
    return sp.csr_matrix((np.ones(indices.size, np.int8), indices, indptr), shape=(n, m))


def _aggregate_rows(a: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge demand rows that no candidate can tell apart (identical coverage sets), summing their
    weights; drop rows with no weight or no covering candidate. Dense area grids shrink a lot."""
    groups: dict[bytes, int] = {}
    rows: list[np.ndarray] = []
    wsum: list[float] = []
    indptr, indices = a.indptr, a.indices
    for i in range(a.shape[0]):
        lo, hi = indptr[i], indptr[i + 1]
        if hi == lo or w[i] <= 0:
            continue
        key = indices[lo:hi].tobytes()
        g = groups.get(key)
        if g is None:
            groups[key] = len(rows)
            rows.append(indices[lo:hi])
            wsum.append(float(w[i]))
        else:
            wsum[g] += float(w[i])
    k = len(rows)
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=k)
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    idx = np.concatenate(rows) if k else np.zeros(0, np.int64)
    agg = sp.csr_matrix((np.ones(idx.size), idx, ptr), shape=(k, a.shape[1]))
    return agg, np.asarray(wsum, float)


def _solve(c: np.ndarray, integrality: np.ndarray, lb: np.ndarray, ub: np.ndarray,
           constraints: list[LinearConstraint], time_limit_s: float | None, mip_rel_gap: float,
           what: str) -> tuple[np.ndarray, float, str, float, float, float, str]:
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": float(mip_rel_gap)}
    if time_limit_s is not None:
        options["time_limit"] = float(time_limit_s)
    t0 = time.perf_counter()
    res = optimize.milp(c, integrality=integrality, bounds=optimize.Bounds(lb, ub),
                        constraints=constraints, options=options)
    elapsed = time.perf_counter() - t0
    if res.status == 2:
        raise InfeasibleError(f"{what}: infeasible ({res.message})")
    if res.x is None:
        raise InfeasibleError(f"{what}: no feasible solution found (HiGHS status {res.status}: "
                              f"{res.message})")
    status = "optimal" if res.status == 0 else "time_limit"
    gap = float(getattr(res, "mip_gap", np.nan))
    bound = float(getattr(res, "mip_dual_bound", np.nan))
    return res.x, float(res.fun), status, gap, bound, elapsed, str(res.message)


def _chosen(x: np.ndarray, m: int) -> np.ndarray:
    return np.flatnonzero(x[:m] > 0.5).astype(np.int64)


def _shares(a: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> tuple[float, float]:
    total = w.sum()
    if total <= 0:
        return math.nan, math.nan
    covered = np.asarray(a[:, chosen].sum(axis=1)).ravel() > 0
    coverable = np.diff(a.indptr) > 0
    return float(w[covered].sum() / total), float(w[coverable].sum() / total)


# ---------------------------------------------------------------------------------------------
# Location models
# ---------------------------------------------------------------------------------------------


def max_coverage(cand_xy: np.ndarray, demand_xy: np.ndarray, w: np.ndarray | None,
                 radius_m: float, p: int, fixed: Iterable[int] = (), *,
                 time_limit_s: float | None = 60.0, mip_rel_gap: float = 1e-4) -> SitingResult:
    """Maximal covering location problem: open ``p`` sites to cover the most demand weight.

    Church and ReVelle (1974)::

        max  sum_i w_i z_i
        s.t. z_i <= sum_j a_ij y_j      (a point counts once, if any open site covers it)
             sum_j y_j = p,   y_j = 1 for j in fixed,   y binary,   0 <= z_i <= 1

    ``z`` need not be declared integer: for binary ``y`` an optimal ``z_i`` is ``min(1, ...)``.
    Demand points with identical coverage sets are merged first (:func:`coverage_matrix`).

    Parameters
    ----------
    cand_xy, demand_xy
        ``(m, 2)`` candidate and ``(n, 2)`` demand coordinates, EPSG:27700 metres.
    w
        ``(n,)`` non-negative demand weights (``None``: all 1).
    radius_m
        Coverage radius.
    p
        Number of open sites, fixed ones included; ``len(fixed) <= p <= m``.
    fixed
        Candidate indices forced open (e.g. existing docks).
    time_limit_s, mip_rel_gap
        HiGHS limits; on a time limit the best solution found is returned with its gap.

    Returns
    -------
    SitingResult
        ``objective`` is the covered weight.

    Raises
    ------
    InfeasibleError
        If ``p`` is outside ``len(fixed) .. m``, or HiGHS finds no solution in time.
    """
    cand = _as_xy(cand_xy, "cand_xy")
    dem = _as_xy(demand_xy, "demand_xy")
    m, n = cand.shape[0], dem.shape[0]
    w = _as_weights(w, n)
    f = _as_fixed(fixed, m)
    if not f.size <= p <= m:
        raise InfeasibleError(f"max_coverage: p={p} must lie between the {f.size} fixed sites "
                              f"and the {m} candidates")
    a = coverage_matrix(cand, dem, radius_m)
    agg, wa = _aggregate_rows(a, w)
    k = agg.shape[0]
    c = np.concatenate([np.zeros(m), -wa])
    integrality = np.concatenate([np.ones(m), np.zeros(k)])
    lb = np.zeros(m + k)
    lb[f] = 1.0
    ub = np.ones(m + k)
    link = sp.hstack([-agg, sp.identity(k, format="csr")], format="csr")
    card = sp.csr_matrix(np.concatenate([np.ones(m), np.zeros(k)])[None, :])
    cons = [optimize.LinearConstraint(link, -np.inf, 0.0),
            optimize.LinearConstraint(card, p, p)]
    x, fun, status, gap, bound, t, msg = _solve(c, integrality, lb, ub, cons, time_limit_s,
                                                 mip_rel_gap, "max_coverage")
    chosen = _chosen(x, m)
    cov, covable = _shares(a, w, chosen)
    covered_w = float(w[np.asarray(a[:, chosen].sum(axis=1)).ravel() > 0].sum())
    return SitingResult(chosen, covered_w, cov, covable, status, gap, 0.0 - bound, t, msg)


def min_sites_full_coverage(cand_xy: np.ndarray, demand_xy: np.ndarray, radius_m: float,
                            share: float = 1.0, fixed: Iterable[int] = (), *,
                            w: np.ndarray | None = None, time_limit_s: float | None = 60.0,
                            mip_rel_gap: float = 1e-4) -> SitingResult:
    """Location set covering: the fewest sites covering at least ``share`` of the demand.

    Toregas et al. (1971)::

        min  sum_j y_j
        s.t. sum_j a_ij y_j >= 1        for every point some candidate can cover   (share = 1)
             y_j = 1 for j in fixed,   y binary

    For ``share < 1`` the partial set covering model is solved instead: ``z_i <= sum_j a_ij y_j``
    and ``sum_i w_i z_i >= share x (coverable weight)``.

    ``share`` is a share of the *coverable* weight, the weight within ``radius_m`` of at least one
    candidate, so ``share=1`` is always feasible; points out of every candidate's reach are
    reported through ``coverable_share`` rather than making the model infeasible.

    Parameters
    ----------
    cand_xy, demand_xy
        ``(m, 2)`` candidate and ``(n, 2)`` demand coordinates, EPSG:27700 metres.
    radius_m
        Coverage radius.
    share
        Required covered share of the coverable weight, in ``(0, 1]``.
    fixed
        Candidate indices forced open.
    w
        ``(n,)`` non-negative weights (``None``: all 1); points of zero weight need no cover.
    time_limit_s, mip_rel_gap
        HiGHS limits; on a time limit the best cover found is returned, and ``bound`` (rounded
        up) is a proven lower bound on the number of sites.

    Returns
    -------
    SitingResult
        ``objective`` is the number of open sites.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share}")
    cand = _as_xy(cand_xy, "cand_xy")
    dem = _as_xy(demand_xy, "demand_xy")
    m, n = cand.shape[0], dem.shape[0]
    wv = _as_weights(w, n)
    f = _as_fixed(fixed, m)
    a = coverage_matrix(cand, dem, radius_m)
    agg, wa = _aggregate_rows(a, wv)
    k = agg.shape[0]
    if share >= 1.0:
        c = np.ones(m)
        integrality = np.ones(m)
        lb = np.zeros(m)
        lb[f] = 1.0
        ub = np.ones(m)
        cons = [optimize.LinearConstraint(agg, 1.0, np.inf)] if k else []
    else:
        c = np.concatenate([np.ones(m), np.zeros(k)])
        integrality = np.concatenate([np.ones(m), np.zeros(k)])
        lb = np.zeros(m + k)
        lb[f] = 1.0
        ub = np.ones(m + k)
        link = sp.hstack([-agg, sp.identity(k, format="csr")], format="csr")
        need = sp.csr_matrix(np.concatenate([np.zeros(m), wa])[None, :])
        target = share * wa.sum() * (1 - 1e-12)
        cons = [optimize.LinearConstraint(link, -np.inf, 0.0),
                optimize.LinearConstraint(need, target, np.inf)]
    x, fun, status, gap, bound, t, msg = _solve(c, integrality, lb, ub, cons, time_limit_s,
                                                 mip_rel_gap, "min_sites_full_coverage")
    chosen = _chosen(x, m)
    cov, covable = _shares(a, wv, chosen)
    return SitingResult(chosen, float(chosen.size), cov, covable, status, gap, bound, t, msg)


def p_median(cand_xy: np.ndarray, demand_xy: np.ndarray, w: np.ndarray | None, p: int,
             fixed: Iterable[int] = (), *, k: int | None = None,
             time_limit_s: float | None = 60.0, mip_rel_gap: float = 1e-4) -> SitingResult:
    """p-median: open ``p`` sites minimising the weighted mean distance to the nearest open one.

    The radius formulation of Garcia, Labbe and Marin (2011, "Solving large p-median problems
    with a radius formulation", *INFORMS J. Computing* 23(4):546-556), equivalent in LP strength
    to the classic assignment model of ReVelle and Swain (1970) but much sparser, written as a
    chain and truncated at each demand point's ``k`` nearest candidates. With ``d_i1 <= ... <=
    d_ik`` the distances from point ``i`` to its ``k`` nearest candidates ``j_i1 .. j_ik``, the
    variable ``z_il`` is 1 when none of the ``l`` nearest is open::

        min  sum_i v_i (d_i1 + sum_{l=1}^{k-1} (d_i,l+1 - d_il) z_il)      v_i = w_i / sum w
        s.t. z_i1 + y_{j_i1} >= 1
             z_il + y_{j_il} - z_i,l-1 >= 0          l = 2 .. k-1
             sum_j y_j = p,   y_j = 1 for j in fixed,   y binary,   z >= 0

    A point whose ``k`` nearest candidates are all closed is charged only ``d_ik``, at most its
    true distance, so the truncated model is a relaxation and HiGHS's bound is a valid lower bound
    for the full p-median. The chosen sites are then evaluated exactly (each point to its nearest
    open site); the reported gap compares that true value with the bound. When the gap exceeds
    ``mip_rel_gap`` because of truncation, ``k`` is doubled and the model solved again, up to the
    number of candidates (where it is exact).

    Tractability: the model has about ``n x k`` rows and HiGHS's root LP dominates the time.
    Measured with the 250 London candidate sites (2 cores): 404 demand points (population
    aggregated to 2 km cells) solve to optimality in about 6 s for ``p=33`` and 23 s for ``p=5``;
    1,383 points (1 km cells) take about 95 s for ``p=33``; all 4,994 LSOAs do not finish the root
    LP in a minute. So aggregate first with :func:`aggregate_points`: the optimum found on 2 km
    cells (p=33) is within 0.1 % of the one found on 1 km cells, both evaluated on every LSOA.

    Parameters
    ----------
    cand_xy, demand_xy
        ``(m, 2)`` candidate and ``(n, 2)`` demand coordinates, EPSG:27700 metres.
    w
        ``(n,)`` non-negative demand weights (``None``: all 1).
    p
        Number of open sites, fixed ones included.
    fixed
        Candidate indices forced open.
    k
        Initial neighbourhood size; default ``max(8, 2 m / p + 1)``, capped at ``m``.
    time_limit_s, mip_rel_gap
        HiGHS limits per solve.

    Returns
    -------
    SitingResult
        ``objective`` is the true weighted mean distance (m) from demand to the nearest chosen
        site; ``bound`` a lower bound on it; ``covered_share``/``coverable_share`` are ``nan``.
    """
    cand = _as_xy(cand_xy, "cand_xy")
    dem = _as_xy(demand_xy, "demand_xy")
    m, n = cand.shape[0], dem.shape[0]
    wv = _as_weights(w, n)
    f = _as_fixed(fixed, m)
    if not (max(1, f.size) <= p <= m):
        raise InfeasibleError(f"p_median: p={p} must lie between max(1, {f.size} fixed sites) "
                              f"and the {m} candidates")
    if wv.sum() <= 0:
        raise ValueError("p_median: the demand weights sum to zero")
    keep = wv > 0
    dem, v = dem[keep], wv[keep] / wv[keep].sum()
    nk = dem.shape[0]
    tree = cKDTree(cand)
    kk = min(m, k if k is not None else max(8, math.ceil(2 * m / p) + 1))
    if kk < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    total_t = 0.0
    while True:
        dist, idx = tree.query(dem, k=kk)
        dist = np.asarray(dist, float).reshape(nk, kk)
        idx = np.asarray(idx, np.int64).reshape(nk, kk)
        base = float((v * dist[:, 0]).sum())
        nz = nk * (kk - 1)
        # Variables: y (m) | z (nk x (kk - 1), row-major by demand point).
        c = np.concatenate([np.zeros(m), (v[:, None] * np.diff(dist, axis=1)).ravel()])
        integrality = np.concatenate([np.ones(m), np.zeros(nz)])
        lb = np.zeros(m + nz)
        lb[f] = 1.0
        ub = np.ones(m + nz)
        cons = [optimize.LinearConstraint(
            sp.csr_matrix(np.concatenate([np.ones(m), np.zeros(nz)])[None, :]), p, p)]
        if nz:
            r = np.arange(nz)
            level = np.tile(np.arange(1, kk), nk)
            chain = level > 1
            rows = np.concatenate([r, r, r[chain]])
            cols = np.concatenate([m + r, idx[:, :-1].ravel(), m + r[chain] - 1])
            vals = np.concatenate([np.ones(2 * nz), -np.ones(int(chain.sum()))])
            a = sp.csr_matrix((vals, (rows, cols)), shape=(nz, m + nz))
            cons.append(optimize.LinearConstraint(a, np.where(level == 1, 1.0, 0.0), np.inf))
        x, fun, status, _, bound, t, msg = _solve(c, integrality, lb, ub, cons, time_limit_s,
                                                   mip_rel_gap, "p_median")
        total_t += t
        chosen = _chosen(x, m)
        d_true, _ = cKDTree(cand[chosen]).query(dem, k=1)
        true_mean = float((v * np.asarray(d_true, float)).sum())
        lower = base + bound
        gap = max(0.0, (true_mean - lower) / true_mean) if true_mean > 0 else 0.0
        truncated = true_mean > base + fun + 1e-9 * max(1.0, true_mean)
        if not truncated or kk >= m or status != "optimal":
            if truncated and kk < m:
                msg += f" (truncated at k={kk}: some points' nearest open site is farther)"
            return SitingResult(chosen, true_mean, math.nan, math.nan, status, gap, lower,
                                total_t, msg)
        kk = min(m, 2 * kk)


def aggregate_points(demand_xy: np.ndarray, w: np.ndarray, cell_m: float) -> DemandPoints:
    """Aggregate weighted demand points to square grid cells (aligned to the BNG origin).

    Each non-empty cell becomes one point at the weighted centroid of its points, carrying their
    summed weight (cells whose points all weigh zero get their plain centroid and weight 0). The
    usual demand aggregation of large location models (Francis, Lowe, Rayco and Tamir 2009,
    "Aggregation error for location models: survey and analysis", *Annals of OR* 167:171-208);
    the weighted centroid can fall outside London in a cell cut by the boundary, which is
    harmless for distance-based models.
    """
    xy = _as_xy(demand_xy, "demand_xy")
    wv = _as_weights(w, xy.shape[0])
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0; got {cell_m}")
    if xy.shape[0] == 0:
        return DemandPoints(np.zeros(0), np.zeros(0), np.zeros(0))
    cells = np.floor(xy / cell_m).astype(np.int64)
    _, inv = np.unique(cells, axis=0, return_inverse=True)
    inv = inv.ravel()
    tot = np.bincount(inv, weights=wv)
    use = np.where(tot[inv] > 0, wv, 1.0)
    den = np.bincount(inv, weights=use)
    gx = np.bincount(inv, weights=use * xy[:, 0]) / den
    gy = np.bincount(inv, weights=use * xy[:, 1]) / den
    return DemandPoints(gx, gy, tot)


def nested_max_coverage(cand_xy: np.ndarray, demand_xy: np.ndarray, w: np.ndarray | None,
                        radius_m: float, steps: Sequence[int], fixed: Iterable[int] = (), *,
                        time_limit_s: float | None = 60.0, mip_rel_gap: float = 1e-4
                        ) -> list[SitingResult]:
    """A growth pathway of maximal-coverage networks, each containing the previous one.

    Step ``t`` solves :func:`max_coverage` with ``p = steps[t]`` and every site of step ``t - 1``
    (and ``fixed``) forced open. The previous network is feasible for the next step, so covered
    weight never falls along the pathway, and each step is optimal given what was already built
    (a myopic, build-as-you-go plan: the pathway's final network may cover less than a
    one-shot :func:`max_coverage` with the same ``p``).

    Parameters
    ----------
    steps
        Strictly increasing site counts, the first at least ``len(fixed)``.
    Other parameters
        As :func:`max_coverage`.

    Returns
    -------
    list of SitingResult
        One per step, in order.
    """
    steps = [int(s) for s in steps]
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"steps must be a non-empty, strictly increasing list; got {steps}")
    out: list[SitingResult] = []
    prev = np.asarray(list(fixed), dtype=np.int64)
    for p in steps:
        res = max_coverage(cand_xy, demand_xy, w, radius_m, p, prev,
                           time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
        out.append(res)
        prev = res.chosen
    return out
