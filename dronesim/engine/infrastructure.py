"""Shared blue-light infrastructure: who may use which drone, pilot, sector and link.

Each layer is shared or separate on its own (``[sharing]``, MODEL.md "Shared blue-light
infrastructure"):

* **Dock sites and airframes** (:func:`drone_owners`): every drone belongs to the service of its
  site (or to none). Shared sites spread each service's drones over all sites (each site keeps its
  docks, each service its drones); pooled airframes let any drone serve any service.
* **Remote pilots** (:class:`PilotRooms`): one control room per service, or one joint room, each
  ``pilots x flights_per_pilot`` slots (m:N oversight) served by rank (:func:`rank`), then request
  time. A pilot is held from launch preparation until the drone lands. Shifts take slots off duty
  with top-priority blocks, so a pilot going off duty finishes the flight in hand first.
  No process ever waits on a room, so a room is a counter of free slots and a heap of waiting
  requests (:class:`SlotPool`) rather than a SimPy resource: a request is granted at once or when
  a slot is released, and the releaser is told who got it (../shared/design/PERFORMANCE.md,
  technique 2). The wait for a pilot is abandoned at ``max_queue_wait_s`` by the fleet.
* **Airspace management** (:class:`Sectors`): a square sector grid; a flight holds a slot in its
  incident's sector from launch to landing; per-service deconfliction has ``cap_separate`` slots
  per sector for each service, one shared service ``cap_shared`` for all. Authorisation latency
  (``delay_*_s``) is paid before every launch.
* **Connectivity** (:class:`Connectivity`): each service's link coverage (polygons from a file,
  or discs around its own dock sites); shared connectivity is the union.

Pilot occupancy is derived afterwards from the mission records (``t_pilot`` to landing).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from ..inputs.scenario import Scenario
from ..siting.sites import Docks

if TYPE_CHECKING:
    from .kernel import Kernel

__all__ = ["rank", "service_ranks", "drone_owners", "SlotPool", "PilotRooms", "Sectors",
           "Connectivity", "ControlRoom"]

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


def _not_wired(who: Any) -> None:
    """The ``on_grant`` of a pool whose owner has not said who to tell yet."""
    raise RuntimeError(f"a waiting request ({who!r}) was granted a slot before on_grant was set")


class SlotPool:
    """Interchangeable slots (remote pilots, places in an airspace sector) without a process.

    Same rules as SimPy's ``PriorityResource``, with no event per request: a request takes a
    free slot at once if nobody waits, else it waits, ordered by rank, then request time, then
    arrival order. A released slot goes to the waiting requests when the release is settled, a
    kernel callback at the same instant (SimPy's release event), so a request made in the same
    instant before that competes for it by rank. Who gets a slot that way is handed to
    ``on_grant(who)``. ``blocked`` slots are held off duty (pilot shifts): a block outranks every
    request, and a block that finds no free slot takes the next one released, so a pilot going
    off duty finishes the flight in hand first.

    A waiting request is a *ticket*, a one-element list, emptied when granted or cancelled.
    """

    __slots__ = ("capacity", "free", "_waiting", "_seq", "held_blocks", "pending_blocks", "env",
                 "on_grant")

    def __init__(self, capacity: int, env: Kernel,
                 on_grant: Callable[[Any], None] = _not_wired) -> None:
        self.capacity = int(capacity)
        self.free = self.capacity
        self._waiting: list[tuple[int, float, int, list]] = []
        self._seq = 0
        self.held_blocks = 0
        self.pending_blocks = 0
        self.env = env
        self.on_grant = on_grant

    def take(self, rank: int, now: float, who: Any) -> list | None:
        """Request a slot for ``who``: None if granted at once, else the waiting ticket."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return None
        ticket = [who]
        self._seq += 1
        heapq.heappush(self._waiting, (rank, now, self._seq, ticket))
        if self.free > 0:  # a slot released in this instant, not settled yet
            got = False
            for w in self._grant():
                if w is who:
                    got = True
                else:  # another request's grant takes effect after this step
                    self.env.at(now, self._granted, w)
            if got:
                return None
        return ticket

    @staticmethod
    def cancel(ticket: list) -> None:
        """Withdraw a waiting request."""
        ticket.clear()

    def _grant(self) -> list:
        out = []
        waiting = self._waiting
        while self.free > 0 and waiting:
            ticket = heapq.heappop(waiting)[3]
            if ticket:
                out.append(ticket[0])
                ticket.clear()
                self.free -= 1
        return out

    def _granted(self, ev: Any) -> None:
        self.on_grant(ev.arg)

    def _settle(self, _ev: Any) -> None:
        for who in self._grant():
            self.on_grant(who)

    def release(self) -> None:
        """Give a slot back (an off-duty block waiting for one takes it first)."""
        if self.pending_blocks:
            self.pending_blocks -= 1
            self.held_blocks += 1
            return
        self.free += 1
        if self._waiting:
            self.env.at(self.env.now, self._settle)

    def block_to(self, target: int) -> None:
        """Hold ``target`` slots off duty."""
        while self.held_blocks + self.pending_blocks < target:
            if self.free > 0:
                self.free -= 1
                self.held_blocks += 1
            else:
                self.pending_blocks += 1
        while self.held_blocks + self.pending_blocks > target:
            if self.pending_blocks:  # the latest blocks are the ones still waiting
                self.pending_blocks -= 1
            else:
                self.held_blocks -= 1
                self.release()


class ControlRoom:
    """One room of remote pilots: ``pilots x flights_per_pilot`` slots served by rank.

    Shifts (``shift_pattern``): every hour on the hour, the slots of off-duty pilots are blocked
    (:meth:`SlotPool.block_to`); at the horizon every pilot comes back so the run can drain.
    """

    def __init__(self, env: Kernel, pilots: int, flights_per_pilot: int = 1,
                 shift_pattern: tuple[float, ...] = (), horizon_s: float = math.inf,
                 name: str = "joint", night: list[bool] | None = None,
                 pilots_per_night_flight: int = 1) -> None:
        self.env = env
        self.name = name
        self.pilots_on_roll = int(pilots)
        self.flights_per_pilot = int(flights_per_pilot)
        self.slots = SlotPool(pilots * flights_per_pilot, env)
        self._pattern = tuple(shift_pattern)
        self._horizon_s = horizon_s
        #: Night hours under the "second pilot" rule (dronesim.engine.availability): a night flight
        #: holds ``pilots_per_night_flight`` pilots, so the room holds fewer flights then.
        self._night = night if night and pilots_per_night_flight > 1 else None
        self._per_night_flight = int(pilots_per_night_flight)
        if self._pattern or self._night:
            self._shift(None)  # hour 0, before anything else happens

    @property
    def capacity(self) -> int:
        return self.slots.capacity

    def _shift(self, _ev: Any) -> None:
        env = self.env
        if env.now < self._horizon_s:
            h = int(env.now // 3600)
            hour = h % 24
            on_duty = (round(self.pilots_on_roll * self._pattern[hour]) if self._pattern
                       else self.pilots_on_roll)
            flights = on_duty * self.flights_per_pilot
            if self._night is not None and h < len(self._night) and self._night[h]:
                flights //= self._per_night_flight
            target = self.pilots_on_roll * self.flights_per_pilot - flights
            env.at(env.now + (3600 - env.now % 3600), self._shift)
        else:
            target = 0  # end of horizon: everyone back, so the run can drain
        self.slots.block_to(target)


class PilotRooms:
    """The control room(s) of a scenario: one per service, or one joint room."""

    def __init__(self, env: Kernel, scn: Scenario, fleet_size: int,
                 horizon_s: float = math.inf) -> None:
        cr = scn.control_room
        self.names = list(scn.services)
        self.separate = scn.sharing.pilots == "separate"
        night, per_flight = None, 1
        if scn.night.rule == "second_pilot" and scn.night.pilots_per_flight > 1:
            from ..inputs.daylight import night_hours

            night = night_hours(scn.simulation.start_date,
                                int(math.ceil(min(horizon_s, 520 * 7 * 86_400.0) / 3600)),
                                scn.night).tolist()
            per_flight = scn.night.pilots_per_flight
        if self.separate:
            self.rooms = [ControlRoom(env, cr.pilots_by_service.get(s, 1), cr.flights_per_pilot,
                                      cr.shift_pattern, horizon_s, s, night, per_flight)
                          for s in self.names]
        else:
            self.rooms = [ControlRoom(env, cr.pilots_for(fleet_size), cr.flights_per_pilot,
                                      cr.shift_pattern, horizon_s, night=night,
                                      pilots_per_night_flight=per_flight)]
        #: Room of each service index (the joint room for all in joint mode).
        self.of_service = ([r.slots for r in self.rooms] if self.separate
                           else [self.rooms[0].slots] * len(self.names))

    def room(self, service: int) -> ControlRoom:
        return self.rooms[service if self.separate else 0]

    def on_grant(self, fn: Callable[[Any], None]) -> None:
        """Who to tell when a waiting request gets a pilot."""
        for r in self.rooms:
            r.slots.on_grant = fn

    @property
    def pilots(self) -> int:
        """Pilots on the roll in all rooms."""
        return sum(r.pilots_on_roll for r in self.rooms)

    @property
    def capacity(self) -> int:
        """Flights that can be overseen at once in all rooms."""
        return sum(r.capacity for r in self.rooms)


class Sectors:
    """Airspace management: per-sector caps on concurrent flights, and authorisation latency.

    Each sector is a :class:`SlotPool` of ``cap`` slots, made on first use; a waiting request
    that gets a slot is handed to ``on_grant``.
    """

    def __init__(self, env: Kernel, scn: Scenario) -> None:
        am = scn.airspace_management
        self.env = env
        self.size = am.sector_m
        self.shared = scn.sharing.airspace == "shared"
        self.cap = am.cap_shared if self.shared else am.cap_separate
        self.delay_s = am.delay_shared_s if self.shared else am.delay_separate_s
        self.on_grant: Callable[[Any], None] = _not_wired
        self._pools: dict[tuple[int, int, int], SlotPool] = {}

    @property
    def active(self) -> bool:
        return self.size > 0

    def key(self, service: int, x: float, y: float) -> tuple[int, int, int]:
        return (-1 if self.shared else service, int(x // self.size), int(y // self.size))

    def pool(self, service: int, x: float, y: float) -> SlotPool:
        """The slots of the incident's sector."""
        k = self.key(service, x, y)
        pool = self._pools.get(k)
        if pool is None:
            pool = self._pools[k] = SlotPool(self.cap, self.env, self.on_grant)
        return pool


class Connectivity:
    """Link coverage per service (None = covered everywhere), shared as their union."""

    def __init__(self, scn: Scenario, docks: Docks, owners: np.ndarray,
                 base_dir: Path | None = None) -> None:
        from ..inputs.airspace import read_no_fly

        spec = scn.connectivity
        names = list(scn.services)
        self.outside = spec.outside
        dock_of = np.repeat(np.arange(len(docks)), docks.drones)
        areas: list[shapely.Geometry | None] = []
        for k, name in enumerate(names):
            parts: list[shapely.Geometry] = []
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
