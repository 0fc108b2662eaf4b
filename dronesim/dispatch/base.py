"""The dispatch seam: what a policy sees, and what it may decide.

A policy is any object with ``decide(incident, fleet, now) -> Decision``; if it also has
``bind(context)``, the model calls it once before the run with a :class:`PolicyContext`. It
sees a read-only :class:`FleetSnapshot` of the drones that could serve the incident (those
homed at the nearest docks within range) and an :class:`IncidentView`; it cannot change
simulation state. Policies need no SimPy, so they are tested on hand-made snapshots.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "IncidentView",
    "FleetSnapshot",
    "Dispatch",
    "Queue",
    "Decline",
    "Decision",
    "DispatchPolicy",
    "PolicyContext",
    "READY",
    "CHARGING",
    "RETURNING",
    "picks_nearest_ready",
]

#: Drone status codes in a snapshot.
READY, CHARGING, RETURNING = 0, 1, 2


def _frozen(name: str) -> Any:
    """Setter of a read-only attribute: assignment raises ``FrozenInstanceError``."""

    def fset(self: Any, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    return fset


_INCIDENT_FIELDS = ("index", "service", "priority", "x", "y", "borough", "t_call", "ground_eta",
                    "ground_estimate")


class IncidentView:
    """What a policy knows about the incident (read-only).

    ``ground_eta`` is the known ground arrival time (NaN until a unit is dispatched);
    ``ground_estimate`` the predicted ground arrival (``ground_eta`` once known). The model
    computes ``ground_estimate`` only when a policy reads it (it costs a nearest-unit search), so
    read it during ``decide``: it describes the moment of the decision.
    """

    __slots__ = ("_v",)

    def __init__(self, index: int, service: str, priority: int, x: float, y: float,
                 borough: int, t_call: float, ground_eta: float,
                 ground_estimate: float = float("nan")) -> None:
        object.__setattr__(self, "_v", (index, service, priority, x, y, borough, t_call,
                                        ground_eta, ground_estimate))

    index = property(lambda s: s._v[0], _frozen("index"))
    service = property(lambda s: s._v[1], _frozen("service"))
    priority = property(lambda s: s._v[2], _frozen("priority"))  # 1 = most urgent
    x = property(lambda s: s._v[3], _frozen("x"))
    y = property(lambda s: s._v[4], _frozen("y"))
    borough = property(lambda s: s._v[5], _frozen("borough"))
    t_call = property(lambda s: s._v[6], _frozen("t_call"))
    ground_eta = property(lambda s: s._v[7], _frozen("ground_eta"))
    ground_estimate = property(lambda s: s._v[8], _frozen("ground_estimate"))

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in _INCIDENT_FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IncidentView):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={v!r}" for f, v in zip(_INCIDENT_FIELDS, self._values()))
        return f"IncidentView({args})"


_SNAPSHOT_ARRAYS = ("drone", "dock", "status", "distance_m", "ready_at", "arrival_at")


def _read_only(a: Any, dtype: Any) -> np.ndarray:
    """A private read-only copy, exposed as a view: a view's flag cannot be set writable again."""
    a = np.array(a, dtype=dtype, copy=True)
    a.flags.writeable = False
    return a.view()


class FleetSnapshot:
    """Candidate drones for one incident, one row each (arrays are read-only).

    ``ready_at`` is when the drone could launch for this incident (battery charged enough, back
    at its dock); ``arrival_at`` the predicted on-scene time if it were chosen now (pilot waits
    excluded). ``status`` is READY, CHARGING (at the dock, not yet enough charge) or RETURNING.
    Rows come nearest dock first, then by drone id; ``airframe`` gives each row's airframe type
    (an index into ``airframe_names``; mixed fleets). ``fleet_ready`` counts drones idle at a dock
    anywhere in the fleet; ``in_range_docks`` the docks within range of the incident;
    ``dock_idle`` the drones idle at each dock of the fleet (index = dock id), charged or not.

    :meth:`nearest_ready` answers "which READY drone is at the nearest dock?" without the
    arrays: the model's snapshots build the arrays only when a policy first reads one, so a
    policy that needs only the nearest ready drone pays for no array at all.

    A snapshot describes the moment of the decision it was given for; it cannot change
    simulation state (assignment raises ``FrozenInstanceError``, the arrays are not writable).
    """

    __slots__ = ("_now", "_cols", "_fleet_size", "_fleet_ready", "_in_range_docks", "_dock_idle")
    # The slots' types (set through object.__setattr__ below). ``_cols`` is None only in a
    # subclass that builds the columns on first use (overriding _columns).
    _now: float
    _cols: tuple[np.ndarray, ...] | None
    _fleet_size: int
    _fleet_ready: int
    _in_range_docks: int
    _dock_idle: np.ndarray

    def __init__(self, now: float, drone: Any, dock: Any, status: Any, distance_m: Any,
                 ready_at: Any, arrival_at: Any, fleet_size: int, fleet_ready: int,
                 in_range_docks: int, dock_idle: Any = None) -> None:
        cols = (_read_only(drone, np.int64), _read_only(dock, np.int64),
                _read_only(status, np.int64), _read_only(distance_m, float),
                _read_only(ready_at, float), _read_only(arrival_at, float))
        idle = _read_only(np.zeros(0, np.int64) if dock_idle is None else dock_idle, np.int64)
        for name, value in (("_now", now), ("_cols", cols), ("_fleet_size", fleet_size),
                            ("_fleet_ready", fleet_ready), ("_in_range_docks", in_range_docks),
                            ("_dock_idle", idle)):
            object.__setattr__(self, name, value)

    # The columns; the model's snapshots override _columns() to build them on first use.
    def _columns(self) -> tuple[np.ndarray, ...]:
        cols = self._cols
        assert cols is not None  # set by __init__
        return cols

    drone = property(lambda s: s._columns()[0], _frozen("drone"))
    dock = property(lambda s: s._columns()[1], _frozen("dock"))
    status = property(lambda s: s._columns()[2], _frozen("status"))
    distance_m = property(lambda s: s._columns()[3], _frozen("distance_m"))
    ready_at = property(lambda s: s._columns()[4], _frozen("ready_at"))
    arrival_at = property(lambda s: s._columns()[5], _frozen("arrival_at"))
    now = property(lambda s: s._now, _frozen("now"))
    fleet_size = property(lambda s: s._fleet_size, _frozen("fleet_size"))
    fleet_ready = property(lambda s: s._fleet_ready, _frozen("fleet_ready"))
    in_range_docks = property(lambda s: s._in_range_docks, _frozen("in_range_docks"))
    dock_idle = property(lambda s: s._dock_idle, _frozen("dock_idle"))

    def __len__(self) -> int:
        return int(self.drone.size)

    # Mixed fleets: the airframe type of each row. A hand-made snapshot has one type ("").
    @property
    def airframe(self) -> np.ndarray:
        """Airframe type of each candidate row (index into :attr:`airframe_names`)."""
        a = np.zeros(len(self), np.int64)
        a.flags.writeable = False
        return a.view()

    @property
    def airframe_names(self) -> tuple[str, ...]:
        """Names of the airframe types (``""``: the ``[drones]`` airframe)."""
        return ("",)

    def nearest_ready(self) -> int | None:
        """The READY drone at the nearest dock (ties: lowest drone id), or None.

        The closest-idle rule of :class:`~dronesim.dispatch.NearestIdle`, as one call.
        """
        status, dist, drone = self.status, self.distance_m, self.drone
        rows = np.flatnonzero(status == READY)
        if rows.size == 0:
            return None
        d = dist[rows]
        best = rows[d == d.min()]
        return int(drone[best].min())

    def __repr__(self) -> str:
        return (f"FleetSnapshot(now={self.now!r}, candidates={len(self)}, "
                f"fleet_size={self.fleet_size}, fleet_ready={self.fleet_ready}, "
                f"in_range_docks={self.in_range_docks})")

    @classmethod
    def empty(cls, now: float, fleet_size: int = 0, fleet_ready: int = 0,
              in_range_docks: int = 0, dock_idle: np.ndarray | None = None) -> FleetSnapshot:
        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        return cls(now, zi, zi, zi, z, z, z, fleet_size, fleet_ready, in_range_docks,
                   dock_idle)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Send this drone (if RETURNING or CHARGING, it is booked and launches when ready)."""

    drone: int


@dataclass(frozen=True, slots=True)
class Queue:
    """Wait for a drone; the policy is asked again whenever a drone becomes free."""


@dataclass(frozen=True, slots=True)
class Decline:
    """Send no drone; the ground response continues."""

    reason: str = "policy"


Decision = Dispatch | Queue | Decline


@dataclass(frozen=True, eq=False)
class PolicyContext:
    """Static facts about a scenario a policy may use (given once, through ``bind``).

    ``cover`` is a sparse docks x demand-points matrix: 1 where a drone from the dock reaches the
    point within the coverage target (``coverage.within_s``). ``demand_w`` is the expected
    drone-suited incidents per week at each point (all services).
    """

    dock_x: np.ndarray
    dock_y: np.ndarray
    dock_drones: np.ndarray
    demand_x: np.ndarray
    demand_y: np.ndarray
    demand_w: np.ndarray
    cover: Any  # scipy.sparse.csr_matrix, docks x demand points
    within_s: float
    services: tuple[str, ...]


@runtime_checkable
class DispatchPolicy(Protocol):
    """One method: choose for one incident from a read-only snapshot.

    Optional: ``bind(context)`` (called once with a :class:`PolicyContext`), and class
    attributes that let the model skip work:

    * ``ready_only = True`` promises that ``decide`` returns :class:`Queue` whenever the
      snapshot has no READY drone; the model then does not ask again about queued incidents
      while no drone is idle at a dock (it saves a decision per queued incident per landing).
    * ``nearest_ready_only = True`` promises that ``decide`` returns
      ``Dispatch(fleet.nearest_ready())``, or :class:`Queue` when that is None, and nothing
      else (the closest-idle rule). The model then finds the nearest READY drone itself
      (:func:`picks_nearest_ready`): no snapshot, incident view or decision object per
      incident. The promise holds only for the class that defines ``decide``: a subclass that
      overrides ``decide`` does not inherit it.
    """

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision: ...


def picks_nearest_ready(policy: Any) -> bool:
    """True if ``policy`` keeps the ``nearest_ready_only`` promise (see :class:`DispatchPolicy`).

    The flag counts only where ``decide`` is defined: on the class that defines the ``decide``
    in use (not on a subclass or instance that replaces it).
    """
    if "decide" in getattr(policy, "__dict__", {}):
        return False
    for klass in type(policy).__mro__:
        if "decide" in vars(klass):
            return vars(klass).get("nearest_ready_only", False) is True
    return False
