"""Demand and response sources beyond the small-area layers: the LFB incident sample, LAS
borough volumes, LFB fire stations, the LFB call profiles, and trace files of incidents.

Everything read here is one of the derived files in ``data/`` (see ``data/README.md``) or a
user's trace CSV; results that depend only on the data folder are cached per folder, like
:func:`dronesim.inputs.geography.load_london`. Coordinates are British National Grid (EPSG:27700).

Modelling assumptions
---------------------
* ``spatial_weight = "lfb_sample"`` (fire): an incident is one of the 10,000 points of the London
  Fire Brigade's 2023 incident sample (all incident groups, each equally likely), moved by a
  uniform jitter within its 50 m rounding cell (LFB publishes coordinates rounded to a 50 m grid,
  so the true point lies anywhere in the cell). A jittered point that falls outside London (the
  Thames, the Greater London edge) is redrawn; the 40 cell centres that lie just outside the
  borough polygons (at most 176 m, mostly river-side) are first snapped to the nearest point of
  London's outline. The borough is the point's borough (nearest borough on a border sliver).
  As a small-area weight (for ground units, coverage and siting) it is the count of sample
  points per LSOA.
* ``spatial_weight = "las"`` (ambulance): each borough's share of London Ambulance Service
  incidents over the 12 months Sep 2014 - Aug 2015, spread over the borough's LSOAs in
  proportion to their population (LAS publishes no locations; population is the usual proxy
  for ambulance demand).
* ``time_profile = "lfb_fire"``: the LFB 2023 hour x weekday profile of Fire and Special Service
  calls only (false alarms left out).
* Fire stations: the 102 LFB land stations of ``data/sites/candidate_sites.csv``; the Lambeth
  river station (fireboats, never a first pump in the sample) is left out.

Trace files
-----------
A trace CSV replaces the generators (``[demand] trace``). Columns: ``time`` (an ISO date-time,
or seconds since the simulated Monday 00:00), either ``x``, ``y`` (EPSG:27700) or ``lon``,
``lat`` (WGS84), ``service``, and optionally ``priority`` (default 1) and ``drone_suited``
(true/false; empty or absent: drawn with the service's ``drone_suited_share``).
``[demand] trace_columns`` renames columns (the LFB sample replays with
``trace_columns = {time = "call_time"}`` and ``trace_service = "fire"``).

* ISO times are shifted so the simulation starts at 00:00 of the Monday on or before the first
  incident (local clock time; offsets such as ``+01:00`` or ``Z`` are converted to London time,
  and every row must then carry one). Numeric times are already simulation time.
* The horizon is midnight after the last incident: ``simulation.weeks`` is ignored, and
  ``simulation.warmup_hours`` still discards the start.
* A point more than ``TRACE_TOLERANCE_M`` outside every borough, a service the scenario does not
  have, a priority the service does not have, or an unreadable value raises
  :class:`~dronesim.errors.InputError` naming the file, the line and the column.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, input_file
from .geography import London, _columns, _need, lfb_sample, lonlat_to_bng
from .scenario import Scenario

__all__ = [
    "LFB_CELL_M",
    "TRACE_TOLERANCE_M",
    "Trace",
    "emergency_departments",
    "fire_stations",
    "lfb_call_profile",
    "lfb_sample",
    "load_trace",
    "read_trace",
    "sample_lfb_points",
]

#: LFB rounds published incident coordinates to a 50 m grid.
LFB_CELL_M = 50.0
#: Trace points this close to a borough count as inside London (the polygons stop at mean high
#: water, so incidents on the Thames or its banks lie just outside them); as for dock sites.
TRACE_TOLERANCE_M = 250.0
#: Longest span a trace may cover: the same ten years as ``simulation.weeks`` allows.
MAX_TRACE_SPAN_S = 520 * 7 * 86_400.0
#: A trace CSV parsed as text costs about this many bytes of memory per byte of file.
_CSV_MEMORY_FACTOR = 15.0
#: A trace larger than this (about a million rows) first gets a quick pass over its time
#: column alone, so a span beyond ``MAX_TRACE_SPAN_S`` is refused before the full parse.
QUICK_SPAN_BYTES = 32e6

#: Stations of the candidate list that run no pumps (the Lambeth river station: fireboats).
NO_PUMP_STATIONS = ("fire:H23",)
#: Redraw rounds for a jittered point outside London before falling back to its cell's anchor.
_JITTER_ROUNDS = 30


# --------------------------------------------------------------------------------------------
# LFB incident sample (fire demand locations)
# --------------------------------------------------------------------------------------------


def sample_lfb_points(london: London, n: int, pick: np.random.Generator,
                      jitter: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` fire incident points: a sample point each (``pick``), jittered in its cell.

    Returns ``(x, y, borough)``. Deterministic for given generator states.
    """
    smp = lfb_sample(london)
    which = pick.integers(0, len(smp), size=n)
    ax, ay = smp.anchor_x[which], smp.anchor_y[which]
    half = LFB_CELL_M / 2
    u = jitter.random((n, 2))
    x = ax + (u[:, 0] * 2 - 1) * half
    y = ay + (u[:, 1] * 2 - 1) * half
    bad = np.flatnonzero(~london.contains(x, y))
    for _ in range(_JITTER_ROUNDS):
        if bad.size == 0:
            break
        u = jitter.random((bad.size, 2))
        x[bad] = ax[bad] + (u[:, 0] * 2 - 1) * half
        y[bad] = ay[bad] + (u[:, 1] * 2 - 1) * half
        bad = bad[~london.contains(x[bad], y[bad])]
    x[bad], y[bad] = ax[bad], ay[bad]  # on London's edge: the anchor itself
    return x, y, london.borough_of(x, y, nearest=True)


# --------------------------------------------------------------------------------------------
# LAS borough volumes (ambulance demand) and the small-area weights derived from sources
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Call profiles and fire stations
# --------------------------------------------------------------------------------------------

_PROFILE_COLUMNS = {"lfb_fire": ("calls_fire", "calls_special_service")}


@functools.lru_cache(maxsize=8)
def _profile_cached(data_dir: str, kind: str) -> np.ndarray:
    path = _need(Path(data_dir) / "demand" / "call_profile_weekday_hour.csv")
    df = pd.read_csv(path)
    cols = _PROFILE_COLUMNS[kind]
    _columns(df, path, ("weekday", "hour", *cols))
    prof = np.zeros((7, 24))
    prof[df["weekday"].to_numpy(), df["hour"].to_numpy()] = (
        df[list(cols)].sum(axis=1).to_numpy(float))
    if prof.sum() <= 0:
        raise InputError(path, cols[0], "all zero")
    return prof / prof.sum()


def lfb_call_profile(london: London, kind: str) -> np.ndarray:
    """(7, 24) share of calls by weekday (0 = Monday) and hour for a profile kind."""
    return _profile_cached(str(Path(london.data_dir).resolve()), kind)


@functools.lru_cache(maxsize=4)
def fire_stations(london: London) -> pd.DataFrame:
    """LFB land stations: ``site_id``, ``name``, ``gss_code``, ``x``, ``y``, ``borough``."""
    path = _need(Path(london.data_dir) / "sites" / "candidate_sites.csv")
    df = pd.read_csv(path)
    _columns(df, path, ("site_id", "kind", "name", "gss_code", "x", "y"))
    st = df[(df["kind"] == "fire_station") & ~df["site_id"].isin(NO_PUMP_STATIONS)]
    st = st[["site_id", "name", "gss_code", "x", "y"]].reset_index(drop=True)
    if st.empty:
        raise InputError(path, "kind", "no fire_station rows")
    code_to_idx = {c: i for i, c in enumerate(london.borough_codes)}
    borough = st["gss_code"].map(code_to_idx)
    if borough.isna().any():
        raise InputError(path, "gss_code",
                         f"unknown borough code {st.loc[borough.isna(), 'gss_code'].iloc[0]}")
    st["borough"] = borough.astype(np.int64)
    return st


# --- Emergency departments (ambulance conveyance, dronesim.engine.conveyance) ------


@functools.lru_cache(maxsize=4)
def emergency_departments(london: London) -> pd.DataFrame:
    """London's type 1 emergency departments (``data/sites/emergency_departments.csv``, built by
    ``scripts/build_data.py`` from a hand-kept list, data/README.md): ``site_id``, ``name``,
    ``gss_code``, ``x``, ``y`` (EPSG:27700), ``major_trauma_centre`` and ``borough`` (index)."""
    path = _need(Path(london.data_dir) / "sites" / "emergency_departments.csv")
    df = pd.read_csv(path)
    _columns(df, path, ("site_id", "name", "gss_code", "x", "y", "major_trauma_centre"))
    if df.empty:
        raise InputError(path, "site_id", "no emergency department")
    bad = df[["x", "y"]].isna().any(axis=1)
    if bad.any():
        raise InputError(path, "x", f"missing coordinates for {df.site_id[bad].iloc[0]}")
    code_to_idx = {c: i for i, c in enumerate(london.borough_codes)}
    borough = df["gss_code"].map(code_to_idx)
    if borough.isna().any():
        raise InputError(path, "gss_code",
                         f"unknown borough code {df.loc[borough.isna(), 'gss_code'].iloc[0]}")
    df = df[["site_id", "name", "gss_code", "x", "y", "major_trauma_centre"]].copy()
    df["borough"] = borough.astype(np.int64)
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Trace files
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Trace:
    """A trace's incidents in call-time order, in simulation time (seconds from Monday 00:00)."""

    path: Path
    t_call: np.ndarray
    x: np.ndarray
    y: np.ndarray
    borough: np.ndarray
    service: np.ndarray  # index into service_names
    priority: np.ndarray
    suited: np.ndarray  # 1 / 0 as given, -1 to be drawn
    line: np.ndarray  # line of the file each incident came from (header = line 1)
    service_names: tuple[str, ...]
    start: pd.Timestamp | None  # the calendar time of t = 0 (None for numeric times)
    horizon_s: float

    def __len__(self) -> int:
        return int(self.t_call.size)


_TZ = re.compile(r"(?:Z|[+-]\d\d(?::?\d\d)?)$", re.IGNORECASE)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _fail(path: Path, lines: np.ndarray, k: int, col: str, problem: str) -> InputError:
    return InputError(path, f"line {int(lines[k])}: {col}", problem)


def _numbers(path: Path, df: pd.DataFrame, col: str, lines: np.ndarray, what: str
             ) -> np.ndarray:
    raw = df[col]
    v = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        k = bad[0]
        shown = raw.iloc[k]
        raise _fail(path, lines, k, col, f"expected {what}, got {shown!r}" if shown
                    else f"empty; expected {what}")
    return v


def _times(path: Path, raw: pd.Series, col: str, lines: np.ndarray
           ) -> tuple[np.ndarray, pd.Timestamp | None]:
    empty = np.flatnonzero(raw.to_numpy() == "")
    if empty.size:
        raise _fail(path, lines, empty[0], col, "empty; expected an ISO date-time or seconds")
    # The first row decides: seconds since the simulated Monday, or date-times (then the whole
    # column is not parsed as numbers for nothing).
    if not math.isnan(pd.to_numeric(raw.iloc[:1], errors="coerce").to_numpy(float)[0]):
        num = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(num) | (num < 0))
        if bad.size:
            raise _fail(path, lines, bad[0], col, f"expected seconds >= 0 like the first row, "
                        f"got {raw.iloc[bad[0]]!r}")
        return num, None
    aware = raw.str.contains(_TZ).to_numpy()
    mixed = np.flatnonzero(aware != aware[0])
    if mixed.size:
        raise _fail(path, lines, mixed[0], col,
                    "every time needs a UTC offset if the first row has one, and none otherwise; "
                    f"got {raw.iloc[mixed[0]]!r}")
    try:
        dt = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=bool(aware[0]))
    except (ValueError, TypeError):
        dt = pd.Series([_one_time(v, bool(aware[0])) for v in raw], index=raw.index)
    bad = np.flatnonzero(dt.isna().to_numpy())
    if bad.size:
        raise _fail(path, lines, bad[0], col,
                    f"cannot read {raw.iloc[bad[0]]!r} as an ISO date-time or seconds")
    if aware[0]:
        dt = dt.dt.tz_convert("Europe/London").dt.tz_localize(None)
    first = dt.min()
    start = first.normalize() - pd.Timedelta(days=int(first.weekday()))
    t = (dt - start).dt.total_seconds().to_numpy(float)
    return t, start


def _one_time(v: str, utc: bool) -> pd.Timestamp:
    try:
        return pd.to_datetime(v, format="ISO8601", utc=utc)
    except (ValueError, TypeError):
        return pd.NaT


def _check_span_first(path: Path, tcol: str) -> None:
    """Refuse a trace spanning more than ``MAX_TRACE_SPAN_S`` from a quick pass over its time
    column alone (pyarrow's multi-threaded reader, no other column parsed), before the full
    parse. It refuses only what the full check would; a column it cannot type (mixed, or
    named with spaces) is left to the full parse."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    try:
        col = csv.read_csv(path, convert_options=csv.ConvertOptions(
            include_columns=[tcol])).column(0)
    except (pa.ArrowException, OSError, ValueError):
        return
    if len(col) == 0 or col.null_count:
        return
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        # Seconds since the simulated Monday: the full check compares the latest with the limit.
        lo, hi = (float(v) for v in pc.min_max(col).values())
        over = hi if lo >= 0 and math.isfinite(hi) else 0.0
    elif pa.types.is_timestamp(col.type):
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        over = (hi - lo).total_seconds()  # the full check's span is at least this
    else:
        return
    if over > MAX_TRACE_SPAN_S:
        raise InputError(path, tcol,
                         f"{len(col):,} incidents reaching at least "
                         f"{over / (365.25 * 86_400):,.1f} years after the start (a first pass "
                         "over this column, before reading the rest); a trace may cover at most "
                         f"{MAX_TRACE_SPAN_S / (7 * 86_400):.0f} weeks: are the times in seconds?")


def read_trace(path: str | Path, london: London, services: Mapping[str, object], *,
               columns: Mapping[str, str] | None = None, default_service: str = "") -> Trace:
    """Read and check a trace CSV (see the module docstring for the format).

    Parameters
    ----------
    services
        The scenario's services (name -> :class:`~dronesim.inputs.scenario.ServiceSpec`), in
        scenario order; a row's service must be one of them and its priority one of the service's.
    columns
        Canonical column name -> the file's column name (``{"time": "call_time"}``).
    default_service
        Service of every row when the file has no service column (or an empty cell).
    """
    from ..limits import HEADROOM, available_memory_bytes, format_bytes

    path = input_file(path, "trace file")
    size = path.stat().st_size
    room = HEADROOM * available_memory_bytes() / _CSV_MEMORY_FACTOR
    if size > room:
        raise InputError(path, "", f"{format_bytes(size)} is more than this machine can read "
                                   f"as a trace (at most about {format_bytes(room)}); split it")
    if size > QUICK_SPAN_BYTES:
        _check_span_first(path, dict(columns or {}).get("time", "time"))
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                         encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, "", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                                   f"offset {exc.start}); save the file as UTF-8") from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise InputError(path, "", f"cannot read as CSV ({str(exc).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise InputError(path, "", "empty file") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda s: s.str.strip())
    lines_all = np.arange(len(df)) + 2
    blank = (df == "").all(axis=1).to_numpy()
    df = df.loc[~blank].reset_index(drop=True)
    lines = lines_all[~blank]
    if df.empty:
        raise InputError(path, "", "no incidents")
    colmap = dict(columns or {})

    def col(name: str) -> str | None:
        c = colmap.get(name, name)
        if c in df.columns:
            return c
        if name in colmap:
            raise InputError(path, c, f"missing column (demand.trace_columns.{name} names it)")
        return None

    # -- time
    tcol = col("time")
    if tcol is None:
        raise InputError(path, "time", "missing column (an ISO date-time or seconds)")
    t, start = _times(path, df[tcol], tcol, lines)
    span = float(t.max() - t.min()) if t.size else 0.0
    if float(t.max()) > MAX_TRACE_SPAN_S:
        k = int(np.argmax(t))
        raise _fail(path, lines, k, tcol,
                    f"{len(t):,} incidents spread over {span / (365.25 * 86_400):,.1f} years "
                    f"(this one {float(t[k]) / (365.25 * 86_400):,.1f} years after the start); "
                    f"a trace may cover at most {MAX_TRACE_SPAN_S / (7 * 86_400):.0f} weeks: "
                    "are the times in seconds?")

    # -- position
    xc, yc = col("x"), col("y")
    if xc is not None and yc is not None:
        x = _numbers(path, df, xc, lines, "an easting in metres (EPSG:27700)")
        y = _numbers(path, df, yc, lines, "a northing in metres (EPSG:27700)")
        where = f"{xc},{yc}"
    else:
        lonc, latc = col("lon"), col("lat")
        if lonc is None or latc is None:
            raise InputError(path, "x", "missing columns: give x and y (EPSG:27700) or lon and "
                             "lat (WGS84)")
        lon = _numbers(path, df, lonc, lines, "a longitude in degrees")
        lat = _numbers(path, df, latc, lines, "a latitude in degrees")
        for v, c, lim in ((lon, lonc, 180.0), (lat, latc, 90.0)):
            bad = np.flatnonzero(np.abs(v) > lim)
            if bad.size:
                raise _fail(path, lines, bad[0], c, f"{v[bad[0]]:g} is not within +-{lim:g}")
        x, y = lonlat_to_bng(lon, lat)
        where = f"{lonc},{latc}"
    inside = london.contains(x, y)
    if not inside.all():
        out = np.flatnonzero(~inside)
        gap = shapely.distance(london.outline, shapely.points(x[out], y[out]))
        far = np.flatnonzero(~(gap <= TRACE_TOLERANCE_M))
        if far.size:
            k = out[far[0]]
            raise _fail(path, lines, k, where,
                        f"({x[k]:.0f}, {y[k]:.0f}) in EPSG:27700 is outside London "
                        f"({gap[far[0]]:,.0f} m from the nearest borough)")
    borough = london.borough_of(x, y, nearest=True)

    # -- service
    names = tuple(services)
    index = {n: k for k, n in enumerate(names)}
    sc = col("service")
    if sc is None:
        if not default_service:
            raise InputError(path, "service", "missing column (or set demand.trace_service)")
        svc_names = pd.Series(default_service, index=df.index)
        scol = "service"
    else:
        svc_names = df[sc].str.lower()
        if default_service:
            svc_names = svc_names.where(svc_names != "", default_service)
        scol = sc
    service = svc_names.map(index)
    bad = np.flatnonzero(service.isna().to_numpy())
    if bad.size:
        k = bad[0]
        got = svc_names.iloc[k]
        raise _fail(path, lines, k, scol,
                    f"unknown service {got!r} (this scenario has: {', '.join(names)})" if got
                    else "empty; expected a service name")
    service = service.to_numpy(np.int64)

    # -- priority
    pc = col("priority")
    priority = np.ones(len(df), np.int64)
    if pc is not None:
        raw = df[pc]
        given = (raw != "").to_numpy()
        v = pd.to_numeric(raw.where(raw != "", "1"), errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(v) | (v != np.round(v)) | (v < 1))
        if bad.size:
            raise _fail(path, lines, bad[0], pc,
                        f"expected a whole number >= 1, got {raw.iloc[bad[0]]!r}")
        priority = v.astype(np.int64)
        levels = np.array([len(getattr(services[n], "priority_shares", (1.0,))) for n in names])
        bad = np.flatnonzero(given & (priority > levels[service]))
        if bad.size:
            k = bad[0]
            raise _fail(path, lines, k, pc,
                        f"priority {priority[k]} but services.{names[service[k]]} has "
                        f"{levels[service[k]]} priorities (priority_shares)")

    # -- drone suited
    dc = col("drone_suited")
    suited = np.full(len(df), -1, np.int8)
    if dc is not None:
        low = df[dc].str.lower()
        yes = low.isin(_TRUE).to_numpy()
        no = low.isin(_FALSE).to_numpy()
        bad = np.flatnonzero(~(yes | no | (low == "").to_numpy()))
        if bad.size:
            raise _fail(path, lines, bad[0], dc,
                        f"expected true or false, got {df[dc].iloc[bad[0]]!r}")
        suited[yes] = 1
        suited[no] = 0

    order = np.argsort(t, kind="stable")
    horizon = (math.floor(float(t.max()) / 86_400.0) + 1) * 86_400.0
    return Trace(path=path, t_call=t[order], x=np.asarray(x, float)[order],
                 y=np.asarray(y, float)[order], borough=borough[order],
                 service=service[order].astype(np.int16), priority=priority[order],
                 suited=suited[order], line=lines[order], service_names=names,
                 start=start, horizon_s=horizon)


def count_rows(path: Path, chunk_bytes: int = 1 << 22) -> int:
    """Rows of a CSV at most: its lines less the heading (blank lines and quoted line breaks
    count too), read as bytes without parsing (about a second per GB)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def load_trace(scn: Scenario, london: London) -> Trace | None:
    """The scenario's trace (``[demand] trace``), or None when demand is generated."""
    d = scn.demand
    if not d.trace:
        return None
    path = input_file(d.trace_path(scn.source), source=scn.source, field="demand.trace")
    # A trace too large to replay is refused on its line count, before the (slow) full parse.
    from ..limits import check_trace_rows

    check_trace_rows(scn, path, count_rows(path))
    return read_trace(path, london, scn.services, columns=d.trace_columns,
                      default_service=d.trace_service)
