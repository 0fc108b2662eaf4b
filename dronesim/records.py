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

The table columns and dtypes are those of :func:`incident_frame` / :func:`mission_frame` (the
``incidents.parquet`` / ``missions.parquet`` contract); :mod:`dronesim.metrics` and
:mod:`dronesim.aggregates` derive every KPI from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .demand import Incidents

__all__ = ["Records", "IncidentChunk", "MissionChunk", "DRONE_OUTCOMES", "LEAVE_REASONS",
           "MISSION_COLUMNS", "MISSION_FLAGS", "OUTCOME", "LEAVE", "GROUNDED_REASONS",
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
#: Reasons a grounded incident got no drone: dronesim.weather.REASONS, "" = not grounded.
GROUNDED_REASONS = ("", "wind", "rain", "visibility", "cloud", "night")

LEAVE_REASONS = ("", "ground_arrived", "battery", "task_done", "preempted", "fault",
                 "resolved")
LEAVE = {name: k for k, name in enumerate(LEAVE_REASONS)}

_FLOAT_COLS = (
    "t_drone_decision", "t_drone_assigned", "t_pilot", "t_launch", "t_drone_on_scene",
    "t_drone_leave", "t_drone_landed", "drone_distance_m", "t_ground_dispatch",
    "t_ground_arrival", "t_ground_clear", "ground_distance_m", "airspace_delay_s", "t_sector",
    "t_relief_on_scene", "t_relief_leave", "relief_gap_s",
)
_INT_COLS = ("drone_id", "dock_id", "ground_unit", "drone_outcome", "drone_leave_reason",
             "preempted_by", "link_outside", "mutual_aid_from", "grounded_reason",
             "drone_resolved", "relief_drones", "relief_drone_id")
_INT_DEFAULT = {"drone_outcome": OUTCOME["not_suited"], "drone_leave_reason": 0,
                "link_outside": 0, "grounded_reason": 0, "drone_resolved": 0,
                "relief_drones": 0}
#: Incident inputs the domain modules read by key (see :class:`~dronesim.demand.Incidents`).
_INPUTS = ("t_call", "x", "y", "borough", "service", "priority", "suited", "handling_s",
           "turnout_s", "travel_factor", "ground_on_scene_s", "drone_loiter_s")

#: One row per mission leg. A leg ended by pre-emption has ``redirected`` true and ``t_landed``
#: is when the drone left for the next incident (it did not land).
MISSION_COLUMNS = ("drone_id", "dock_id", "incident", "t_assigned", "t_pilot", "t_launch",
                   "t_on_scene", "t_leave", "t_landed", "battery_launch_s", "battery_landed_s",
                   "redirected")
_MISSION_INT = ("drone_id", "dock_id", "incident")
#: Flags of a mission leg (columns after ``service``): ``fault``, the drone had a fault in
#: flight on this leg (dronesim.availability); ``relief``, the leg relieved another drone on
#: scene.
MISSION_FLAGS = {"fault": 1, "relief": 2}


@dataclass(eq=False)
class MissionChunk:
    """Mission legs logged since the last chunk, as numpy columns in table order
    (categorical columns as integer codes into ``categories``)."""

    columns: dict[str, np.ndarray]
    categories: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return int(next(iter(self.columns.values())).size)

    def to_pandas(self) -> pd.DataFrame:
        """The chunk as rows of its table (the dtypes of the Parquet files)."""
        data = {}
        for name, col in self.columns.items():
            cats = self.categories.get(name)
            data[name] = (pd.Categorical.from_codes(col, categories=list(cats))
                          if cats is not None else col)
        return pd.DataFrame(data)


@dataclass(eq=False)
class IncidentChunk(MissionChunk):
    """Finished incident records of one chunk, as numpy columns in table order.

    ``columns`` holds every column of the incident table; categorical columns (``service``,
    ``drone_outcome``, ``drone_leave_reason``) as integer codes into ``categories``, and
    ``gss_code`` as strings. ``borough`` is the borough index of each row (for aggregates).
    """

    borough: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _joined(chunks: list, empty: IncidentChunk | MissionChunk) -> dict[str, np.ndarray]:
    """Columns of the chunks end to end (one copy, no intermediate tables)."""
    chunks = [c for c in chunks if len(c)] or [empty]
    if len(chunks) == 1:
        return chunks[0].columns
    return {name: np.concatenate([c.columns[name] for c in chunks]) for name in empty.columns}


def incident_frame(chunks: list[IncidentChunk], empty: IncidentChunk) -> pd.DataFrame:
    """One table from chunks (``empty`` gives the columns and dtypes when there are none)."""
    return IncidentChunk(_joined(chunks, empty), empty.categories).to_pandas()


def mission_frame(chunks: list[MissionChunk], empty: MissionChunk) -> pd.DataFrame:
    return MissionChunk(_joined(chunks, empty), empty.categories).to_pandas()


class _Range:
    """A live chunk: its keys ``start .. start + n``, first incident id, inputs, open sides."""

    __slots__ = ("chunk", "start", "n", "first_id", "inc", "open")

    def __init__(self, chunk: int, start: int, n: int, first_id: int, inc: Incidents) -> None:
        self.chunk, self.start, self.n, self.first_id, self.inc = chunk, start, n, first_id, inc
        self.open = 0


class Records:
    """Incident inputs and results by key, for the chunks of one replication still in play.

    Every column is a Python list (faster than numpy for one element at a time); the lists keep
    their identity for the whole run, so the domain modules may hold references to them. ``gid``
    is the incident id (call-time order over the whole replication) of each key.
    """

    def __init__(self, replication: int, service_names: tuple[str, ...],
                 borough_codes: np.ndarray) -> None:
        self.replication = replication
        self.service_names = service_names
        self.borough_codes = borough_codes
        self.size = 0
        for col in _FLOAT_COLS + _INPUTS:
            setattr(self, col, [])
        for col in _INT_COLS:
            setattr(self, col, [])
        self.gid: list[int] = []
        self.rank: list[int] = []
        #: The live chunk of each key; ``range_of[key].open -= 1`` closes one side (hot paths
        #: do it inline, :meth:`side_done` is the same as a call).
        self.range_of: list[_Range | None] = []
        self.missions: list[tuple] = []
        self.mission_flags: dict[int, int] = {}  # position in missions -> MISSION_FLAGS bits
        self._ranges: list[_Range] = []  # live chunks, in load order
        self._next_chunk = 0
        self._next_id = 0

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
            for col in _FLOAT_COLS + _INPUTS:
                getattr(self, col).extend(nan_pad)
            for col in _INT_COLS:
                getattr(self, col).extend([0] * grow)
            for col in ("gid", "rank", "range_of"):
                getattr(self, col).extend([0] * grow)
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
            getattr(self, col)[sl] = getattr(inc, col).tolist()
        nan_block = [math.nan] * n
        for col in _FLOAT_COLS:
            getattr(self, col)[sl] = nan_block
        for col in _INT_COLS:
            getattr(self, col)[sl] = [_INT_DEFAULT.get(col, -1)] * n
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
        for col in _FLOAT_COLS:
            cols[col] = np.array(getattr(self, col)[sl], np.float64)
        for col in ("drone_id", "dock_id", "ground_unit", "preempted_by", "relief_drone_id"):
            cols[col] = np.array(getattr(self, col)[sl], np.int32)
        # Relief drones (dronesim.relief): how many took over the scene.
        cols["relief_drones"] = np.array(self.relief_drones[sl], np.int16)
        cols["link_outside"] = np.array(self.link_outside[sl], bool)
        # The drone on scene resolved the incident alone: no ground unit was sent.
        cols["drone_resolved"] = np.array(self.drone_resolved[sl], bool)
        # Mutual aid: GSS code of the borough whose unit came (ground.py), "" for none.
        aid = np.array(self.mutual_aid_from[sl], np.int64)
        cols["mutual_aid_from"] = np.where(aid >= 0, self.borough_codes[np.maximum(aid, 0)], "")
        cols["drone_outcome"] = np.array(self.drone_outcome[sl], np.int8)
        cols["drone_leave_reason"] = np.array(self.drone_leave_reason[sl], np.int8)
        # Why a grounded incident got no drone (dronesim.weather.REASONS; "" otherwise).
        cols["grounded_reason"] = np.array(self.grounded_reason[sl], np.int8)
        cols["drone_response_s"] = cols["t_drone_on_scene"] - inc.t_call
        cols["ground_response_s"] = cols["t_ground_arrival"] - inc.t_call
        return IncidentChunk(cols, self.categories, np.asarray(inc.borough, np.int64))

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

    def flag_mission(self, flag: int) -> None:
        """Mark the mission leg logged last with ``flag`` (:data:`MISSION_FLAGS`: a fault in
        flight, a relief leg). Flags are kept apart from the rows, so legs without one cost
        nothing."""
        pos = len(self.missions) - 1
        self.mission_flags[pos] = self.mission_flags.get(pos, 0) | flag

    def take_missions(self) -> MissionChunk:
        """The mission legs logged since the last call (the log is emptied)."""
        rows, self.missions[:] = list(self.missions), []
        flags, self.mission_flags = self.mission_flags, {}
        return self.mission_chunk(rows, flags)

    def mission_chunk(self, rows: list[tuple], flags: dict[int, int] | None = None
                      ) -> MissionChunk:
        n = len(rows)
        cols_in = list(zip(*rows)) if rows else [()] * (len(MISSION_COLUMNS) + 1)
        data: dict[str, np.ndarray] = {"replication": np.full(n, self.replication, np.int32)}
        for name, values in zip(MISSION_COLUMNS, cols_in):
            dtype = (np.int64 if name in _MISSION_INT
                     else bool if name == "redirected" else np.float64)
            data[name] = np.asarray(values, dtype=dtype)
        data["service"] = np.asarray(cols_in[len(MISSION_COLUMNS)], np.int8)
        bits = np.zeros(n, np.int64)
        for pos, f in (flags or {}).items():
            bits[pos] = f
        for name, bit in MISSION_FLAGS.items():
            data[name] = (bits & bit) > 0
        return MissionChunk(data, {"service": self.service_names})
