"""Ground response: units of a service, patrolling their borough or based at fire stations,
and a road travel model.

Modelling assumptions: ``base = "patrol"`` (police, ambulance)
---------------------------------------------------------------
* Each borough has its own units (police response cars, ambulances). The count follows a
  staffing rule: ``ceil(on-scene workload / staffing_utilisation)``, where the workload is the
  borough's expected incidents per second x ``on_scene_mean_s`` (at least
  ``min_units_per_borough``). The true number of Met response units on patrol is not
  published; ``staffing_utilisation`` is the calibrated parameter (see the scenario files).
* Idle units patrol: they start at points drawn from the service's demand weight in their
  borough and, after clearing an incident, resume patrol from where it was.
* At dispatch (call + call handling) the nearest idle unit of the borough goes; if none is idle
  the incident waits in the borough's queue (priority, then call time) for the next unit to clear.
* Mutual aid (``mutual_aid``; off by default): an incident still waiting ``mutual_aid_delay_s``
  after its dispatch moment takes the nearest idle unit of a neighbouring borough (``"neighbours"``,
  :meth:`dronesim.inputs.geography.London.borough_neighbours`), of another borough of its Basic
  Command Unit (``"bcu"``, :func:`basic_command_units`) or of any borough (``"london"``), within
  ``mutual_aid_max_distance_m`` (straight line) of the incident. If none is idle then, it keeps its
  place in its own borough's queue and is also offered to the next unit of those boroughs to clear
  with nothing to do at home (a unit serves its own borough's queue first). The record names the
  aiding unit's borough (``mutual_aid_from``). Since 2019 the Met runs emergency response in 12
  Basic Command Units of two to four boroughs, sharing "people, buildings and resources" across
  borough boundaries; with units confined to their borough a small borough's queue has no relief, so
  the model's worst boroughs (Richmond upon Thames: mean 16:40, P90 37:42 in the Met baseline) wait
  far longer than any published borough figure. The delay and the distance are assumptions
  (defaults: 5 minutes, 10 km; 0 s with ``"bcu"`` pools a BCU's units at once, own borough first).
* Ambulances are modelled the same way: the London Ambulance Service publishes no open list of
  its stations and standby points (../shared/data/README.md section 7), and its vehicles spend
  much of a shift on the move between jobs and standby points, which roaming the borough
  approximates.
* Conveyance (``conveyance_share``; off by default): a share of the incidents, by priority,
  ends with a drive to the nearest type 1 emergency department and a handover there; the unit
  is free again at the hospital and resumes patrol from it, and the staffing rule counts the
  expected conveyance and handover in the job time (:mod:`dronesim.engine.conveyance`).

Modelling assumptions: ``base = "stations"`` (fire)
---------------------------------------------------
* ``units_per_station`` units (pumps) at each of the 102 London Fire Brigade land stations
  (:func:`dronesim.inputs.sources.fire_stations`). LFB runs about 150 pumps from 102 stations;
  the model sends one unit (the first pump) per incident, so one unit per station is the default.
* Dispatch: the nearest station with an idle unit, London-wide, by straight-line distance (a
  batched :class:`scipy.spatial.cKDTree` query gives each incident's nearest stations once per
  run; the first with an idle unit is taken, with an exact scan of every station when none of
  those has one). With no unit idle anywhere the incident waits in one London-wide queue
  (priority, then call time) and the next unit to become available takes it.
* After clearing, a unit drives back to its station by the same road model (without turnout,
  with the incident's travel factor) and is available again only once back. LFB can re-assign
  appliances on their way home; counting them unavailable until back is the cautious choice.

Modelling assumptions: ``base = "none"``
---------------------------------------
* No ground response at all (drones-only models, compared like for like with reference models
  that have no ground side): ground timestamps stay NaN and drones leave the scene on their own
  task time (``drones.loiter = "exponential"``).

Events: a unit's clear (patrol) or return to station (fire) is one kernel callback; nothing
else of the ground side is an event.

Travel
------
Travel time = turnout (``turnout_s``, optionally lognormal per incident with ``turnout_cv``) +
road time x a mean-one lognormal factor (``travel_cv``; Budge et al. 2010 for variability). The
road time is the service's travel model (``ground.travel_model``, :mod:`dronesim.inputs.travel`:
by default the model fitted to the LFB sample, with a Kolesar-Walker distance curve, hour-of-week
and borough factors and a Thames-crossing term; ``"straight"``: ``circuity`` x straight-line
distance / ``speed_m_s``). Every road leg (to the incident, back to the station, a dispatcher's
prediction, mutual aid) is one call of :meth:`_Force.road_s`; what depends on the incident only
(hour of week, borough) is computed once per incident when its chunk is loaded. When the model
needs of a point only its side (``TravelModel.sided``: the fitted model's bank of the Thames),
each incident's side is computed with its chunk, each unit's and station's is kept as it moves,
and a leg compares two kept sides instead of looking both points up (the same time, bit for
bit: ``tests/test_ground_fast.py``). Fire stations
are ranked by predicted road time among each incident's nearest stations (by straight line),
so with the fitted model a station across the river can lose to a farther one on the same bank.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError
from ..inputs.demand import WEEK_S, Incidents
from ..inputs.geography import London
from ..inputs.scenario import ServiceSpec
from ..inputs.sources import fire_stations
from ..inputs.streams import Streams
from ..inputs.travel import StraightTravel, TravelModel, make_travel_model
from .conveyance import expected_busy_s, make_conveyance
from .records import Records

if TYPE_CHECKING:
    from .kernel import Kernel

__all__ = ["units_per_borough", "travel_time_s", "GroundForce", "StationForce", "NoForce",
           "DroneResolution", "make_force", "basic_command_units"]


def travel_time_s(distance_m: np.ndarray | float, spec_turnout_s: float, circuity: float,
                  speed_m_s: float, factor: np.ndarray | float = 1.0) -> np.ndarray | float:
    """Road travel model: turnout + circuity x distance / speed, scaled by a variability factor."""
    return spec_turnout_s + circuity * np.asarray(distance_m) / speed_m_s * factor


def basic_command_units(london: London) -> list[str]:
    """The Met Basic Command Unit of each borough ("" for the City of London, policed by the
    City of London Police), from ``data/calibration/met_bcu.csv``: the 12 BCUs the Met
    announced on 13 February 2018 and completed in early 2019 (Local Government Lawyer, "Met
    Police to scrap borough model in favour of 12 basic command units", and MayorWatch, both
    quoting the Met; Mayor's answer 2019/6437), in which "people, buildings and resources will
    be shared across the borough boundaries"."""
    import pandas as pd

    path = london.data_dir / "calibration" / "met_bcu.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("gss_code")["bcu"]
    codes = list(london.borough_codes)
    missing = [c for c in codes if c not in table.index]
    if missing:
        raise InputError(path, "gss_code", f"no Basic Command Unit for {', '.join(missing)}")
    return [table[c] for c in codes]


def borough_demand_share(spec: ServiceSpec, london: London) -> np.ndarray:
    """Share of the service's incidents falling in each borough."""
    w = london.weights(spec.spatial_weight)
    per = np.bincount(london.lsoa_borough, weights=w, minlength=london.n_boroughs)
    return per / per.sum()


def units_per_borough(spec: ServiceSpec, london: London,
                      travel: TravelModel | None = None) -> np.ndarray:
    """Units per borough from the staffing rule (see module docstring)."""
    g = spec.ground
    rate = spec.incidents_per_week / WEEK_S * borough_demand_share(spec, london)
    load = rate * g.on_scene_mean_s
    if g.conveys:  # conveyance and handover are part of the job (conveyance.py)
        load = rate * (g.on_scene_mean_s + expected_busy_s(spec, london, travel))
    return np.maximum(g.min_units_per_borough,
                      np.ceil(load / g.staffing_utilisation)).astype(np.int64)


class _Force:
    """What every ground force shares: incident columns by key, the travel model, records."""

    size = 0
    #: The unit id (unique over the services) of each of the force's units.
    unit_ids: list[int]

    def __init__(self, env: Kernel, spec: ServiceSpec, rec: Records,
                 on_eta: Callable[[int], None], travel: TravelModel | None = None) -> None:
        self.env = env
        self.spec = spec.ground
        self.rec = rec
        self.on_eta = on_eta
        g = self.spec
        #: The service's road travel model (module docstring: Travel); built by make_force,
        #: straight-line when a force is made without one.
        self.travel: TravelModel = (travel if travel is not None
                                    else StraightTravel(g.circuity, g.speed_m_s))
        self._drive = self.travel.drive_s
        #: The travel model needs of a point only its side (TravelModel.sided): each road leg
        #: then takes the sides kept for its ends (an incident's from load(), a unit's or a
        #: station's when it is placed) instead of looking the points up.
        self._sided = self.travel.sided
        self._sided_s = self.travel.sided_s
        #: Per incident key: hour-of-week x borough factor of the travel model, and the
        #: incident's side (TravelModel.side) (load()).
        self._scale: list[float] = []
        self._side: list[int] = []
        # Incident columns by key (Python lists: numpy scalar access is slower in a loop).
        self._x, self._y = rec.x, rec.y
        self._f = rec.travel_factor
        self._turn = rec.turnout_s
        self._on = rec.ground_on_scene_s
        self._prio = rec.priority
        self._tcall = rec.t_call
        self._gid = rec.gid
        self._drone_id = rec.drone_id
        self._range_of = rec.range_of
        # Result columns the ground side writes (lists, grown in place: safe to keep).
        self._t_disp, self._t_arr, self._t_clear = (rec.t_ground_dispatch, rec.t_ground_arrival,
                                                    rec.t_ground_clear)
        self._unit_col, self._dist_col = rec.ground_unit, rec.ground_distance_m
        # A unit's clear (or return) is pushed on the kernel's queue directly, as the fleet's
        # landings are (Kernel.Call: the same entry Kernel.at makes, one call less).
        # (SimPy types its queue for its own Event; the kernel's stand-in events share it.)
        self._queue = cast("list[tuple[float, int, int, Any]]", env._queue)
        self._eid = env._eid
        self._Call = type(env).Call
        self._free_cbs = [self._free]

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        """A chunk of incidents has keys ``start + row``; ``mine`` are this service's rows.
        Precomputes each incident's travel scale (hour of week x borough)."""
        need = start + len(inc)
        if len(self._scale) < need:
            self._side.extend([0] * (need - len(self._scale)))
            self._scale.extend([1.0] * (need - len(self._scale)))
        if mine.size == 0:
            return
        scale = self.travel.incident_scale(inc.t_call[mine], inc.borough[mine]).tolist()
        side = self.travel.sides(inc.x[mine], inc.y[mine]).tolist()
        if int(mine[-1]) - int(mine[0]) + 1 == mine.size:  # consecutive rows (one service: all)
            lo = start + int(mine[0])
            self._scale[lo:lo + mine.size] = scale
            self._side[lo:lo + mine.size] = side
            return
        for key, v, sd in zip((start + mine).tolist(), scale, side):
            self._scale[key] = v
            self._side[key] = sd

    def road_s(self, i: int, x0: float, y0: float, x1: float, y1: float) -> float:
        """Drive time from (x0, y0) to (x1, y1) for incident ``i`` (its hour, borough and
        variability factor; no turnout): the one road-time function of the ground side."""
        dx = x0 - x1
        dy = y0 - y1
        side = self.travel.side
        return self._road(i, math.sqrt(dx * dx + dy * dy), x0, y0, side(x0, y0), x1, y1,
                          side(x1, y1))

    def _road(self, i: int, dist: float, x0: float, y0: float, s0: int, x1: float, y1: float,
              s1: int) -> float:
        """:meth:`road_s` with the straight-line distance and the two ends' sides
        (``s0``, ``s1``: ``travel.side`` of each) already known."""
        if self._sided:  # the model needs only the distance and the sides
            return self._sided_s(dist, s0, s1, self._scale[i]) * self._f[i]
        return self._drive(dist, x0, y0, x1, y1, self._scale[i]) * self._f[i]

    def _expected_arrival(self, i: int, now: float, dist: float, x0: float, y0: float
                          ) -> float:
        """Expected end of call handling plus expected travel from (x0, y0), as a dispatcher
        would predict (no variability)."""
        g = self.spec
        t_dispatch = max(now, self._tcall[i] + g.call_handling_mean_s)
        return t_dispatch + g.turnout_s + self._drive(dist, x0, y0, self._x[i], self._y[i],
                                                      self._scale[i])

    def dispatch(self, i: int) -> None:
        """Call handling of incident ``i`` has ended: send a unit, or queue it."""
        raise NotImplementedError

    def estimate_arrival(self, i: int, now: float) -> float:
        """When a ground unit is expected on scene at incident ``i`` (NaN: none)."""
        raise NotImplementedError

    def _free(self, ev: Any) -> None:
        """A unit is free again (``ev.arg``): its next job, or idle."""
        raise NotImplementedError

    def _record(self, u: int, i: int, dist: float, now: float, arrive: float,
                clear: float) -> None:
        # (GroundForce._send writes this out inline: keep the two in step.)
        self._t_disp[i] = now
        self._t_arr[i] = arrive
        self._t_clear[i] = clear
        self._unit_col[i] = self.unit_ids[u]
        self._dist_col[i] = dist
        self._range_of[i].open -= 1  # the ground side is final
        if self._drone_id[i] >= 0:  # a drone was assigned: its stay may end sooner
            self.on_eta(i)

    def _free_at(self, t: float, u: int) -> None:
        """Unit ``u`` is free again at ``t`` (its borough's or station's next job): the
        kernel calls the force's ``_free`` then."""
        ev = self._Call()
        ev.callbacks = self._free_cbs
        ev.arg = u
        heapq.heappush(self._queue, (t, 1, next(self._eid), ev))

    def _queue_entry(self, i: int) -> tuple[int, float, int, int]:
        return (self._prio[i], self._tcall[i], self._gid[i], i)


class GroundForce(_Force):
    """The ground units of one service, dispatched by nearest idle unit within the borough.

    The idle units of each borough are kept with their positions in parallel lists, so the
    nearest is one tight pass over that borough's idle units alone. A borough has a few tens of
    units, half of them idle at the calibrated staffing; at that size a spatial index (a grid
    or a KD-tree rebuilt as units move) costs more per search than the pass (measured: about
    1 us for 12 idle units).
    """

    def __init__(self, env: Kernel, name: str, spec: ServiceSpec, london: London,
                 rec: Records, streams: Streams, unit_offset: int,
                 on_eta: Callable[[int], None], travel: TravelModel | None = None) -> None:
        super().__init__(env, spec, rec, on_eta, travel)
        counts = units_per_borough(spec, london, self.travel)
        self.unit_borough = np.repeat(np.arange(london.n_boroughs), counts)
        n = self.size = int(self.unit_borough.size)
        self.unit_ids = (unit_offset + np.arange(n)).tolist()
        # Patrol start points: small area by demand weight within the borough, uniform inside.
        w = london.weights(spec.spatial_weight)
        rng = streams[f"{name}.units"]
        lsoa_b = london.lsoa_borough
        which = np.empty(n, np.int64)
        for b in range(london.n_boroughs):
            sel = np.flatnonzero(self.unit_borough == b)
            cand = np.flatnonzero(lsoa_b == b)
            wb = w[cand]
            p = wb / wb.sum() if wb.sum() > 0 else None
            which[sel] = rng.choice(cand, size=sel.size, p=p)
        ux, uy = london.sample_in_lsoa(which, rng)
        self.ux: list[float] = ux.tolist()
        self.uy: list[float] = uy.tolist()
        #: Each unit's side (travel.side of its position), kept as it moves.
        self.uside: list[int] = self.travel.sides(ux, uy).tolist()
        nb = london.n_boroughs
        self.idle: list[list[int]] = [[] for _ in range(nb)]
        self.idle_x: list[list[float]] = [[] for _ in range(nb)]
        self.idle_y: list[list[float]] = [[] for _ in range(nb)]
        for u, b in enumerate(self.unit_borough.tolist()):
            self.idle[b].append(u)
            self.idle_x[b].append(self.ux[u])
            self.idle_y[b].append(self.uy[u])
        self.queue: list[list[tuple]] = [[] for _ in range(nb)]
        self._b = rec.borough
        self._unit_borough = self.unit_borough.tolist()
        # Mutual aid (module docstring): who may help whom, and the incidents waiting for help.
        g = self.spec
        self.aid = g.mutual_aid != "off"
        if self.aid:
            if g.mutual_aid == "neighbours":
                self.aid_from = [list(n) for n in london.borough_neighbours()]
            elif g.mutual_aid == "bcu":
                unit = basic_command_units(london)
                self.aid_from = [[o for o in range(nb) if o != b and unit[o] and
                                  unit[o] == unit[b]] for b in range(nb)]
            else:
                self.aid_from = [[o for o in range(nb) if o != b] for b in range(nb)]
            self._aid_delay = float(g.mutual_aid_delay_s)
            self._aid_d2 = float(g.mutual_aid_max_distance_m) ** 2
            #: Per borough: entries of other boroughs' incidents past their delay that this
            #: borough's units may take (stale entries are dropped when met).
            self.aid_pending: list[list[tuple]] = [[] for _ in range(nb)]
            self._t_dispatch = rec.t_ground_dispatch
            self._aid_col = rec.mutual_aid_from
        # Conveyance to hospital and handover (conveyance.py; None when off).
        self.conv = make_conveyance(name, spec, london, rec, streams)

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        """Travel scales, and conveyance draws and nearest EDs (when conveyance is on)."""
        super().load(start, inc, mine)
        if self.conv is not None:
            self.conv.load(start, inc, mine)

    def dispatch(self, i: int) -> None:
        """Call handling is over for incident i: send the nearest idle unit, or queue."""
        b = self._b[i]
        idle = self.idle[b]
        if not idle:
            entry = self._queue_entry(i)
            heapq.heappush(self.queue[b], entry)
            if self.aid:
                if self._aid_delay > 0:
                    self.env.at(self.env._now + self._aid_delay, self._aid_due, entry)
                else:
                    self._seek_aid(entry)
            return
        x, y = self._x[i], self._y[i]
        xs, ys = self.idle_x[b], self.idle_y[b]
        best_k, best_d2 = 0, math.inf
        k = 0
        for px in xs:  # the nearest idle unit of the borough (the first if tied)
            dx = px - x
            dy = ys[k] - y
            d2 = dx * dx + dy * dy
            if d2 < best_d2:
                best_k, best_d2 = k, d2
            k += 1
        u = idle[best_k]
        idle[best_k] = idle[-1]
        idle.pop()
        xs[best_k] = xs[-1]
        xs.pop()
        ys[best_k] = ys[-1]
        ys.pop()
        self._send(u, i, math.sqrt(best_d2))

    def estimate_arrival(self, i: int, now: float) -> float:
        """Predicted ground arrival for incident i as a dispatcher would see it at ``now``.

        The actual arrival once a unit is on its way; before that, the expected end of call
        handling plus travel (without variability) from the nearest idle unit of the borough;
        NaN when no unit is idle (the wait for one is not predicted).
        """
        t = self.rec.t_ground_arrival[i]
        if not math.isnan(t):
            return float(t)
        b = self._b[i]
        if not self.idle[b]:
            return math.nan
        x, y = self._x[i], self._y[i]
        d, px, py = min((math.hypot(px - x, py - y), px, py)
                        for px, py in zip(self.idle_x[b], self.idle_y[b]))
        return self._expected_arrival(i, now, d, px, py)

    def _send(self, u: int, i: int, dist: float) -> None:
        # The per-incident path: _road, _record and _free_at written out (the same
        # arithmetic in the same order; one Python call each saved per incident).
        now = self.env._now
        x, y, side = self._x[i], self._y[i], self._side[i]
        if self._sided:  # (_road)
            road = self._sided_s(dist, self.uside[u], side, self._scale[i]) * self._f[i]
        else:
            road = self._drive(dist, self.ux[u], self.uy[u], x, y, self._scale[i]) * self._f[i]
        arrive = now + self._turn[i] + road
        clear = arrive + self._on[i]
        if self.conv is not None:  # conveyed: free at the hospital after the handover
            self._record(u, i, dist, now, arrive, clear)
            free, ux, uy = self.conv.after_scene(self, i, clear)
            self.ux[u], self.uy[u], self.uside[u] = ux, uy, self.travel.side(ux, uy)
            self._free_at(now + (free - now), u)
            return
        self.ux[u] = x
        self.uy[u] = y
        self.uside[u] = side
        self._t_disp[i] = now  # (_record)
        self._t_arr[i] = arrive
        self._t_clear[i] = clear
        self._unit_col[i] = self.unit_ids[u]
        self._dist_col[i] = dist
        self._range_of[i].open -= 1  # the ground side is final
        if self._drone_id[i] >= 0:  # a drone was assigned: its stay may end sooner
            self.on_eta(i)
        ev = self._Call()  # (_free_at)
        ev.callbacks = self._free_cbs
        ev.arg = u
        heapq.heappush(self._queue, (now + (clear - now), 1, next(self._eid), ev))

    def _free(self, ev: Any) -> None:
        u = ev.arg
        b = self._unit_borough[u]
        q = self.queue[b]
        if self.aid:
            while q and not self._waiting(q[0]):  # helped by another borough meanwhile
                heapq.heappop(q)
            if not q and self._aid_next(u, b):
                return
        if q:
            i = heapq.heappop(q)[3]
            dx = self.ux[u] - self._x[i]
            dy = self.uy[u] - self._y[i]
            self._send(u, i, math.sqrt(dx * dx + dy * dy))
        else:
            self.idle[b].append(u)
            self.idle_x[b].append(self.ux[u])
            self.idle_y[b].append(self.uy[u])

    # --- mutual aid (module docstring) ---------------------------------------------------------
    def _waiting(self, entry: tuple) -> bool:
        """The queue entry's incident still waits for a unit (its key not yet reused)."""
        i = entry[3]
        t = self._t_dispatch[i]
        return self._gid[i] == entry[2] and t != t

    def _aid_due(self, ev: Any) -> None:
        if self._waiting(ev.arg):
            self._seek_aid(ev.arg)

    def _seek_aid(self, entry: tuple) -> None:
        """The incident has waited its delay: the nearest idle unit of the boroughs that may
        help, within the distance limit; else it waits for one of them too."""
        i = entry[3]
        x, y = self._x[i], self._y[i]
        best_b, best_k, best_d2 = -1, -1, self._aid_d2
        for o in self.aid_from[self._b[i]]:
            k = 0
            ys = self.idle_y[o]
            for px in self.idle_x[o]:
                dx = px - x
                dy = ys[k] - y
                d2 = dx * dx + dy * dy
                if d2 <= best_d2 and (d2 < best_d2 or best_b < 0):
                    best_b, best_k, best_d2 = o, k, d2
                k += 1
        if best_b < 0:
            for o in self.aid_from[self._b[i]]:
                self.aid_pending[o].append(entry)
            return
        idle, xs, ys = self.idle[best_b], self.idle_x[best_b], self.idle_y[best_b]
        u = idle[best_k]
        idle[best_k] = idle[-1]
        idle.pop()
        xs[best_k] = xs[-1]
        xs.pop()
        ys[best_k] = ys[-1]
        ys.pop()
        self._aid_col[i] = best_b
        self._send(u, i, math.sqrt(best_d2))

    def _aid_next(self, u: int, b: int) -> bool:
        """Unit u of borough b is free with nothing to do at home: take the most urgent
        incident of another borough waiting for help within reach (True if it did)."""
        pending = self.aid_pending[b]
        if not pending:
            return False
        ux, uy = self.ux[u], self.uy[u]
        keep, best, best_d2 = [], None, 0.0
        for entry in pending:
            if not self._waiting(entry):
                continue
            keep.append(entry)
            i = entry[3]
            dx = self._x[i] - ux
            dy = self._y[i] - uy
            d2 = dx * dx + dy * dy
            if d2 <= self._aid_d2 and (best is None or entry < best):
                best, best_d2 = entry, d2
        pending[:] = keep
        if best is None:
            return False
        pending.remove(best)
        i = best[3]
        self._aid_col[i] = b
        self._send(u, i, math.sqrt(best_d2))
        return True


class StationForce(_Force):
    """Units based at fire stations, dispatched London-wide from the nearest station with an idle
    unit (see the module docstring). Same interface as :class:`GroundForce`."""

    #: Nearest stations looked up per incident before the exact fallback scan.
    CANDIDATES = 8

    def __init__(self, env: Kernel, name: str, spec: ServiceSpec, london: London,
                 rec: Records, streams: Streams, unit_offset: int,
                 on_eta: Callable[[int], None], travel: TravelModel | None = None) -> None:
        super().__init__(env, spec, rec, on_eta, travel)
        st = fire_stations(london)
        self.station_names = tuple(st["site_id"])
        sx = st["x"].to_numpy(float)
        sy = st["y"].to_numpy(float)
        n_st = sx.size
        m = self.spec.units_per_station
        self.unit_station = np.repeat(np.arange(n_st), m)
        self.size = int(self.unit_station.size)
        self.unit_ids = (unit_offset + np.arange(self.size)).tolist()
        self._sx, self._sy = sx.tolist(), sy.tolist()
        self._sside: list[int] = self.travel.sides(sx, sy).tolist()  # each station's side
        self._unit_station = self.unit_station.tolist()
        # Idle units per station, as a stack; the lowest unit id leaves first.
        self.idle: list[list[int]] = [list(range(s * m + m - 1, s * m - 1, -1))
                                      for s in range(n_st)]
        self.n_idle = self.size
        self.queue: list[tuple] = []
        self._tree = cKDTree(np.column_stack([sx, sy]))
        self._k = min(self.CANDIDATES, n_st)
        # Each incident's nearest stations (one batched query per chunk), by key.
        self._cand: list[list[int] | None] = []
        self._cdist: list[list[float] | None] = []

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        """One batched nearest-station query for this service's incidents of a chunk."""
        super().load(start, inc, mine)
        need = start + len(inc)
        if len(self._cand) < need:
            grow = need - len(self._cand)
            self._cand.extend([None] * grow)
            self._cdist.extend([None] * grow)
        if mine.size == 0:
            return
        k = self._k
        dist, idx = self._tree.query(np.column_stack([inc.x[mine], inc.y[mine]]), k=k)
        dist = np.asarray(dist, float).reshape(mine.size, k).tolist()
        idx = np.asarray(idx, np.int64).reshape(mine.size, k).tolist()
        for r, key in enumerate((start + mine).tolist()):
            self._cand[key] = idx[r]
            self._cdist[key] = dist[r]

    def _nearest_idle(self, i: int) -> tuple[int, float]:
        """(station, distance) of the nearest station with an idle unit; -1 if none."""
        if self.n_idle == 0:
            return -1, math.inf
        idle = self.idle
        cand, cdist = self._cand[i], self._cdist[i]
        assert cand is not None and cdist is not None  # (i is this service's incident)
        x, y = self._x[i], self._y[i]
        if self.travel.monotone:  # nearest by straight line = nearest by road time
            for s, d in zip(cand, cdist):
                if idle[s]:
                    return s, d
        else:  # the quickest by predicted road time among the nearest stations with a unit
            best_s, best_d, best_t = -1, math.inf, math.inf
            drive, scale, sx, sy = self._drive, self._scale[i], self._sx, self._sy
            for s, d in zip(cand, cdist):
                if idle[s]:
                    t = drive(d, sx[s], sy[s], x, y, scale)
                    if t < best_t:
                        best_s, best_d, best_t = s, d, t
            if best_s >= 0:
                return best_s, best_d
        best, best_d2 = -1, math.inf
        for s, units in enumerate(idle):
            if units:
                dx = self._sx[s] - x
                dy = self._sy[s] - y
                d2 = dx * dx + dy * dy
                if d2 < best_d2:
                    best, best_d2 = s, d2
        return best, math.sqrt(best_d2)

    def dispatch(self, i: int) -> None:
        """Call handling is over for incident i: send the nearest idle unit, or queue."""
        s, d = self._nearest_idle(i)
        if s < 0:
            heapq.heappush(self.queue, self._queue_entry(i))
            return
        u = self.idle[s].pop()
        self.n_idle -= 1
        self._send(u, i, d)

    def estimate_arrival(self, i: int, now: float) -> float:
        """As :meth:`GroundForce.estimate_arrival`, from the nearest station with an idle unit."""
        t = self.rec.t_ground_arrival[i]
        if not math.isnan(t):
            return float(t)
        s, d = self._nearest_idle(i)
        if s < 0:
            return math.nan
        return self._expected_arrival(i, now, d, self._sx[s], self._sy[s])

    def _send(self, u: int, i: int, dist: float) -> None:
        now = self.env._now
        s = self._unit_station[u]
        sx, sy, x, y = self._sx[s], self._sy[s], self._x[i], self._y[i]
        ss, side = self._sside[s], self._side[i]
        arrive = now + self._turn[i] + self._road(i, dist, sx, sy, ss, x, y, side)
        clear = arrive + self._on[i]
        back = clear + self._road(i, dist, x, y, side, sx, sy, ss)  # home by road, no turnout
        self._record(u, i, dist, now, arrive, clear)
        self._free_at(now + (back - now), u)

    def _free(self, ev: Any) -> None:
        """Unit u is back at its station: take the head of the queue, or wait there."""
        u = ev.arg
        s = self._unit_station[u]
        if self.queue:
            i = heapq.heappop(self.queue)[3]
            dx = self._sx[s] - self._x[i]
            dy = self._sy[s] - self._y[i]
            self._send(u, i, math.sqrt(dx * dx + dy * dy))
        else:
            self.idle[s].append(u)
            self.n_idle += 1


class NoForce(_Force):
    """``base = "none"``: no ground response is simulated for the service (its incidents keep
    NaN ground timestamps). For drones-only models, compared like for like with reference
    models that have no ground side; drones then leave on their own task time
    (``drones.loiter = "exponential"``, checked when the scenario is read)."""

    def __init__(self, env: Kernel, name: str, spec: ServiceSpec, london: London,
                 rec: Records, streams: Streams, unit_offset: int,
                 on_eta: Callable[[int], None], travel: TravelModel | None = None) -> None:
        super().__init__(env, spec, rec, on_eta, travel)
        self.unit_ids: list[int] = []

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        """Nothing to precompute: no road leg is ever driven."""

    def dispatch(self, i: int) -> None:  # never on the timeline
        raise RuntimeError("no ground response is simulated for this service")

    def estimate_arrival(self, i: int, now: float) -> float:
        return math.nan


class DroneResolution:
    """A service's ground force, for a scenario where drones resolve some incidents alone
    (``[value] drone_resolved_share``, :mod:`dronesim.kpis.value`).

    Each incident of the service is resolvable by a drone or not: one uniform per incident from
    the named stream ``<service>.resolved``, in call order, below the share of its priority (so
    changing a share changes which incidents are resolvable, not the draws of any other).
    When call handling ends (the moment a unit would be dispatched) and a drone is on scene at
    a resolvable incident, no unit is sent: the incident is resolved by the drone
    (``drone_resolved``), its ground side closes with no ground timestamps, and the drone leaves
    once it has been on scene ``drones.min_on_scene_s`` (leave reason ``resolved``). Otherwise the
    ground response goes ahead as usual, and an officer already on the way is not recalled if a
    drone arrives first (assumptions; the share itself must be sourced or stated as an
    assumption in the scenario). Everything else is the wrapped force's.
    """

    def __init__(self, force: _Force, name: str, shares: tuple[float, ...], fleet: Any,
                 rec: Records, streams: Streams) -> None:
        self.force = force
        self.shares = tuple(float(x) for x in shares)
        self.fleet = fleet
        self.rec = rec
        self._rng = streams[f"{name}.resolved"]
        self.resolvable: list[bool] = []

    def __getattr__(self, item: str) -> Any:
        return getattr(self.force, item)

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        from ..kpis.value import draw_drone_resolved

        self.force.load(start, inc, mine)
        need = start + len(inc)
        if len(self.resolvable) < need:
            self.resolvable.extend([False] * (need - len(self.resolvable)))
        flags = draw_drone_resolved(self._rng, inc.priority[mine], self.shares)
        for key, f in zip((start + mine).tolist(), flags.tolist()):
            self.resolvable[key] = f

    def dispatch(self, i: int) -> None:
        if self.resolvable[i] and self.fleet.on_scene(i):
            rec = self.rec
            rec.drone_resolved[i] = 1
            rec.range_of[i].open -= 1  # the ground side is final: nobody is sent
            self.fleet.resolved(i)
        else:
            self.force.dispatch(i)


def make_force(env: Kernel, name: str, spec: ServiceSpec, london: London, rec: Records,
               streams: Streams, unit_offset: int, on_eta: Callable[[int], None],
               base: Path | None = None) -> _Force:
    """The ground force of one service, by ``ground.base``, with its travel model
    (``ground.travel_model``; a travel file relative to ``base``, the scenario's folder)."""
    cls = {"stations": StationForce, "none": NoForce}.get(spec.ground.base, GroundForce)
    travel = (make_travel_model(spec.ground, london.data_dir, tuple(london.borough_codes), base,
                                f"services.{name}.ground.travel_file")
              if spec.ground.base != "none" else None)
    return cls(env, name, spec, london, rec, streams, unit_offset, on_eta, travel)
