"""The dispatch seam: what a policy sees, and what it may decide.

A policy is any object with ``decide(incident, fleet, now) -> Decision``; if it also has
``bind(context)``, the model calls it once before the run with a :class:`PolicyContext`. It sees a read-only
:class:`FleetSnapshot` of the drones that could serve the incident (those homed at the nearest
docks within range) and an :class:`IncidentView`; it cannot change simulation state. Policies
need no SimPy, so they are tested on hand-made snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
]

#: Drone status codes in a snapshot.
READY, CHARGING, RETURNING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What a policy knows about the incident."""

    index: int
    service: str
    priority: int  # 1 = most urgent
    x: float
    y: float
    borough: int
    t_call: float
    ground_eta: float  # known ground arrival time, NaN if no unit dispatched yet
    ground_estimate: float = float("nan")  # predicted ground arrival (ground_eta once known)


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """Candidate drones for one incident, one row each (arrays are read-only).

    ``ready_at`` is when the drone could launch for this incident (battery charged enough, back
    at its dock); ``arrival_at`` the predicted on-scene time if it were chosen now (pilot waits
    excluded). ``status`` is READY, CHARGING (at the dock, not yet enough charge) or RETURNING.
    """

    now: float
    drone: np.ndarray
    dock: np.ndarray
    status: np.ndarray
    distance_m: np.ndarray
    ready_at: np.ndarray
    arrival_at: np.ndarray
    fleet_size: int
    fleet_ready: int  # drones idle at a dock anywhere in the fleet
    in_range_docks: int  # docks within range of the incident
    dock_idle: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Drones idle at each dock of the fleet (index = dock id), charged or not."""

    def __post_init__(self) -> None:
        # A private read-only copy, exposed as a view: a view's flag cannot be set writable again.
        for name in ("drone", "dock", "status", "distance_m", "ready_at", "arrival_at",
                     "dock_idle"):
            a = np.array(getattr(self, name), copy=True)
            a.flags.writeable = False
            object.__setattr__(self, name, a.view())

    def __len__(self) -> int:
        return int(self.drone.size)

    @classmethod
    def empty(cls, now: float, fleet_size: int = 0, fleet_ready: int = 0,
              in_range_docks: int = 0, dock_idle: np.ndarray | None = None) -> FleetSnapshot:
        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        idle = np.zeros(0, np.int64) if dock_idle is None else dock_idle
        return cls(now, zi, zi.copy(), zi.copy(), z, z.copy(), z.copy(), fleet_size,
                   fleet_ready, in_range_docks, idle)


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
    """One method: choose for one incident from a read-only snapshot."""

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision: ...
