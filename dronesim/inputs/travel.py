"""Ground travel-time models: one interface, several implementations, chosen per service.

Every road time of the ground side (a unit to an incident, a pump back to its station, a
dispatcher's prediction) goes through :meth:`TravelModel.drive_s`; the engine multiplies it by
the incident's mean-one variability factor (``travel_cv``) and adds the incident's turnout.
``[services.X.ground] travel_model`` picks the implementation:

``"fitted"`` (default) -- :class:`FittedTravel`, fitted to the London Fire Brigade 2023 incident
sample by ``scripts/fit_ground_travel.py`` (table ``data/calibration/ground_travel_fit.json``):

* Distance curve of the Kolesar-Walker kind (Kolesar & Walker 1974, "An algorithm for the
  dynamic relocation of fire companies", Operations Research 22(2); Kolesar, Walker & Hausner
  1975, "Determining the relation between fire engine travel times and travel distances in New
  York City", Operations Research 23(4)): a vehicle accelerating at ``a`` to a cruising speed
  ``v`` covers ``d`` in ``2 sqrt(d / a)`` below the critical distance ``d_c = v^2 / a`` and in
  ``v / a + d / v`` beyond it (continuous, with a continuous slope, at ``d_c``). ``d`` is the
  straight-line distance: ``a`` and ``v`` are effective values that absorb the road circuity.
* A fixed road overhead ``overhead_s`` (the fit's intercept less the LFB crew turnout the fire
  scenarios use as ``turnout_s``, 79 s in 2015/16: leaving the yard, finding the address).
* Hour-of-day x (weekday, weekend) speed factors and borough effects, multiplicative on the
  drive, shrunk towards London (empirical Bayes, method-of-moments between-group variance).
* A river term ``river_s`` added when the straight segment crosses the Thames: the two ends lie
  on different banks (:func:`bank_grid`; a 100 m raster of the north bank built from the GLA
  borough layer that excludes the river, so a point is mislabelled only within about 70 m of the
  river's edge, where the bridge detour it misses is small).
* The variability (``residual_cv`` of the fit) is the scenario's ``travel_cv`` factor.

Police and ambulance use the same road structure (curve, hour factors, river, borough effects)
with their own ``turnout_s`` and call handling (calibrated in their scenarios).

``"straight"`` -- :class:`StraightTravel`: ``circuity`` x straight-line distance / ``speed_m_s``
(the model before the fit; kept bit for bit for the analytic checks).

``"matrix"`` -- :class:`MatrixTravel`: a user's origin-destination times (CSV or Parquet) with
columns ``from_x, from_y, to_x, to_y, time_s`` (British National Grid metres, EPSG:27700;
seconds): every origin paired with every destination. A point takes the time of its nearest
origin and nearest destination point (a grid of cell centres, or any points).

``"graph"`` -- :class:`GraphTravel`: a road network in GraphML as OSMnx writes it, projected to
EPSG:27700 (``osmnx.project_graph(G, to_crs="EPSG:27700")``): nodes with ``x``, ``y`` in metres,
edges with ``length`` (m) and ``travel_time`` (s), or ``speed_kph``, or ``maxspeed`` (km/h).
A point snaps to its nearest node; the time is the shortest path between the two nodes
(Dijkstra, :mod:`networkx`, the optional extra ``dronesim[graph]``).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, input_file

if TYPE_CHECKING:
    from .scenario import GroundSpec

__all__ = ["TravelModel", "StraightTravel", "FittedTravel", "MatrixTravel", "GraphTravel",
           "kolesar_s", "bank_grid", "hour_of_week_bucket", "make_travel_model", "FIT_FILE",
           "MODELS"]

MODELS = ("fitted", "straight", "matrix", "graph")
#: The fitted table, relative to the data folder.
FIT_FILE = Path("calibration") / "ground_travel_fit.json"
_WEEK_S = 7 * 86_400.0
_DAY_S = 86_400.0


def kolesar_s(d: np.ndarray | float, accel: float, cruise: float) -> np.ndarray:
    """Kolesar-Walker travel time over distance ``d`` (m) with acceleration ``accel`` (m/s^2)
    and cruising speed ``cruise`` (m/s): ``2 sqrt(d/a)`` below ``d_c = v^2/a``, ``v/a + d/v``
    beyond."""
    d = np.asarray(d, float)
    dc = cruise * cruise / accel
    return np.where(d <= dc, 2.0 * np.sqrt(np.maximum(d, 0.0) / accel),
                    cruise / accel + d / cruise)


def hour_of_week_bucket(t_week_s: np.ndarray | float) -> np.ndarray:
    """Speed-factor bucket of a clock time (seconds from Monday 00:00): hour of day, plus 24 on
    Saturday and Sunday."""
    t = np.mod(np.asarray(t_week_s, float), _WEEK_S)
    day = np.floor(t / _DAY_S).astype(np.int64)
    hour = np.floor((t - day * _DAY_S) / 3600.0).astype(np.int64)
    return np.minimum(hour, 23) + 24 * (day >= 5)


class TravelModel:
    """Road time between two points (British National Grid metres) for one service.

    ``incident_scale`` precomputes what depends on the incident only (hour of week, borough);
    ``drive_s`` is the scalar road time the engine calls per leg (without the incident's
    variability factor or turnout); ``time_s`` is the vectorised form of the same formula.
    """

    #: A longer straight line never means a shorter drive (nearest by distance = by time).
    monotone = True
    #: The road time depends on the two points only through their straight-line distance and
    #: their sides (:meth:`side`): the engine may then keep each point's side (an incident's
    #: when its chunk is loaded, a unit's when it moves) and call :meth:`sided_s`, which gives
    #: what :meth:`drive_s` gives, bit for bit, without looking the points up again.
    sided = False

    def incident_scale(self, t_week_s: np.ndarray, borough: np.ndarray) -> np.ndarray:
        return np.ones(np.asarray(t_week_s).shape)

    def side(self, x: float, y: float) -> int:
        """What the road time needs to know of a point besides its distance (0: nothing)."""
        return 0

    def sides(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`side` of each point (equal to it point by point)."""
        return np.zeros(np.asarray(x).shape, np.int64)

    def drive_s(self, dist: float, x0: float, y0: float, x1: float, y1: float,
                scale: float) -> float:
        raise NotImplementedError

    def sided_s(self, dist: float, side0: int, side1: int, scale: float) -> float:
        """:meth:`drive_s` from the distance and the two points' sides (models with
        ``sided``)."""
        raise NotImplementedError

    def time_s(self, x0: Any, y0: Any, x1: Any, y1: Any, t_week_s: Any = 0.0,
               factor: Any = 1.0, borough: Any = None) -> np.ndarray:
        """Vectorised road time x factor (the engine's formula, leg by leg)."""
        x0, y0, x1, y1, t = np.broadcast_arrays(*(np.asarray(v, float)
                                                  for v in (x0, y0, x1, y1, t_week_s)))
        b = (np.full(t.shape, -1, np.int64) if borough is None
             else np.broadcast_to(np.asarray(borough, np.int64), t.shape))
        scale = self.incident_scale(t.ravel(), b.ravel())
        out = np.array([self.drive_s(math.sqrt((a - c) ** 2 + (bb - d) ** 2), a, bb, c, d, s)
                        for a, bb, c, d, s in zip(x0.ravel().tolist(), y0.ravel().tolist(),
                                                  x1.ravel().tolist(), y1.ravel().tolist(),
                                                  scale.tolist())])
        return out.reshape(t.shape) * np.asarray(factor, float)


class StraightTravel(TravelModel):
    """``circuity`` x straight-line distance / ``speed_m_s`` (the model before the fit)."""

    sided = True

    def __init__(self, circuity: float, speed_m_s: float) -> None:
        self.circuity = float(circuity)
        self.speed_m_s = float(speed_m_s)

    def drive_s(self, dist: float, x0: float, y0: float, x1: float, y1: float,
                scale: float) -> float:
        return self.sided_s(dist, 0, 0, scale)

    def sided_s(self, dist: float, side0: int, side1: int, scale: float) -> float:
        return self.circuity * dist / self.speed_m_s


# ---------------------------------------------------------------------------- the Thames
#: Raster cell (m) of the bank grid.
BANK_CELL_M = 100.0


@functools.lru_cache(maxsize=4)
def bank_grid(data_dir: str) -> tuple[float, float, int, int, bytes]:
    """(x0, y0, nx, ny, cells): 1 where the cell centre lies on the Thames' north bank, from
    ``boroughs/thames.geojson`` (``scripts/build_data.py``: the river from the GLA borough layer
    that excludes it, the bank line continued past both ends), over the north bank's bounding
    box, which spans London's width: a point below it is south, any other point off it north."""
    import shapely
    from shapely.geometry import shape

    path = input_file(Path(data_dir) / "boroughs" / "thames.geojson", "Thames file")
    try:
        fc = json.loads(path.read_text(encoding="utf-8"))
        north = next(shape(f["geometry"]) for f in fc["features"]
                     if f["properties"]["kind"] == "north_bank")
    except (OSError, ValueError, KeyError, StopIteration):
        raise InputError(path, "north_bank", "no north-bank polygon") from None
    minx, miny, maxx, maxy = north.bounds
    c = BANK_CELL_M
    nx, ny = int(math.ceil((maxx - minx) / c)), int(math.ceil((maxy - miny) / c))
    xx, yy = np.meshgrid(minx + (np.arange(nx) + 0.5) * c, miny + (np.arange(ny) + 0.5) * c)
    shapely.prepare(north)
    cells = shapely.contains_xy(north, xx.ravel(), yy.ravel()).astype(np.uint8)
    return float(minx), float(miny), nx, ny, cells.tobytes()


class _Banks:
    """North/south bank of a point by one raster lookup (a few arithmetic operations)."""

    def __init__(self, data_dir: str) -> None:
        self.x0, self.y0, self.nx, self.ny, self.cells = bank_grid(str(data_dir))
        self.inv = 1.0 / BANK_CELL_M

    def of(self, x: float, y: float) -> int:
        i = int((x - self.x0) * self.inv)
        j = int((y - self.y0) * self.inv)
        if 0 <= i < self.nx and 0 <= j < self.ny:
            return self.cells[j * self.nx + i]
        return 0 if j < 0 else 1

    def of_each(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`of` of each point, vectorised and equal to it point by point (the cell index
        truncated toward zero as ``int()`` does; :meth:`of_many` floors, which differs within
        one cell below or left of the grid)."""
        i = ((np.asarray(x, float) - self.x0) * self.inv).astype(np.int64)
        j = ((np.asarray(y, float) - self.y0) * self.inv).astype(np.int64)
        ok = (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)
        cells = np.frombuffer(self.cells, np.uint8)
        out = (j >= 0).astype(np.int64)
        out[ok] = cells[j[ok] * self.nx + i[ok]]
        return out

    def of_many(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        i = np.floor((np.asarray(x, float) - self.x0) * self.inv).astype(np.int64)
        j = np.floor((np.asarray(y, float) - self.y0) * self.inv).astype(np.int64)
        ok = (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)
        cells = np.frombuffer(self.cells, np.uint8)
        out = (j >= 0).astype(np.uint8)
        out[ok] = cells[j[ok] * self.nx + i[ok]]
        return out


class FittedTravel(TravelModel):
    """The model fitted to the LFB sample (module docstring); ``table`` is the fitted JSON."""

    monotone = False
    sided = True  # a point's side is its bank of the Thames

    def __init__(self, table: dict[str, Any], data_dir: str | Path,
                 borough_codes: tuple[str, ...] = (), factor: float = 1.0) -> None:
        self.table = table
        self.accel = float(table["accel_m_s2"])
        self.cruise = float(table["cruise_m_s"])
        self.dc = self.cruise * self.cruise / self.accel
        # ``factor`` (ground.road_time_factor) scales the whole road time: the overhead and,
        # through the hour factors, the incident's scale (x 1.0 leaves every bit as fitted).
        self.factor = float(factor)
        self.overhead = float(table["overhead_s"]) * self.factor
        self.river = float(table["river_s"])
        self.hour = np.asarray(table["hour_factor"], float) * self.factor
        effects = table["borough_factor"]
        self.borough = np.array([float(effects.get(c, 1.0)) for c in borough_codes] + [1.0])
        self.banks = _Banks(str(data_dir))
        self._two_over_sqrt_a = 2.0 / math.sqrt(self.accel)
        self._v_over_a = self.cruise / self.accel
        self._inv_v = 1.0 / self.cruise

    def incident_scale(self, t_week_s: np.ndarray, borough: np.ndarray) -> np.ndarray:
        """Hour-of-week factor x borough factor of each incident (borough -1: London)."""
        b = np.asarray(borough, np.int64)
        return self.hour[hour_of_week_bucket(t_week_s)] * self.borough[b]

    def curve_s(self, d: np.ndarray | float) -> np.ndarray:
        return kolesar_s(d, self.accel, self.cruise)

    def side(self, x: float, y: float) -> int:
        """The point's bank of the Thames (1 north, 0 south)."""
        return self.banks.of(x, y)

    def sides(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.banks.of_each(x, y)

    def drive_s(self, dist: float, x0: float, y0: float, x1: float, y1: float,
                scale: float) -> float:
        banks = self.banks
        return self.sided_s(dist, banks.of(x0, y0), banks.of(x1, y1), scale)

    def sided_s(self, dist: float, side0: int, side1: int, scale: float) -> float:
        """The road time (module docstring): the distance curve, plus the river term when the
        two ends lie on different banks, scaled, plus the overhead."""
        if dist <= self.dc:
            t = self._two_over_sqrt_a * math.sqrt(dist)
        else:
            t = self._v_over_a + dist * self._inv_v
        if side0 != side1:
            t += self.river
        return self.overhead + scale * t

    def predict(self, dist: np.ndarray, cross: np.ndarray, t_week_s: np.ndarray,
                borough: np.ndarray) -> np.ndarray:
        """Vectorised drive (no variability) from distances and crossing flags."""
        return self.overhead + self.incident_scale(t_week_s, borough) * (
            self.curve_s(dist) + self.river * np.asarray(cross, float))


@functools.lru_cache(maxsize=4)
def read_fit(data_dir: str) -> dict[str, Any]:
    """The fitted table (``data/calibration/ground_travel_fit.json``)."""
    path = input_file(Path(data_dir) / FIT_FILE, "travel fit")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, "", f"not a travel fit table ({exc})") from None
    for key in ("accel_m_s2", "cruise_m_s", "overhead_s", "river_s", "hour_factor",
                "borough_factor"):
        if key not in table:
            raise InputError(path, key, "missing")
    if len(table["hour_factor"]) != 48:
        raise InputError(path, "hour_factor", "expected 48 factors (24 weekday, 24 weekend)")
    return dict(table)


# ---------------------------------------------------------------------------- user files
def _read_table(path: Path, field: str) -> Any:
    import pandas as pd

    path = input_file(path, "travel file", field=field)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise InputError(path, "", f"cannot read as CSV or Parquet ({exc})".splitlines()[0]
                         ) from None


def _check_bng(path: Path, field: str, x: np.ndarray, y: np.ndarray) -> None:
    """Coordinates must be British National Grid metres (not longitude/latitude)."""
    if x.size and (np.abs(x).max() <= 180 and np.abs(y).max() <= 90):
        raise InputError(path, field, "coordinates look like longitude/latitude degrees; "
                                      "expected British National Grid metres (EPSG:27700)")
    if x.size and not (np.all((x > -1e5) & (x < 8e5)) and np.all((y > -1e5) & (y < 1.3e6))):
        raise InputError(path, field, "coordinates outside British National Grid "
                                      "(EPSG:27700, metres)")


class MatrixTravel(TravelModel):
    """Origin-destination times from a file (module docstring)."""

    COLUMNS = ("from_x", "from_y", "to_x", "to_y", "time_s")

    def __init__(self, path: str | Path, field: str = "travel_file") -> None:
        from scipy.spatial import cKDTree

        path = Path(path)
        df = _read_table(path, field)
        unknown = [c for c in df.columns if c not in self.COLUMNS]
        if unknown:
            raise InputError(path, str(unknown[0]), f"unknown column (expected "
                                                    f"{', '.join(self.COLUMNS)})")
        for c in self.COLUMNS:
            if c not in df.columns:
                raise InputError(path, c, "missing column")
        try:
            v = {c: df[c].to_numpy(float) for c in self.COLUMNS}
        except (TypeError, ValueError):
            raise InputError(path, "", "non-numeric values") from None
        for c in self.COLUMNS:
            bad = np.flatnonzero(~np.isfinite(v[c]))
            if bad.size:
                raise InputError(path, c, f"row {bad[0] + 2}: not a number")
        neg = np.flatnonzero(v["time_s"] < 0)
        if neg.size:
            raise InputError(path, "time_s", f"row {neg[0] + 2}: negative time "
                                             f"{v['time_s'][neg[0]]:g}")
        if not len(df):
            raise InputError(path, "", "no rows")
        _check_bng(path, "from_x", v["from_x"], v["from_y"])
        _check_bng(path, "to_x", v["to_x"], v["to_y"])
        o, oi = np.unique(np.column_stack([v["from_x"], v["from_y"]]), axis=0,
                          return_inverse=True)
        d, di = np.unique(np.column_stack([v["to_x"], v["to_y"]]), axis=0, return_inverse=True)
        grid = np.full((len(o), len(d)), np.nan)
        grid[oi.ravel(), di.ravel()] = v["time_s"]
        miss = np.argwhere(np.isnan(grid))
        if miss.size:
            a, b = miss[0]
            raise InputError(path, "time_s", f"no time from ({o[a][0]:g}, {o[a][1]:g}) to "
                                             f"({d[b][0]:g}, {d[b][1]:g}): every origin needs "
                                             f"every destination")
        self._otree, self._dtree = cKDTree(o), cKDTree(d)
        self._grid = grid.tolist()

    def drive_s(self, dist: float, x0: float, y0: float, x1: float, y1: float,
                scale: float) -> float:
        a = int(self._otree.query((x0, y0))[1])
        b = int(self._dtree.query((x1, y1))[1])
        return float(self._grid[a][b])


class GraphTravel(TravelModel):
    """Shortest paths over a GraphML road network (module docstring)."""

    def __init__(self, path: str | Path, field: str = "travel_file") -> None:
        from scipy.spatial import cKDTree

        try:
            import networkx as nx
        except ImportError:
            raise InputError(path, field, "travel_model = 'graph' needs networkx: pip install "
                                          "'dronesim[graph]'") from None
        path = input_file(Path(path), "road network", field=field)
        try:
            g = nx.read_graphml(path)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the file's problem
            raise InputError(path, "", f"not a GraphML file ({exc})".splitlines()[0]) from None
        crs = str(g.graph.get("crs", "")).lower()
        if crs and "27700" not in crs:
            raise InputError(path, "crs", f"{crs!r}: project the graph to EPSG:27700 "
                                          f"(osmnx.project_graph(G, to_crs='EPSG:27700'))")
        nodes = list(g.nodes)
        if not nodes:
            raise InputError(path, "", "no nodes")
        try:
            xy = np.array([[float(g.nodes[n]["x"]), float(g.nodes[n]["y"])] for n in nodes])
        except (KeyError, TypeError, ValueError):
            raise InputError(path, "x", "every node needs numeric x and y") from None
        _check_bng(path, "x", xy[:, 0], xy[:, 1])
        h = nx.MultiDiGraph() if g.is_multigraph() else nx.DiGraph()
        if not g.is_directed():
            h = h.to_undirected()
        h.add_nodes_from(range(len(nodes)))
        index = {n: k for k, n in enumerate(nodes)}
        for u, v, data in g.edges(data=True):
            h.add_edge(index[u], index[v], time_s=self._edge_time(path, u, v, data))
        if not g.is_directed():
            h = h.to_directed()
        self._g = h
        self._tree = cKDTree(xy)
        self._nx = nx
        self._paths = functools.lru_cache(maxsize=4096)(self._from)

    @staticmethod
    def _edge_time(path: Path, u: Any, v: Any, data: dict[str, Any]) -> float:
        def num(key: str) -> float:
            raw = str(data[key]).strip().strip("[]").split(",")[0].strip("' ")
            try:
                return float(raw.split()[0])
            except (ValueError, IndexError):
                raise InputError(path, key, f"edge {u}-{v}: {data[key]!r} is not a number"
                                 ) from None

        if "travel_time" in data:
            t = num("travel_time")
        else:
            if "length" not in data:
                raise InputError(path, "length", f"edge {u}-{v}: missing (and no travel_time)")
            length = num("length")
            key = "speed_kph" if "speed_kph" in data else "maxspeed" if "maxspeed" in data else ""
            if not key:
                raise InputError(path, "speed_kph", f"edge {u}-{v}: no travel_time, speed_kph "
                                                    f"or maxspeed")
            kph = num(key)
            if kph <= 0:
                raise InputError(path, key, f"edge {u}-{v}: speed {kph:g} must be positive")
            if length < 0:
                raise InputError(path, "length", f"edge {u}-{v}: negative length {length:g}")
            t = length / (kph / 3.6)
        if not math.isfinite(t) or t < 0:
            raise InputError(path, "travel_time", f"edge {u}-{v}: negative or invalid time {t:g}")
        return t

    def _from(self, a: int) -> dict[int, float]:
        return dict(self._nx.single_source_dijkstra_path_length(self._g, a, weight="time_s"))

    def node_of(self, x: float, y: float) -> int:
        return int(self._tree.query((x, y))[1])

    def drive_s(self, dist: float, x0: float, y0: float, x1: float, y1: float,
                scale: float) -> float:
        a, b = self.node_of(x0, y0), self.node_of(x1, y1)
        t = self._paths(a).get(b)
        return math.inf if t is None else float(t)


def make_travel_model(g: GroundSpec, data_dir: str | Path, borough_codes: tuple[str, ...] = (),
                      base: Path | None = None, field: str = "ground.travel_file"
                      ) -> TravelModel:
    """The travel model a service's ``ground`` settings name (files relative to ``base``)."""
    kind = g.travel_model
    if kind == "straight":
        return StraightTravel(g.circuity, g.speed_m_s)
    if kind == "fitted":
        return FittedTravel(read_fit(str(data_dir)), data_dir, borough_codes,
                            g.road_time_factor)
    if not g.travel_file:
        raise InputError("<scenario>", field, f"travel_model = {kind!r} needs a travel_file")
    p = Path(g.travel_file).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    try:
        st = p.stat()
        stamp: tuple[int, int] = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)  # the model's reader names the missing file
    return _file_model(kind, str(p), stamp, field)


@functools.lru_cache(maxsize=8)
def _file_model(kind: str, path: str, stamp: tuple[int, int], field: str) -> TravelModel:
    """A matrix or graph model, read once per process per file version (``stamp``)."""
    return MatrixTravel(path, field) if kind == "matrix" else GraphTravel(path, field)
