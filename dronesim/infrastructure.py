"""Shared blue-light infrastructure: the remote-pilot control room.

Today every Met drone flight is overseen by a remote pilot in the control room, able to take
over at any moment (MODEL.md). A pilot is held from launch preparation until the drone lands;
requests are served by incident priority, first come first served within a priority (SimPy's
:class:`~simpy.resources.resource.PriorityResource`). Pilot occupancy is derived afterwards from
the mission records (``t_pilot`` to ``t_drone_landed``).
"""

from __future__ import annotations

import simpy

from .scenario import ControlRoom as ControlRoomSpec

__all__ = ["ControlRoom"]


class ControlRoom:
    """Remote pilots as a priority resource (lower number = served first)."""

    def __init__(self, env: simpy.Environment, spec: ControlRoomSpec, fleet_size: int) -> None:
        self.spec = spec
        self.pilots = simpy.PriorityResource(env, capacity=spec.pilots_for(fleet_size))

    @property
    def capacity(self) -> int:
        return self.pilots.capacity

    def request(self, priority: int) -> simpy.resources.resource.PriorityRequest:
        return self.pilots.request(priority=priority)

    def release(self, req: simpy.resources.resource.PriorityRequest) -> None:
        self.pilots.release(req)
