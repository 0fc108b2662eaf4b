"""Dock sites: where drones launch from, checked against the map, with a nearest-site index.

Sites come from the scenario's ``[[docks]]`` tables (longitude/latitude in WGS84 or easting/
northing in EPSG:27700). Every site must lie inside London (within ``RIVER_TOLERANCE_M`` of a
borough polygon, so that sites on the Thames count). Nearest-site search uses one
:class:`scipy.spatial.cKDTree` built once per scenario and queried in a batch for all incidents of
a replication (../shared/design/PERFORMANCE.md: batched KD-tree candidates cost about a microsecond
an incident and do not grow with the fleet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.spatial import cKDTree

from .. import kinematics
from ..errors import InputError
from ..inputs.airspace import NoFlyZones
from ..inputs.geography import London, lonlat_to_bng
from ..inputs.scenario import DockSite, DroneSpec, Scenario

__all__ = ["Docks", "reach_radius_m", "build_docks", "sited_docks", "siting_weights",
           "candidate_pool", "unreachable_demand", "RIVER_TOLERANCE_M"]

#: Smallest coverage radius a hexagonal lattice is laid for: at 250 m London already needs about
#: 18,000 lattice sites; much below, the lattice alone would not fit in memory.
MIN_LATTICE_RADIUS_M = 250.0

#: The borough polygons stop at mean high water, so the tidal Thames belongs to none of them; a
#: site this close to a borough (a river station, a pier) is accepted and given the nearest one.
RIVER_TOLERANCE_M = 250.0


@dataclass(eq=False)
class Docks:
    """Dock sites of a scenario, in EPSG:27700."""

    names: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    borough: np.ndarray
    drones: np.ndarray

    def __post_init__(self) -> None:
        self._tree = cKDTree(np.column_stack([self.x, self.y])) if len(self.names) else None

    def __len__(self) -> int:
        return len(self.names)

    def candidates(self, x: np.ndarray, y: np.ndarray, k: int, max_range_m: float
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest docks within ``max_range_m`` of each point.

        Returns ``(index, distance_m)``, each of shape ``(n, k)``, nearest first; slots with no dock
        in range hold index -1 and distance ``inf``.
        """
        n = len(x)
        k = max(1, min(k, len(self.names)))
        if self._tree is None or n == 0:
            return np.full((n, k), -1, np.int64), np.full((n, k), np.inf)
        dist, idx = self._tree.query(np.column_stack([x, y]), k=k,
                                     distance_upper_bound=max_range_m * (1 + 1e-12))
        dist = np.asarray(dist, float).reshape(n, k)
        idx = np.asarray(idx, np.int64).reshape(n, k)
        idx[idx >= len(self.names)] = -1
        return idx, dist


def reach_radius_m(spec: DroneSpec, within_s: float) -> float:
    """Distance a drone can cover from a dock with the call-to-scene budget ``within_s``."""
    return kinematics.reach_radius_m(spec, within_s)


def build_docks(scn: Scenario, london: London, zones: NoFlyZones | None = None) -> Docks:
    """Place the scenario's dock sites on the map; refuse any outside London or in a no-fly zone."""
    names, xs, ys, counts = [], [], [], []
    for k, site in enumerate(scn.docks):
        if math.isnan(site.x):
            bng_x, bng_y = lonlat_to_bng(site.lon, site.lat)
            site_x, site_y = float(bng_x), float(bng_y)
        else:
            site_x, site_y = site.x, site.y
        names.append(site.name or f"dock{k}")
        xs.append(site_x)
        ys.append(site_y)
        counts.append(site.drones)
    x = np.asarray(xs, float)
    y = np.asarray(ys, float)
    borough = london.borough_of(x, y) if len(x) else np.zeros(0, np.int64)
    for k, b in enumerate(borough):
        if b >= 0:
            continue
        gap = london.outline.distance(shapely.Point(x[k], y[k]))
        if gap > RIVER_TOLERANCE_M:
            raise InputError(scn.source, f"docks[{k}]",
                             f"site {names[k]!r} at ({x[k]:.0f}, {y[k]:.0f}) is outside London "
                             f"({gap:,.0f} m from the nearest borough)")
        borough[k] = london.borough_of(x[k:k + 1], y[k:k + 1], nearest=True)[0]
    if zones is not None and len(x):
        inside = zones.zone_of(x, y)
        for i in np.flatnonzero(inside >= 0):
            raise InputError(scn.source, f"docks[{i}]",
                             f"site {names[i]!r} at ({x[i]:.0f}, {y[i]:.0f}) is inside the no-fly "
                             f"zone {zones.names[inside[i]]!r}")
    return Docks(tuple(names), x, y, np.asarray(borough, np.int64), np.asarray(counts, np.int64))


# --- [siting]: docks from files, candidate sets, generators and optimisation ----------------------
def siting_weights(london: London, weight: str, unreachable: np.ndarray | None = None
                   ) -> np.ndarray:
    """Per-LSOA demand weight for siting; ``borough_equal`` gives every borough equal total.

    ``unreachable`` (bool per LSOA) zeroes demand no drone can reach (inside a no-fly zone in
    detour mode); borough totals are still taken over the whole borough.
    """
    if weight == "borough_equal":
        pop = london.weights("population")
        per = np.bincount(london.lsoa_borough, weights=pop, minlength=london.n_boroughs)
        w = pop / per[london.lsoa_borough]
    elif weight == "area":
        w = london.lsoa["area_km2"].to_numpy(float)
    else:
        w = london.weights(weight)
    if unreachable is not None:
        w = np.where(unreachable, 0.0, w)
    return w


def unreachable_demand(pts_x: np.ndarray, pts_y: np.ndarray, zones: NoFlyZones | None,
                       mode: str) -> np.ndarray | None:
    """Demand points inside no-fly zones when flights must detour (None if there are none)."""
    if zones is None or not len(zones) or mode != "detour":
        return None
    return zones.contains(pts_x, pts_y)


def _usable(x: np.ndarray, y: np.ndarray, london: London, zones: NoFlyZones | None) -> np.ndarray:
    """Candidate positions a dock may take: in London (river tolerance) and outside no-fly zones."""
    inside = london.borough_of(x, y) >= 0
    if (~inside).any():
        gap = shapely.distance(london.outline, shapely.points(x[~inside], y[~inside]))
        inside[~inside] = gap <= RIVER_TOLERANCE_M
    if zones is not None and len(zones):
        inside &= ~zones.contains(x, y)
    return inside


def sited_docks(scn: Scenario, london: London, zones: NoFlyZones | None = None
                ) -> tuple[DockSite, ...]:
    """The scenario's ``[[docks]]`` plus the sites its ``[siting]`` method adds.

    Optimisation methods pin the listed docks (existing sites stay) and choose the rest from the
    candidate sets by MILP (:mod:`dronesim.siting.solvers`) for the coverage radius of the
    scenario's target time (straight-line reach; candidates inside no-fly zones are excluded).
    """
    from . import solvers as siting
    sp = scn.siting
    listed = tuple(scn.docks)
    if sp.method == "listed":
        return listed
    where = f"{scn.source}"
    per = sp.drones_per_site
    if sp.method == "file":
        if not sp.file:
            raise InputError(where, "siting.file", "required when siting.method = 'file'")
        path = Path(sp.file)
        if not path.is_absolute() and not scn.source.startswith("<"):
            path = Path(scn.source).parent / path
        df = siting.read_sites(path, london=london)
        if zones is not None and len(df):
            # Blamed on the file and its row, as a site outside London is (not on docks[k]).
            inside = zones.zone_of(df["x"].to_numpy(float), df["y"].to_numpy(float))
            for k in np.flatnonzero(inside >= 0)[:1]:
                raise InputError(path, f"row {k + 1}",
                                 f"site {df['name'].iat[k]!r} at ({df['x'].iat[k]:.0f}, "
                                 f"{df['y'].iat[k]:.0f}) is inside the no-fly zone "
                                 f"{zones.names[inside[k]]!r}")
        drones = df["drones"] if "drones" in df.columns else [per] * len(df)
        return listed + tuple(DockSite(name=str(n), x=float(x), y=float(y), drones=int(d),
                                       source=str(path))
                              for n, x, y, d in zip(df["name"], df["x"], df["y"], drones))
    radius = reach_radius_m(scn.drones, scn.coverage.within_s)
    if sp.method == "one_per_borough":
        df = siting.one_per_borough(london, "population")
        df = _out_of_zones(df, london, zones)
        return listed + _as_docks(df, per, "one site per borough (population-weighted)")
    if sp.method == "hex_grid":
        df = siting.hex_grid(london, _lattice_radius(scn, "siting.method"))
        ok = _usable(df["x"].to_numpy(float), df["y"].to_numpy(float), london, zones)
        return listed + _as_docks(df[ok], per, f"hexagonal lattice, radius {radius:.0f} m")
    cands = candidate_pool(scn, london, zones)
    if sp.method == "candidates":
        return listed + _as_docks(cands, per, "candidate set " + "+".join(sp.candidates))
    lx = np.array([d.x if not math.isnan(d.x) else lonlat_to_bng(d.lon, d.lat)[0] for d in listed])
    ly = np.array([d.y if not math.isnan(d.y) else lonlat_to_bng(d.lon, d.lat)[1] for d in listed])
    cand_xy = np.vstack([np.column_stack([lx, ly]).reshape(-1, 2),
                         cands[["x", "y"]].to_numpy(float)])
    fixed = np.arange(len(listed))
    pts = siting.demand_points(london, "population")
    w = siting_weights(london, sp.weight,
                       unreachable_demand(pts.x, pts.y, zones, scn.airspace.mode))
    if sp.method == "max_coverage":
        if sp.sites < len(listed):
            raise InputError(where, "siting.sites",
                             f"must be at least the {len(listed)} listed docks; got {sp.sites}")
        res = siting.max_coverage(cand_xy, pts.xy, w, radius, sp.sites, fixed,
                                  time_limit_s=sp.time_limit_s)
    elif sp.method == "p_median":
        if sp.sites < len(listed):
            raise InputError(where, "siting.sites",
                             f"must be at least the {len(listed)} listed docks; got {sp.sites}")
        # All 4,994 small areas make the p-median MILP too large for HiGHS within a minute;
        # 1 km cells change the chosen network's mean distance by well under 1% (siting tests).
        agg = siting.aggregate_points(pts.xy, w, 1000.0)
        res = siting.p_median(cand_xy, agg.xy, agg.w, sp.sites, fixed,
                              time_limit_s=sp.time_limit_s)
    else:  # min_sites
        res = siting.min_sites_full_coverage(cand_xy, pts.xy, radius, sp.share, fixed, w=w,
                                             time_limit_s=sp.time_limit_s)
    new = [j - len(listed) for j in res.chosen if j >= len(listed)]
    return listed + _as_docks(cands.iloc[new], per, f"{sp.method} ({sp.weight} weight)")


def _lattice_radius(scn: Scenario, field: str) -> float:
    """The coverage radius for a hexagonal lattice, refused when too small to lay one."""
    radius = reach_radius_m(scn.drones, scn.coverage.within_s)
    if radius < MIN_LATTICE_RADIUS_M:
        raise InputError(scn.source, field,
                         f"a drone reaches only {radius:,.0f} m within coverage.within_s = "
                         f"{scn.coverage.within_s:g} s (after decision, launch, climb and "
                         f"descent); a hexagonal lattice needs at least "
                         f"{MIN_LATTICE_RADIUS_M:.0f} m (raise coverage.within_s, "
                         "drones.speed_m_s or drones.max_range_m)")
    return radius


def candidate_pool(scn: Scenario, london: London, zones: NoFlyZones | None) -> pd.DataFrame:
    """Candidate sites of the ``siting.candidates`` kinds, usable ones only.

    Kinds: ``fire_station`` and ``hospital`` (data/sites/candidate_sites.csv) and ``hex`` (a
    hexagonal lattice at the coverage radius of the target time: rooftops are assumed to be
    found near any lattice point).
    """
    from . import solvers as siting

    kinds = tuple(scn.siting.candidates)
    parts = []
    real = tuple(k for k in kinds if k != "hex")
    if real:
        parts.append(siting.candidate_sites(london, real))
    if "hex" in kinds:
        radius = _lattice_radius(scn, "siting.candidates")
        hx = siting.hex_grid(london, radius).reset_index(drop=True)
        parts.append(pd.DataFrame({"site_id": [f"hex:{k}" for k in range(len(hx))],
                                   "kind": "hex", "name": "lattice point",
                                   "x": hx["x"].to_numpy(float), "y": hx["y"].to_numpy(float)}))
    cands = pd.concat(parts, ignore_index=True)
    ok = _usable(cands["x"].to_numpy(float), cands["y"].to_numpy(float), london, zones)
    return cands[ok].reset_index(drop=True)


def _out_of_zones(df: pd.DataFrame, london: London, zones: NoFlyZones | None,
                  inset_m: float = 50.0) -> pd.DataFrame:
    """Move sites that fall in a no-fly zone to the nearest allowed point of their borough."""
    if zones is None or not len(zones):
        return df
    x, y = df["x"].to_numpy(float).copy(), df["y"].to_numpy(float).copy()
    bad = np.flatnonzero(zones.contains(x, y))
    if bad.size == 0:
        return df
    blocked = shapely.union_all(zones.geoms)
    b = london.borough_of(x, y, nearest=True)
    for k in bad:
        allowed = shapely.difference(london.boroughs.geometry.values[b[k]], blocked)
        allowed = shapely.buffer(allowed, -inset_m) if not shapely.buffer(
            allowed, -inset_m).is_empty else allowed
        if allowed.is_empty:
            continue
        p = shapely.ops.nearest_points(allowed, shapely.Point(x[k], y[k]))[0]
        x[k], y[k] = p.x, p.y
    out = df.copy()
    out["x"], out["y"] = x, y
    return out[~zones.contains(x, y)]


def _as_docks(df: pd.DataFrame, drones: int, source: str) -> tuple[DockSite, ...]:
    names = df["site_id"] if "site_id" in df.columns else (
        df["name"] if "name" in df.columns else [f"site{k}" for k in range(len(df))])
    return tuple(DockSite(name=str(n), x=float(x), y=float(y), drones=drones, source=source)
                 for n, x, y in zip(names, df["x"], df["y"]))
