"""Overflight exposure: how often each 100 m square of London is overflown, for how long, how
loud, per borough and per head.

Computed after a run from its mission records (``missions.parquet``, ``incidents.parquet``):
nothing in the engine changes, and a run without this module's outputs is the same run.

The ground track of a mission leg
---------------------------------
* **Out**: from the drone's dock (or, after a leg that ended by a hand-over, ``redirected``,
  from that leg's scene) to the incident, along the path the engine's flight length came from:
  the straight line, or in ``[airspace] mode = "detour"`` the shortest path around the no-fly
  zones, recomputed with the same router (:class:`dronesim.inputs.airspace.Router`) the run
  used, so it is the same path. Its time is ``t_on_scene - t_launch``: ``[drones] climb_s`` is
  spent over the start point, ``descent_s`` over the scene, the rest spread evenly along the
  path (so a slower night leg or an authorisation wait lengthens the time over every cell of
  the path alike; where the wait really is spent is not recorded).
* **On scene**: ``t_leave - t_on_scene`` hovering over the incident.
* **Back**: scene to dock along the same path reversed, ``t_landed - t_leave``; a
  ``redirected`` leg has no flight back (its drone flew on to the next incident, whose leg
  starts at this scene), and whatever time it records after leaving is counted as hover.
* **A leg that turned back with a fault** (no on-scene time) is taken to have flown half of
  its path out and the same way back, half of its time each way (where it turned is not
  recorded).

So the minutes over the grid add up to the flight time of every leg, ``t_landed - t_launch``
(the conservation test, ``tests/test_exposure.py``).

Per 100 m cell (EPSG:27700; :data:`GRID_M`)
------------------------------------------
* ``passes``: ground tracks (a flight out or back) crossing the cell, each counted once per
  pass however often it re-enters the cell;
* ``minutes``: time the drone's ground position is inside the cell (hover included);
* ``hover_minutes``: time hovering within :data:`HOVER_RADIUS_M` (200 m) of the cell centre;
* ``lmax_dba``: the loudest estimated sound level at the ground at the cell centre over all
  events (a pass, or a hover within 200 m), ``events``: events whose level reaches
  :data:`EVENT_THRESHOLD_DBA`.

Sound at the ground
-------------------
* **Source.** The A-weighted sound power a C2-class drone may emit under the EU drone product
  rules, Commission Delegated Regulation (EU) 2019/945, Annex Part 15 (the limit for
  900 g <= MTOM < 4 kg, from the fourth year after entry into force):
  ``L_WA = 81 + 18.5 lg(m / 900 g)``; at the DJI Matrice 30's maximum take-off mass of 3,998 g
  (DJI specification), ``L_WA = 93.0 dB(A)`` (:data:`SOURCE_SOUND_POWER_DBA`). It is a
  *limit* a labelled drone must meet, so the levels here are upper estimates; EASA's
  "Guidelines on noise measurement of UAS lighter than 600 kg" (2023) give the measurement
  method, not a level.
* **Propagation.** A point source in free field, spherical spreading only:
  ``L_p(r) = L_WA - 10 lg(4 pi) - 20 lg(r / 1 m)``, so :data:`SOURCE_LEVEL_1M_DBA` (82.0 dB(A))
  at 1 m, less ``20 lg r``. Atmospheric absorption (under 1 dB per 100 m at the blade-passage
  frequencies), ground reflection, screening by buildings and directivity are ignored; so is
  the drone's climb and descent (the level of a pass is taken at cruise height).
* **Heights.** Cruise :data:`CRUISE_ALTITUDE_M` (60 m) and hover :data:`HOVER_ALTITUDE_M`
  (40 m) above the ground: assumptions (the UK Open category ceiling is 120 m, CAP 722; the
  Met publishes no operating height). ``r`` is the slant distance from the cell centre at
  ground level to the nearest point of the pass at cruise height, or to the hover point.
* **Event threshold.** 45 dB(A), the level of the WHO Environmental Noise Guidelines for the
  European Region (2018) for aircraft noise (L_den), used here as a single-event threshold: a
  stated reference, not a health criterion for single events.

Per borough and per head
------------------------
A cell belongs to the borough holding its centre; its residents are the population density of
the small area (LSOA, ``data/demand/lsoa_demand.parquet``, Census 2021) holding its centre
times the cell's area. ``events_per_1000_residents`` of a borough is
``1000 x sum(events x residents) / borough residents``: events a week heard by the average
resident, per thousand residents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GRID_M", "HOVER_RADIUS_M", "CRUISE_ALTITUDE_M", "HOVER_ALTITUDE_M",
           "SOURCE_SOUND_POWER_DBA", "SOURCE_LEVEL_1M_DBA", "EVENT_THRESHOLD_DBA",
           "Track", "Exposure", "sound_level_dba", "segment_cells", "flight_tracks",
           "exposure_grid", "borough_exposure", "exposure_summary", "results_exposure",
           "TOP_CELLS"]

GRID_M = 100.0
HOVER_RADIUS_M = 200.0
CRUISE_ALTITUDE_M = 60.0
HOVER_ALTITUDE_M = 40.0
#: EU 2019/945 Annex Part 15, class C2 limit at 3,998 g (DJI Matrice 30 MTOM), dB(A).
SOURCE_SOUND_POWER_DBA = 81.0 + 18.5 * math.log10(3998.0 / 900.0)
#: Sound pressure level 1 m from the source, free field: L_WA - 10 lg(4 pi).
SOURCE_LEVEL_1M_DBA = SOURCE_SOUND_POWER_DBA - 10.0 * math.log10(4.0 * math.pi)
#: WHO (2018) aircraft noise guideline level, used as a single-event threshold, dB(A).
EVENT_THRESHOLD_DBA = 45.0
#: Cells listed as the most exposed.
TOP_CELLS = 10
_KEY = 1 << 24  # cell key = ix * _KEY + iy (BNG cell indices are far below 2**24)


def sound_level_dba(distance_m: np.ndarray | float,
                    source_1m_dba: float = SOURCE_LEVEL_1M_DBA) -> np.ndarray:
    """Sound level at ``distance_m`` (slant, metres) from the drone: spherical spreading,
    ``source_1m_dba - 20 lg(r)`` (r at least 1 m); absorption ignored."""
    r = np.maximum(np.asarray(distance_m, float), 1.0)
    return source_1m_dba - 20.0 * np.log10(r)


def segment_cells(x0: float, y0: float, x1: float, y1: float, grid_m: float = GRID_M
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells a straight segment crosses, in order: ``(ix, iy, length_m)`` of each piece
    (cell ``(ix, iy)`` spans ``[ix g, (ix + 1) g) x [iy g, (iy + 1) g)``). A segment of zero
    length gives its start cell with length 0."""
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    if length == 0.0:
        return (np.array([math.floor(x0 / grid_m)], np.int64),
                np.array([math.floor(y0 / grid_m)], np.int64), np.zeros(1))
    ts = [np.array([0.0, 1.0])]
    for a, d in ((x0, dx), (y0, dy)):
        if d != 0.0:
            lo, hi = sorted((a, a + d))
            k = np.arange(math.ceil(lo / grid_m), math.floor(hi / grid_m) + 1)
            ts.append((k * grid_m - a) / d)
    t = np.unique(np.clip(np.concatenate(ts), 0.0, 1.0))
    mid = (t[:-1] + t[1:]) / 2
    piece = np.diff(t) * length
    keep = piece > 0
    ix = np.floor((x0 + mid * dx) / grid_m).astype(np.int64)[keep]
    iy = np.floor((y0 + mid * dy) / grid_m).astype(np.int64)[keep]
    return ix, iy, piece[keep]


def _point_segment_distance(px: np.ndarray, py: np.ndarray, x0: float, y0: float, x1: float,
                            y1: float) -> np.ndarray:
    dx, dy = x1 - x0, y1 - y0
    n = dx * dx + dy * dy
    t = np.zeros(np.shape(px)) if n == 0 else np.clip(((px - x0) * dx + (py - y0) * dy) / n,
                                                     0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


@dataclass(eq=False)
class Track:
    """One ground track: a polyline ``path`` ((k, 2), EPSG:27700) flown in ``cruise_s``
    seconds after ``start_s`` over its first point and before ``end_s`` over its last; or a
    hover (``path`` of one point, ``hover`` true) of ``start_s`` seconds."""

    path: np.ndarray
    cruise_s: float = 0.0
    start_s: float = 0.0
    end_s: float = 0.0
    hover: bool = False
    replication: int = 0

    @property
    def seconds(self) -> float:
        return self.start_s + self.cruise_s + self.end_s


def _path_rows(track: Track, grid_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell keys, seconds and horizontal distance of the centre from the path, one row per
    piece of a pass (a cell may appear more than once)."""
    path = track.path
    keys, secs, dists = [], [], []
    length = float(np.hypot(*np.diff(path, axis=0).T).sum()) if len(path) > 1 else 0.0
    for (x0, y0), (x1, y1) in zip(path[:-1], path[1:]):
        ix, iy, piece = segment_cells(x0, y0, x1, y1, grid_m)
        cx, cy = (ix + 0.5) * grid_m, (iy + 0.5) * grid_m
        keys.append(ix * _KEY + iy)
        secs.append(piece / length * track.cruise_s if length > 0 else np.zeros(piece.size))
        dists.append(_point_segment_distance(cx, cy, x0, y0, x1, y1))
    # Climb over the first point, descent over the last; a path of no length: all there.
    still = track.cruise_s if length == 0 else 0.0
    for (x, y), s in ((path[0], track.start_s + still), (path[-1], track.end_s)):
        ix, iy = math.floor(x / grid_m), math.floor(y / grid_m)
        keys.append(np.array([ix * _KEY + iy]))
        secs.append(np.array([s]))
        dists.append(np.array([math.hypot((ix + 0.5) * grid_m - x, (iy + 0.5) * grid_m - y)]))
    return np.concatenate(keys), np.concatenate(secs), np.concatenate(dists)


def _hover_rows(x: float, y: float, grid_m: float, radius_m: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Keys and centre distances of the cells whose centre lies within ``radius_m``."""
    ix = np.arange(math.floor((x - radius_m) / grid_m), math.floor((x + radius_m) / grid_m) + 1)
    iy = np.arange(math.floor((y - radius_m) / grid_m), math.floor((y + radius_m) / grid_m) + 1)
    gx, gy = np.meshgrid(ix, iy, indexing="ij")
    d = np.hypot((gx + 0.5) * grid_m - x, (gy + 0.5) * grid_m - y).ravel()
    near = d <= radius_m
    return (gx.ravel() * _KEY + gy.ravel())[near], d[near]


def exposure_grid(tracks: Sequence[Track], *, grid_m: float = GRID_M,
                  hover_radius_m: float = HOVER_RADIUS_M,
                  cruise_altitude_m: float = CRUISE_ALTITUDE_M,
                  hover_altitude_m: float = HOVER_ALTITUDE_M,
                  source_1m_dba: float = SOURCE_LEVEL_1M_DBA,
                  threshold_dba: float = EVENT_THRESHOLD_DBA) -> pd.DataFrame:
    """Totals per cell over ``tracks`` (see the module docstring): columns ``ix``, ``iy``,
    ``x``, ``y`` (cell centre), ``passes``, ``minutes``, ``hover_minutes``, ``lmax_dba``,
    ``events``; only cells something touched."""
    frames = []
    for n, tr in enumerate(tracks):
        if tr.hover:
            x, y = float(tr.path[0, 0]), float(tr.path[0, 1])
            k, d = _hover_rows(x, y, grid_m, hover_radius_m)
            own = math.floor(x / grid_m) * _KEY + math.floor(y / grid_m)
            lvl = sound_level_dba(np.hypot(d, hover_altitude_m), source_1m_dba)
            frames.append(pd.DataFrame({
                "event": n, "key": np.append(k, own), "passes": 0.0,
                "minutes": np.append(np.zeros(k.size), tr.seconds / 60.0),
                "hover_minutes": np.append(np.full(k.size, tr.seconds / 60.0), 0.0),
                "level": np.append(lvl, -np.inf)}))
            continue
        k, s, d = _path_rows(tr, grid_m)
        lvl = sound_level_dba(np.hypot(d, cruise_altitude_m), source_1m_dba)
        frames.append(pd.DataFrame({"event": n, "key": k, "passes": 1.0, "minutes": s / 60.0,
                                    "hover_minutes": 0.0, "level": lvl}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("ix", "int64"), ("iy", "int64"), ("x", "float64"), ("y", "float64"),
            ("passes", "float64"), ("minutes", "float64"), ("hover_minutes", "float64"),
            ("lmax_dba", "float64"), ("events", "float64"))})
    rows = pd.concat(frames, ignore_index=True)
    # One event per (track, cell): a pass counted once however often it re-enters the cell.
    ev = rows.groupby(["event", "key"], sort=False).agg(
        passes=("passes", "max"), minutes=("minutes", "sum"),
        hover_minutes=("hover_minutes", "max"), level=("level", "max"))
    ev["events"] = (ev["level"] >= threshold_dba).astype(float)
    cell = ev.groupby(level="key").agg(passes=("passes", "sum"), minutes=("minutes", "sum"),
                                       hover_minutes=("hover_minutes", "sum"),
                                       lmax_dba=("level", "max"), events=("events", "sum"))
    key = cell.index.to_numpy(np.int64)
    ix, iy = key // _KEY, key % _KEY
    out = pd.DataFrame({"ix": ix, "iy": iy, "x": (ix + 0.5) * grid_m, "y": (iy + 0.5) * grid_m})
    for c in ("passes", "minutes", "hover_minutes", "lmax_dba", "events"):
        out[c] = cell[c].to_numpy(float)
    out.loc[~np.isfinite(out["lmax_dba"]), "lmax_dba"] = np.nan
    return out.sort_values(["ix", "iy"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Tracks from the records of a run
# --------------------------------------------------------------------------------------------


def _route_fn(zones: Any, mode: str, margin_m: float
              ) -> Callable[[float, float, float, float], np.ndarray]:
    """``path(x0, y0, x1, y1)``: the path the engine's flight length came from."""
    if zones is None or len(zones) == 0 or mode != "detour":
        return lambda x0, y0, x1, y1: np.array([[x0, y0], [x1, y1]], float)
    router = zones.router(margin_m)
    cache: dict[tuple[float, float, float, float], np.ndarray] = {}

    def path(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        k = (x0, y0, x1, y1)
        if k not in cache:
            p = router.route(x0, y0, x1, y1).path
            cache[k] = p if len(p) else np.array([[x0, y0], [x1, y1]], float)
        return cache[k]
    return path


def _part(path: np.ndarray, frac: float) -> np.ndarray:
    """The first ``frac`` of a polyline by length."""
    seg = np.hypot(*np.diff(path, axis=0).T)
    total = float(seg.sum())
    if total == 0 or frac >= 1:
        return path
    want = frac * total
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    j = int(np.searchsorted(cum, want, side="right")) - 1
    j = min(j, len(seg) - 1)
    t = (want - cum[j]) / seg[j] if seg[j] > 0 else 0.0
    end = path[j] + t * (path[j + 1] - path[j])
    return np.vstack([path[: j + 1], end])


def _flown(path: np.ndarray, seconds: float, climb_s: float, descent_s: float,
           replication: int) -> Track:
    """A pass of ``seconds``: climb over the start, descent over the end (scaled down when
    the leg is shorter than both), the rest along the path."""
    fixed = climb_s + descent_s
    scale = min(1.0, seconds / fixed) if fixed > 0 else 0.0
    c, d = climb_s * scale, descent_s * scale
    return Track(path, cruise_s=max(seconds - c - d, 0.0), start_s=c, end_s=d,
                 replication=replication)


def flight_tracks(missions: pd.DataFrame, incidents: pd.DataFrame, dock_xy: np.ndarray, *,
                  climb_s: float, descent_s: float, zones: Any = None, mode: str = "detour",
                  margin_m: float = 25.0) -> list[Track]:
    """The ground tracks of mission legs (see the module docstring).

    ``missions``: the mission table (``replication``, ``drone_id``, ``dock_id``, ``incident``,
    ``t_launch``, ``t_on_scene``, ``t_leave``, ``t_landed``, ``redirected``);
    ``incidents``: ``replication``, ``incident_id``, ``x``, ``y`` of the incidents they name;
    ``dock_xy``: ``(n_docks, 2)``; ``zones``/``mode``/``margin_m``: the scenario's airspace
    (:class:`dronesim.inputs.airspace.NoFlyZones` and ``[airspace]`` mode and margin).
    """
    if missions.empty:
        return []
    m = missions.sort_values(["replication", "drone_id", "t_launch"], kind="stable")
    rep = m["replication"].to_numpy(np.int64) if "replication" in m else np.zeros(len(m), int)
    where = incidents.set_index(["replication", "incident_id"])[["x", "y"]]
    xy = where.reindex(list(zip(rep.tolist(), m["incident"].to_numpy(np.int64).tolist())))
    sx, sy = xy["x"].to_numpy(float), xy["y"].to_numpy(float)
    drone = m["drone_id"].to_numpy(np.int64)
    dock = m["dock_id"].to_numpy(np.int64)
    redirected = m["redirected"].to_numpy(bool)
    t = {c: m[c].to_numpy(float) for c in ("t_launch", "t_on_scene", "t_leave", "t_landed")}
    route = _route_fn(zones, mode, margin_m)
    out: list[Track] = []
    for j in range(len(m)):
        if not (np.isfinite(t["t_launch"][j]) and np.isfinite(t["t_landed"][j])
                and np.isfinite(sx[j])):
            continue
        r = int(rep[j])
        hx, hy = float(dock_xy[dock[j], 0]), float(dock_xy[dock[j], 1])
        prev = j - 1
        if prev >= 0 and rep[prev] == r and drone[prev] == drone[j] and redirected[prev] \
                and np.isfinite(sx[prev]):
            x0, y0 = float(sx[prev]), float(sy[prev])
        else:
            x0, y0 = hx, hy
        scene_x, scene_y = float(sx[j]), float(sy[j])
        total = t["t_landed"][j] - t["t_launch"][j]
        out_path = route(x0, y0, scene_x, scene_y)
        if not np.isfinite(t["t_on_scene"][j]):  # turned back with a fault
            half = _part(out_path, 0.5)
            out.append(_flown(half, total / 2, climb_s, 0.0, r))
            out.append(_flown(half[::-1], total / 2, 0.0, descent_s, r))
            continue
        out.append(_flown(out_path, t["t_on_scene"][j] - t["t_launch"][j], climb_s,
                          descent_s, r))
        leave = t["t_leave"][j] if np.isfinite(t["t_leave"][j]) else t["t_landed"][j]
        hover = leave - t["t_on_scene"][j]
        back = t["t_landed"][j] - leave
        if redirected[j]:
            hover, back = hover + back, 0.0
        if hover > 0:
            out.append(Track(np.array([[scene_x, scene_y]]), start_s=hover, hover=True,
                             replication=r))
        if back > 0 or not redirected[j]:
            back_path = route(hx, hy, scene_x, scene_y)[::-1]
            out.append(_flown(back_path, back, climb_s, descent_s, r))
    return out


# --------------------------------------------------------------------------------------------
# Boroughs, residents, summary
# --------------------------------------------------------------------------------------------


def cell_places(london: Any, x: np.ndarray, y: np.ndarray, cell_km2: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Borough index (-1 outside London) and residents of the cells centred at ``x, y``:
    the population density of the small area holding the centre times the cell area."""
    import shapely

    borough = london.borough_of(np.asarray(x, float), np.asarray(y, float))
    geoms = np.asarray(london.lsoa.geometry.values)
    tree = shapely.STRtree(geoms)
    pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
    src, hit = tree.query(np.atleast_1d(pts), predicate="within")
    density = (london.lsoa["population"].to_numpy(float)
               / (shapely.area(geoms) / 1e6))
    residents = np.zeros(np.size(x))
    residents[src] = density[hit] * cell_km2
    return borough, residents


def borough_exposure(grid: pd.DataFrame, borough: np.ndarray, residents: np.ndarray,
                     codes: Sequence[str], names: Sequence[str], population: np.ndarray,
                     per_week: float) -> pd.DataFrame:
    """One row per borough: overflown cells, passes, minutes and events a week over its
    cells, and events heard per 1,000 residents a week (see the module docstring).
    ``per_week``: the factor from the grid's totals to a week (1 / (replications x weeks))."""
    n = len(codes)
    b = np.asarray(borough, np.int64)
    ok = b >= 0
    cnt = np.bincount(b[ok], minlength=n).astype(float)

    def total(v: np.ndarray) -> np.ndarray:
        return np.bincount(b[ok], weights=np.asarray(v, float)[ok], minlength=n)

    pop = np.asarray(population, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        heard = np.where(pop > 0, 1000.0 * total(grid["events"].to_numpy() * residents)
                         * per_week / pop, np.nan)
    return pd.DataFrame({
        "gss_code": list(codes), "name": list(names), "population": pop,
        "overflown_cells": cnt,
        "passes_per_week": total(grid["passes"].to_numpy()) * per_week,
        "minutes_per_week": total(grid["minutes"].to_numpy()) * per_week,
        "events_per_week": total(grid["events"].to_numpy()) * per_week,
        "events_per_1000_residents": heard})


#: The exposure summary's figures (declared in :mod:`dronesim.kpis.registry`, EXPOSURE_METRICS).
def exposure_summary(grid: pd.DataFrame, london_area_km2: float, per_week: float,
                     boroughs: pd.DataFrame, grid_m: float = GRID_M) -> dict[str, float]:
    """The headline figures of one grid (one replication, or the pooled run)."""
    cell_km2 = grid_m * grid_m / 1e6
    overflown = grid["passes"] > 0
    worst = boroughs["events_per_1000_residents"].to_numpy(float)
    return {
        "overflown_area_share": float(overflown.sum() * cell_km2 / london_area_km2)
        if london_area_km2 > 0 else math.nan,
        "max_cell_overflights_per_week": float(grid["passes"].max() * per_week)
        if len(grid) else 0.0,
        "max_cell_minutes_per_week": float(grid["minutes"].max() * per_week)
        if len(grid) else 0.0,
        "max_cell_lmax_dba": float(np.nanmax(grid["lmax_dba"])) if
        grid["lmax_dba"].notna().any() else math.nan,
        "worst_borough_events_per_1000_residents": float(np.nanmax(worst))
        if np.isfinite(worst).any() else math.nan,
    }


@dataclass(eq=False)
class Exposure:
    """The exposure of one results folder: the grid pooled over replications (totals a week
    in ``*_per_week`` columns, ``borough``, ``residents``), the borough table, the top cells,
    the summary (registry figures with their 95% intervals) and the notes."""

    grid: pd.DataFrame
    boroughs: pd.DataFrame
    top: pd.DataFrame
    summary: dict[str, Any]
    flight_minutes: float
    notes: list[str] = field(default_factory=list)


def results_exposure(results_dir: str | Path, *, grid_m: float = GRID_M) -> Exposure:
    """Overflight exposure of a ``dronesim run`` results folder (see the module docstring)."""
    from ..errors import InputError
    from ..inputs.airspace import zones_for
    from ..inputs.geography import load_london
    from ..kpis.registry import EXPOSURE_METRICS
    from ..kpis.statistics import metric_block
    from ..siting.sites import build_docks
    from .results import open_results

    res = open_results(results_dir)
    if res.kind != "run":
        raise InputError(res.path, "", "overflight exposure needs a 'dronesim run' results "
                                       f"folder, not a {res.kind}")
    mpath = res.path / "missions.parquet"
    if not mpath.exists():
        raise InputError(mpath, "", "missing: the run has no mission table")
    scn = next(iter(res.scenarios().values()))
    london = load_london()
    notes: list[str] = []
    try:
        zones = zones_for(scn.airspace, res.path)
    except (InputError, OSError) as exc:
        from ..inputs.airspace import london_frz

        zones = london_frz(scn.airspace.frz) if scn.airspace.frz else None
        notes.append(f"no-fly files not found, tracks drawn without them ({exc})")
    docks = build_docks(scn, london, zones)
    lo, hi = res.window_s
    missions = pd.read_parquet(mpath)
    missions = missions[(missions["t_launch"] >= lo) & (missions["t_launch"] < hi)]
    incidents = res.read_incidents(["replication", "incident_id", "x", "y"], window=False)
    a = scn.airspace
    tracks = flight_tracks(missions, incidents, np.column_stack([docks.x, docks.y]),
                           climb_s=scn.drones.climb_s, descent_s=scn.drones.descent_s,
                           zones=zones, mode=a.mode, margin_m=a.margin_m)
    reps = sorted(set(int(r) for r in missions["replication"])) if len(missions) else []
    n_rep = max(res.replications, 1)
    weeks = float(res.summary.get("weeks") or 0.0) or 1.0
    per_week = 1.0 / (n_rep * weeks)
    grid = exposure_grid(tracks, grid_m=grid_m)
    cell_km2 = grid_m * grid_m / 1e6
    borough, residents = cell_places(london, grid["x"].to_numpy(), grid["y"].to_numpy(),
                                     cell_km2)
    pop = london.boroughs["population"].to_numpy(float)
    codes, names = list(london.borough_codes), list(london.borough_names)
    boroughs = borough_exposure(grid, borough, residents, codes, names, pop, per_week)
    area = float(london.boroughs["area_km2"].sum())
    per_rep = []
    for r in reps:
        g = exposure_grid([t for t in tracks if t.replication == r], grid_m=grid_m)
        b, res_r = cell_places(london, g["x"].to_numpy(), g["y"].to_numpy(), cell_km2)
        bt = borough_exposure(g, b, res_r, codes, names, pop, 1.0 / weeks)
        per_rep.append(exposure_summary(g, area, 1.0 / weeks, bt, grid_m))
    per_rep += [exposure_summary(grid.iloc[:0], area, 1.0, boroughs.iloc[:0], grid_m)
                ] * (n_rep - len(per_rep))  # a replication that flew nothing
    summary = {m.key: metric_block(m, [k[m.key] for k in per_rep]) for m in EXPOSURE_METRICS}
    out = grid.copy()
    for c in ("passes", "minutes", "hover_minutes", "events"):
        out[f"{c}_per_week"] = out.pop(c) * per_week
    out["borough"] = [names[i] if i >= 0 else "" for i in borough]
    out["residents"] = residents
    top = out.sort_values(["passes_per_week", "minutes_per_week"], ascending=False,
                          kind="stable").head(TOP_CELLS).reset_index(drop=True)
    flight = float((missions["t_landed"] - missions["t_launch"]).sum() / 60.0)
    return Exposure(out, boroughs, top, summary, flight, notes)
