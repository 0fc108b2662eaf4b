"""London's geography: boroughs, small areas, demand weights and points in polygons.

Everything here works in British National Grid (EPSG:27700, metres). The layers are the small
derived files in ``data/`` built by ``scripts/build_data.py`` from the openly licensed sources
listed in ``data/README.md``; a file whose CRS is not EPSG:27700 is refused, never reprojected
silently.

Modelling assumptions
---------------------
* Incident locations are drawn in two stages: a small area (LSOA 2021) with probability
  proportional to a demand weight (population, Met recorded crime, or the LAS borough share
  spread by population), then a point uniformly inside that small area. Fire incidents drawn
  from the LFB sample's own points are the exception (:mod:`dronesim.inputs.sources`).
  Within-LSOA uniformity is the only approximation (LSOAs average 0.3 km^2 in London).
* Drone flights are straight lines (great-circle effects are negligible at London scale).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ..errors import InputError, input_file

__all__ = [
    "BNG",
    "LfbSample",
    "London",
    "check_lonlat_extent",
    "default_data_dir",
    "las_lsoa_weights",
    "lfb_sample",
    "load_london",
    "lonlat_to_bng",
    "lsoa_weight",
    "sample_points_in_polygons",
]

BNG = CRS.from_epsg(27700)

#: Demand weights read from ``demand/lsoa_demand.parquet`` (kind -> column).
FILE_WEIGHT_COLUMNS = {
    "population": "population",
    "crime": "crime_12m",
    "crime_violence": "crime_violence_12m",
}
#: Demand weights available for ``services.<name>.spatial_weight`` (kind -> column of
#: ``London.lsoa``). The last two are derived on first use (:func:`lsoa_weight`; LFB
#: sample points per LSOA; LAS borough share spread by population) and added as columns then.
WEIGHT_COLUMNS = {
    **FILE_WEIGHT_COLUMNS,
    "lfb_sample": "lfb_sample_points",
    "las": "las_share",
}


def default_data_dir() -> Path:
    """``$DRONESIM_DATA`` if set, else the repository's ``data/`` folder."""
    env = os.environ.get("DRONESIM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


@functools.lru_cache(maxsize=1)
def _to_bng() -> Transformer:
    return Transformer.from_crs(4326, 27700, always_xy=True)


def lonlat_to_bng(lon: np.ndarray | float,
                  lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude to British National Grid easting/northing (metres)."""
    x, y = _to_bng().transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def _declares_crs(path: Path) -> bool:
    """Whether a GeoJSON file has a ``crs`` member (GDAL reads one without it as EPSG:4326)."""
    tail = b""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                if b'"crs"' in tail + chunk:
                    return True
                tail = chunk[-4:]
    except OSError:
        return True  # cannot tell: word the refusal for a declared CRS
    return False


def check_lonlat_extent(path: Path, gdf: gpd.GeoDataFrame) -> None:
    """Refuse a layer whose CRS is longitude/latitude but whose coordinates cannot be.

    The usual cause is a GeoJSON of projected coordinates (metres, e.g. British National Grid)
    written without a ``crs`` member: GeoJSON is longitude/latitude by definition (RFC 7946),
    so GDAL reports EPSG:4326 for it, and reprojection would give NaN or nonsense. One
    :class:`InputError` naming the file, saying so, giving the bounds seen and how to fix it.
    """
    crs = CRS(gdf.crs)
    if not crs.is_geographic or not len(gdf):
        return
    b = gdf.total_bounds
    if not np.all(np.isfinite(b)) or (-180 <= b[0] and b[2] <= 180 and -90 <= b[1]
                                      and b[3] <= 90):
        return
    seen = f"x {b[0]:,.6g} to {b[2]:,.6g}, y {b[1]:,.6g} to {b[3]:,.6g}"
    fix = ('declare the CRS the coordinates are in (in GeoJSON a "crs" member, e.g. '
           '"urn:ogc:def:crs:EPSG::27700" for British National Grid metres; or save the file '
           "with that CRS from your GIS)")
    if path.suffix.lower() in (".geojson", ".json") and not _declares_crs(path):
        problem = ("no CRS, so it is read as longitude/latitude (GeoJSON's default, "
                   f"EPSG:4326), but its coordinates are not longitude/latitude ({seen})")
    else:
        problem = (f"is {crs.to_string()} (longitude/latitude) but the coordinates are not "
                   f"longitude/latitude ({seen})")
    raise InputError(path, "crs", f"{problem}; {fix}")


def _read_layer(path: Path) -> gpd.GeoDataFrame:
    input_file(path, hint="run scripts/build_data.py, see data/README.md")
    try:
        gdf = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    except Exception as exc:  # pyogrio/pyarrow raise many types; report them as bad input
        raise InputError(path, "", f"cannot read ({exc})") from None
    if gdf.crs is None:
        raise InputError(path, "crs", "missing; expected EPSG:27700")
    if not CRS(gdf.crs).equals(BNG, ignore_axis_order=True):
        raise InputError(path, "crs", f"is {gdf.crs.to_string()}; expected EPSG:27700")
    return gdf


def sample_points_in_polygons(
    geoms: np.ndarray, which: np.ndarray, rng: np.random.Generator, max_rounds: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points, one inside each polygon ``geoms[which[k]]``.

    Vectorised rejection sampling from each polygon's bounding box. ``geoms`` should be prepared
    (:func:`shapely.prepare`) for speed. Deterministic for a given generator state.
    """
    which = np.asarray(which, dtype=np.int64)
    n = which.size
    x = np.empty(n)
    y = np.empty(n)
    bounds = shapely.bounds(geoms)
    pending = np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            return x, y
        b = bounds[which[pending]]
        u = rng.random((pending.size, 2))
        px = b[:, 0] + u[:, 0] * (b[:, 2] - b[:, 0])
        py = b[:, 1] + u[:, 1] * (b[:, 3] - b[:, 1])
        ok = shapely.contains_xy(geoms[which[pending]], px, py)
        x[pending[ok]] = px[ok]
        y[pending[ok]] = py[ok]
        pending = pending[~ok]
    # A sliver polygon that rejection cannot hit: fall back to a point known to be inside.
    pts = shapely.point_on_surface(geoms[which[pending]])
    x[pending] = shapely.get_x(pts)
    y[pending] = shapely.get_y(pts)
    return x, y


@dataclass(eq=False)
class London:
    """The 33 boroughs and 4,994 small areas, with demand weights and a call profile."""

    data_dir: Path
    boroughs: gpd.GeoDataFrame
    lsoa: gpd.GeoDataFrame
    call_profile: np.ndarray  # (7, 24) share of calls by weekday (0 = Monday) and hour
    outline: shapely.Geometry

    def __post_init__(self) -> None:
        self._borough_geoms = np.asarray(self.boroughs.geometry.values)
        self._lsoa_geoms = np.asarray(self.lsoa.geometry.values)
        shapely.prepare(self._borough_geoms)
        shapely.prepare(self._lsoa_geoms)
        shapely.prepare(self.outline)
        self._tree = shapely.STRtree(self._borough_geoms)

    # --- lookups -----------------------------------------------------------------------------
    @property
    def n_boroughs(self) -> int:
        return len(self.boroughs)

    @property
    def borough_codes(self) -> np.ndarray:
        return self.boroughs["gss_code"].to_numpy()

    @property
    def borough_names(self) -> np.ndarray:
        return self.boroughs["name"].to_numpy()

    @property
    def lsoa_borough(self) -> np.ndarray:
        return self.lsoa["borough"].to_numpy()

    def contains(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """True where a point lies inside London (any borough polygon)."""
        return np.asarray(shapely.contains_xy(self.outline, x, y))

    def borough_of(self, x: np.ndarray, y: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Borough index of each point; -1 outside London unless ``nearest``.

        Each borough's (prepared) polygon tests only the points in its bounding box
        (``contains_xy``: no point geometries built), about ten times quicker than an STRtree
        ``within`` query over every point; a point inside two polygons (slivers where boundaries
        overlap) gets what that query gives it, so the answer is the query's.
        """
        xa, ya = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        xa, ya = np.atleast_1d(xa).ravel(), np.atleast_1d(ya).ravel()
        out = np.full(xa.size, -1, dtype=np.int64)
        hits = np.zeros(xa.size, np.int8)
        bounds = self.__dict__.get("_borough_bounds")
        if bounds is None:
            bounds = self.__dict__["_borough_bounds"] = shapely.bounds(self._borough_geoms)
        for k, g in enumerate(self._borough_geoms):
            x0, y0, x1, y1 = bounds[k]
            cand = np.flatnonzero((xa >= x0) & (xa <= x1) & (ya >= y0) & (ya <= y1))
            if cand.size:
                inside = cand[shapely.contains_xy(g, xa[cand], ya[cand])]
                out[inside] = k
                hits[inside] += 1
        twice = np.flatnonzero(hits > 1)
        if twice.size:
            src, hit = self._tree.query(shapely.points(xa[twice], ya[twice]), predicate="within")
            out[twice[src]] = hit
        if nearest and (out < 0).any():
            miss = np.flatnonzero(out < 0)
            _, idx = self._tree.query_nearest(shapely.points(xa[miss], ya[miss]),
                                              return_distance=False, all_matches=False)
            out[miss] = idx
        return out

    def borough_neighbours(self, tolerance_m: float = 300.0) -> tuple[tuple[int, ...], ...]:
        """Neighbouring boroughs of each borough (index lists, ascending).

        Two boroughs are neighbours when their polygons come within ``tolerance_m`` of each
        other. The boundary polygons stop at the banks of the Thames, 200-300 m apart in
        central and west London, so the default of 300 m makes boroughs facing each other
        across the river neighbours (Westminster and Lambeth, the City and Southwark, Wandsworth
        and Hammersmith and Fulham, Southwark and Tower Hamlets), as the bridges make them for
        a patrol car; farther east, where the river is wider and crossings few (Greenwich and
        Tower Hamlets or Newham), they are not. 50 m gives shared land boundaries only.
        """
        cache = self.__dict__.setdefault("_neighbours", {})
        if tolerance_m not in cache:
            g = self._borough_geoms
            src, hit = self._tree.query(g, predicate="dwithin", distance=tolerance_m)
            out: list[list[int]] = [[] for _ in range(len(g))]
            for a, b in zip(src.tolist(), hit.tolist()):
                if a != b:
                    out[a].append(b)
            cache[tolerance_m] = tuple(tuple(sorted(set(n))) for n in out)
        return cache[tolerance_m]

    # --- demand ------------------------------------------------------------------------------
    def weights(self, kind: str) -> np.ndarray:
        """Non-negative weight of each small area for a demand kind (see WEIGHT_COLUMNS)."""
        col = WEIGHT_COLUMNS[kind]
        if col not in self.lsoa.columns:
            self.lsoa[col] = lsoa_weight(self, kind)
        return self.lsoa[col].to_numpy(dtype=float)

    def sample_in_lsoa(self, which: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Uniform points inside the given small areas."""
        return sample_points_in_polygons(self._lsoa_geoms, which, rng)


# --------------------------------------------------------------------------------------------
# Small-area weights derived from a demand source (moved here from dronesim.inputs.sources, which
# imports London from this module, so that geography does not import sources)
# --------------------------------------------------------------------------------------------


def _need(path: Path) -> Path:
    return input_file(path, hint="run scripts/build_data.py, see data/README.md")


def _columns(df: pd.DataFrame, path: Path, cols: tuple[str, ...]) -> None:
    for col in cols:
        if col not in df.columns:
            raise InputError(path, col, "missing column")


@dataclass(eq=False)
class LfbSample:
    """The LFB 2023 sample's incident points, ready for sampling."""

    anchor_x: np.ndarray  # cell centre, or the nearest point of London for centres outside it
    anchor_y: np.ndarray
    outside: np.ndarray  # the cell centre lies outside every borough polygon
    lsoa_counts: np.ndarray  # sample points per LSOA (small-area weight)

    def __len__(self) -> int:
        return int(self.anchor_x.size)


def _lsoa_of(london: London, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    geoms = np.asarray(london.lsoa.geometry.values)
    tree = shapely.STRtree(geoms)
    pts = shapely.points(x, y)
    out = np.full(x.size, -1, np.int64)
    src, hit = tree.query(pts, predicate="within")
    first = np.unique(src, return_index=True)[1]  # a point on a shared edge: first LSOA
    out[src[first]] = hit[first]
    miss = np.flatnonzero(out < 0)
    if miss.size:
        _, idx = tree.query_nearest(pts[miss], return_distance=False, all_matches=False)
        out[miss] = idx
    return out


@functools.lru_cache(maxsize=4)
def lfb_sample(london: London) -> LfbSample:
    """The LFB sample's points for ``london``'s data folder (cached: London is loaded once per
    data folder)."""
    path = _need(Path(london.data_dir) / "demand" / "lfb_incidents_2023.csv")
    df = pd.read_csv(path)
    _columns(df, path, ("x", "y"))
    x = df["x"].to_numpy(float)
    y = df["y"].to_numpy(float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError(path, "x", "missing coordinates")
    outside = ~london.contains(x, y)
    ax, ay = x.copy(), y.copy()
    if outside.any():
        boundary = london.outline.boundary
        lines = shapely.shortest_line(boundary, shapely.points(x[outside], y[outside]))
        start = shapely.get_coordinates(shapely.get_point(lines, 0))
        ax[outside], ay[outside] = start[:, 0], start[:, 1]
    counts = np.bincount(_lsoa_of(london, ax, ay), minlength=len(london.lsoa)).astype(float)
    return LfbSample(ax, ay, outside, counts)


@functools.lru_cache(maxsize=4)
def las_lsoa_weights(london: London) -> np.ndarray:
    """LAS incident share of each LSOA: borough share x the LSOA's share of borough population."""
    path = _need(Path(london.data_dir) / "demand" / "las_incidents_by_borough.csv")
    df = pd.read_csv(path)
    _columns(df, path, ("gss_code", "incidents_12m"))
    per = df.set_index("gss_code")["incidents_12m"].astype(float)
    missing = sorted(set(london.borough_codes) - set(per.index))
    if missing:
        raise InputError(path, "gss_code", f"no row for borough {missing[0]}")
    share = per.reindex(london.borough_codes).to_numpy() / per.sum()
    pop = london.lsoa["population"].to_numpy(float)
    lb = london.lsoa_borough
    pop_b = np.bincount(lb, weights=pop, minlength=london.n_boroughs)
    return share[lb] * pop / pop_b[lb]


def lsoa_weight(london: London, kind: str) -> np.ndarray:
    """Small-area weight of a demand kind derived from a source here ("lfb_sample", "las")."""
    if kind == "lfb_sample":
        return lfb_sample(london).lsoa_counts.copy()
    if kind == "las":
        return las_lsoa_weights(london).copy()
    raise KeyError(kind)


def _load_profile(path: Path) -> np.ndarray:
    input_file(path, hint="run scripts/build_data.py, see data/README.md")
    df = pd.read_csv(path)
    for col in ("weekday", "hour", "share_all"):
        if col not in df.columns:
            raise InputError(path, col, "missing column")
    prof = np.zeros((7, 24))
    prof[df["weekday"].to_numpy(), df["hour"].to_numpy()] = df["share_all"].to_numpy(float)
    if prof.sum() <= 0:
        raise InputError(path, "share_all", "all zero")
    return prof / prof.sum()


@functools.lru_cache(maxsize=4)
def _load_cached(data_dir: str) -> London:
    root = Path(data_dir)
    boroughs = _read_layer(root / "boroughs" / "london_boroughs.geojson")
    for col in ("gss_code", "name", "population", "area_km2"):
        if col not in boroughs.columns:
            raise InputError(root / "boroughs" / "london_boroughs.geojson", col, "missing column")
    boroughs = boroughs.sort_values("gss_code").reset_index(drop=True)
    lsoa_path = root / "demand" / "lsoa_demand.parquet"
    lsoa = _read_layer(lsoa_path)
    for col in ("lsoa21cd", "gss_code", *FILE_WEIGHT_COLUMNS.values()):
        if col not in lsoa.columns:
            raise InputError(lsoa_path, col, "missing column")
    code_to_idx = {c: i for i, c in enumerate(boroughs["gss_code"])}
    lsoa = lsoa.sort_values("lsoa21cd").reset_index(drop=True)
    lsoa["borough"] = lsoa["gss_code"].map(code_to_idx)
    if lsoa["borough"].isna().any():
        bad = lsoa.loc[lsoa["borough"].isna(), "gss_code"].iloc[0]
        raise InputError(lsoa_path, "gss_code", f"unknown borough code {bad}")
    lsoa["borough"] = lsoa["borough"].astype(np.int64)
    profile = _load_profile(root / "demand" / "call_profile_weekday_hour.csv")
    outline = shapely.union_all(np.asarray(boroughs.geometry.values))
    return London(root, boroughs, lsoa, profile, outline)


def load_london(data_dir: str | Path | None = None) -> London:
    """Load (once per process) the derived London layers from ``data_dir``."""
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load_cached(str(path.resolve()))
