"""Built-in dispatch policies."""

from __future__ import annotations

import math

import numpy as np

from .base import RETURNING, Decision, Decline, Dispatch, FleetSnapshot, IncidentView, Queue
from .registry import register_policy

__all__ = ["EarliestArrival"]


@register_policy("earliest_arrival")
class EarliestArrival:
    """The drone predicted to reach the scene first.

    Counts drones charging at their dock and, if ``include_returning``, drones flying home (booked
    to launch again on landing). If no candidate exists the incident queues for the next free
    drone. With ``max_response_s`` set, a drone predicted to arrive later than that after the
    call is not sent.
    """

    def __init__(self, include_returning: bool = True, max_response_s: float = math.inf) -> None:
        if max_response_s <= 0:
            raise ValueError("max_response_s must be > 0")
        self.include_returning = bool(include_returning)
        self.max_response_s = float(max_response_s)

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        arrival = fleet.arrival_at
        if not self.include_returning:
            arrival = np.where(fleet.status == RETURNING, np.inf, arrival)
        if arrival.size == 0 or not np.isfinite(arrival).any():
            return Queue()
        k = int(np.argmin(arrival))
        if arrival[k] - incident.t_call > self.max_response_s:
            return Decline("too_slow")
        return Dispatch(int(fleet.drone[k]))
