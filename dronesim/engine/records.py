"""Records first, metrics after: one flat row per incident and one per drone mission leg.

The domain modules (ground, fleet, the dispatcher) read incident inputs and write timestamps
through :class:`Records`: Python lists indexed by an incident *key*, so a write is a list store
and nothing is allocated per event. Times are seconds since the simulated Monday 00:00; NaN means
"did not happen".

Streaming (issue 8, item 2): incidents enter in chunks of simulated time and leave as soon as
their record is complete. A chunk's incidents get a contiguous range of keys
(:meth:`Records.load`); each incident has up to two open *sides* (the ground response until a
unit is dispatched, the drone side until its outcome is final), and the domain modules call
:meth:`Records.side_done` when a side closes. A chunk whose sides are all closed is taken out
(:meth:`Records.take`) as an :class:`IncidentChunk` of numpy columns, and its keys are reused.
Memory therefore holds only the chunks still in play, whatever the run length.

Legs written once (../shared/design/PERFORMANCE.md, techniques 2 and 6): a drone's mission leg
is logged as one row (:data:`LEG_FIELDS`) when it ends, and an assignment that ends without a
leg (stood down, given up) as one shorter row (:data:`STAND_DOWN_FIELDS`). The incident's drone
columns that follow from them (assigned, pilot, launch, on scene, leave, landed, leave reason,
distance, authorisation delay, dock, drone) are not written one element at a time on the hot
path: they are numpy arrays by key, filled from the rows in bulk when the rows are taken
(:meth:`Records.take_missions`), which happens before any chunk they belong to leaves. So is
the drone outcome (written in bulk at load, from the legs, and one element at a time only on
rare paths) and the decision time. Columns other modules write one element at a time while the
run goes on (ground timestamps) or read (``drone_id``, which the ground side reads to tell the
fleet of an arrival; decision times, read by waits) are Python lists; a list column nothing
writes in a run (:attr:`Records.unwritten`) is not copied at all.

The table columns and dtypes are those of :func:`incident_frame` / :func:`mission_frame` (the
``incidents.parquet`` / ``missions.parquet`` contract); :mod:`dronesim.kpis.statistics` and
:mod:`dronesim.engine.aggregates` derive every KPI from them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import starmap
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..inputs.demand import Incidents

__all__ = ["Records", "IncidentChunk", "MissionChunk", "DRONE_OUTCOMES", "LEAVE_REASONS",
           "MISSION_COLUMNS", "MISSION_FLAGS", "LEG_FIELDS", "STAND_DOWN_FIELDS", "OUTCOME",
           "LEAVE", "GROUNDED_REASONS",
           "incident_frame", "mission_frame"]

#: Outcome of the drone side of an incident (stored as a category in the tables).
DRONE_OUTCOMES = (
    "not_suited",  # no drone asked for (service or incident type)
    "on_scene",  # a drone reached the scene
    "out_of_range",  # no dock within range
    "declined",  # the policy chose not to send a drone
    "queue_abandoned",  # waited longer than max_queue_wait_s, or ground arrived first
    "cancelled",  # drone assigned, but ground on scene before launch
    "pending",  # still waiting when the run ended
    "no_link",  # outside the service's link coverage, and such flights are refused
    "grounded",  # the fleet was grounded (weather, night) at the decision or at launch
    "fault",  # the drone had a fault on the way and turned back before reaching the scene
)
OUTCOME = {name: k for k, name in enumerate(DRONE_OUTCOMES)}
#: Reasons a grounded incident got no drone: dronesim.inputs.weather.REASONS, "" = not grounded.
GROUNDED_REASONS = ("", "wind", "rain", "visibility", "cloud", "night")

LEAVE_REASONS = ("", "ground_arrived", "battery", "task_done", "preempted", "fault",
                 "resolved")
LEAVE = {name: k for k, name in enumerate(LEAVE_REASONS)}

_INT_DEFAULT = {"drone_outcome": OUTCOME["not_suited"], "drone_leave_reason": 0,
                "link_outside": 0, "grounded_reason": 0, "drone_resolved": 0,
                "relief_drones": 0}
_INT_DEFAULT["conveyed"] = 0  # conveyance (dronesim.engine.conveyance): not conveyed

#: A mission leg as the fleet logs it (:attr:`Records.legs`; the fleet's mission in flight
#: has this layout, so it is logged as it stands): the incident's key; its assignment time,
#: flight length and authorisation delay; the leg's pilot time, launch and launch charge; the
#: drone's launch and launch charge (of its first leg, when a leg was pre-empted); on scene,
#: latest leave (battery), flight home, leave, end (landing, or hand-over to the next
#: incident), why the drone left the scene (:data:`LEAVE`; "preempted": the leg ended by a
#: hand-over), the drone, and the leg's :data:`MISSION_FLAGS` bits (a fault in flight, a
#: relief leg; a relief leg does not write its incident's drone columns: it has its own
#: ``relief_*`` columns). The charge at the end is the drone's launch charge less the time
#: flown since its launch. A leg that turned back with a fault before reaching the scene has
#: no on-scene time (NaN) and the flag ``fault``: its incident's outcome is ``fault``.
LEG_FIELDS = ("key", "t_assigned", "distance", "delay", "t_pilot", "t_launch",
              "battery_launch", "drone_launch", "drone_battery", "t_on_scene", "latest",
              "back", "t_leave", "t_end", "reason", "drone", "flags")
(LEG_KEY, LEG_ASSIGNED, LEG_DIST, LEG_DELAY, LEG_PILOT, LEG_LAUNCH, LEG_BATTERY,
 LEG_DRONE_LAUNCH, LEG_DRONE_BATTERY, LEG_SCENE, LEG_LATEST, LEG_BACK, LEG_LEAVE, LEG_END,
 LEG_REASON, LEG_DRONE, LEG_FLAGS) = range(len(LEG_FIELDS))
#: An assignment that ended without a leg (:attr:`Records.stood_down`).
STAND_DOWN_FIELDS = ("key", "drone", "t_assigned", "t_pilot", "distance", "delay")
#: One row per mission leg. A leg ended by pre-emption has ``redirected`` true and ``t_landed``
#: is when the drone left for the next incident (it did not land).
MISSION_COLUMNS = ("drone_id", "dock_id", "incident", "t_assigned", "t_pilot", "t_launch",
                   "t_on_scene", "t_leave", "t_landed", "battery_launch_s", "battery_landed_s",
                   "redirected")
_MISSION_INT = ("drone_id", "dock_id", "incident")
#: Flags of a mission leg (columns after ``service``): ``fault``, the drone had a fault in
#: flight on this leg (dronesim.engine.availability); ``relief``, the leg relieved another drone on
#: scene.
MISSION_FLAGS = {"fault": 1, "relief": 2}
_ON_SCENE = OUTCOME["on_scene"]
_PREEMPTED = LEAVE["preempted"]
_RELIEF = MISSION_FLAGS["relief"]


@dataclass(eq=False)
class MissionChunk:
    """Mission legs logged since the last chunk, as numpy columns in table order
    (categorical columns as integer codes into ``categories``)."""

    columns: dict[str, np.ndarray]
    categories: dict[str, tuple[str, ...]]
    #: String columns also held as codes into labels (``gss_code``, ``mutual_aid_from``):
    #: :meth:`to_pandas` builds them from the codes, in a twelfth of the time pandas takes to
    #: convert the strings (the table's column is the same).
    coded: dict[str, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(next(iter(self.columns.values())).size)

    def to_pandas(self, copy: bool = True) -> pd.DataFrame:
        """The chunk as rows of its table (the dtypes of the Parquet files).

        ``copy=False`` lets the table share the chunk's arrays (no copy into consolidated
        blocks): for arrays nobody else holds, or a table that is only read and dropped."""
        data = {}
        for name, col in self.columns.items():
            cats = self.categories.get(name)
            if cats is not None:
                data[name] = pd.Categorical.from_codes(col, categories=list(cats))
            elif name in self.coded and _STR_DTYPE is not None:
                data[name] = _decoded(*self.coded[name])
            else:
                data[name] = col
        return pd.DataFrame(data, copy=copy)


#: The dtype pandas gives a column of strings, when it is pyarrow-backed (pandas 3): coded
#: string columns are then built straight in it (``_decoded``); otherwise from the strings.
_STR_DTYPE = pd.Series(np.array(["a"])).dtype
if not (isinstance(_STR_DTYPE, pd.StringDtype) and _STR_DTYPE.storage == "pyarrow"):
    _STR_DTYPE = None


def _decoded(codes: np.ndarray, labels: tuple[str, ...]) -> pd.api.extensions.ExtensionArray:
    """The strings ``labels[codes]`` as a column of pandas' string dtype (a dictionary
    decoded by pyarrow: no Python string per row)."""
    import pyarrow as pa

    codes = np.asarray(codes, np.int64) % max(len(labels), 1)  # (-1: the last, as numpy)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                         pa.array(list(labels), pa.string()))
    return pd.array(arr.dictionary_decode(), dtype=_STR_DTYPE)


@dataclass(eq=False)
class IncidentChunk(MissionChunk):
    """Finished incident records of one chunk, as numpy columns in table order.

    ``columns`` holds every column of the incident table; categorical columns (``service``,
    ``drone_outcome``, ``drone_leave_reason``) as integer codes into ``categories``, and
    ``gss_code`` as strings. ``borough`` is the borough index of each row (for aggregates).
    """

    borough: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _joined(chunks: list, empty: IncidentChunk | MissionChunk, skip: frozenset = frozenset()
            ) -> dict[str, np.ndarray]:
    """Columns of the chunks end to end, in new arrays (one copy, no intermediate tables; a
    chunk's columns may be views of the caller's incidents). Columns in ``skip`` (built from
    their codes) are left empty."""
    chunks = [c for c in chunks if len(c)] or [empty]
    if len(chunks) == 1:
        return {name: col.copy() if name not in skip else col[:0]
                for name, col in chunks[0].columns.items()}
    return {name: np.concatenate([c.columns[name] for c in chunks]) if name not in skip
            else empty.columns[name] for name in empty.columns}


def _joined_codes(chunks: list, empty: IncidentChunk | MissionChunk
                  ) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """The coded string columns of the chunks end to end (those coded alike in every one)."""
    chunks = [c for c in chunks if len(c)] or [empty]
    out = {}
    for name, (_, labels) in chunks[0].coded.items():
        if all(name in c.coded and c.coded[name][1] == labels for c in chunks):
            out[name] = (np.concatenate([c.coded[name][0] for c in chunks]), labels)
    return out


def incident_frame(chunks: list[IncidentChunk], empty: IncidentChunk) -> pd.DataFrame:
    """One table from chunks (``empty`` gives the columns and dtypes when there are none)."""
    return _frame(IncidentChunk, chunks, empty)


def mission_frame(chunks: list[MissionChunk], empty: MissionChunk) -> pd.DataFrame:
    return _frame(MissionChunk, chunks, empty)


def _frame(kind: type, chunks: list, empty: IncidentChunk | MissionChunk) -> pd.DataFrame:
    coded = _joined_codes(chunks, empty)
    skip = frozenset(coded) if _STR_DTYPE is not None else frozenset()
    return kind(_joined(chunks, empty, skip), empty.categories, coded=coded
                ).to_pandas(copy=False)


class _Range:
    """A live chunk: its keys ``start .. start + n``, first incident id, inputs, open sides."""

    __slots__ = ("chunk", "start", "n", "first_id", "inc", "open")

    def __init__(self, chunk: int, start: int, n: int, first_id: int, inc: Incidents) -> None:
        self.chunk, self.start, self.n, self.first_id, self.inc = chunk, start, n, first_id, inc
        self.open = 0


#: The kinds of :class:`Records` attribute by key, as annotation metadata (see there).
_INPUT, _LIST, _LEGS, _ARRAY = "input", "list", "legs", "array"
_T = TypeVar("_T")
_S = TypeVar("_S", bound=np.generic)
#: An incident input by key (a Python list, copied from the chunk's :class:`Incidents`).
_Input = Annotated[list[_T], _INPUT]
#: A result written one element at a time while the run goes on (a Python list).
_Result = Annotated[list[_T], _LIST]
#: A drone result filled in bulk from the leg and stand-down rows (a numpy array).
_ByLeg = Annotated[npt.NDArray[_S], _LEGS]
#: Other bookkeeping by key held as a numpy array (written in bulk).
_ByKey = Annotated[npt.NDArray[_S], _ARRAY]


@dataclass(slots=True, init=False, repr=False, eq=False)
class Records:
    """Incident inputs and results by key, for the chunks of one replication still in play.

    Columns written one element at a time are Python lists (faster than numpy for that); the
    lists keep their identity for the whole run, so the domain modules may hold references to
    them. The drone columns that follow from legs are numpy arrays by key, filled in bulk (see
    the module docstring); ``legs`` and ``stood_down`` are the logs the fleet appends rows to
    (their identity is kept too). ``gid`` is the incident id (call-time order over the whole
    replication) of each key. ``drone_dock`` (the dock of each drone, set by the model) gives
    ``dock_id``.

    Every attribute is declared once, below: its name, its type and, for the columns by key,
    its kind (``_Input``, ``_Result``, ``_ByLeg``, ``_ByKey``), from which the column groups
    (:data:`_INPUTS`, :data:`_FLOAT_COLS`, ...) are read and :meth:`__init__` creates every
    column. The result columns are declared in table order. The dataclass only gives the
    declaration its ``__slots__`` (as Fleet's: more than 30 attributes in a ``__dict__`` are
    read through a dictionary lookup); it makes no ``__init__``, ``__eq__`` or ``__repr__``.
    """

    # --- incident inputs ---------------------------------------------------------------------
    t_call: _Input[float]
    x: _Input[float]
    y: _Input[float]
    borough: _Input[int]
    service: _Input[int]
    priority: _Input[int]
    suited: _Input[bool]
    handling_s: _Input[float]
    turnout_s: _Input[float]
    travel_factor: _Input[float]
    ground_on_scene_s: _Input[float]
    drone_loiter_s: _Input[float]
    # --- float results, in table order -------------------------------------------------------
    t_drone_decision: _Result[float]
    t_drone_assigned: _ByLeg[np.float64]
    t_pilot: _ByLeg[np.float64]
    t_launch: _ByLeg[np.float64]
    t_drone_on_scene: _ByLeg[np.float64]
    t_drone_leave: _ByLeg[np.float64]
    t_drone_landed: _ByLeg[np.float64]
    drone_distance_m: _ByLeg[np.float64]
    t_ground_dispatch: _Result[float]
    t_ground_arrival: _Result[float]
    t_ground_clear: _Result[float]
    ground_distance_m: _Result[float]
    airspace_delay_s: _ByLeg[np.float64]
    t_sector: _Result[float]
    t_relief_on_scene: _Result[float]
    t_relief_leave: _Result[float]
    relief_gap_s: _Result[float]
    # Conveyance to hospital (dronesim.engine.conveyance): arrival at the ED, end of handover.
    t_hospital_arrival: _Result[float]
    t_handover_end: _Result[float]
    # --- integer results ---------------------------------------------------------------------
    drone_id: _Result[int]
    ground_unit: _Result[int]
    preempted_by: _Result[int]
    link_outside: _Result[int]
    mutual_aid_from: _Result[int]
    grounded_reason: _Result[int]
    drone_resolved: _Result[int]
    relief_drones: _Result[int]
    relief_drone_id: _Result[int]
    # Conveyance (dronesim.engine.conveyance): conveyed 0/1, the ED's index (-1: none).
    conveyed: _Result[int]
    hospital: _Result[int]
    dock_id: _ByLeg[np.int64]
    drone_leave_reason: _ByLeg[np.int64]
    #: The drone side's outcome by key (a numpy array: written in bulk at load and from the
    #: legs, one element at a time only on rare paths: queued, declined, abandoned, cancelled).
    drone_outcome: _ByKey[np.int8]
    # --- bookkeeping by key ------------------------------------------------------------------
    _on_scene: _ByKey[np.bool_]  # a leg reached the scene
    _decision: _ByKey[np.float64]  # t_drone_decision, as written in bulk (set_decision)
    _drone: _ByKey[np.int64]  # drone_id for the table, from the rows
    _gid: _ByKey[np.int64]  # gid and service by key, for the legs' rows
    _service: _ByKey[np.int8]
    gid: list[int]
    rank: list[int]
    #: The live chunk of each key; ``range_of[key].open -= 1`` closes one side (hot paths do it
    #: inline, :meth:`side_done` is the same as a call). Keys not loaded hold 0 (never read).
    range_of: list[_Range]
    # --- the rest ----------------------------------------------------------------------------
    drone_dock: npt.NDArray[np.int64]
    legs: list[list[Any]]
    stood_down: list[tuple[Any, ...]]
    _leg_blocks: list[np.ndarray]  # legs already packed (pack_legs)
    _ranges: list[_Range]  # live chunks, in load order
    _next_chunk: int
    _next_id: int
    replication: int
    service_names: tuple[str, ...]
    borough_codes: np.ndarray
    size: int
    unread: frozenset[str]
    unwritten: frozenset[str]

    def __init__(self, replication: int, service_names: tuple[str, ...],
                 borough_codes: np.ndarray) -> None:
        self.replication = replication
        self.service_names = service_names
        self.borough_codes = borough_codes
        self.size = 0
        for col in _INPUTS + _LIST_FLOAT + _INT_COLS:
            setattr(self, col, [])
        for col, scalar in _ARRAY_DTYPES.items():
            setattr(self, col, np.zeros(0, scalar))
        self.drone_dock = np.zeros(0, np.int64)
        self.gid = []
        self.rank = []
        self.range_of = []
        self.legs = []
        self.stood_down = []
        self._leg_blocks = []
        self._ranges = []
        self._next_chunk = 0
        self._next_id = 0
        #: Inputs by key nobody reads in this run (set by the model): not copied into their
        #: lists. ``suited`` and ``handling_s`` are read only as whole columns.
        self.unread = frozenset(("suited", "handling_s"))
        #: List columns nothing writes in this run (set by the model, e.g. the ground columns
        #: without a ground response): neither reset on loading nor copied on leaving; their
        #: chunks get the default value.
        self.unwritten = frozenset()

    # --- keys ----------------------------------------------------------------------------------
    def _allocate(self, n: int) -> int:
        """First free run of ``n`` keys among the live ranges; grows the lists if none."""
        spans = sorted((r.start, r.start + r.n) for r in self._ranges)
        lo = 0
        for a, b in spans:
            if a - lo >= n:
                return lo
            lo = max(lo, b)
        if self.size - lo < n:
            grow = lo + n - self.size
            nan_pad = [math.nan] * grow
            for col in _LIST_FLOAT + _INPUTS:
                getattr(self, col).extend(nan_pad)
            for col in _INT_COLS:
                getattr(self, col).extend([0] * grow)
            for col in ("gid", "rank", "range_of"):
                getattr(self, col).extend([0] * grow)
            for col in _ARRAY_DTYPES:
                a = getattr(self, col)
                setattr(self, col, np.concatenate([a, np.zeros(grow, a.dtype)]))
            self.size += grow
        return lo

    def load(self, inc: Incidents, rank: np.ndarray) -> tuple[int, int]:
        """Give a chunk's incidents (in call-time order) keys; returns ``(chunk id, first key)``.

        Results start as "did not happen"; the chunk has no open side until :meth:`open` says.
        """
        n = len(inc)
        start = self._allocate(n)
        cid = self._next_chunk
        self._next_chunk += 1
        sl = slice(start, start + n)
        for col in _INPUTS:
            if col not in self.unread:
                getattr(self, col)[sl] = getattr(inc, col).tolist()
        nan_block = [math.nan] * n
        unwritten = self.unwritten
        for col in _LIST_FLOAT:
            if col not in unwritten:
                getattr(self, col)[sl] = nan_block
        for col in _INT_COLS:
            if col not in unwritten:
                getattr(self, col)[sl] = [_INT_DEFAULT.get(col, -1)] * n
        for col in _ROW_FLOAT:
            getattr(self, col)[sl] = np.nan
        for col in _ROW_INT:
            getattr(self, col)[sl] = _INT_DEFAULT.get(col, -1)
        self._on_scene[sl] = False
        self.drone_outcome[sl] = _INT_DEFAULT["drone_outcome"]
        self._decision[sl] = np.nan
        self._drone[sl] = -1
        self._gid[sl] = np.arange(self._next_id, self._next_id + n)
        self._service[sl] = inc.service
        self.gid[sl] = range(self._next_id, self._next_id + n)
        self.rank[sl] = rank.tolist()
        r = _Range(cid, start, n, self._next_id, inc)
        self.range_of[sl] = [r] * n
        self._ranges.append(r)
        self._next_id += n
        return cid, start

    def open(self, chunk: int, sides: int) -> None:
        """``sides`` incident sides of ``chunk`` will close through :meth:`side_done`."""
        for r in self._ranges:
            if r.chunk == chunk:
                r.open += sides
                return
        raise KeyError(chunk)

    def side_done(self, key: int) -> None:
        """One side (ground or drone) of the incident with this key is final."""
        self.range_of[key].open -= 1

    def set_decision(self, sl: slice, t: np.ndarray) -> None:
        """The drone decision times of a chunk's keys (NaN: no decision)."""
        self.t_drone_decision[sl] = t.tolist()
        self._decision[sl] = t

    def write(self, col: str, keys: np.ndarray, values: np.ndarray) -> None:
        """Set a result column for several keys at once (vectorised outcomes at load)."""
        lst = getattr(self, col)
        for k, v in zip(keys.tolist(), values.tolist()):
            lst[k] = v

    # --- leaving -------------------------------------------------------------------------------
    def finished(self, force: bool = False) -> list[IncidentChunk]:
        """Take out the leading chunks whose incidents are all closed (all of them if
        ``force``), in incident order."""
        out = []
        while self._ranges and (force or self._ranges[0].open == 0):
            if not force and self._ranges[0].open < 0:
                raise RuntimeError("an incident side was closed twice")
            out.append(self._take(self._ranges.pop(0)))
        return out

    @property
    def live(self) -> int:
        """Incidents held (live chunks)."""
        return sum(r.n for r in self._ranges)

    def _take(self, r: _Range) -> IncidentChunk:
        sl = slice(r.start, r.start + r.n)
        inc = r.inc
        cols: dict[str, np.ndarray] = {
            "incident_id": np.arange(r.first_id, r.first_id + r.n, dtype=np.int64),
            "replication": np.full(r.n, self.replication, np.int32),
            "t_call": inc.t_call,
            "x": inc.x,
            "y": inc.y,
            "gss_code": self.borough_codes[inc.borough],
            "service": inc.service.astype(np.int8),
            "priority": inc.priority.astype(np.int8),
            "drone_suited": inc.suited,
        }
        unwritten = self.unwritten
        for col in _FLOAT_COLS:
            if col in _ROW_FLOAT:
                cols[col] = getattr(self, col)[sl].copy()
            elif col == "t_drone_decision":
                cols[col] = self._decision[sl].copy()
            elif col in unwritten:
                cols[col] = np.full(r.n, np.nan)
            else:
                cols[col] = np.array(getattr(self, col)[sl], np.float64)

        def ints(col: str, dtype: type) -> np.ndarray:
            if col in unwritten:
                return np.full(r.n, _INT_DEFAULT.get(col, -1), dtype)
            return np.array(getattr(self, col)[sl], dtype)

        for col in ("drone_id", "dock_id", "ground_unit", "preempted_by", "relief_drone_id"):
            if col == "drone_id":
                cols[col] = self._drone[sl].astype(np.int32)
            elif col in _ROW_INT:
                cols[col] = getattr(self, col)[sl].astype(np.int32)
            else:
                cols[col] = ints(col, np.int32)
        # Relief drones (dronesim.engine.relief): how many took over the scene.
        cols["relief_drones"] = ints("relief_drones", np.int16)
        cols["link_outside"] = ints("link_outside", bool)
        # The drone on scene resolved the incident alone: no ground unit was sent.
        cols["drone_resolved"] = ints("drone_resolved", bool)
        # Conveyance to hospital (dronesim.engine.conveyance): conveyed, and the ED's index
        # into dronesim.inputs.sources.emergency_departments (-1: not conveyed).
        cols["conveyed"] = ints("conveyed", bool)
        cols["hospital"] = ints("hospital", np.int16)
        # Mutual aid: GSS code of the borough whose unit came (ground.py), "" for none.
        codes = self.borough_codes
        labels = tuple(codes.tolist())
        coded = {"gss_code": (inc.borough, labels)}
        if "mutual_aid_from" in unwritten:  # (the dtype np.where gives below)
            cols["mutual_aid_from"] = np.full(r.n, "", np.where(False, codes[:1], "").dtype)
            coded["mutual_aid_from"] = (np.zeros(r.n, np.int64), ("",))
        else:
            aid = ints("mutual_aid_from", np.int64)
            cols["mutual_aid_from"] = np.where(aid >= 0, codes[np.maximum(aid, 0)], "")
            coded["mutual_aid_from"] = (np.maximum(aid, -1) + 1, ("", *labels))
        outcome = self.drone_outcome[sl].copy()
        outcome[self._on_scene[sl]] = _ON_SCENE
        cols["drone_outcome"] = outcome
        cols["drone_leave_reason"] = self.drone_leave_reason[sl].astype(np.int8)
        # Why a grounded incident got no drone (dronesim.inputs.weather.REASONS; "" otherwise).
        cols["grounded_reason"] = ints("grounded_reason", np.int8)
        cols["drone_response_s"] = cols["t_drone_on_scene"] - inc.t_call
        cols["ground_response_s"] = cols["t_ground_arrival"] - inc.t_call
        return IncidentChunk(cols, self.categories, coded,
                             borough=np.asarray(inc.borough, np.int64))

    @property
    def categories(self) -> dict[str, tuple[str, ...]]:
        return {"service": self.service_names, "drone_outcome": DRONE_OUTCOMES,
                "drone_leave_reason": LEAVE_REASONS, "grounded_reason": GROUNDED_REASONS}

    def empty_chunk(self) -> IncidentChunk:
        """No incident, with every column typed."""
        empty = Incidents(**{c: np.zeros(0, float) for c in _INPUTS if c not in (
            "borough", "service", "priority", "suited")},
            borough=np.zeros(0, np.int64), service=np.zeros(0, np.int16),
            priority=np.zeros(0, np.int16), suited=np.zeros(0, bool),
            service_names=self.service_names)
        return self._take(_Range(-1, 0, 0, 0, empty))

    #: Legs packed into an array at a time (see pack_legs). 256 rows (about 100 kB with their
    #: floats) are still in the L2 cache when packed; blocks of 2,048 were not, and packing them
    #: cost a quarter more (benchmark, 9 and 200 drones).
    LEG_BLOCK = 256

    def pack_legs(self) -> None:
        """Pack the legs logged so far into an array (the fleet calls this every
        :attr:`LEG_BLOCK` legs): rows read while they are recent (in cache) and freed at once
        cost about half as much as a week of London-wide legs read at the chunk's end."""
        self._leg_blocks.append(_table(self.legs, len(LEG_FIELDS)))
        del self.legs[:]

    def log_leg(self, row: list) -> None:
        """Log a finished leg (a row of :data:`LEG_FIELDS`), packing every :attr:`LEG_BLOCK`
        legs. (The fleet's landing, the hot path, does the same inline.)"""
        legs = self.legs
        legs.append(row)
        if len(legs) >= self.LEG_BLOCK:
            self.pack_legs()

    def take_missions(self) -> MissionChunk:
        """The mission legs logged since the last call, as a chunk of the mission table; their
        incidents' drone columns (and those of stood-down assignments) are filled on the way.
        Both logs are emptied. Call it before :meth:`finished`."""
        if self.stood_down:
            rows = _table(self.stood_down, len(STAND_DOWN_FIELDS))
            del self.stood_down[:]
            key, d = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
            self.t_drone_assigned[key] = rows[:, 2]
            self.t_pilot[key] = rows[:, 3]
            self.drone_distance_m[key] = rows[:, 4]
            self.airspace_delay_s[key] = rows[:, 5]
            self.dock_id[key] = self.drone_dock[d]
            self._drone[key] = d
        self.pack_legs()
        blocks = self._leg_blocks
        rows = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        blocks.clear()
        key, d = rows[:, LEG_KEY].astype(np.int64), rows[:, LEG_DRONE].astype(np.int64)
        reason = rows[:, LEG_REASON].astype(np.int64)
        redirected = reason == _PREEMPTED
        t_end = rows[:, LEG_END]
        flags = rows[:, LEG_FLAGS].astype(np.int64)
        dock = self.drone_dock[d]
        if flags.any():
            # Relief legs (dronesim.engine.relief) have their own incident columns (relief_*): the
            # incident's drone columns are those of its own drone's leg. A leg that turned
            # back with a fault before the scene (on scene NaN) did not reach it.
            own = (flags & _RELIEF) == 0
            reached = own & (rows[:, LEG_SCENE] == rows[:, LEG_SCENE])
            self._fill(rows[own], key[own], d[own], dock[own], redirected[own], t_end[own],
                       reason[own])
            self._on_scene[key[reached]] = True
        else:
            self._fill(rows, key, d, dock, redirected, t_end, reason)
            self._on_scene[key] = True
        data: dict[str, np.ndarray] = {
            "replication": np.full(key.size, self.replication, np.int32),
            "drone_id": d, "dock_id": dock, "incident": self._gid[key],
            "t_assigned": rows[:, LEG_ASSIGNED], "t_pilot": rows[:, LEG_PILOT],
            "t_launch": rows[:, LEG_LAUNCH], "t_on_scene": rows[:, LEG_SCENE],
            "t_leave": rows[:, LEG_LEAVE], "t_landed": t_end,
            "battery_launch_s": rows[:, LEG_BATTERY],
            "battery_landed_s": rows[:, LEG_DRONE_BATTERY] - (t_end - rows[:, LEG_DRONE_LAUNCH]),
            "redirected": redirected, "service": self._service[key].astype(np.int8)}
        for name, bit in MISSION_FLAGS.items():
            data[name] = (flags & bit) > 0
        return MissionChunk({k: np.ascontiguousarray(v) for k, v in data.items()},
                            {"service": self.service_names})

    def _fill(self, rows: np.ndarray, key: np.ndarray, d: np.ndarray, dock: np.ndarray,
              redirected: np.ndarray, t_end: np.ndarray, reason: np.ndarray) -> None:
        """The incidents' drone columns from their legs' rows (see take_missions)."""
        self.t_drone_assigned[key] = rows[:, LEG_ASSIGNED]
        self.t_pilot[key] = rows[:, LEG_PILOT]
        self.t_launch[key] = rows[:, LEG_LAUNCH]
        self.t_drone_on_scene[key] = rows[:, LEG_SCENE]
        self.t_drone_leave[key] = rows[:, LEG_LEAVE]
        landed = ~redirected  # a pre-empted leg did not land (its t_end is the hand-over)
        self.t_drone_landed[key[landed]] = t_end[landed]
        self.drone_leave_reason[key] = reason
        self.drone_distance_m[key] = rows[:, LEG_DIST]
        self.airspace_delay_s[key] = rows[:, LEG_DELAY]
        self.dock_id[key] = dock
        self._drone[key] = d

    def empty_missions(self) -> MissionChunk:
        """The typed empty chunk of the mission table (the columns and dtypes of
        :meth:`take_missions`'s chunks)."""
        data: dict[str, np.ndarray] = {"replication": np.zeros(0, np.int32)}
        for name in MISSION_COLUMNS:
            data[name] = np.zeros(0, np.int64 if name in _MISSION_INT
                                  else bool if name == "redirected" else np.float64)
        data["service"] = np.zeros(0, np.int8)
        for name in MISSION_FLAGS:
            data[name] = np.zeros(0, bool)
        return MissionChunk(data, {"service": self.service_names})


def _column_groups() -> dict[str, tuple[str, ...]]:
    """The column groups, by kind (and, for results, element type), from the declaration of
    :class:`Records` (in declaration order)."""
    groups: dict[str, list[str]] = {}
    for name, hint in get_type_hints(Records, include_extras=True).items():
        if get_origin(hint) is not Annotated:
            continue
        kind = hint.__metadata__[0]
        base = hint.__origin__
        if kind in (_INPUT, _LIST):
            scalar = get_args(base)[0]
        else:  # a numpy array: its scalar type is the dtype's parameter
            scalar = get_args(get_args(base)[1])[0]
            _ARRAY_DTYPES[name] = scalar
        groups.setdefault(kind, []).append(name)
        if kind == _INPUT:
            continue
        groups.setdefault(f"{kind} {scalar.__name__}", []).append(name)
        if scalar in (float, np.float64):
            groups.setdefault("float", []).append(name)
    return {k: tuple(v) for k, v in groups.items()}


#: numpy dtype of each array column of :class:`Records`, in declaration order.
_ARRAY_DTYPES: dict[str, type[np.generic]] = {}
_GROUPS = _column_groups()
#: Incident inputs the domain modules read by key (see :class:`~dronesim.inputs.demand.Incidents`).
_INPUTS = _GROUPS[_INPUT]
#: Float result columns, in table order.
_FLOAT_COLS = tuple(c for c in _GROUPS["float"] if c in _GROUPS[_LIST] + _GROUPS[_LEGS])
#: Result columns filled from leg and stand-down rows: numpy arrays by key (see the module
#: docstring); the others are Python lists.
_ROW_FLOAT = _GROUPS[f"{_LEGS} float64"]
_ROW_INT = _GROUPS[f"{_LEGS} int64"]
_LIST_FLOAT = _GROUPS[f"{_LIST} float"]
_INT_COLS = _GROUPS[f"{_LIST} int"]


def _table(rows: Sequence[Sequence[Any]], width: int) -> np.ndarray:
    """Rows of numbers as one float array: each row packed as C doubles by one
    :class:`struct.Struct` call into one buffer, viewed as an array (a third of the time of
    ``np.fromiter`` over the chained rows, which converts element by element). Integers in the
    rows (keys, drone ids, codes) are far below 2**53, so they come back exactly."""
    row = _ROW_STRUCTS.get(width)
    if row is None:
        row = _ROW_STRUCTS[width] = struct.Struct(f"{width}d")
    return np.frombuffer(bytearray().join(starmap(row.pack, rows)), np.float64
                         ).reshape(len(rows), width)


_ROW_STRUCTS: dict[int, struct.Struct] = {}
