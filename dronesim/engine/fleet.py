"""Drones and docks: pure kinematics and battery functions, and the missions that move drones.

Mission (../shared/design/MODEL.md): dispatch decision -> (wait for charge) -> remote pilot assigned
-> (airspace sector slot) -> authorisation delay + launch overhead -> climb, cruise, descent -> on
scene, until the ground unit arrives plus a handover (or, in ``exponential`` loiter mode, an
exponential task time), or until the battery reserve forces a return -> return flight -> land ->
recharge at the dock.

Event economy (../shared/design/PERFORMANCE.md, techniques 1 and 2): a mission is not a process.
Its phase times are computed arithmetically the moment it is cleared to launch, and the kernel
holds one event per mission that a policy could notice: the landing ("drone free at t"). A drone
that must first charge adds one event (charged), a wait for a pilot with a finite
``max_queue_wait_s`` one more (its deadline). When the ground unit's arrival becomes known in
flight, or the drone is pre-empted, the landing is rescheduled (the stale event is ignored: the
mission holds its pending event). Pilots and sector slots are counters
(:class:`~dronesim.engine.infrastructure.SlotPool`).

Why the hot path looks as it does (issue 8; every figure is per incident on the benchmark):

* A mission in flight is one list per drone (``Fleet._m``), laid out as the leg's record row
  (:data:`~dronesim.engine.records.LEG_FIELDS`): made with one store at launch, appended as it
  stands at the landing. The incident's drone columns are filled from these rows in bulk
  (:meth:`~dronesim.engine.records.Records.take_missions`), not element by element.
* Under the closest-idle rule (a policy with ``nearest_ready_only``) the kernel calls
  :meth:`Fleet.decide_first` directly: the READY drone of the nearest (or second) candidate
  dock is found from flat per-key lists the dispatcher fills in bulk (dock, flight length,
  flight time and charge needed precomputed vectorised), and the common mission (a pilot free
  at once, no sector caps, no stand-down) is started inline with the arithmetic of
  :meth:`Fleet.send` and :meth:`Fleet._cleared`. Every other case takes the general path.
  So does every mission while a feature the fast path is not proven under is on
  (:meth:`dronesim.dispatch.fast_path.FastPath.applies`, an allow-list of
  :class:`dronesim.engine.features.Features`; weather or night grounding, duty holds and
  faults, relief drones, airframe types are not in it): the flat
  lists hold the ``[drones]`` airframe's flight times and the inline start knows nothing of
  grounding at launch, faults or relief, so the closest-idle rule is then decided on the
  candidate row by :meth:`Fleet.nearest_ready` (as the policy seam decides it) and started by
  :meth:`Fleet._cleared`.
* Landings are pushed on SimPy's queue directly as :attr:`Kernel.Call` events sharing one
  callbacks list, and a landing makes the drone idle inline.

These copies of the general path's arithmetic are kept in step by bit-for-bit comparisons of
the record tables on many scenarios whenever the engine changes.

Battery model: flight and hover both drain one second of endurance per second; charging at the
dock restores ``endurance_s`` in ``recharge_full_s`` (linear). A dispatch is feasible only if the
charge covers the flight out, ``min_on_scene_s``, the flight back and ``reserve_s``. Options
(docs/wind.md): every per-leg effect (the "slower" night rule, wind on flight) is
:attr:`Fleet.per_leg` (:class:`dronesim.engine.legs.Legs`; None when none is on, the
calm strategy: :func:`~dronesim.kinematics.leg_s` inline); a leg flown at another power than
cruise (the ground speed held in wind) drains charge beyond its airborne seconds, which the
leg object returns and the fleet takes from the drone's launch charge in the mission row
(``_M_BATTERY``: so the latest leave, the charge on landing and pre-emption count it, at no cost
to the calm path); :class:`CurvedFleet` charges on a CC-CV curve or swaps batteries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappush
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from ..dispatch.base import CHARGING, READY, RETURNING, FleetSnapshot
from ..inputs.scenario import DroneSpec
from ..kinematics import (
    arrival_at,
    battery_needed_s,
    cccv_charge_s,
    cccv_wait_s,
    charge_needed_s,
    charge_rate,
    charge_wait_s,
    flight_time_s,
    leg_s,
    preempt_charge_s,
    preempt_legs_charge_s,
    spare_charge_s,
)
from ..siting.sites import Docks
from .infrastructure import PilotRooms, Sectors, SlotPool
from .records import (
    LEAVE,
    LEG_DRONE,
    LEG_END,
    LEG_FIELDS,
    LEG_FLAGS,
    LEG_KEY,
    LEG_REASON,
    MISSION_FLAGS,
    OUTCOME,
    Records,
)

if TYPE_CHECKING:
    from .kernel import Kernel
    from .legs import Legs

__all__ = ["flight_time_s", "battery_needed_s", "Fleet", "CurvedFleet", "AirframeTable", "IDLE",
           "RESERVED", "FLYING", "OFF", "UNSETTLED"]

# Fields of a mission in flight (Fleet._m): the incident; its assignment time, flight length,
# authorisation delay; the current leg's pilot time, launch and launch charge; the drone's
# launch and launch charge (of the first leg, for a pre-empted chain); on scene (NaN: turned
# back by a fault on the way out), latest leave (battery, or a fault), the flight home,
# leave, land, leave reason; the pending landing event (a landing whose event is no longer
# this one was rescheduled and is ignored); the leg's MISSION_FLAGS bits (fault, relief).
# The list is laid out as a leg's row (records.LEG_FIELDS), so that the landing logs it as it
# stands: the event's slot then holds the drone, the landing's the time it ended.
(_M_I, _M_ASSIGNED, _M_DIST, _M_DELAY, _M_PILOT, _M_LEG_LAUNCH, _M_LEG_BATTERY, _M_LAUNCH,
 _M_BATTERY, _M_SCENE, _M_LATEST, _M_BACK, _M_LEAVE, _M_LAND, _M_REASON, _M_EV,
 _M_FLAGS) = range(17)
assert (_M_I, _M_LAND, _M_REASON, _M_EV, _M_FLAGS) == (LEG_KEY, LEG_END, LEG_REASON, LEG_DRONE,
                                                      LEG_FLAGS)
assert len(LEG_FIELDS) == 17
_FAULT_FLAG, _RELIEF_FLAG = MISSION_FLAGS["fault"], MISSION_FLAGS["relief"]
#: A mission in flight: one list indexed by the _M_* constants (a leg row, records.LEG_FIELDS;
#: its fields are of several types, hence Any).
Mission = list[Any]

#: :meth:`Fleet.nearest_ready` on a row that is only a prefix of the candidates, when the
#: answer could lie beyond it (see there).
UNSETTLED = (-1, -1)

# Drone states. OFF: at its dock but out of service (availability.Duty: roster, repair, ...).
IDLE, RESERVED, FLYING, OFF = 0, 1, 2, 3

_ON_SCENE = OUTCOME["on_scene"]
_ABANDONED = OUTCOME["queue_abandoned"]
_CANCELLED = OUTCOME["cancelled"]
_TASK_DONE, _BATTERY, _GROUND = LEAVE["task_done"], LEAVE["battery"], LEAVE["ground_arrived"]
_PREEMPTED = LEAVE["preempted"]
_FAULT_LEAVE, _RESOLVED = LEAVE["fault"], LEAVE["resolved"]
_GROUNDED, _FAULT = OUTCOME["grounded"], OUTCOME["fault"]
#: Holds that a booked mission does not outlast: repair, maintenance, dock fault
#: (dronesim.engine.availability: REPAIR | MAINTENANCE | DOCK_FAULT).
_HARD_HOLD = 4 | 8 | 16


class Grounding(Protocol):
    """What the fleet (and the dispatcher, through :attr:`Fleet.grounding`) uses of the weather
    and night grounding, :class:`dronesim.engine.availability.Grounding` (a Protocol: that
    module imports this one)."""

    grounds: bool

    def reason_at(self, t: float) -> int: ...
    def reasons_at(self, t: np.ndarray) -> np.ndarray: ...


class Duty(Protocol):
    """What the fleet (and the relief drones, through :attr:`Fleet.duty`) use of the duty
    holds and faults,
    :class:`dronesim.engine.availability.Duty`."""

    rate_h: float

    def fault_time(self, d: int, t_launch: float) -> float: ...
    def fit_on_landing(self, d: int) -> bool: ...
    def landed(self, d: int, t_launch: float, t_land: float, failed: bool, outbound: bool,
               on_scene: bool, exposed: bool = True) -> None: ...


class Relief(Protocol):
    """What the fleet uses of the relief drones, :class:`dronesim.engine.relief.Relief`."""

    def watch(self, d: int, i: int) -> None: ...
    def ground_eta_known(self, i: int) -> None: ...


def _no_op(_: int) -> None:
    """A callback slot's default (the model sets the real one: see :class:`Fleet`)."""


class _Snapshot(FleetSnapshot):
    """The model's snapshot: attributes read from the fleet on first use (see
    :class:`~dronesim.dispatch.FleetSnapshot`). ``row`` is the incident's candidate docks,
    flight lengths and authorisation delays."""

    __slots__ = ("_fleet", "_row", "_service", "_idle", "_pick", "_built")

    def __init__(self, fleet: Fleet, row: tuple[list, list, list], service: int, now: float
                 ) -> None:
        self._fleet = fleet
        self._row = row
        self._service = service
        self._now = now
        #: The columns, built on first use (the base class's ``_cols`` is always built).
        self._built: tuple[np.ndarray, ...] | None = None
        self._idle: np.ndarray | None = None
        #: (drone, position in the row) that nearest_ready found, for the model.
        self._pick: tuple[int, int] | None = None
        self._fleet_size = fleet.size
        self._fleet_ready = fleet.n_idle

    def _columns(self) -> tuple[np.ndarray, ...]:
        cols = self._built
        if cols is None:
            cols = self._built = self._fleet._candidates(self._row, self._now, self._service)
        return cols

    def nearest_ready(self) -> int | None:
        found = self._fleet.nearest_ready(self._row, self._now, self._service)
        if found is None:
            return None
        self._pick = found  # (drone, position in the row): the model need not check it again
        return found[0]

    @property
    def in_range_docks(self) -> int:
        n = 0
        for k in self._row[0]:
            if k < 0:
                break
            n += 1
        return n

    @property
    def airframe(self) -> np.ndarray:
        """Airframe type (index into ``airframe_names``) of each candidate row."""
        types = np.asarray(self._fleet.airframes.type_of_dock, np.int64)
        a = types[self.dock] if len(self.dock) else np.zeros(0, np.int64)
        a.flags.writeable = False
        return a.view()

    @property
    def airframe_names(self) -> tuple[str, ...]:
        return self._fleet.airframes.names

    @property
    def dock_idle(self) -> np.ndarray:
        idle = self._idle
        if idle is None:
            a = np.array(self._fleet.dock_idle, np.int64)
            a.flags.writeable = False
            idle = self._idle = a.view()
        return idle


class AirframeTable:
    """Performance of each dock's airframe type (mixed fleets, ``[[airframes]]`` with
    ``[[docks]] airframe``): cruise speed, endurance, recharge rate (endurance per second of
    charging; inf: instant) and service radius per dock, the type's index and the type names.
    A type's unset (NaN) figures are the ``[drones]`` values; a dock naming no type flies the
    ``[drones]`` airframe, called ``""``."""

    def __init__(self, names: tuple[str, ...], type_of_dock: list[int], speed: list[float],
                 endurance: list[float], rate: list[float], range_m: list[float]) -> None:
        self.names = names
        self.type_of_dock = type_of_dock
        self.speed, self.endurance, self.rate, self.range_m = speed, endurance, rate, range_m

    @property
    def mixed(self) -> bool:
        return len(set(zip(self.speed, self.endurance, self.rate, self.range_m))) > 1

    @classmethod
    def single(cls, spec: DroneSpec, n_docks: int) -> AirframeTable:
        rate = charge_rate(spec.endurance_s, spec.recharge_full_s)
        return cls(("",), [0] * n_docks, [float(spec.speed_m_s)] * n_docks,
                   [float(spec.endurance_s)] * n_docks, [rate] * n_docks,
                   [float(spec.max_range_m)] * n_docks)

    @classmethod
    def of(cls, scn: Any) -> AirframeTable:
        """The table of a scenario (its ``[[docks]]`` in order, after siting)."""
        d = scn.drones
        types = {a.name: a for a in scn.airframes}
        names = ("", *types)

        def val(x: float, default: float) -> float:
            return float(default if x != x else x)

        speed, end, rate, rng, kind = [], [], [], [], []
        for dock in scn.docks:
            a = types.get(dock.airframe)
            if a is None:
                s_, e_, r_, m_ = d.speed_m_s, d.endurance_s, d.recharge_full_s, d.max_range_m
            else:
                s_ = val(a.speed_m_s, d.speed_m_s)
                e_ = val(a.endurance_s, d.endurance_s)
                r_ = val(a.recharge_full_s, d.recharge_full_s)
                m_ = val(a.max_range_m, d.max_range_m)
            kind.append(names.index(dock.airframe) if a is not None else 0)
            speed.append(float(s_))
            end.append(float(e_))
            rate.append(charge_rate(e_, r_))
            rng.append(float(m_))
        return cls(names, kind, speed, end, rate, rng)


class Fleet:
    """State of every drone, and the missions that move it (see the module docstring).

    Drones are numbered dock by dock. Per-drone state is kept in Python lists (one element at a
    time is all the hot path touches); a flying drone's mission is one list (``_m``).
    Incidents are addressed by their key in ``rec``.

    Every attribute exists, typed, once the constructor returns. The parts made after the
    fleet (the dispatcher, the operations features) start as no-ops or None and are connected
    by :meth:`attach_dispatcher`, :meth:`attach_operations` and :meth:`attach_relief`, the
    closest-idle rule's flat lists by :meth:`bind_first`.
    """

    #: Every attribute, declared: an instance with this many attributes in a ``__dict__`` is
    #: read through a dictionary lookup (CPython keeps at most 30 attributes inline), slots
    #: by a fixed offset, and the hot paths (decide_first, _take_off, _landed) read some
    #: seventy a decision.
    __slots__ = (
        "airframes", "battery0", "booked", "by_distance", "by_dock", "dock_idle", "dock_of",
        "docks", "duty", "env", "grounding", "hold", "incident_of", "max_wait_s", "n_idle",
        "on_free", "on_unbook", "owner", "per_leg", "pooled", "rec", "relief", "rooms", "sectors",
        "size", "spec", "state", "t0", "waiting",
        "_Call", "_booking", "_deferred", "_delay", "_dist", "_dist0", "_dist1", "_dist2", "_dist3",
        "_dock0", "_dock1", "_dock2", "_dock_x", "_dock_y", "_drone_id", "_drones_leg",
        "_eid", "_end", "_end_k", "_endurance", "_exponential", "_fail", "_full", "_full_k",
        "_holds", "_ix", "_iy", "_landed_cbs", "_lead", "_leg_block", "_legs", "_loiter", "_m",
        "_need0", "_need_spd", "_ops", "_otherwise", "_out0", "_overhead", "_pilot_pool", "_queue",
        "_range_k", "_range_of", "_rank", "_rate", "_reserve", "_room_of", "_rt", "_sector_delay",
        "_sector_pool", "_sectors_on", "_spd", "_svc", "_t_assigned", "_t_decision", "_t_ground",
        "_t_pilot", "_typed",
    )

    def __init__(self, env: Kernel, spec: DroneSpec, docks: Docks, rooms: PilotRooms,
                 rec: Records, on_free: Callable[[int], None] | None, *,
                 owners: np.ndarray | None = None, pooled: bool = True,
                 sectors: Sectors | None = None, max_wait_s: float = math.inf,
                 airframes: AirframeTable | None = None) -> None:
        self.env = env
        self.spec = spec
        self.docks = docks
        self.rooms = rooms
        rooms.on_grant(self._pilot)
        self.sectors = sectors
        if sectors is not None:
            sectors.on_grant = self._cleared
        self._sectors_on = sectors is not None and sectors.active
        self._sector_delay = sectors.delay_s if sectors is not None else 0.0
        self._lead = 0.0 + self._sector_delay  # a leg's delay when it needs no authorisation
        self._overhead = spec.launch_overhead_s
        #: The [drones] airframe's figures that decide_first passes to the kinematics
        #: functions (speed, climb, descent, minimum stay, reserve), read in one load.
        self._drones_leg = (spec.speed_m_s, spec.climb_s, spec.descent_s, spec.min_on_scene_s,
                            spec.reserve_s)
        self._reserve = spec.reserve_s
        self.pooled = pooled
        self.max_wait_s = max_wait_s
        self.rec = rec
        #: Called with a drone made idle while incidents wait (the dispatcher's; None: set
        #: later by :meth:`attach_dispatcher`).
        self.on_free: Callable[[int], None] = on_free if on_free is not None else _no_op
        dock_of = np.repeat(np.arange(len(docks)), docks.drones).astype(np.int64)
        self.dock_of: list[int] = dock_of.tolist()
        n = self.size = len(self.dock_of)
        self.by_dock: list[list[int]] = [[] for _ in range(len(docks))]
        for d, k in enumerate(self.dock_of):
            self.by_dock[k].append(d)
        own = owners if owners is not None else np.full(n, -1, np.int64)
        self.owner: list[int] = np.asarray(own, np.int64).tolist()
        self._dock_x = np.asarray(docks.x, float).tolist()
        self._dock_y = np.asarray(docks.y, float).tolist()
        nan = math.nan
        self.state = [IDLE] * n
        self.battery0 = [float(spec.endurance_s)] * n  # charge at t0 (valid while IDLE)
        self.t0 = [0.0] * n
        self.booked = [-1] * n  # incident waiting for this drone to land
        self.incident_of = [-1] * n
        # The mission in hand (valid while FLYING): launch and battery at launch, the current
        # leg, its timing.
        #: The mission in flight (while FLYING): one list indexed by the _M_* constants, made
        #: when the drone is cleared to launch (one store where a list per field took a dozen)
        #: and read back at the landing in one unpacking.
        self._m: list[Mission | None] = [None] * n
        # The assignment in hand before launch (while RESERVED): when, the flight length, the
        # authorisation delay (NaN: none asked), when a pilot was granted (NaN: not yet). They
        # go into the mission, or into a stand-down row (Records.stood_down).
        self._t_assigned = [nan] * n
        self._dist = [nan] * n
        self._delay = [nan] * n
        self._t_pilot = [nan] * n
        self._booking: list[tuple[float, float, float]] = [(nan, nan, nan)] * n  # of booked
        self._pilot_pool: list[SlotPool | None] = [None] * n
        self._sector_pool: list[SlotPool | None] = [None] * n
        self.dock_idle = np.asarray(docks.drones, np.int64).tolist()  # IDLE drones per dock
        self._deferred: list[int] | None = None
        #: Candidate rows come in distance order (set by the model, :meth:`attach_dispatcher`;
        #: False when authorisation delays order them by time instead).
        self.by_distance = False
        #: The dispatcher's queue of waiting incidents: a landing offers the drone only if
        #: someone waits (set by the model, :meth:`attach_dispatcher`).
        self.waiting: list[tuple[int, float, int, int]] = []
        self.n_idle = n
        self._endurance = float(spec.endurance_s)
        self._rate = charge_rate(spec.endurance_s, spec.recharge_full_s)
        self._exponential = spec.loiter == "exponential"
        self._full = self._rate == math.inf  # recharge is instant: always full at the dock
        # Airframe types (mixed fleets, AirframeTable): per dock speed, endurance, recharge
        # rate and range; per drone endurance and rate (battery_at). One type: all the same.
        at = airframes if airframes is not None else AirframeTable.single(spec, len(docks))
        self.airframes = at
        self._typed = airframes is not None
        self._spd = list(at.speed)  # cruise speed per dock
        self._end_k = list(at.endurance)
        self._full_k = [r == math.inf for r in at.rate]
        self._range_k = list(at.range_m)
        self._end = [at.endurance[k] for k in self.dock_of]  # per drone
        self._rt = [at.rate[k] for k in self.dock_of]
        self.battery0 = list(self._end)
        self._room_of = rooms.of_service
        # Incident columns used on the hot path (lists keep their identity for the run).
        self._svc, self._rank = rec.service, rec.rank
        self._ix, self._iy = rec.x, rec.y
        self._loiter = rec.drone_loiter_s
        self._t_ground = rec.t_ground_arrival
        self._t_decision = rec.t_drone_decision
        # Operations (dronesim.engine.availability), all off unless the model sets them
        # (attach_operations): the weather / night grounding, the duty holds (rosters, repairs,
        # maintenance), faults.
        self.grounding: Grounding | None = None
        self.duty: Duty | None = None
        self.hold = [0] * n  # bit mask of reasons holding each drone out of service
        self._holds = False
        self._fail = [math.inf] * n  # fault time of the mission in hand (inf: none)
        #: Relief drones (dronesim.engine.relief), None when off (attach_relief).
        self.relief: Relief | None = None
        #: Called with an incident whose booked drone went out of service on landing.
        self.on_unbook: Callable[[int], None] = _no_op
        #: Speed per dock at which a dispatch's charge is judged (set by the per-leg effects:
        #: dronesim.engine.legs.Legs.drive_need_speed).
        self._need_spd = list(self._spd)
        #: The per-leg effects (dronesim.engine.legs.Legs), None when none is on (the calm
        #: strategy: leg_s inline); attach_legs.
        self.per_leg: Legs | None = None
        #: The inline mission start of send is off (set by the model: not
        #: FastPath.starts_inline(features); attach_dispatcher).
        self._ops = airframes is not None
        # The closest-idle rule's flat candidate lists, by key (bind_first; empty until then,
        # when decide_first is not the kernel's handler).
        self._dock0: list[int] = []
        self._dist0: list[float] = []
        self._out0: list[float] = []
        self._need0: list[float] = []
        self._dock1: list[int] = []
        self._dist1: list[float] = []
        self._dock2: list[int] = []
        self._dist2: list[float] = []
        self._dist3: list[float] = []
        self._otherwise: Callable[[int], None] = _no_op
        self._drone_id = rec.drone_id
        self._range_of = rec.range_of
        self._legs = rec.legs
        self._leg_block = rec.LEG_BLOCK
        rec.drone_dock = np.asarray(self.dock_of, np.int64)
        # Landings are pushed on the kernel's queue directly (see Kernel.Call): one shared
        # callbacks list, the drone as the argument.
        # (SimPy types its queue for its own Event; the kernel's stand-in events share it.)
        self._queue = cast("list[tuple[float, int, int, Any]]", env._queue)
        self._eid = env._eid
        self._Call = type(env).Call
        self._landed_cbs = [self._landed]

    # --- wiring (the model, once, before the run) ---------------------------------------------
    def attach_dispatcher(self, on_free: Callable[[int], None], on_unbook: Callable[[int], None],
                          waiting: list[tuple[int, float, int, int]], *, by_distance: bool,
                          inline_start: bool) -> None:
        """Connect the dispatcher, made after the fleet: ``on_free(drone)`` offers a drone
        made idle to its queue ``waiting`` (read for emptiness only), ``on_unbook(incident)``
        requeues an incident whose booked drone went out of service; candidate rows come
        ``by_distance`` (no authorisation delay reorders them); ``inline_start``: the mission
        start of :meth:`send` may be inline (:meth:`FastPath.starts_inline
        <dronesim.dispatch.fast_path.FastPath.starts_inline>`)."""
        self.on_free = on_free
        self.on_unbook = on_unbook
        self.waiting = waiting
        self.by_distance = by_distance
        self._ops = not inline_start

    def attach_grounding(self, grounding: Grounding) -> None:
        """Turn on weather and night grounding (:mod:`dronesim.engine.availability`)."""
        self.grounding = grounding

    def attach_legs(self, legs: Legs) -> None:
        """Turn on the per-leg effects (:mod:`dronesim.engine.legs`)."""
        self.per_leg = legs

    def attach_duty(self, duty: Duty) -> None:
        """Turn on duty holds: rosters, faults, maintenance, dock faults
        (:mod:`dronesim.engine.availability`; made after the grounding, which it reads)."""
        self.duty = duty

    def attach_relief(self, relief: Relief) -> None:
        """Turn on relief drones (:mod:`dronesim.engine.relief`; made after the dispatcher)."""
        self.relief = relief

    # --- pure state queries ------------------------------------------------------------------
    def battery_at(self, d: int, t: float) -> float:
        """Charge of an IDLE drone at time t (it charges from t0)."""
        rate = self._rt[d]
        if rate == math.inf:
            return self._end[d]
        return min(self._end[d], self.battery0[d] + (t - self.t0[d]) * rate)

    def _charge_wait(self, d: int, need: float, battery: float, t: float) -> float:
        """Time (s) drone d, holding ``battery`` at its dock at time t, charges to ``need``
        (linear: :func:`charge_wait_s`; :class:`CurvedFleet` has its curves)."""
        return charge_wait_s(need, battery, self._rt[d])

    def _need(self, dist: float, k: int) -> float:
        """Charge a dispatch from dock k over ``dist`` needs (see battery_needed_s)."""
        spec = self.spec
        return charge_needed_s(dist, self._need_spd[k], spec.climb_s, spec.descent_s,
                               spec.min_on_scene_s, spec.reserve_s)

    def set_need_speeds(self, speeds: list[float]) -> None:
        """Judge every dispatch's charge at ``speeds`` (per dock; the per-leg effects:
        :meth:`dronesim.engine.legs.Legs.drive_need_speed`)."""
        self._need_spd = speeds

    def _ready_time(self, d: int, need: float, now: float) -> tuple[int, float]:
        """(status, time it could launch with ``need`` charge) or (-1, inf) if unavailable."""
        if need > self._end[d]:
            return -1, math.inf
        st = self.state[d]
        if st == IDLE:
            b = self.battery_at(d, now)
            if b >= need:
                return READY, now
            return CHARGING, now + self._charge_wait(d, need, b, now)
        m = self._m[d]  # (not None while FLYING)
        if st == FLYING and m is not None and self.booked[d] < 0 and now >= m[_M_LEAVE] \
                and not self.hold[d] and (self.duty is None or self.duty.fit_on_landing(d)):
            battery_land = m[_M_BATTERY] - (m[_M_LAND] - m[_M_LAUNCH])
            short = max(0.0, need - battery_land)
            extra = 0.0 if short == 0 else self._charge_wait(d, need, battery_land, m[_M_LAND])
            return RETURNING, m[_M_LAND] + extra
        return -1, math.inf

    def _eligible(self, d: int, service: int) -> bool:
        return self.pooled or self.owner[d] < 0 or self.owner[d] == service

    def nearest_ready(self, row: tuple[list, list, list], now: float, service: int
                      ) -> tuple[int, int] | None:
        """(drone, position of its dock in ``row``) of the READY drone at the nearest candidate
        dock (ties: lowest drone id), or None. Scans only docks with an idle drone; builds
        nothing. When the rows are in distance order (``by_distance``: no authorisation delay
        reorders them) the scan stops at the first dock farther than one with a READY drone.

        A row may carry a fourth element, true when it is only the first candidates of a longer
        list (in distance order): if the scan reaches its end without stopping, the answer
        could lie beyond it, and :data:`UNSETTLED` is returned."""
        dock_idle = self.dock_idle
        best, best_dist, best_pos = -1, math.inf, -1
        spec = self.spec
        ready = self._ready_drone
        stop = self.by_distance
        speed = self._need_spd
        need_of = charge_needed_s
        climb, descent, stay, reserve = (spec.climb_s, spec.descent_s, spec.min_on_scene_s,
                                         spec.reserve_s)
        pos = -1
        for k, dist in zip(row[0], row[1]):
            pos += 1
            if k < 0:
                break
            if dist > best_dist:
                if stop:
                    break
                continue
            if not dock_idle[k]:
                continue
            d = ready(k, need_of(dist, speed[k], climb, descent, stay, reserve), now, service)
            if d >= 0 and (dist < best_dist or d < best):
                best, best_dist, best_pos = d, dist, pos
        else:
            if len(row) > 3 and row[3]:
                return UNSETTLED
        return None if best < 0 else (best, best_pos)

    def bind_first(self, first: tuple[list, ...], otherwise: Callable[[int], None]) -> None:
        """Take decisions of the closest-idle rule from the dispatcher's flat candidate lists
        ``first``, by key: the nearest dock, its flight length, flight time (dock to scene)
        and the charge a dispatch from it needs (both as :func:`flight_time_s` and
        :func:`battery_needed_s` compute them), the second dock and its length, the third dock
        and its length, the fourth's length. Legs are straight, so no authorisation delay
        applies beyond the sector service's. :meth:`decide_first` sends the READY drone of one
        of the three nearest docks and leaves every other case to ``otherwise(key)``."""
        (self._dock0, self._dist0, self._out0, self._need0, self._dock1, self._dist1,
         self._dock2, self._dist2, self._dist3) = first
        self._otherwise = otherwise

    def _ready_drone(self, k: int, need: float, now: float, service: int) -> int:
        """The READY drone of dock k with ``need`` charge (lowest id: drones of a dock are in
        id order), -1 if none. The closest-idle rule at one dock: the one scan that
        :meth:`nearest_ready` (a whole row) and :meth:`decide_first` (the nearest docks) call;
        the policy seam's snapshot answers through :meth:`nearest_ready` too."""
        if not self.dock_idle[k] or need > self._end_k[k]:
            return -1
        state = self.state
        full = self._full_k[k]
        for d in self.by_dock[k]:
            if state[d] != IDLE or not (self.pooled or self._eligible(d, service)):
                continue
            if full or self.battery_at(d, now) >= need:
                return d
        return -1

    def decide_first(self, i: int) -> None:
        """Decide incident i by the closest-idle rule when the answer lies at one of its three
        nearest docks, and start the mission; else ``otherwise(i)``.

        The answer is the READY drone (lowest id) of the first of those docks that has one,
        when the next candidate is strictly farther (a dock as near could hold a lower drone
        id): the drone :meth:`nearest_ready` would choose on the whole row. This is the
        kernel's handler for drone decisions, so it starts the common case's mission itself
        (:meth:`_take_off`, shared with :meth:`send`), with the same arithmetic as the general
        path; the equality checks of every change guard that the two stay in step.

        Bound only when :meth:`dronesim.dispatch.fast_path.FastPath.applies`: it reads the
        ``[drones]`` airframe's flight times and charge needs, and starts missions without the
        grounding, fault and relief checks of :meth:`_cleared`."""
        k = self._dock0[i]
        now = self.env._now
        # _ready_drone(k, self._need0[i], now, service), inline on this hot path (a call per
        # decision cost 3 % of a run's instructions); test_fast_path proves them equal.
        state = self.state
        d = -1
        if self.dock_idle[k]:
            need = self._need0[i]
            if need <= self._endurance:
                for d in self.by_dock[k]:
                    if state[d] != IDLE or not (self.pooled or self._eligible(d, self._svc[i])):
                        continue
                    if self._full or self.battery_at(d, now) >= need:
                        break
                else:
                    d = -1
        if d >= 0:
            dist = self._dist0[i]
            if not self._dist1[i] > dist:
                self._otherwise(i)  # a tie: the whole row decides
                return
            out = self._out0[i]
        else:
            k = self._dock1[i]
            if k < 0:
                self._otherwise(i)
                return
            spd, climb, descent, stay, reserve = self._drones_leg
            # (_ready_drone's first test, dock_idle[k], made before the charge is worked out:
            # a dock without an idle drone costs no kinematics call.)
            dock_idle = self.dock_idle
            dist = self._dist1[i]
            if dock_idle[k]:
                d = self._ready_drone(k, charge_needed_s(dist, spd, climb, descent, stay,
                                                         reserve), now, self._svc[i])
            if d < 0:  # nor at the second: the third?
                k = self._dock2[i]
                if k < 0:
                    self._otherwise(i)
                    return
                dist = self._dist2[i]
                if dock_idle[k]:
                    d = self._ready_drone(k, charge_needed_s(dist, spd, climb, descent, stay,
                                                             reserve), now, self._svc[i])
                if d < 0 or not self._dist3[i] > dist:
                    self._otherwise(i)
                    return
            elif not self._dist2[i] > dist:
                self._otherwise(i)
                return
            out = leg_s(dist, spd, climb, descent)
        pool = self._room_of[self._svc[i]]
        lead = self._lead  # the (zero) leg delay plus the sector service's, as send adds them
        t_launch = now + lead + self._overhead
        g = self._t_ground[i]
        if (pool.free <= 0 or pool._waiting or self._sectors_on or self._deferred is not None
                or (g == g and g <= t_launch)):
            self.send(d, i, dist, 0.0)
            return
        # send's common case.
        self._drone_id[i] = d
        self.dock_idle[k] -= 1
        self.n_idle -= 1
        self.incident_of[d] = i
        self._take_off(d, i, pool, now, dist, lead, t_launch, out)

    def _candidates(self, row: tuple[list, list, list], now: float, service: int
                    ) -> tuple[np.ndarray, ...]:
        """Snapshot columns: the candidate drones at the row's docks (fastest dock first)."""
        spec = self.spec
        rows_d, rows_k, rows_s, rows_dist, rows_ready, rows_delay = [], [], [], [], [], []
        for k, dist, delay in zip(*row):
            if k < 0:
                break
            need = self._need(dist, k)
            for d in self.by_dock[k]:
                if not self._eligible(d, service):
                    continue
                status, ready = self._ready_time(d, need, now)
                if status < 0:
                    continue
                rows_d.append(d)
                rows_k.append(k)
                rows_s.append(status)
                rows_dist.append(dist)
                rows_ready.append(ready)
                rows_delay.append(delay)
        dist_a = np.array(rows_dist, float)
        ready_a = np.array(rows_ready, float)
        speed = np.array([self._spd[k] for k in rows_k], float)
        arrival = arrival_at(ready_a, np.array(rows_delay, float), spec.launch_overhead_s,
                             spec.climb_s, dist_a, speed, spec.descent_s)
        cols = (np.array(rows_d, np.int64), np.array(rows_k, np.int64),
                np.array(rows_s, np.int64), dist_a, ready_a, np.asarray(arrival, float))
        for a in cols:
            a.flags.writeable = False
        return tuple(a.view() for a in cols)

    def snapshot(self, row: tuple[list, list, list], now: float, service: int = -1
                 ) -> FleetSnapshot:
        """The candidate drones at the row's docks as a read-only, lazily built snapshot.

        ``row`` is ``(docks, flight lengths, authorisation delays)`` of the incident's candidate
        docks (-1 ends the list); with dedicated airframes only drones owned by ``service`` (or
        by no service) are offered.
        """
        return _Snapshot(self, row, service, now)

    def offered(self, d: int, row: tuple[list, list, list], now: float, service: int) -> int:
        """Position in ``row`` of drone d's dock if the snapshot offered d, else -1."""
        if not 0 <= d < self.size or not self._eligible(d, service):
            return -1
        k = self.dock_of[d]
        for pos, kk in enumerate(row[0]):
            if kk < 0:
                break
            if kk == k:
                return pos if self._ready_time(d, self._need(row[1][pos], k), now)[0] >= 0 \
                    else -1
        return -1

    # --- actions -----------------------------------------------------------------------------
    def assign(self, d: int, i: int, distance_m: float, delay_s: float = math.nan) -> None:
        """Commit drone d to incident i (a RETURNING drone is booked for when it lands).

        ``distance_m`` and ``delay_s`` are the flight length and authorisation delay of the leg
        from d's dock."""
        now = self.env._now
        self._drone_id[i] = d
        if self.state[d] == FLYING:
            m = self._m[d]
            if self.booked[d] >= 0 or m is None or now < m[_M_LEAVE]:
                raise RuntimeError(f"drone {d} is not bookable")  # policy broke the protocol
            self.booked[d] = i
            self._booking[d] = (now, distance_m, delay_s)
            return
        if self.state[d] != IDLE:
            raise RuntimeError(f"drone {d} is not available")
        self._t_assigned[d] = now
        self._dist[d] = distance_m
        self._delay[d] = delay_s
        self._t_pilot[d] = math.nan
        self._start(d, i)

    def send(self, d: int, i: int, distance_m: float, delay_s: float) -> None:
        """Commit drone d, READY for incident i (:meth:`nearest_ready` found it), and start its
        mission: as :meth:`assign` and the mission's first steps, with the common case (a pilot
        free at once, no sector caps, the ground not yet on scene) inline.

        ``delay_s`` is the authorisation delay of the leg from d's dock. The writes, their
        order and the arithmetic are those of the general path, so results are identical.
        """
        now = self.env._now
        self._drone_id[i] = d
        self._t_assigned[d] = now
        self._dist[d] = distance_m
        self._delay[d] = delay_s
        self._t_pilot[d] = math.nan
        self.dock_idle[self.dock_of[d]] -= 1
        self.n_idle -= 1
        self.incident_of[d] = i
        pool = self._room_of[self._svc[i]]
        if self._deferred is not None:
            self.state[d] = RESERVED
            self._deferred.append(d)
            return
        spec = self.spec
        if delay_s != delay_s:  # NaN: no authorisation needed
            delay_s = 0.0
        delay_s += self._sector_delay
        t_launch = now + delay_s + spec.launch_overhead_s
        g = self._t_ground[i]
        if pool.free <= 0 or pool._waiting or self._sectors_on or (g == g and g <= t_launch) \
                or self._ops:
            # A wait for a pilot or a sector slot, or a stand-down, or an operations feature
            # the fast path is not proven under (FastPath.starts_inline): the general path.
            self.state[d] = RESERVED
            self._begin(d)
            return
        out = leg_s(distance_m, spec.speed_m_s, spec.climb_s, spec.descent_s)
        self._take_off(d, i, pool, now, distance_m, delay_s, t_launch, out)

    def _take_off(self, d: int, i: int, pool: Any, now: float, dist: float, delay: float,
                  t_launch: float, out: float) -> None:
        """The common case of :meth:`send` (and of :meth:`decide_first`) from the pilot on: a
        pilot at once (:meth:`_begin`), then the mission's times (:meth:`_cleared`) with the
        ``[drones]`` airframe, its list made and its landing pushed (:meth:`_land`), inline.
        :meth:`nearest_ready` chose d with the charge this leg needs now, so there is no wait
        for charge; ``out`` is the flight dock to scene."""
        pool.free -= 1
        self._pilot_pool[d] = pool
        battery = self._endurance if self._full else self.battery_at(d, t_launch)
        t_scene = t_launch + out
        spare = spare_charge_s(battery, out, out, self._reserve)
        latest = t_scene + (spare if spare > 0.0 else 0.0)
        self.state[d] = FLYING
        if self._exponential:
            leave = t_scene + self._loiter[i]
            reason = _TASK_DONE
            if not leave < latest:
                leave, reason = latest, _BATTERY
        else:
            leave, reason = self._leave_time(i, t_scene, latest)
        land = leave + out
        ev = self._Call()
        ev.callbacks = self._landed_cbs
        ev.arg = d
        self._m[d] = [i, now, dist, delay, now, t_launch, battery, t_launch, battery, t_scene,
                      latest, out, leave, land, reason, ev, 0]
        heappush(self._queue, (now + (land - now), 1, next(self._eid), ev))

    def _start(self, d: int, i: int) -> None:
        self.dock_idle[self.dock_of[d]] -= 1
        self.n_idle -= 1
        self.state[d] = RESERVED
        self.incident_of[d] = i
        if self._deferred is not None:
            self._deferred.append(d)
        else:
            self._begin(d)

    def defer_starts(self) -> None:
        """Hold the missions started from now on until :meth:`begin_deferred`: the
        dispatcher offers a free drone to its whole queue before any mission goes on (as a
        process started in SimPy begins only after the step that started it)."""
        self._deferred = []

    def begin_deferred(self) -> None:
        held, self._deferred = self._deferred, None
        for d in held or ():
            self._begin(d)

    def _begin(self, d: int) -> None:
        """The mission starts at the dock: wait for charge if short, then ask for a pilot."""
        i = self.incident_of[d]
        spec = self.spec
        dist = self._dist[d]
        k = self.dock_of[d]
        need = charge_needed_s(dist, self._need_spd[k], spec.climb_s, spec.descent_s,
                               spec.min_on_scene_s, spec.reserve_s)
        now = self.env._now
        b = self._end[d] if self._full_k[k] else self.battery_at(d, now)
        if b < need:
            self.env.at(now + self._charge_wait(d, need, b, now), self._charged, d)
            return
        pool = self._room_of[self._svc[i]]
        if pool.free > 0 and not pool._waiting:
            # A pilot at once (SlotPool.take and _pilot, inline on this hot path).
            pool.free -= 1
            self._pilot_pool[d] = pool
            self._t_pilot[d] = now
            if self._sectors_on:
                self._sector(d, i, now)
            else:
                self._cleared(d)
        else:
            self._want_pilot(d)

    def _charged(self, ev: Any) -> None:
        self._want_pilot(ev.arg)

    def _want_pilot(self, d: int) -> None:
        """Ask the incident's control room for a pilot; wait no longer than max_queue_wait_s
        from the decision (the wait for a pilot counts against the same limit as the wait for a
        drone)."""
        i = self.incident_of[d]
        now = self.env._now
        pool = self._room_of[self._svc[i]]
        self._pilot_pool[d] = pool
        ticket = pool.take(self._rank[i], now, d)
        if ticket is None:
            self._pilot(d)
            return
        limit = self.max_wait_s - (now - self._t_decision[i])
        if math.isfinite(limit):
            self.env.at(now + max(0.0, limit), self._pilot_deadline, (d, ticket))

    def _pilot_deadline(self, ev: Any) -> None:
        d, ticket = ev.arg
        if not ticket:  # granted meanwhile
            return
        SlotPool.cancel(ticket)
        i = self.incident_of[d]
        self._stand_down(d, i)
        self.rec.drone_outcome[i] = _ABANDONED
        self.rec.range_of[i].open -= 1
        now = self.env._now
        self._to_idle(d, self.battery_at(d, now), now)

    def _pilot(self, d: int) -> None:
        """Drone d's mission has a pilot: take a sector slot if sectors are capped."""
        i = self.incident_of[d]
        now = self.env._now
        self._t_pilot[d] = now
        if self._sectors_on:
            self._sector(d, i, now)
        else:
            self._cleared(d)

    def _sector(self, d: int, i: int, now: float) -> None:
        """Take a slot in the incident's airspace sector, or wait for one."""
        sectors = self.sectors
        assert sectors is not None  # (only while _sectors_on)
        pool = sectors.pool(self._svc[i], self._ix[i], self._iy[i])
        self._sector_pool[d] = pool
        if pool.take(self._rank[i], now, d) is None:
            self._cleared(d)  # else _cleared when a slot is released to it

    def _cleared(self, d: int) -> None:
        """Pilot (and sector slot) in hand: fix the mission's times, or stand down."""
        env, spec, rec = self.env, self.spec, self.rec
        i = self.incident_of[d]
        now = env._now
        if self._sectors_on:
            rec.t_sector[i] = now
        # Authorisation: crossing a restriction zone in "authorise" mode, plus the airspace
        # management service's latency; sought before launch, and it covers the return leg.
        delay = self._delay[d]
        delay = (0.0 if delay != delay else delay) + self._sector_delay
        self._delay[d] = delay
        t_launch = now + delay + spec.launch_overhead_s
        k = self.dock_of[d]
        speed = self._spd[k]
        gr = self.grounding
        if gr is not None:  # weather and night (dronesim.engine.availability)
            code = gr.reason_at(t_launch)
            if code:  # grounded when it would take off: stand down, with the reason
                self._grounded(d, i, code, now)
                return
        legs = self.per_leg
        if legs is not None:  # the per-leg effects (dronesim.engine.legs)
            extra, out, back, code, drain = legs.launch(t_launch, self._dock_x[k],
                                                        self._dock_y[k], self._ix[i],
                                                        self._iy[i], self._dist[d], speed)
            if code:  # a leg it cannot fly: grounded, with the reason
                self._grounded(d, i, code, now)
                return
            t_launch += extra
        g = self._t_ground[i]
        if g == g and g <= t_launch:  # (g == g: not NaN)
            # Ground already on scene: stand the drone down before it takes off.
            self._release(d)
            self._stand_down(d, i)
            rec.drone_outcome[i] = _CANCELLED
            rec.range_of[i].open -= 1
            self._to_idle(d, self.battery_at(d, now), now)
            return
        dist = self._dist[d]
        if legs is None:  # the calm strategy
            out = leg_s(dist, speed, spec.climb_s, spec.descent_s)  # dock to scene
            back = out  # scene to dock (same path)
            reserve = spec.reserve_s
        else:
            if back != back:  # (NaN: the leg home is the leg out)
                back = out
            reserve = spec.reserve_s + drain  # (and the legs' drain beyond their seconds)
        battery = self._end[d] if self._full_k[k] else self.battery_at(d, t_launch)
        t_scene = t_launch + out
        latest = t_scene + max(0.0, spare_charge_s(battery, out, back, reserve))
        duty = self.duty
        if duty is not None and duty.rate_h > 0:
            t_fail = self._fail[d] = duty.fault_time(d, t_launch)
            if t_fail < t_scene:  # a fault on the way out: turn back at once
                self._outbound_fault(d, i, t_launch, t_fail, battery, dist, delay)
                return
            latest = min(latest, t_fail)
        self.state[d] = FLYING
        if self._exponential:
            leave = t_scene + self._loiter[i]
            reason = _TASK_DONE
            if not leave < latest:
                leave, reason = latest, _BATTERY
        else:
            leave, reason = self._leave_time(i, t_scene, latest)
        land = leave + back
        m = self._m[d] = [i, self._t_assigned[d], dist, delay, self._t_pilot[d], t_launch,
                          battery, t_launch, battery, t_scene, latest, back, leave, land, reason,
                          None, 0]
        if legs is not None:  # the legs' drain beyond their airborne seconds, taken at launch
            m[_M_BATTERY] = battery - drain  # (the landing charge and pre-emption count it)
        if reason == _BATTERY and self.relief is not None and not self._exponential:
            self.relief.watch(d, i)  # home before the ground unit: a relief may come
        self._land(m, d, now + (land - now))

    def _grounded(self, d: int, i: int, code: int, now: float) -> None:
        """Drone d, cleared for incident i, is grounded (reason ``code``) when it would take
        off: stand down, with the reason."""
        rec = self.rec
        self._release(d)
        self._stand_down(d, i)
        rec.drone_outcome[i] = _GROUNDED
        rec.grounded_reason[i] = code
        rec.range_of[i].open -= 1
        self._to_idle(d, self.battery_at(d, now), now)

    def _land(self, m: Mission, d: int, t: float) -> None:
        """Schedule the landing of drone d (mission m) at t (Kernel.at, inline); an earlier
        one is void."""
        ev = self._Call()
        ev.callbacks = self._landed_cbs
        ev.arg = d
        m[_M_EV] = ev
        heappush(self._queue, (t, 1, next(self._eid), ev))

    def _in_flight(self, d: int) -> Mission:
        """The mission of drone d, which the caller knows is flying (not for hot paths)."""
        m = self._m[d]
        if m is None:
            raise RuntimeError(f"drone {d} has no mission in flight")
        return m

    def _leave_time(self, i: int, t_scene: float, latest: float) -> tuple[float, int]:
        if self._exponential:
            t = t_scene + self._loiter[i]
            return (t, _TASK_DONE) if t < latest else (latest, _BATTERY)
        g = self._t_ground[i]
        if not math.isnan(g):
            t = max(g + self.spec.handover_s, t_scene)
            if t < latest:
                return t, _GROUND
        return latest, _BATTERY

    def _schedule_landing(self, d: int, i: int, m: Mission) -> None:
        """Time the landing of drone d (mission m) at incident i anew."""
        leave, reason = self._leave_time(i, m[_M_SCENE], m[_M_LATEST])
        back = m[_M_BACK]
        m[_M_LEAVE] = leave
        m[_M_LAND] = leave + back
        m[_M_REASON] = reason
        if reason == _BATTERY and self.relief is not None and not self._exponential:
            self.relief.watch(d, i)
        now = self.env._now
        self._land(m, d, now + (leave + back - now))

    def ground_eta_known(self, i: int) -> None:
        """The ground arrival of incident i is now known: shorten the loiter if flying."""
        if self.relief is not None:
            self.relief.ground_eta_known(i)
        d = self.rec.drone_id[i]
        if d >= 0 and self.incident_of[d] == i and self.state[d] == FLYING:
            m = self._m[d]
            if m is None or m[_M_SCENE] != m[_M_SCENE]:  # (NaN: turned back by a fault)
                return
            if self.env._now < m[_M_LEAVE]:  # not yet on the way home
                self._schedule_landing(d, i, m)
            else:  # already homeward: same landing, re-timed from now
                leave, back = m[_M_LEAVE], m[_M_BACK]
                now = self.env._now
                self._land(m, d, now + (leave + back - now))

    def _landed(self, ev: Any) -> None:
        d = ev.arg
        m = self._m[d]
        if m is None or m[_M_EV] is not ev:
            return  # rescheduled
        self._m[d] = None
        t_land = self.env._now
        pool = self._pilot_pool[d]
        if pool is not None:
            self._pilot_pool[d] = None
            if pool.pending_blocks or pool._waiting:
                pool.release()
            else:  # SlotPool.release with nothing to settle, inline
                pool.free += 1
        if self._sector_pool[d] is not None:
            self._release(d)
        b_land = m[_M_BATTERY] - (t_land - m[_M_LAUNCH])
        i = m[_M_I]
        duty = self.duty
        if duty is not None:  # faults and maintenance (dronesim.engine.availability)
            t_fail = self._fail[d]
            failed = t_fail <= t_land
            outbound = m[_M_SCENE] != m[_M_SCENE]  # (NaN: turned back before the scene)
            left = failed and not outbound and m[_M_LEAVE] >= t_fail - 1e-9
            if left:
                m[_M_REASON] = _FAULT_LEAVE  # left the scene when the fault came
            if outbound:
                self.rec.drone_outcome[i] = _FAULT
            self._fail[d] = math.inf
            duty.landed(d, m[_M_LAUNCH], t_land, failed, outbound, left)
            if failed:
                m[_M_FLAGS] |= _FAULT_FLAG
        # The mission is the leg's row (Records.legs): its end, and the drone.
        m[_M_LAND] = t_land
        m[_M_EV] = d
        legs = self._legs  # Records.log_leg, inline (the hot path)
        legs.append(m)
        if len(legs) >= self._leg_block:
            self.rec.pack_legs()
        self._range_of[i].open -= 1
        if self._holds:  # out of service on landing (duty holds): _to_idle decides
            self._to_idle(d, b_land, t_land)
            return
        # _to_idle, inline.
        self.dock_idle[self.dock_of[d]] += 1
        self.n_idle += 1
        self.state[d] = IDLE
        self.battery0[d] = b_land
        self.t0[d] = t_land
        self.incident_of[d] = -1
        if self.booked[d] >= 0 or self.waiting:
            self._next_after_idle(d)

    def _outbound_fault(self, d: int, i: int, t_launch: float, t_fail: float,
                        battery: float, dist: float, delay: float) -> None:
        """A fault on the way out (see dronesim.engine.availability): the drone turns back at
        ``t_fail`` and flies home as far as it came; the incident gets no drone (its leg has
        no on-scene time, and the outcome ``fault``)."""
        self.state[d] = FLYING
        back = t_fail - t_launch
        land = t_fail + back
        m = self._m[d] = [i, self._t_assigned[d], dist, delay, self._t_pilot[d], t_launch,
                          battery, t_launch, battery, math.nan, t_fail, back, t_fail, land,
                          _FAULT_LEAVE, None, 0]
        now = self.env._now
        self._land(m, d, now + (land - now))

    def _release(self, d: int) -> None:
        """Give back the pilot and sector slot of drone d's mission."""
        pool = self._pilot_pool[d]
        self._pilot_pool[d] = None
        if pool is not None:
            pool.release()
        spool = self._sector_pool[d]
        self._sector_pool[d] = None
        if spool is not None:
            spool.release()

    def _close_leg(self, d: int, m: Mission, leave: float, t_end: float, reason: int) -> None:
        """Log the current leg of drone d (mission m) in Records.legs, ended at ``t_end``."""
        row = m[:]
        row[_M_LEAVE] = leave
        row[_M_LAND] = t_end
        row[_M_REASON] = reason
        row[_M_EV] = d
        self.rec.log_leg(row)

    def _stand_down(self, d: int, i: int) -> None:
        """Log drone d's assignment to incident i, ending without a leg (Records.stood_down)."""
        self.rec.stood_down.append((i, d, self._t_assigned[d], self._t_pilot[d], self._dist[d],
                                    self._delay[d]))

    def open_assignments(self) -> None:
        """Log every assignment still in hand (or booked) as stood down, so that its columns
        reach the records; for a run that ends with some (a drained run has none)."""
        for d in range(self.size):
            if self.booked[d] >= 0:
                t, dist, delay = self._booking[d]
                self.rec.stood_down.append((self.booked[d], d, t, math.nan, dist, delay))
            if self.incident_of[d] >= 0 and self.state[d] == RESERVED:
                self._stand_down(d, self.incident_of[d])

    # --- pre-emption ------------------------------------------------------------------------
    def preemption_candidate(self, i: int, now: float) -> tuple[int, float] | None:
        """The drone on scene at a strictly lower-ranked incident that can reach i first.

        It must have the charge to fly to i, stay ``min_on_scene_s``, fly home and keep its
        reserve. Returns ``(drone, hop distance)`` or None.
        """
        spec = self.spec
        xi, yi = self._ix[i], self._iy[i]
        best, best_t = None, math.inf
        for d in range(self.size):
            if self.state[d] != FLYING or self.booked[d] >= 0:
                continue
            j = self.incident_of[d]
            if j < 0 or self._rank[j] <= self._rank[i]:
                continue
            m = self._m[d]
            if m is None or not (m[_M_SCENE] <= now < m[_M_LEAVE]):
                continue
            hop = math.hypot(xi - self._ix[j], yi - self._iy[j])
            k = self.dock_of[d]
            v = self._spd[k]
            home = math.hypot(xi - self._dock_x[k], yi - self._dock_y[k])
            remaining = m[_M_BATTERY] - (now - m[_M_LAUNCH])
            legs = self.per_leg
            if legs is not None:  # the per-leg effects (dronesim.engine.legs)
                t_hop, home_s, drain = legs.hop(now, self._ix[j], self._iy[j], xi, yi, hop,
                                                self._dock_x[k], self._dock_y[k], home, v)
                need = preempt_legs_charge_s(t_hop, home_s, spec) + drain
            else:
                need = preempt_charge_s(hop, home, v, spec)
                t_hop = hop / v
            if remaining < need or home > self._range_k[k]:
                continue
            t = now + t_hop
            if t < best_t:
                best, best_t = (d, hop), t
        return best

    def redirect(self, d: int, j: int, hop: float) -> None:
        """Send drone d, on scene at a lower-ranked incident, straight on to incident j.

        The pilot and sector slot of the first incident stay with the drone."""
        rec, spec = self.rec, self.spec
        now = self.env._now
        rec.drone_id[j] = d
        i = self.incident_of[d]
        m = self._in_flight(d)
        battery, t_launch = m[_M_BATTERY], m[_M_LAUNCH]
        self._close_leg(d, m, now, now, _PREEMPTED)
        rec.preempted_by[i] = rec.gid[j]
        rec.range_of[i].open -= 1
        self.incident_of[d] = j
        m[_M_I] = j
        m[_M_ASSIGNED] = now
        m[_M_DIST] = hop
        m[_M_DELAY] = math.nan
        m[_M_PILOT] = m[_M_LEG_LAUNCH] = now
        m[_M_LEG_BATTERY] = battery - (now - t_launch)
        k = self.dock_of[d]
        home = math.hypot(self._ix[j] - self._dock_x[k], self._iy[j] - self._dock_y[k])
        legs = self.per_leg
        if legs is not None:  # the per-leg effects (dronesim.engine.legs)
            hop_s, back, drain = legs.hop(now, self._ix[i], self._iy[i], self._ix[j],
                                          self._iy[j], hop, self._dock_x[k], self._dock_y[k],
                                          home, self._spd[k])
            t_scene = now + hop_s
            battery -= drain  # (the legs' drain beyond their seconds: see _cleared)
            m[_M_BATTERY] = battery
        else:
            t_scene = now + hop / self._spd[k]
            back = leg_s(home, self._spd[k], spec.climb_s, spec.descent_s)
        m[_M_SCENE] = t_scene
        m[_M_BACK] = back
        m[_M_LATEST] = min(t_scene + max(0.0, spare_charge_s(battery, t_scene - t_launch, back,
                                                             spec.reserve_s)), self._fail[d])
        self._schedule_landing(d, j, m)

    def _to_idle(self, d: int, battery: float, t: float) -> None:
        if self._holds and self.hold[d] and (self.booked[d] < 0 or self.hold[d] & _HARD_HOLD):
            # Back at the dock but out of service (roster, repair, ...): charges, not offered.
            # A mission booked on its return goes first if the hold is a roster's; after a
            # fault or for maintenance the booked incident waits for another drone.
            self.state[d] = OFF
            self.battery0[d] = battery
            self.t0[d] = t
            self.incident_of[d] = -1
            booked = self.booked[d]
            if booked >= 0:
                self.booked[d] = -1
                self.on_unbook(booked)
            return
        self.dock_idle[self.dock_of[d]] += 1
        self.n_idle += 1
        self.state[d] = IDLE
        self.battery0[d] = battery
        self.t0[d] = t
        self.incident_of[d] = -1
        self._next_after_idle(d)

    def _next_after_idle(self, d: int) -> None:
        """Drone d is idle at its dock: start its booked mission, or offer it to the queue."""
        booked = self.booked[d]
        if booked >= 0:
            self.booked[d] = -1
            self._t_assigned[d], self._dist[d], self._delay[d] = self._booking[d]
            self._t_pilot[d] = math.nan
            self._start(d, booked)
        elif self.waiting:
            self.on_free(d)

    # --- incidents resolved by the drone (dronesim.engine.ground.DroneResolution) -----------
    def on_scene(self, i: int) -> bool:
        """A drone is on scene at incident i now (arrived, not yet leaving)."""
        d = self.rec.drone_id[i]
        if d < 0 or self.incident_of[d] != i or self.state[d] != FLYING:
            return False
        now = self.env._now
        m = self._m[d]
        return m is not None and m[_M_SCENE] <= now < m[_M_LEAVE]

    def resolved(self, i: int) -> None:
        """The drone on scene at incident i resolved it (no ground unit comes): it leaves once
        it has been there ``min_on_scene_s``, or when its battery says so."""
        d = self.rec.drone_id[i]
        now = self.env._now
        m = self._in_flight(d)
        leave = max(now, m[_M_SCENE] + self.spec.min_on_scene_s)
        reason = _RESOLVED
        if not leave < m[_M_LATEST]:
            leave, reason = m[_M_LATEST], m[_M_REASON]
        back = m[_M_BACK]
        m[_M_LEAVE] = leave
        m[_M_LAND] = leave + back
        m[_M_REASON] = reason
        self._land(m, d, now + (leave + back - now))

    # --- out of service (dronesim.engine.availability.Duty) ----------------------------------
    def hold_drone(self, d: int, bit: int) -> None:
        """Hold drone d out of service for a reason (a bit); an idle drone leaves at once, a
        busy one when its mission (and a mission booked on its return) is over."""
        self._holds = True
        was = self.hold[d]
        self.hold[d] = was | bit
        if not was and self.state[d] == IDLE:
            self.state[d] = OFF
            self.dock_idle[self.dock_of[d]] -= 1
            self.n_idle -= 1

    def release_drone(self, d: int, bit: int) -> None:
        """End one reason of drone d's hold; back in service when none is left."""
        self.hold[d] &= ~bit
        if not self.hold[d] and self.state[d] == OFF:
            self.state[d] = IDLE
            self.dock_idle[self.dock_of[d]] += 1
            self.n_idle += 1
            if self.waiting:
                self.on_free(d)


class CurvedFleet(Fleet):
    """A fleet whose docks charge on a curve other than linear (``Features.charging_curve``):
    constant-current / constant-voltage charging (``[drones] charging = "cccv"``,
    :func:`dronesim.kinematics.cccv_charge_s`) and battery swaps (``[[docks]] swap_s``: a drone
    landed at such a dock holds the charge it landed with until the swap is done, ``swap_s``
    after landing, and is full from then; a landed drone with the charge a dispatch needs may
    fly before the swap). Only :meth:`battery_at` and :meth:`_charge_wait` differ, so with the
    feature off the plain :class:`Fleet` runs, its hot paths unchanged."""

    __slots__ = ("_knee", "_cutoff", "_cccv", "_swap")

    def set_charging(self, scn: Any) -> None:
        """Read the curve (``[drones]``) and each drone's dock's swap time (``[[docks]]``, in
        the fleet's dock order)."""
        d = scn.drones
        self._cccv = d.charging == "cccv"
        self._knee, self._cutoff = float(d.cccv_knee), float(d.cccv_cutoff)
        swap_k = [float(dock.swap_s) for dock in scn.docks]
        self._swap = [swap_k[k] for k in self.dock_of]

    def battery_at(self, d: int, t: float) -> float:
        swap = self._swap[d]
        if swap > 0:
            return self._end[d] if t >= self.t0[d] + swap else min(self._end[d],
                                                                  self.battery0[d])
        rate = self._rt[d]
        if rate == math.inf:
            return self._end[d]
        if self._cccv:
            return cccv_charge_s(self.battery0[d], t - self.t0[d], self._end[d], rate,
                                 self._knee, self._cutoff)
        return min(self._end[d], self.battery0[d] + (t - self.t0[d]) * rate)

    def _charge_wait(self, d: int, need: float, battery: float, t: float) -> float:
        swap = self._swap[d]
        if swap > 0:  # full when the swap is done (t0: the landing, or t's own landing)
            t0 = self.t0[d] if self.state[d] != FLYING else t
            return max(0.0, t0 + swap - t)
        if self._cccv:
            return cccv_wait_s(need, battery, self._end[d], self._rt[d], self._knee,
                               self._cutoff)
        return charge_wait_s(need, battery, self._rt[d])
