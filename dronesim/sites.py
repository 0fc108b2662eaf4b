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

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .errors import InputError
from .geography import London, lonlat_to_bng
from .scenario import Scenario

__all__ = ["Docks", "build_docks", "RIVER_TOLERANCE_M"]

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


def build_docks(scn: Scenario, london: London) -> Docks:
    """Place the scenario's dock sites on the map; refuse any outside London."""
    names, xs, ys, counts = [], [], [], []
    for k, site in enumerate(scn.docks):
        if math.isnan(site.x):
            x, y = lonlat_to_bng(site.lon, site.lat)
            x, y = float(x), float(y)
        else:
            x, y = site.x, site.y
        names.append(site.name or f"dock{k}")
        xs.append(x)
        ys.append(y)
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
    return Docks(tuple(names), x, y, np.asarray(borough, np.int64), np.asarray(counts, np.int64))
