"""Airspace: flight restriction zones, no-fly polygons, detours around them, authorisation.

This module owns the ground-plan geometry of restricted airspace in British National Grid
(EPSG:27700, metres) and the shortest flight around it. It has no SimPy: the simulation asks it
for a flight length and an authorisation delay per leg and does the timing itself.

What it provides
----------------
* :data:`AERODROMES` and :func:`flight_restriction_zone`: the flight restriction zones (FRZ) of
  Heathrow, London City, RAF Northolt and Biggin Hill, built from published runway thresholds;
  :func:`london_frz` bundles them as :class:`NoFlyZones`.
* :func:`read_no_fly`: further no-fly polygons from a GeoJSON / GeoPackage file in any CRS.
* :class:`NoFlyZones`: vectorised ``contains`` (refuse a dock inside) and ``crosses`` (does a
  straight leg enter a zone?), on prepared geometries and an STRtree.
* :class:`Router`: shortest flight around the zones (visibility graph), batched with a per-dock
  cache, with the path on request.
* :class:`AirspacePolicy`: ``"detour"`` (route around) or ``"authorise"`` (fly straight through
  and wait for permission) so the caller can form ``length / speed + delay``.

Modelling assumptions
---------------------
* **The FRZ rule.** Air Navigation Order 2016 art. 94A-94B and Schedule 1 as amended by the Air
  Navigation (Amendment) Order 2019 (SI 2019/261, in force 13 March 2019), explained in CAA
  CAP 1763: the FRZ of a protected aerodrome with an aerodrome traffic zone (ATZ) is the union of
  (a) the ATZ, (b) a runway protection zone (RPZ) at each runway threshold and (c) any additional
  boundary zones. All extend to 2,000 ft above the aerodrome, far above drone operating heights
  (400 ft), so the zones are modelled in plan only.
* **ATZ.** ANO 2016 art. 5: a circle centred on the notified mid-point of the longest runway, of
  radius 2 NM (3,704 m) where that runway is notified as 1,850 m or less and 2.5 NM (4,630 m)
  where longer (:func:`atz_radius_m`). Art. 5(3)-(4) lets a short-runway aerodrome notify the
  2.5 NM zone where 2 NM would reach less than 1.5 NM beyond a runway end: Biggin Hill does
  (its ATZ is 2.5 NM on the airport's own FRZ page and in the UK AIP), so the table carries the
  notified radius where it differs from the rule.
* **RPZ.** A rectangle 1 km wide and 5 km long extending outward from each runway threshold (a
  surveyed point) along the extended centreline, the threshold at the middle of its inner short
  side. At Heathrow each RPZ is 1.5 km wide so that the two parallel RPZs leave no gap outside
  the ATZ (CAP 1763). The outward direction is taken from the opposite threshold, in grid
  coordinates after projection, so grid convergence is accounted for.
* **Additional boundary zones.** 1 km beyond the aerodrome boundary where that boundary lies
  outside the ATZ and RPZs. CAP 1763 notes that no UK aerodrome had been found to need one; we
  approximate the boundary by the runways (thresholds joined and extended symmetrically to the
  published runway length) and buffer that by 1 km. For all four London aerodromes this lies
  wholly inside the ATZ, so it changes nothing; it is kept for aerodromes added later.
* **Coordinates and precision.** Threshold coordinates are the UK AIP AD 2.12 values (WGS84,
  to 0.01 arc-second) as transcribed in the VATSIM UK sector file (github.com/VATSIM-UK/
  UK-Sector-File, ``Airports/<ICAO>/Runway.txt``); the ATZ centres are the notified runway
  mid-points / aerodrome reference points of UK AIP AD 2.2 (to 1 arc-second, about 30 m) and,
  for the military aerodrome Northolt, the ATZ centre from the same sector file. Heathrow's
  09L/27R thresholds and ARP were cross-checked against OurAirports and X-Plane gateway runway
  ends (displaced thresholds 306-307 m at 09L/09R) and agree within about 15 m. Expected
  positional error of the zones: under 50 m. Runway lengths are the published physical lengths
  (UK AIP AD 2.12; Military AIP for Northolt) and only select the ATZ radius and the boundary
  approximation. Projection to EPSG:27700 uses pyproj (OSGB36 datum shift, metre-level); grid
  scale in London differs from ground distance by under 0.03 %, ignored.
* **Biggin Hill 11/29** (the short cross runway) closed permanently in May 2017 (Flyer, 9 May
  2017), before the 2019 FRZ rule, so it has no RPZs here; only 03/21 is modelled.
* **Routing.** A drone outside authorisation mode flies the shortest path in the plane that
  avoids every zone. The zones are merged, buffered outward by a small margin (default 25 m,
  mitred corners) and simplified (Douglas-Peucker, tolerance 0.8 x margin, so the simplified
  obstacle still contains every zone with at least 0.2 x margin to spare and a 2.5 NM circle
  keeps about 40 vertices). The shortest path among polygonal obstacles bends only at convex
  obstacle vertices and each of its segments is tangent to the obstacles at its ends (the
  reduced visibility graph; Lozano-Perez and Wesley 1979, Latombe 1991 ch. 4), so the graph has
  the convex vertices and their bitangent, unobstructed segments; all-pairs distances are
  computed once with Dijkstra (:func:`scipy.sparse.csgraph.shortest_path`). For a dock the
  visible tangent vertices and the distance to every graph vertex are cached; for an incident
  the candidate last vertices (tangent from the incident) are tried in order of total length and
  the first unobstructed one is the answer, usually after one or two segment tests.
  The path length is exact for the buffered obstacles, so it overstates the detour around the
  true zone by at most about the margin per bend (25 m); a leg whose straight line does not
  enter any zone flies straight even if it passes within the margin.
* An end point inside a zone (or on its edge) is unreachable in detour mode (length ``inf``). An
  end point outside every zone but inside the margin is first moved to the nearest point of the
  buffered obstacle (at most one margin away) and that hop is added to the length.
* **Authorisation.** In ``"authorise"`` mode a leg flies straight and, if it enters a zone (or
  starts or ends inside one), incurs a fixed permission delay (ANO art. 94A: permission from air
  traffic control or the aerodrome). Its value is a scenario parameter.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypedDict, Unpack, overload

import numpy as np
import shapely
from pyproj import CRS

from .._lazy import module
from ..errors import InputError, input_file
from .geography import BNG, check_lonlat_extent, lonlat_to_bng

# The visibility graph's sparse matrix and Dijkstra, imported when a route around no-fly
# zones is first planned (dronesim._lazy.module).
sparse = module("scipy.sparse")
csgraph = module("scipy.sparse.csgraph")

__all__ = [
    "AERODROMES",
    "NAUTICAL_MILE_M",
    "Aerodrome",
    "AirspacePolicy",
    "NoFlyZones",
    "Route",
    "Router",
    "Runway",
    "atz_radius_m",
    "flight_restriction_zone",
    "london_frz",
    "read_no_fly",
]

NAUTICAL_MILE_M = 1852.0
#: ANO 2016 art. 5: runways notified longer than this get the 2.5 NM ATZ.
ATZ_LONG_RUNWAY_M = 1850.0
#: CAP 1763: every RPZ extends 5 km from its threshold.
RPZ_LENGTH_M = 5000.0
#: ANO 2016 Sch. 1 (2019): boundary zone 1 km beyond the aerodrome boundary.
BOUNDARY_ZONE_M = 1000.0

_DMS = re.compile(r"^(\d{2,3})(\d{2})(\d{2}(?:\.\d+)?)([NSEW])$")


def _dms(text: str) -> float:
    """AIP-style ``DDMMSS.ssH`` / ``DDDMMSS.ssH`` to signed decimal degrees."""
    m = _DMS.match(text.strip())
    if not m:
        raise ValueError(f"not an AIP coordinate: {text!r}")
    deg, minutes, seconds, hemi = m.groups()
    value = int(deg) + int(minutes) / 60 + float(seconds) / 3600
    return -value if hemi in "SW" else value


def _lonlat(lat: str, lon: str) -> tuple[float, float]:
    return _dms(lon), _dms(lat)


@dataclass(frozen=True)
class Runway:
    """One runway: its two landing thresholds (WGS84) and published physical length.

    Parameters
    ----------
    designators
        The two runway designators, e.g. ``("09L", "27R")``; the first names ``threshold_a``.
    threshold_a, threshold_b
        ``(lon, lat)`` of each landing threshold in WGS84 degrees.
    length_m
        Published physical runway length (UK AIP AD 2.12), metres.
    """

    designators: tuple[str, str]
    threshold_a: tuple[float, float]
    threshold_b: tuple[float, float]
    length_m: float


@dataclass(frozen=True)
class Aerodrome:
    """A protected aerodrome: ATZ centre, runways, notified exceptions to the FRZ rule.

    Parameters
    ----------
    icao, name
        ICAO location indicator and common name.
    atz_centre
        ``(lon, lat)`` of the notified mid-point of the longest runway (ATZ centre), WGS84.
    runways
        The runways with runway protection zones.
    atz_radius_nm_notified
        ATZ radius where the aerodrome notifies one other than the art. 5 default, else ``None``.
    rpz_width_m
        Width of each runway protection zone (1 km; 1.5 km at Heathrow, CAP 1763).
    source
        Where the numbers come from.
    """

    icao: str
    name: str
    atz_centre: tuple[float, float]
    runways: tuple[Runway, ...]
    atz_radius_nm_notified: float | None = None
    rpz_width_m: float = 1000.0
    source: str = ""

    @property
    def longest_runway_m(self) -> float:
        return max(r.length_m for r in self.runways)

    @property
    def atz_radius_m(self) -> float:
        """The ATZ radius in metres: as notified, else by ANO 2016 art. 5."""
        if self.atz_radius_nm_notified is not None:
            return self.atz_radius_nm_notified * NAUTICAL_MILE_M
        return atz_radius_m(self.longest_runway_m)


_SECTOR_FILE = "UK AIP AD 2.12 thresholds via VATSIM-UK/UK-Sector-File Airports/{icao}/Runway.txt"

#: The four protected aerodromes whose FRZs reach into Greater London. Threshold coordinates
#: are written as in the UK AIP (``DDMMSS.ssN``, ``DDDMMSS.ssW``) so they can be checked
#: against AD 2.12 line by line; see the module docstring for sources and precision.
AERODROMES: tuple[Aerodrome, ...] = (
    Aerodrome(
        icao="EGLL",
        name="London Heathrow",
        atz_centre=_lonlat("512839N", "0002741W"),  # AD 2.2 ARP: mid-point of 09L/27R
        runways=(
            Runway(("09L", "27R"), _lonlat("512839.00N", "0002905.97W"),
                   _lonlat("512839.63N", "0002559.82W"), 3902.0),
            Runway(("09R", "27L"), _lonlat("512753.25N", "0002856.33W"),
                   _lonlat("512753.82N", "0002602.76W"), 3660.0),
        ),
        rpz_width_m=1500.0,
        source=_SECTOR_FILE.format(icao="EGLL") + "; ARP UK AIP EGLL AD 2.2",
    ),
    Aerodrome(
        icao="EGLC",
        name="London City",
        atz_centre=_lonlat("513019N", "0000319E"),  # AD 2.2 ARP: mid-point of 09/27
        runways=(
            Runway(("09", "27"), _lonlat("513019.90N", "0000244.71E"),
                   _lonlat("513017.95N", "0000346.75E"), 1508.0),
        ),
        source=_SECTOR_FILE.format(icao="EGLC") + "; ARP UK AIP EGLC AD 2.2",
    ),
    Aerodrome(
        icao="EGWU",
        name="RAF Northolt",
        atz_centre=_lonlat("513310N", "0002511W"),  # notified ATZ centre (Military AIP)
        runways=(
            Runway(("07", "25"), _lonlat("513301.42N", "0002547.03W"),
                   _lonlat("513319.16N", "0002429.53W"), 1687.0),
        ),
        source=_SECTOR_FILE.format(icao="EGWU") + "; ATZ centre Airports/EGWU/Airspace.txt",
    ),
    Aerodrome(
        icao="EGKB",
        name="London Biggin Hill",
        atz_centre=_lonlat("511951N", "0000157E"),  # AD 2.2 ARP / ATZ centre on 03/21
        runways=(
            Runway(("03", "21"), _lonlat("511932.44N", "0000142.18E"),
                   _lonlat("512017.72N", "0000216.98E"), 1808.0),
        ),
        atz_radius_nm_notified=2.5,  # ANO art. 5(3)-(4); biggin-yourairport.co.uk/drones
        source=_SECTOR_FILE.format(icao="EGKB") + "; ATZ Airports/EGKB/Airspace.txt",
    ),
)


def atz_radius_m(longest_runway_m: float) -> float:
    """ATZ radius by ANO 2016 art. 5: 2 NM for a longest runway of 1,850 m or less, else 2.5 NM.

    Parameters
    ----------
    longest_runway_m
        Notified length of the aerodrome's longest runway, metres.

    Returns
    -------
    float
        The radius in metres (3,704 or 4,630).
    """
    nm = 2.5 if longest_runway_m > ATZ_LONG_RUNWAY_M else 2.0
    return nm * NAUTICAL_MILE_M


def _bng(lonlat: tuple[float, float]) -> np.ndarray:
    x, y = lonlat_to_bng(lonlat[0], lonlat[1])
    return np.array([float(x), float(y)])


def _rpz(threshold: np.ndarray, other: np.ndarray, width_m: float) -> shapely.Polygon:
    """The RPZ rectangle at ``threshold``, extending away from ``other``."""
    u = threshold - other
    u /= np.hypot(*u)
    n = np.array([-u[1], u[0]]) * (width_m / 2)
    far = threshold + u * RPZ_LENGTH_M
    return shapely.Polygon([threshold + n, far + n, far - n, threshold - n])


def flight_restriction_zone(aerodrome: Aerodrome, *, boundary_buffer_m: float = BOUNDARY_ZONE_M,
                            quad_segs: int = 64) -> shapely.Polygon:
    """The flight restriction zone of an aerodrome in EPSG:27700.

    Parameters
    ----------
    aerodrome
        The aerodrome (see :data:`AERODROMES`).
    boundary_buffer_m
        Width of the boundary zone around the runways (the approximate aerodrome boundary);
        0 leaves it out.
    quad_segs
        Segments per quarter circle for the ATZ (64: area within 0.01 % of the circle).

    Returns
    -------
    shapely.Polygon
        The union of the ATZ, the RPZs and the boundary zone.
    """
    parts = [shapely.Point(_bng(aerodrome.atz_centre)).buffer(aerodrome.atz_radius_m,
                                                              quad_segs=quad_segs)]
    for rw in aerodrome.runways:
        a, b = _bng(rw.threshold_a), _bng(rw.threshold_b)
        parts.append(_rpz(a, b, aerodrome.rpz_width_m))
        parts.append(_rpz(b, a, aerodrome.rpz_width_m))
        if boundary_buffer_m > 0:
            mid, half = (a + b) / 2, (a - b) / 2
            scale = max(rw.length_m / (2 * np.hypot(*half)), 1.0)
            line = shapely.LineString([mid + half * scale, mid - half * scale])
            parts.append(line.buffer(boundary_buffer_m, quad_segs=quad_segs // 4))
    return shapely.union_all(parts)


class FRZOptions(TypedDict, total=False):
    """Keyword options of :func:`flight_restriction_zone` that :func:`london_frz` passes on."""

    boundary_buffer_m: float
    quad_segs: int


def london_frz(icaos: Iterable[str] | None = None, **kwargs: Unpack[FRZOptions]) -> NoFlyZones:
    """The FRZs of the London aerodromes as :class:`NoFlyZones`.

    Parameters
    ----------
    icaos
        Which aerodromes (ICAO codes); all of :data:`AERODROMES` if ``None``.
    **kwargs
        Passed to :func:`flight_restriction_zone`.
    """
    by_code = {a.icao: a for a in AERODROMES}
    codes = list(by_code) if icaos is None else list(icaos)
    unknown = [c for c in codes if c not in by_code]
    if unknown:
        raise KeyError(f"unknown aerodrome(s) {unknown}; known: {sorted(by_code)}")
    geoms = [flight_restriction_zone(by_code[c], **kwargs) for c in codes]
    names = [f"{by_code[c].name} FRZ" for c in codes]
    return NoFlyZones(geoms, names, source="built-in FRZ")


# --- no-fly zones --------------------------------------------------------------------------------

def _as_arrays(*arrays: np.ndarray | float) -> list[np.ndarray]:
    out = np.broadcast_arrays(*[np.atleast_1d(np.asarray(a, dtype=float)) for a in arrays])
    return [np.ascontiguousarray(a).ravel() for a in out]


def _segments(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    coords = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    return shapely.linestrings(coords)


class NoFlyZones:
    """Polygons a drone may not enter, in EPSG:27700.

    Parameters
    ----------
    geoms
        Polygons or multipolygons in EPSG:27700 metres.
    names
        One label per polygon (defaults to ``zone0``, ``zone1``, ...).
    source
        Where the polygons came from, for messages.
    """

    def __init__(self, geoms: Sequence[shapely.Geometry], names: Sequence[str] | None = None,
                 source: str = "<memory>") -> None:
        arr = np.empty(len(geoms), dtype=object)
        arr[:] = list(geoms)
        kinds = shapely.get_type_id(arr) if len(arr) else np.zeros(0, int)
        if np.any((kinds != 3) & (kinds != 6)):
            raise TypeError("no-fly zones must be Polygon or MultiPolygon geometries")
        self.geoms = arr
        self.names = (tuple(names) if names is not None
                      else tuple(f"zone{i}" for i in range(len(arr))))
        if len(self.names) != len(arr):
            raise ValueError("one name per zone")
        self.source = source
        shapely.prepare(self.geoms)
        self._tree = shapely.STRtree(self.geoms)
        self._routers: dict[tuple[float, float | None], Router] = {}

    def __len__(self) -> int:
        return len(self.geoms)

    def __add__(self, other: NoFlyZones) -> NoFlyZones:
        return NoFlyZones(list(self.geoms) + list(other.geoms), self.names + other.names,
                          source=f"{self.source} + {other.source}")

    @property
    def area_m2(self) -> np.ndarray:
        """Area of each zone, square metres."""
        return np.asarray(shapely.area(self.geoms), float)

    def zone_of(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """Index of a zone containing each point (edge included), or -1."""
        x, y = _as_arrays(x, y)
        out = np.full(x.size, len(self), dtype=np.int64)
        if len(self) and x.size:
            src, hit = self._tree.query(shapely.points(x, y), predicate="intersects")
            np.minimum.at(out, src, hit)  # the lowest-numbered zone wins
        out[out == len(self)] = -1
        return out

    def contains(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """True where a point lies inside a zone or on its edge (a dock there must be refused)."""
        return self.zone_of(x, y) >= 0

    def crosses(self, x0: np.ndarray | float, y0: np.ndarray | float,
                x1: np.ndarray | float, y1: np.ndarray | float) -> np.ndarray:
        """True where the straight segment enters the interior of a zone.

        A segment that only runs along or touches a zone's edge does not cross it. Inputs
        broadcast; a zero-length segment crosses if its point is strictly inside a zone.
        """
        x0, y0, x1, y1 = _as_arrays(x0, y0, x1, y1)
        out = np.zeros(x0.size, dtype=bool)
        if len(self) == 0 or x0.size == 0:
            return out
        still = (x0 == x1) & (y0 == y1)
        if still.any():
            pts = shapely.points(x0[still], y0[still])
            src, _ = self._tree.query(pts, predicate="within")
            hit = np.zeros(pts.size, bool)
            hit[src] = True
            out[still] = hit
        moving = np.flatnonzero(~still)
        if moving.size:
            out[moving] = _blocked(_segments(x0[moving], y0[moving], x1[moving], y1[moving]),
                                   self._tree, self.geoms)
        return out

    def router(self, margin_m: float = 25.0, simplify_m: float | None = None) -> Router:
        """The (cached) :class:`Router` around these zones."""
        key = (float(margin_m), None if simplify_m is None else float(simplify_m))
        if key not in self._routers:
            self._routers[key] = Router(self, margin_m=margin_m, simplify_m=simplify_m)
        return self._routers[key]

    def to_geodataframe(self):  # -> geopandas.GeoDataFrame, imported lazily
        """The zones as a GeoDataFrame (``name``, ``geometry``) in EPSG:27700, for plotting."""
        import geopandas as gpd

        return gpd.GeoDataFrame({"name": list(self.names)}, geometry=list(self.geoms), crs=BNG)


def _blocked(lines: np.ndarray, tree: shapely.STRtree, polys: np.ndarray) -> np.ndarray:
    """True where a line's interior meets a polygon's interior (intersects and not touches)."""
    out = np.zeros(lines.size, dtype=bool)
    if lines.size == 0 or polys.size == 0:
        return out
    # Envelope candidates first, then predicates with the (prepared) polygon as the first
    # argument, which is faster than letting the tree prepare every line.
    li, pi = tree.query(lines)
    hit = shapely.intersects(polys[pi], lines[li])
    li, pi = li[hit], pi[hit]
    if li.size:
        inner = ~shapely.touches(polys[pi], lines[li])
        out[li[inner]] = True
    return out


def read_no_fly(path: str | Path, *, layer: str | int | None = None,
                name_field: str | None = "name") -> NoFlyZones:
    """No-fly polygons from a GeoJSON or GeoPackage file, reprojected to EPSG:27700.

    Parameters
    ----------
    path
        The file. Its CRS must be declared (GeoJSON without a ``crs`` member is WGS84 by
        RFC 7946).
    layer
        GeoPackage layer; the first if ``None``.
    name_field
        Attribute holding a zone label, used if present.

    Returns
    -------
    NoFlyZones

    Raises
    ------
    InputError
        File missing or unreadable, no CRS, coordinates impossible for a geographic CRS, no
        features, or a feature that is not a valid (multi)polygon.
    """
    import geopandas as gpd

    path = input_file(path, "no-fly file")
    try:
        gdf = gpd.read_file(path, layer=layer) if layer is not None else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises many types; report them as bad input
        raise InputError(path, "", f"cannot read ({exc})") from None
    if len(gdf) == 0:
        raise InputError(path, "", "no features; expected at least one polygon")
    if gdf.crs is None:
        raise InputError(path, "crs", "missing; declare the CRS (e.g. EPSG:27700 or EPSG:4326)")
    crs = CRS(gdf.crs)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    for i, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            raise InputError(path, f"features[{i}].geometry", "missing or empty")
        if shapely.get_type_id(g) not in (3, 6):
            raise InputError(path, f"features[{i}].geometry",
                             f"is {g.geom_type}; expected Polygon or MultiPolygon")
        if not shapely.is_valid(g):
            raise InputError(path, f"features[{i}].geometry",
                             f"invalid polygon ({shapely.is_valid_reason(g)})")
    check_lonlat_extent(path, gdf)
    if not crs.equals(BNG, ignore_axis_order=True):
        try:
            gdf = gdf.to_crs(BNG)
        except Exception as exc:  # pyproj raises several types for impossible transforms
            raise InputError(path, "crs", f"cannot reproject {crs.to_string()} to EPSG:27700 "
                                          f"({exc})") from None
        logging.getLogger("dronesim").warning(
            "%s: reprojected from %s to EPSG:27700", path, crs.to_string())
    names = None
    if name_field and name_field in gdf.columns:
        names = [str(v) if v is not None else f"zone{i}" for i, v in enumerate(gdf[name_field])]
    return NoFlyZones(list(gdf.geometry.values), names, source=str(path))


# --- routing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """One leg: its length, whether the straight line entered a zone, and the path flown.

    ``path`` is a ``(k, 2)`` array of EPSG:27700 points from start to end; empty if unreachable.
    """

    length_m: float
    crosses: bool
    path: np.ndarray = field(repr=False)

    def linestring(self) -> shapely.LineString:
        return shapely.LineString(self.path)


@dataclass(eq=False)
class _Source:
    """What a dock needs to route to any incident: computed once per dock."""

    x: float
    y: float
    inside: bool  # in a zone: nothing reachable by detour
    qx: float  # launch point moved out of the buffered obstacle (== x, y if not in it)
    qy: float
    hop: float  # |(x, y) - (qx, qy)|
    dist: np.ndarray  # (n_v,) shortest distance dock -> graph vertex (inf if none)
    first: np.ndarray  # (n_v,) first graph vertex on that shortest path (-1 if none)
    direct: np.ndarray  # (n_v,) True where the vertex is seen straight from the dock


class Router:
    """Shortest flights around :class:`NoFlyZones` (reduced visibility graph, cached per dock).

    Parameters
    ----------
    zones
        The zones to avoid.
    margin_m
        Outward buffer of the zones before routing (clearance and robustness), metres; > 0.
    simplify_m
        Douglas-Peucker tolerance for the buffered zones; default ``0.8 * margin_m``; must be
        below ``margin_m`` so the routing obstacle still covers every zone.
    """

    #: How far (metres) a snapped end point is pushed beyond the obstacle edge.
    _PUSH_M = 1e-4

    def __init__(self, zones: NoFlyZones, margin_m: float = 25.0,
                 simplify_m: float | None = None) -> None:
        if not margin_m > 0:
            raise ValueError("margin_m must be positive")
        tol = 0.8 * margin_m if simplify_m is None else float(simplify_m)
        if not 0 <= tol < margin_m:
            raise ValueError("simplify_m must be in [0, margin_m)")
        self.zones = zones
        self.margin_m = float(margin_m)
        self.simplify_m = tol
        self._sources: dict[tuple[float, float], _Source] = {}
        if len(zones):
            merged = shapely.union_all(zones.geoms)
            merged = shapely.buffer(merged, margin_m, join_style="mitre", mitre_limit=2.0)
            merged = shapely.simplify(merged, tol, preserve_topology=True)
            polys = shapely.get_parts(merged)
            polys = shapely.orient_polygons(polys[~shapely.is_empty(polys)], exterior_cw=False)
        else:
            polys = np.empty(0, dtype=object)
        self.obstacles = np.asarray(polys, dtype=object)
        shapely.prepare(self.obstacles)
        self._tree = shapely.STRtree(self.obstacles)
        self._boundaries = shapely.boundary(self.obstacles)
        self._build_graph()

    # --- construction --------------------------------------------------------------------------
    def _build_graph(self) -> None:
        # Convex corners' coordinates, and their ring neighbours', one array per ring.
        vx: list[np.ndarray] = []
        vy: list[np.ndarray] = []
        px: list[np.ndarray] = []
        py: list[np.ndarray] = []
        nx: list[np.ndarray] = []
        ny: list[np.ndarray] = []
        for poly in self.obstacles:
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)[:-1]
                if len(c) < 3:
                    continue
                prev, nxt = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
                # Obstacle on the left of every ring after orienting: a left turn is a convex
                # corner, the only place a shortest path can bend.
                turn = _cross(c - prev, nxt - c)
                keep = turn > 1e-9 * np.hypot(*(c - prev).T) * np.hypot(*(nxt - c).T)
                for dst, src in zip((vx, vy, px, py, nx, ny),
                                    (c[:, 0], c[:, 1], prev[:, 0], prev[:, 1],
                                     nxt[:, 0], nxt[:, 1])):
                    dst.append(src[keep])

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        self.vx, self.vy = cat(vx), cat(vy)
        self._prev = np.column_stack([cat(px), cat(py)])
        self._next = np.column_stack([cat(nx), cat(ny)])
        n = self.vx.size
        self.n_edges = 0
        if n == 0:
            self.dist = np.zeros((0, 0))
            self._pred = np.zeros((0, 0), dtype=np.int32)
            return
        i, j = np.triu_indices(n, k=1)
        ok = (self._tangent_at(j, self.vx[i], self.vy[i])
              & self._tangent_at(i, self.vx[j], self.vy[j]))
        i, j = i[ok], j[ok]
        vis = ~_blocked(_segments(self.vx[i], self.vy[i], self.vx[j], self.vy[j]),
                        self._tree, self.obstacles)
        i, j = i[vis], j[vis]
        w = np.hypot(self.vx[i] - self.vx[j], self.vy[i] - self.vy[j])
        graph = sparse.csr_matrix((w, (i, j)), shape=(n, n))
        self.dist, self._pred = csgraph.shortest_path(graph, method="D", directed=False,
                                                      return_predecessors=True)
        self.n_edges = int(i.size)

    def _tangent_at(self, v: np.ndarray, ox: np.ndarray | float, oy: np.ndarray | float
                    ) -> np.ndarray:
        """True where the line from ``(ox, oy)`` through vertex ``v`` supports the obstacle there.

        Both ring neighbours of ``v`` lie on one side of the line (or on it). ``v`` and the
        other points broadcast.
        """
        vx, vy = self.vx[v], self.vy[v]
        dx, dy = vx - ox, vy - oy
        norm = np.hypot(dx, dy)
        norm = np.where(norm > 0, norm, 1.0)
        sp = (dx * (self._prev[v, 1] - vy) - dy * (self._prev[v, 0] - vx)) / norm
        sn = (dx * (self._next[v, 1] - vy) - dy * (self._next[v, 0] - vx)) / norm
        return sp * sn >= -1e-9

    # --- end points ----------------------------------------------------------------------------
    def _snap(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Move points inside a buffered obstacle (but outside every zone) just beyond its edge."""
        qx, qy, hop = x.copy(), y.copy(), np.zeros(x.size)
        if self.obstacles.size == 0 or x.size == 0:
            return qx, qy, hop
        pts = shapely.points(x, y)
        src, ob = self._tree.query(pts, predicate="within")
        if src.size == 0:
            return qx, qy, hop
        near = shapely.get_coordinates(shapely.shortest_line(self._boundaries[ob], pts[src]))
        near = near[0::2]  # the boundary end of each shortest line
        d = near - np.column_stack([x[src], y[src]])
        length = np.hypot(d[:, 0], d[:, 1])
        unit = d / np.where(length > 0, length, 1.0)[:, None]
        qx[src] = near[:, 0] + unit[:, 0] * self._PUSH_M
        qy[src] = near[:, 1] + unit[:, 1] * self._PUSH_M
        hop[src] = np.hypot(qx[src] - x[src], qy[src] - y[src])
        return qx, qy, hop

    def _source(self, x: float, y: float) -> _Source:
        key = (float(x), float(y))
        hit = self._sources.get(key)
        if hit is not None:
            return hit
        n = self.vx.size
        inside = bool(self.zones.contains(x, y)[0]) if len(self.zones) else False
        snap_x, snap_y, snap_hop = self._snap(np.array([key[0]]), np.array([key[1]]))
        qx, qy, hop = float(snap_x[0]), float(snap_y[0]), float(snap_hop[0])
        dist = np.full(n, np.inf)
        first = np.full(n, -1, dtype=np.int64)
        direct = np.zeros(n, dtype=bool)
        if n and not inside:
            v = np.arange(n)
            cand = v[self._tangent_at(v, qx, qy)]
            seg = _segments(np.full(cand.size, qx), np.full(cand.size, qy),
                            self.vx[cand], self.vy[cand])
            seen = cand[~_blocked(seg, self._tree, self.obstacles)]
            direct[seen] = True
            d0 = np.hypot(self.vx[seen] - qx, self.vy[seen] - qy) + hop
            if seen.size:
                total = d0[:, None] + self.dist[seen]
                k = np.argmin(total, axis=0)
                dist = total[k, np.arange(n)]
                first = np.where(np.isfinite(dist), seen[k], -1)
        src = _Source(key[0], key[1], inside, qx, qy, hop, dist, first, direct)
        self._sources[key] = src
        return src

    def clear_cache(self) -> None:
        """Forget the per-dock tables (they are small; this is rarely needed)."""
        self._sources.clear()

    # --- queries -------------------------------------------------------------------------------
    @overload
    def lengths_from(self, x0: float, y0: float, x: np.ndarray, y: np.ndarray,
                     return_paths: Literal[False] = False, chunk: int = 4096
                     ) -> tuple[np.ndarray, np.ndarray]: ...
    @overload
    def lengths_from(self, x0: float, y0: float, x: np.ndarray, y: np.ndarray,
                     return_paths: Literal[True], chunk: int = 4096
                     ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]: ...
    @overload
    def lengths_from(self, x0: float, y0: float, x: np.ndarray, y: np.ndarray,
                     return_paths: bool = False, chunk: int = 4096
                     ) -> (tuple[np.ndarray, np.ndarray]
                           | tuple[np.ndarray, np.ndarray, list[np.ndarray]]): ...
    def lengths_from(self, x0: float, y0: float, x: np.ndarray, y: np.ndarray,
                     return_paths: bool = False, chunk: int = 4096
                     ) -> (tuple[np.ndarray, np.ndarray]
                           | tuple[np.ndarray, np.ndarray, list[np.ndarray]]):
        """Flight lengths from one dock to many points, around the zones.

        Parameters
        ----------
        x0, y0
            The dock (EPSG:27700). Its visibility table is cached on first use.
        x, y
            Target points.
        return_paths
            Also return each path as a ``(k, 2)`` array (slower; for plotting).
        chunk
            Targets processed together (bounds memory at ``chunk x vertices``).

        Returns
        -------
        lengths : numpy.ndarray
            Metres; the straight distance where the straight leg enters no zone, ``inf`` where
            an end point is inside a zone or no way round exists.
        crosses : numpy.ndarray
            True where the straight leg enters a zone (the leg was routed).
        paths : list of numpy.ndarray, only if ``return_paths``
        """
        x, y = _as_arrays(x, y)
        m = x.size
        lengths = np.hypot(x - x0, y - y0)
        crosses = self.zones.crosses(x0, y0, x, y) if len(self.zones) else np.zeros(m, bool)
        last = np.full(m, -1, dtype=np.int64)
        if len(self.zones) and m:
            src = self._source(x0, y0)
            t_inside = self.zones.contains(x, y)
            dead = t_inside | (src.inside & ~((x == x0) & (y == y0)))
            routed = np.flatnonzero(crosses & ~dead)
            lengths[dead] = np.inf
            for lo in range(0, routed.size, chunk):
                idx = routed[lo:lo + chunk]
                lengths[idx], last[idx] = self._route_block(src, x[idx], y[idx])
        if not return_paths:
            return lengths, crosses
        paths = [self._path(x0, y0, x[k], y[k], lengths[k], crosses[k], last[k]) for k in range(m)]
        return lengths, crosses, paths

    def _route_block(self, src: _Source, x: np.ndarray, y: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Lengths (and last graph vertex, -2 for a direct hop) for targets needing a detour."""
        m, n = x.size, self.vx.size
        out = np.full(m, np.inf)
        last = np.full(m, -1, dtype=np.int64)
        qx, qy, hop = self._snap(x, y)
        # Candidate last vertices: tangent from the target and reachable from the dock; their
        # score is a lower bound that is attained if the last leg is unobstructed.
        score = np.full((m, n + 1), np.inf)
        if n:
            v = np.arange(n)
            tang = self._tangent_at(v[None, :], qx[:, None], qy[:, None])
            d = np.hypot(self.vx[None, :] - qx[:, None], self.vy[None, :] - qy[:, None])
            score[:, :n] = np.where(tang, src.dist[None, :] + d + hop[:, None], np.inf)
        # If either end was snapped the straight hop between the snapped points may be clear.
        snapped = (hop > 0) | (src.hop > 0)
        score[snapped, n] = (src.hop + np.hypot(qx - src.qx, qy - src.qy) + hop)[snapped]
        order = np.argsort(score, axis=1, kind="stable")
        todo = np.arange(m)
        for r in range(n + 1):
            if todo.size == 0:
                break
            cand = order[todo, r]
            sc = score[todo, cand]
            fin = np.isfinite(sc)
            todo, cand, sc = todo[fin], cand[fin], sc[fin]
            if todo.size == 0:
                break
            is_direct = cand == n
            ax = np.where(is_direct, src.qx, self.vx[np.minimum(cand, n - 1)] if n else src.qx)
            ay = np.where(is_direct, src.qy, self.vy[np.minimum(cand, n - 1)] if n else src.qy)
            clear = ~_blocked(_segments(ax, ay, qx[todo], qy[todo]), self._tree, self.obstacles)
            done = todo[clear]
            out[done] = sc[clear]
            last[done] = np.where(is_direct[clear], -2, cand[clear])
            todo = todo[~clear]
        return out, last

    def _path(self, x0: float, y0: float, x1: float, y1: float, length: float, crosses: bool,
              last: int) -> np.ndarray:
        if not np.isfinite(length):
            return np.zeros((0, 2))
        if not crosses:
            return np.array([[x0, y0], [x1, y1]], dtype=float)
        src = self._source(x0, y0)
        qx, qy, hop = self._snap(np.array([x1]), np.array([y1]))
        pts = [(x0, y0)]
        if src.hop > 0:
            pts.append((src.qx, src.qy))
        if last >= 0:
            i0 = int(src.first[last])
            chain = [last]
            while chain[-1] != i0:
                chain.append(int(self._pred[i0, chain[-1]]))
            pts.extend((self.vx[k], self.vy[k]) for k in reversed(chain))
        if hop[0] > 0:
            pts.append((qx[0], qy[0]))
        pts.append((x1, y1))
        return np.asarray(pts, dtype=float)

    def route(self, x0: float, y0: float, x1: float, y1: float) -> Route:
        """One leg with its path (see :meth:`lengths_from`)."""
        lengths, crosses, paths = self.lengths_from(x0, y0, np.array([x1]), np.array([y1]),
                                                    return_paths=True)
        return Route(float(lengths[0]), bool(crosses[0]), paths[0])

    def route_length(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Length of the shortest flight from ``(x0, y0)`` to ``(x1, y1)`` avoiding the zones."""
        return float(self.lengths_from(x0, y0, np.array([x1]), np.array([y1]))[0][0])

    def route_lengths(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
                      ) -> np.ndarray:
        """Lengths for many (start, end) pairs; pairs sharing a start share its cached table."""
        x0, y0, x1, y1 = _as_arrays(x0, y0, x1, y1)
        out = np.empty(x0.size)
        if x0.size == 0:
            return out
        starts, inv = np.unique(np.column_stack([x0, y0]), axis=0, return_inverse=True)
        inv = inv.ravel()
        for k, (sx, sy) in enumerate(starts):
            sel = np.flatnonzero(inv == k)
            out[sel] = self.lengths_from(sx, sy, x1[sel], y1[sel])[0]
        return out

    def length_matrix(self, dock_x: np.ndarray, dock_y: np.ndarray, x: np.ndarray,
                      y: np.ndarray) -> np.ndarray:
        """``(n_docks, n_points)`` flight lengths from every dock to every point."""
        dock_x, dock_y = _as_arrays(dock_x, dock_y)
        x, y = _as_arrays(x, y)
        return np.stack([self.lengths_from(dx, dy, x, y)[0] for dx, dy in zip(dock_x, dock_y)]
                        ) if dock_x.size else np.zeros((0, x.size))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


# --- policy --------------------------------------------------------------------------------------

_MODES = ("detour", "authorise")


@dataclass(frozen=True)
class AirspacePolicy:
    """How a leg meets restricted airspace: fly round it, or fly through with permission.

    Parameters
    ----------
    mode
        ``"detour"``: the shortest path around every zone; a leg to or from a point inside a
        zone is impossible (``inf``). ``"authorise"``: straight, plus ``authorisation_delay_s``
        for a leg that enters a zone or starts or ends inside one.
    authorisation_delay_s
        Time to obtain permission from the aerodrome or air traffic control, seconds. It is
        charged once per leg; whether a return leg needs its own permission is the caller's
        choice.
    margin_m
        Routing clearance (see :class:`Router`).
    """

    mode: str
    authorisation_delay_s: float
    margin_m: float = 25.0

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {self.mode!r}")
        if not (math.isfinite(self.authorisation_delay_s) and self.authorisation_delay_s >= 0):
            raise ValueError("authorisation_delay_s must be finite and >= 0")

    def legs(self, zones: NoFlyZones, x0: np.ndarray | float, y0: np.ndarray | float,
             x1: np.ndarray | float, y1: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Length (metres) and authorisation delay (seconds) of each leg.

        Inputs broadcast. In detour mode the delay is zero and the length may be ``inf``.
        """
        x0, y0, x1, y1 = _as_arrays(x0, y0, x1, y1)
        if self.mode == "detour":
            length = zones.router(self.margin_m).route_lengths(x0, y0, x1, y1)
            return length, np.zeros(length.size)
        length = np.hypot(x1 - x0, y1 - y0)
        restricted = zones.crosses(x0, y0, x1, y1) | zones.contains(x0, y0) | zones.contains(x1, y1)
        return length, np.where(restricted, float(self.authorisation_delay_s), 0.0)

    def flight_time_s(self, zones: NoFlyZones, x0: np.ndarray | float, y0: np.ndarray | float,
                      x1: np.ndarray | float, y1: np.ndarray | float, speed_m_s: float
                      ) -> np.ndarray:
        """Cruise time plus authorisation delay for each leg, seconds (``inf`` if impossible)."""
        length, delay = self.legs(zones, x0, y0, x1, y1)
        return length / speed_m_s + delay


# --- scenario glue -------------------------------------------------------------------------------
class NoFlySpec(Protocol):
    """What :func:`zones_for` reads of :class:`dronesim.inputs.scenario.AirspaceSpec` (a
    protocol: the scenario module imports this one)."""

    @property
    def frz(self) -> Sequence[str]: ...
    @property
    def no_fly_files(self) -> Sequence[str]: ...


def zones_for(spec: NoFlySpec, base_dir: str | Path | None = None) -> NoFlyZones | None:
    """The no-fly zones a scenario's ``[airspace]`` table asks for (None if there are none).

    ``spec`` is a :class:`dronesim.inputs.scenario.AirspaceSpec`; file paths are resolved
    relative to ``base_dir`` (the scenario file's folder).
    """
    zones = london_frz(spec.frz) if spec.frz else None
    for f in spec.no_fly_files:
        path = Path(f)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        extra = read_no_fly(path)
        zones = extra if zones is None else zones + extra
    return zones


def candidate_legs(policy: AirspacePolicy, zones: NoFlyZones | None, dock_x: np.ndarray,
                   dock_y: np.ndarray, cand_idx: np.ndarray, cand_dist: np.ndarray,
                   x: np.ndarray, y: np.ndarray, max_range_m: float, speed_m_s: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flight lengths and authorisation delays for incidents' candidate docks.

    ``cand_idx``/``cand_dist`` (n x k, straight-line, nearest first, -1/inf for empty slots) come
    from :meth:`dronesim.siting.sites.Docks.candidates`. Returns ``(idx, length_m, delay_s)`` of
    the same shape, each row re-sorted by flight time (length / speed + delay); a candidate whose
    detour is longer than ``max_range_m`` (or impossible) becomes an empty slot.
    """
    idx = cand_idx.copy()
    length = cand_dist.copy()
    delay = np.zeros(length.shape)
    valid = idx >= 0
    if zones is None or len(zones) == 0 or not valid.any():
        return idx, length, delay
    rows, cols = np.nonzero(valid)
    dock = idx[rows, cols]
    if policy.mode == "detour":
        router = zones.router(policy.margin_m)
        for j in np.unique(dock):
            sel = dock == j
            lj, _crossed = router.lengths_from(float(dock_x[j]), float(dock_y[j]),
                                               x[rows[sel]], y[rows[sel]])
            length[rows[sel], cols[sel]] = lj
        too_far = valid & ~(length <= max_range_m)
        idx[too_far] = -1
        length[too_far] = np.inf
    else:
        _, d = policy.legs(zones, dock_x[dock], dock_y[dock], x[rows], y[rows])
        delay[rows, cols] = d
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(idx >= 0, length / speed_m_s + delay, np.inf)
    order = np.argsort(t, axis=1, kind="stable")
    take = np.take_along_axis
    return take(idx, order, 1), take(length, order, 1), take(delay, order, 1)
