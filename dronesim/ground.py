"""Ground response: units of a service positioned by borough, and a road travel model.

Modelling assumptions
---------------------
* Each borough has its own units (police response cars). The count follows a staffing rule:
  ``ceil(on-scene workload / staffing_utilisation)``, where the workload is the borough's expected
  incidents per second x ``on_scene_mean_s`` (at least ``min_units_per_borough``). The true number
  of Met response units on patrol is not published; ``staffing_utilisation`` is the calibrated
  parameter (see the scenario files).
* Idle units patrol: they start at points drawn from the service's demand weight in their
  borough and, after clearing an incident, resume patrol from where it was.
* At dispatch (call + call handling) the nearest idle unit of the borough goes; if none is idle
  the incident waits in the borough's queue (priority, then call time) for the next unit to clear.
* Travel time = ``turnout_s`` + ``circuity`` x straight-line distance / ``speed_m_s`` x a mean-one
  lognormal factor (``travel_cv``): the usual form of emergency-vehicle travel models
  (Kolesar et al. 1975 square-root / linear models; Budge et al. 2010 for variability).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
import simpy

from .demand import WEEK_S, Incidents
from .geography import London
from .records import Records
from .scenario import ServiceSpec
from .streams import Streams

__all__ = ["units_per_borough", "travel_time_s", "GroundForce"]


def travel_time_s(distance_m: np.ndarray | float, spec_turnout_s: float, circuity: float,
                  speed_m_s: float, factor: np.ndarray | float = 1.0) -> np.ndarray | float:
    """Road travel model: turnout + circuity x distance / speed, scaled by a variability factor."""
    return spec_turnout_s + circuity * np.asarray(distance_m) / speed_m_s * factor


def borough_demand_share(spec: ServiceSpec, london: London) -> np.ndarray:
    """Share of the service's incidents falling in each borough."""
    w = london.weights(spec.spatial_weight)
    per = np.bincount(london.lsoa_borough, weights=w, minlength=london.n_boroughs)
    return per / per.sum()


def units_per_borough(spec: ServiceSpec, london: London) -> np.ndarray:
    """Units per borough from the staffing rule (see module docstring)."""
    g = spec.ground
    rate = spec.incidents_per_week / WEEK_S * borough_demand_share(spec, london)
    load = rate * g.on_scene_mean_s
    return np.maximum(g.min_units_per_borough,
                      np.ceil(load / g.staffing_utilisation)).astype(np.int64)


class GroundForce:
    """The ground units of one service, dispatched by nearest idle unit within the borough."""

    def __init__(self, env: simpy.Environment, name: str, spec: ServiceSpec, london: London,
                 inc: Incidents, rec: Records, streams: Streams, unit_offset: int,
                 on_eta: Callable[[int], None]) -> None:
        self.env = env
        self.spec = spec.ground
        self.inc = inc
        self.rec = rec
        self.on_eta = on_eta
        counts = units_per_borough(spec, london)
        self.unit_borough = np.repeat(np.arange(london.n_boroughs), counts)
        n = self.size = int(self.unit_borough.size)
        self.unit_ids = unit_offset + np.arange(n)
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
        self.ux = ux.tolist()
        self.uy = uy.tolist()
        self.idle: list[list[int]] = [[] for _ in range(london.n_boroughs)]
        for u, b in enumerate(self.unit_borough):
            self.idle[b].append(u)
        self.queue: list[list[tuple[int, float, int]]] = [[] for _ in range(london.n_boroughs)]
        # Hot-path copies as Python lists (numpy scalar access is slower in a loop).
        self._x = inc.x.tolist()
        self._y = inc.y.tolist()
        self._b = inc.borough.tolist()
        self._f = inc.travel_factor.tolist()
        self._on = inc.ground_on_scene_s.tolist()
        self._prio = inc.priority.tolist()
        self._tcall = inc.t_call.tolist()
        self._unit_borough = self.unit_borough.tolist()

    def dispatch(self, i: int) -> None:
        """Call handling is over for incident i: send the nearest idle unit, or queue."""
        b = self._b[i]
        idle = self.idle[b]
        if not idle:
            heapq.heappush(self.queue[b], (self._prio[i], self._tcall[i], i))
            return
        x, y = self._x[i], self._y[i]
        ux, uy = self.ux, self.uy
        best_k, best_d2 = 0, math.inf
        for k, u in enumerate(idle):
            dx = ux[u] - x
            dy = uy[u] - y
            d2 = dx * dx + dy * dy
            if d2 < best_d2:
                best_k, best_d2 = k, d2
        u = idle[best_k]
        idle[best_k] = idle[-1]
        idle.pop()
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
        idle = self.idle[self._b[i]]
        if not idle:
            return math.nan
        g = self.spec
        x, y = self._x[i], self._y[i]
        d = min(math.hypot(self.ux[u] - x, self.uy[u] - y) for u in idle)
        t_dispatch = max(now, self._tcall[i] + g.call_handling_mean_s)
        return t_dispatch + g.turnout_s + g.circuity * d / g.speed_m_s

    def _send(self, u: int, i: int, dist: float) -> None:
        g = self.spec
        now = self.env.now
        arrive = now + g.turnout_s + g.circuity * dist / g.speed_m_s * self._f[i]
        clear = arrive + self._on[i]
        rec = self.rec
        rec.t_ground_dispatch[i] = now
        rec.t_ground_arrival[i] = arrive
        rec.t_ground_clear[i] = clear
        rec.ground_unit[i] = self.unit_ids[u]
        rec.ground_distance_m[i] = dist
        self.ux[u] = self._x[i]
        self.uy[u] = self._y[i]
        self.on_eta(i)
        self.env.timeout(clear - now).callbacks.append(lambda _ev, u=u: self._free(u))

    def _free(self, u: int) -> None:
        b = self._unit_borough[u]
        q = self.queue[b]
        if q:
            _, _, i = heapq.heappop(q)
            dx = self.ux[u] - self._x[i]
            dy = self.uy[u] - self._y[i]
            self._send(u, i, math.sqrt(dx * dx + dy * dy))
        else:
            self.idle[b].append(u)
