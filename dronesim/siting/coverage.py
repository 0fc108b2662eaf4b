"""Static coverage: the share of area, population and demand a drone can reach within T seconds.

A point is covered when a drone launched from a dock at the call could be on scene within
``within_s``: decision, launch overhead, climb and descent are subtracted from T and the rest
is flown at cruise speed, so the reach radius is
``min(max_range_m, speed_m_s x (within_s - decision_s - launch_overhead_s - climb_s - descent_s))``
(:func:`dronesim.kinematics.reach_radius_m`).
Straight-line flight; availability (drones busy, pilots) is the simulation's job, not this.

Population and demand inside a covered region are computed by area weighting within each
small area (LSOA 2021), the usual areal-interpolation assumption.

Restricted airspace: where no-fly zones meet the reach discs, the cells (100 m) that no dock can
reach within the budget (inside a zone, behind one beyond the detour, or too far once the
authorisation delay is paid) are cut from the footprint; elsewhere the discs are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from .. import kinematics
from ..inputs.airspace import AirspacePolicy, NoFlyZones
from ..inputs.geography import London
from ..inputs.scenario import CoverageSpec, DroneSpec
from .sites import Docks

__all__ = ["StaticCoverage", "static_coverage"]


@dataclass(frozen=True)
class StaticCoverage:
    within_s: float
    radius_m: float
    area_share: float
    population_share: float
    demand_share: dict[str, float]
    boroughs_covered: int
    per_borough: pd.DataFrame  # gss_code, name, area_share, population_share, covered
    footprint: shapely.Geometry  # covered region (inside London)


def _airspace_cut(footprint: shapely.Geometry, docks: Docks, r: float, speed_m_s: float,
                  zones: NoFlyZones, policy: AirspacePolicy, cell_m: float = 100.0
                  ) -> shapely.Geometry:
    """The footprint less the cells no dock reaches within ``r`` metres of flight budget."""
    from scipy.spatial import cKDTree

    # A leg no longer than r ends within r of the cell, so it can only enter a zone if the cell
    # lies within r of that zone: only those cells are evaluated.
    region = shapely.intersection(footprint, shapely.buffer(shapely.union_all(zones.geoms), r))
    if region.is_empty:
        return footprint
    minx, miny, maxx, maxy = region.bounds
    mx, my = np.meshgrid(np.arange(minx + cell_m / 2, maxx, cell_m),
                         np.arange(miny + cell_m / 2, maxy, cell_m))
    gx, gy = mx.ravel(), my.ravel()
    inside = shapely.contains_xy(region, gx, gy)
    gx, gy = gx[inside], gy[inside]
    # Only cells whose straight leg from some dock in reach enters a zone can be lost.
    covered = np.zeros(gx.size, bool)
    near = cKDTree(np.column_stack([gx, gy])).query_ball_point(
        np.column_stack([docks.x, docks.y]), r)
    for j, pts in enumerate(near):
        pts = np.asarray(pts, np.int64)
        if pts.size == 0:
            continue
        if policy.mode == "detour":
            length, _ = zones.router(policy.margin_m).lengths_from(
                float(docks.x[j]), float(docks.y[j]), gx[pts], gy[pts])
            ok = length <= r
        else:
            length, delay = policy.legs(zones, docks.x[j], docks.y[j], gx[pts], gy[pts])
            ok = length + delay * speed_m_s <= r
        covered[pts[ok]] = True
    lost = ~covered
    if not lost.any():
        return footprint
    h = cell_m / 2
    boxes = shapely.box(gx[lost] - h, gy[lost] - h, gx[lost] + h, gy[lost] + h)
    return shapely.difference(footprint, shapely.union_all(boxes))


def static_coverage(london: London, docks: Docks, drones: DroneSpec, cov: CoverageSpec,
                    weights: tuple[str, ...] = ("crime",), zones: NoFlyZones | None = None,
                    airspace: AirspacePolicy | None = None) -> StaticCoverage:
    """Coverage of the dock network for the scenario's target time.

    With ``zones`` (and the ``airspace`` policy saying detour or authorise), restricted
    airspace is taken into account as described in the module docstring.
    """
    r = kinematics.reach_radius_m(drones, cov.within_s)
    if len(docks) and r > 0:
        discs = shapely.buffer(shapely.points(docks.x, docks.y), r, quad_segs=32)
        footprint = shapely.intersection(shapely.union_all(discs), london.outline)
        if (zones is not None and airspace is not None and len(zones)
                and shapely.intersects(footprint, shapely.union_all(zones.geoms))):
            footprint = _airspace_cut(footprint, docks, r, drones.speed_m_s, zones, airspace)
    else:
        footprint = shapely.Polygon()
    shapely.prepare(footprint)
    b_geoms = np.asarray(london.boroughs.geometry.values)
    b_area = shapely.area(b_geoms)
    b_cov = shapely.area(shapely.intersection(b_geoms, footprint))
    l_geoms = np.asarray(london.lsoa.geometry.values)
    l_area = shapely.area(l_geoms)
    # The footprint first: its prepared index is built once. (The small areas are prepared
    # too, by London; testing each of them against a footprint of hundreds of discs made
    # GEOS build and keep an index per area: ~1.1 GB and seconds for a 300-dock network.)
    hit = shapely.intersects(footprint, l_geoms)
    frac = np.zeros(l_area.size)
    if hit.any():
        frac[hit] = shapely.area(shapely.intersection(l_geoms[hit], footprint)) / l_area[hit]
    frac = np.clip(frac, 0.0, 1.0)
    pop = london.weights("population")
    lb = london.lsoa_borough
    nb = london.n_boroughs
    pop_b = np.bincount(lb, weights=pop, minlength=nb)
    pop_cov_b = np.bincount(lb, weights=pop * frac, minlength=nb)
    pop_share_b = np.divide(pop_cov_b, pop_b, out=np.zeros(nb), where=pop_b > 0)
    covered = pop_share_b >= cov.borough_population_share
    per = pd.DataFrame({
        "gss_code": london.borough_codes,
        "name": london.borough_names,
        "area_share": b_cov / b_area,
        "population_share": pop_share_b,
        "covered": covered,
    })
    demand = {}
    for w in weights:
        v = london.weights(w)
        demand[w] = float((v * frac).sum() / v.sum()) if v.sum() > 0 else 0.0
    return StaticCoverage(
        within_s=cov.within_s,
        radius_m=r,
        area_share=float(b_cov.sum() / b_area.sum()),
        population_share=float((pop * frac).sum() / pop.sum()),
        demand_share=demand,
        boroughs_covered=int(covered.sum()),
        per_borough=per,
        footprint=footprint,
    )

