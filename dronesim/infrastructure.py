"""Shared blue-light infrastructure: who may use which drone, pilot, sector and link.

Each layer is shared or separate on its own (``[sharing]``, MODEL.md "Shared blue-light
infrastructure"):

* **Dock sites and airframes** (:func:`drone_owners`): every drone belongs to the service of its
  site (or to none). Shared sites spread each service's drones over all sites (each site keeps its
  docks, each service its drones); pooled airframes let any drone serve any service.
* **Remote pilots** (:class:`PilotRooms`): one control room per service, or one joint room, each a
  SimPy :class:`~simpy.resources.resource.PriorityResource` of ``pilots x flights_per_pilot``
  slots (m:N oversight), served by rank (:func:`rank`). A pilot is held from launch preparation
  until the drone lands. Shifts take slots off duty with top-priority blocking requests, so a pilot
  going off duty finishes the flight in hand first.
* **Airspace management** (:class:`Sectors`): a square sector grid; a flight holds a slot in its
  incident's sector from launch to landing; per-service deconfliction has ``cap_separate`` slots
  per sector for each service, one shared service ``cap_shared`` for all. Authorisation latency
  (``delay_*_s``) is paid before every launch.
* **Connectivity** (:class:`Connectivity`): each service's link coverage (polygons from a file,
  or discs around its own dock sites); shared connectivity is the union.

Pilot occupancy is derived afterwards from the mission records (``t_pilot`` to landing).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import shapely
import simpy

from .scenario import Scenario
from .sites import Docks

__all__ = ["rank", "service_ranks", "drone_owners", "PilotRooms", "Sectors", "Connectivity",
           "ControlRoom"]

_RANK_STEP = 100  # ranks: service rank x 100 + incident priority (lower is more urgent)


def service_ranks(scn: Scenario) -> dict[str, int]:
    """Service -> rank (0 most urgent) from ``sharing.service_priority``; unlisted ones last."""
    order = [s for s in scn.sharing.service_priority if s in scn.services]
    order += [s for s in scn.services if s not in order]
    return {s: k for k, s in enumerate(order)}


def rank(service_rank: int, priority: int) -> int:
    """One number ordering incidents: service rank first, then incident priority."""
    return service_rank * _RANK_STEP + int(priority)


def drone_owners(scn: Scenario, docks: Docks) -> np.ndarray:
    """Owning service index (into ``scn.services``) of each drone; -1 for any service.

    Drones are numbered site by site in ``[[docks]]`` order. With shared dock sites each service
    keeps its number of drones but they are spread over all sites in proportion (a deterministic
    largest-remainder interleave), so every site hosts a mix of services.
    """
    names = list(scn.services)
    site_owner = np.array([names.index(d.service) if d.service else -1 for d in scn.docks],
                          np.int64)
    dock_of = np.repeat(np.arange(len(docks)), docks.drones)
    owners = site_owner[dock_of] if dock_of.size else np.zeros(0, np.int64)
    if scn.sharing.docks != "shared" or owners.size == 0:
        return owners
    owned = owners >= 0
    counts = np.bincount(owners[owned], minlength=len(names))
    total = int(counts.sum())
    if total == 0:
        return owners
    # Slots of owned drones, taken round-robin across sites (first drone of every site, then
    # second, ...), receive services in proportion.
    slots = np.flatnonzero(owned)
    within = np.zeros(owners.size, np.int64)
    for k in range(len(docks)):
        sel = np.flatnonzero(dock_of == k)
        within[sel] = np.arange(sel.size)
    slots = slots[np.lexsort((dock_of[slots], within[slots]))]
    given = np.zeros(len(names))
    out = owners.copy()
    for t, slot in enumerate(slots):
        deficit = counts * (t + 1) / total - given
        s = int(np.argmax(deficit))
        out[slot] = s
        given[s] += 1
    return out


class ControlRoom:
    """One room of remote pilots: a priority resource (lower rank value = served first)."""

    def __init__(self, env: simpy.Environment, pilots: int, flights_per_pilot: int = 1,
                 shift_pattern: tuple[float, ...] = (), horizon_s: float = math.inf,
                 name: str = "joint") -> None:
        self.env = env
        self.name = name
        self.pilots_on_roll = int(pilots)
        self.flights_per_pilot = int(flights_per_pilot)
        self.pilots = simpy.PriorityResource(env, capacity=pilots * flights_per_pilot)
        self._blocked: list[simpy.resources.resource.PriorityRequest] = []
        if shift_pattern:
            env.process(self._shifts(tuple(shift_pattern), horizon_s))

    @property
    def capacity(self) -> int:
        return self.pilots.capacity

    def request(self, priority: int) -> simpy.resources.resource.PriorityRequest:
        return self.pilots.request(priority=priority)

    def release(self, req: simpy.resources.resource.PriorityRequest) -> None:
        self.pilots.release(req)

    def _shifts(self, pattern: tuple[float, ...], horizon_s: float):
        """Hourly, keep (off-duty pilots x flights_per_pilot) slots blocked."""
        env = self.env
        while env.now < horizon_s:
            hour = int(env.now // 3600) % 24
            on_duty = round(self.pilots_on_roll * pattern[hour])
            target = (self.pilots_on_roll - on_duty) * self.flights_per_pilot
            while len(self._blocked) < target:
                self._blocked.append(self.pilots.request(priority=-1))
            while len(self._blocked) > target:
                req = self._blocked.pop()
                if req.triggered:
                    self.pilots.release(req)
                else:
                    req.cancel()
            yield env.timeout(3600 - env.now % 3600)
        for req in self._blocked:  # end of horizon: everyone back, so the run can drain
            if req.triggered:
                self.pilots.release(req)
            else:
                req.cancel()
        self._blocked.clear()


class PilotRooms:
    """The control room(s) of a scenario: one per service, or one joint room."""

    def __init__(self, env: simpy.Environment, scn: Scenario, fleet_size: int,
                 horizon_s: float = math.inf) -> None:
        cr = scn.control_room
        self.names = list(scn.services)
        self.separate = scn.sharing.pilots == "separate"
        if self.separate:
            self.rooms = [ControlRoom(env, cr.pilots_by_service.get(s, 1), cr.flights_per_pilot,
                                      cr.shift_pattern, horizon_s, s) for s in self.names]
        else:
            self.rooms = [ControlRoom(env, cr.pilots_for(fleet_size), cr.flights_per_pilot,
                                      cr.shift_pattern, horizon_s)]

    def room(self, service: int) -> ControlRoom:
        return self.rooms[service if self.separate else 0]

    @property
    def pilots(self) -> int:
        """Pilots on the roll in all rooms."""
        return sum(r.pilots_on_roll for r in self.rooms)

    @property
    def capacity(self) -> int:
        """Flights that can be overseen at once in all rooms."""
        return sum(r.capacity for r in self.rooms)


class Sectors:
    """Airspace management: per-sector caps on concurrent flights, and authorisation latency."""

    def __init__(self, env: simpy.Environment, scn: Scenario) -> None:
        am = scn.airspace_management
        self.env = env
        self.size = am.sector_m
        self.shared = scn.sharing.airspace == "shared"
        self.cap = am.cap_shared if self.shared else am.cap_separate
        self.delay_s = am.delay_shared_s if self.shared else am.delay_separate_s
        self._res: dict[tuple[int, int, int], simpy.PriorityResource] = {}

    @property
    def active(self) -> bool:
        return self.size > 0

    def key(self, service: int, x: float, y: float) -> tuple[int, int, int]:
        return (-1 if self.shared else service, int(x // self.size), int(y // self.size))

    def request(self, service: int, x: float, y: float, priority: int):
        """A slot request in the incident's sector, or None when sectors are off."""
        if not self.active:
            return None
        k = self.key(service, x, y)
        res = self._res.get(k)
        if res is None:
            res = self._res[k] = simpy.PriorityResource(self.env, capacity=self.cap)
        req = res.request(priority=priority)
        req.sector_resource = res
        return req

    @staticmethod
    def release(req) -> None:
        if req is not None:
            req.sector_resource.release(req)


class Connectivity:
    """Link coverage per service (None = covered everywhere), shared as their union."""

    def __init__(self, scn: Scenario, docks: Docks, owners: np.ndarray,
                 base_dir: Path | None = None) -> None:
        from .airspace import read_no_fly

        spec = scn.connectivity
        names = list(scn.services)
        self.outside = spec.outside
        dock_of = np.repeat(np.arange(len(docks)), docks.drones)
        areas: list[shapely.Geometry | None] = []
        for k, name in enumerate(names):
            parts = []
            if name in spec.files:
                path = Path(spec.files[name])
                if not path.is_absolute() and base_dir is not None:
                    path = base_dir / path
                parts.extend(read_no_fly(path).geoms)
            if name in spec.radius_m:
                sites = np.unique(dock_of[(owners == k) | (owners < 0)])
                if sites.size:
                    parts.extend(shapely.buffer(shapely.points(docks.x[sites], docks.y[sites]),
                                                spec.radius_m[name]))
                elif not parts:
                    parts.append(shapely.Polygon())  # a service with no sites has no link
            areas.append(shapely.union_all(parts) if parts else None)
        if scn.sharing.connectivity == "shared":
            union = None if any(a is None for a in areas) else shapely.union_all(areas)
            areas = [union] * len(names)
        for a in areas:
            if a is not None:
                shapely.prepare(a)
        self.areas = areas

    def covered(self, service: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where an incident of ``service`` (index) lies inside that service's coverage."""
        out = np.ones(len(x), bool)
        for k, area in enumerate(self.areas):
            sel = service == k
            if area is not None and sel.any():
                out[sel] = shapely.contains_xy(area, x[sel], y[sel])
        return out
