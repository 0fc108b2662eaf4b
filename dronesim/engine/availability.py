"""When drones can fly, and which drones are in service: weather and night, rosters, faults and
maintenance, for one replication (issue 9, items 1, 3 and 5).

What this module owns
---------------------
* :class:`Grounding`: the hours the whole fleet is grounded, by weather
  (:mod:`dronesim.inputs.weather`) or by a night rule that forbids flying
  (:mod:`dronesim.inputs.daylight`), drawn once per replication from the named stream
  ``weather`` (the hours a night rule slows flights: :mod:`dronesim.engine.legs`). The engine asks
  it at two moments: when a drone decision falls due (a grounded moment declines the incident
  with the reason, ``drone_outcome = "grounded"``, ``grounded_reason``), and at launch (a
  mission cleared to launch in a grounded hour stands down, with the same record). Flights
  already airborne when the weather turns finish their mission (a drone in the air is brought
  home, not dropped). With both features off (the defaults) there is no grounding object at
  all and the engine pays nothing.
* :class:`Duty`: which drones are in service. A drone is held out of service by any of
  several reasons at once (a bit each): its roster (``[rosters] drone_pattern``: the share of
  each dock's drones on duty in each hour of the day), its dock's hours (``dock_hours``),
  a repair after an in-flight fault, scheduled maintenance, a dock fault. A held drone at its
  dock is out of the fleet at once; a held drone in the air finishes its mission (and a mission
  booked on its return) first, as a pilot going off duty finishes the flight in hand. It keeps
  charging while docked. Changes happen on the hour (rosters, dock hours) or when a repair,
  maintenance or dock fault ends: kernel callbacks, none per incident.
* Faults (``[faults]``): each drone carries a flight-time budget to its next fault, drawn
  ``Exp(1 / failures_per_flight_hour)`` hours from the named stream ``faults`` and consumed by
  airborne time, so faults form a Poisson process in each drone's cumulative flight time with
  the stated rate (the count over a run is ``rate x flight hours`` in expectation). A fault in
  flight ends the mission: on the way out the drone turns back at once (the incident's outcome
  is ``fault``: no drone reached it), on scene it leaves at once (leave reason ``fault``), on the
  way home it lands as planned; then it is out of service for ``repair_s``. Maintenance: after
  every ``maintenance_every_flight_hours`` of flight the drone is out for ``maintenance_s``
  once it lands. Dock faults: a Poisson process of ``dock_failures_per_year`` per dock (stream
  ``dock_faults``); the dock's drones are out for ``dock_repair_s`` (drones in the air land
  there and wait).

Sources and assumptions
-----------------------
* Weather and daylight: see :mod:`dronesim.inputs.weather` and :mod:`dronesim.inputs.daylight`.
* Fault rate: commercial drones fail about once per 1,000 flight hours (survey of UK operators,
  TU Delft repository, quoted in :class:`dronesim.inputs.scenario.FaultSpec`); repair times,
  maintenance intervals and dock fault rates are assumptions, stated in the scenario files.
* Night rules: ``not_allowed`` grounds the night hours here; ``second_pilot`` holds
  ``pilots_per_flight`` pilots per flight at night: a control room of ``P`` pilots holds
  ``floor(P x flights_per_pilot / pilots_per_flight)`` flights in a night hour
  (:class:`dronesim.engine.infrastructure.ControlRoom`, night judged per hour at its middle), so
  pilot utilisation counts one pilot per flight. What acts on each flight leg (the ``slower``
  night rule, wind on flight) is :mod:`dronesim.engine.legs`; a leg the wind makes impossible
  stands the mission down as grounded by wind.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inputs.weather import HOUR_S, REASONS, replication_flyability
from .features import Features
from .records import LEG_DRONE_LAUNCH, LEG_END

if TYPE_CHECKING:
    from ..inputs.streams import Streams
    from .fleet import Fleet
    from .kernel import Kernel
    from .prepared import Prepared

__all__ = ["Grounding", "Duty", "ROSTER", "DOCK_CLOSED", "REPAIR", "MAINTENANCE", "DOCK_FAULT",
           "DRAIN_HOURS"]

#: Hold reasons (bits of Fleet.hold).
ROSTER, DOCK_CLOSED, REPAIR, MAINTENANCE, DOCK_FAULT = 1, 2, 4, 8, 16
HOLD_NAMES = {ROSTER: "roster", DOCK_CLOSED: "dock_closed", REPAIR: "repair",
              MAINTENANCE: "maintenance", DOCK_FAULT: "dock_fault"}
#: Weather is drawn this far past the horizon, for the flights of incidents that drain.
DRAIN_HOURS = 14 * 24


class Grounding:
    """Grounded hours of one replication.

    ``reason[h]`` is the code (index into :data:`dronesim.inputs.weather.REASONS`) of the first
    reason hour ``h`` is grounded, 0 when flyable; beyond the drawn hours every hour is flyable.
    """

    def __init__(self, prep: Prepared, streams: Streams,
                 features: Features | None = None) -> None:
        scn = prep.scenario
        self.warmup_s, self.horizon_s = prep.warmup_s, prep.horizon_s
        hours = int(math.ceil(prep.horizon_s / HOUR_S)) + DRAIN_HOURS
        self.grounds = (features or Features.of(prep)).grounded_hours
        self.fly = None
        #: The drawn hourly weather (dronesim.inputs.weather; its wind acts on flight through
        #: dronesim.engine.legs), None when nothing grounds.
        self.series = None
        if self.grounds:
            self.series, self.fly = replication_flyability(scn.weather, scn.night,
                                                           scn.simulation.start_date,
                                                           hours * HOUR_S, streams["weather"],
                                                           scn.drones)
            self.reason: list[int] = self.fly.reason.tolist()
            self._codes = self.fly.reason.astype(np.int64)
        else:
            self.reason = [0] * hours
            self._codes = np.zeros(hours, np.int64)
        self.n_hours = hours

    def reason_at(self, t: float) -> int:
        """Grounding reason code at time t (0: flyable)."""
        h = int(t // HOUR_S)
        return self.reason[h] if 0 <= h < self.n_hours else 0

    def reasons_at(self, t: np.ndarray) -> np.ndarray:
        """:meth:`reason_at` of many times at once."""
        h = np.floor(np.asarray(t, float) / HOUR_S).astype(np.int64)
        inside = (h >= 0) & (h < self.n_hours)
        out = np.zeros(h.size, np.int64)
        out[inside] = self._codes[h[inside]]
        return out

    def kpis(self) -> dict[str, Any]:
        """Flyable hours per day and grounded hours per week by reason, in the measured
        window (whole hours from the first after the warm-up to the horizon)."""
        if not self.grounds:
            return {}
        assert self.fly is not None  # drawn when the fleet can be grounded
        a = int(math.ceil(self.warmup_s / HOUR_S))
        b = int(math.floor(self.horizon_s / HOUR_S))
        r = self.fly.reason[a:b]
        out: dict[str, Any] = {"flyable_hours_per_day": float((r == 0).mean() * 24.0)
                               if r.size else math.nan}
        weeks = r.size / 168.0
        counts = np.bincount(r, minlength=len(REASONS))
        out["grounded_hours_per_week"] = float((r > 0).sum() / weeks) if weeks else math.nan
        for k in range(1, len(REASONS)):
            out[f"grounded_hours_{REASONS[k]}_per_week"] = float(counts[k] / weeks) \
                if weeks else math.nan
        return out


class Duty:
    """Which drones are in service: rosters, dock hours, faults, maintenance, dock faults.

    Drives the fleet's holds (:meth:`dronesim.engine.fleet.Fleet.hold_drone` /
    :meth:`~dronesim.engine.fleet.Fleet.release_drone`) from kernel callbacks; keeps the counts
    and the out-of-service drone time the summary reports.
    """

    def __init__(self, prep: Prepared, env: Kernel, fleet: Fleet, streams: Streams) -> None:
        scn = prep.scenario
        self.env, self.fleet = env, fleet
        self.lo, self.hi = prep.warmup_s, prep.horizon_s
        f, r = scn.faults, scn.rosters
        self.rate_h = f.failures_per_flight_hour
        self.repair_s = f.repair_s
        self.maint_every_s = f.maintenance_every_flight_hours * HOUR_S
        self.maint_s = f.maintenance_s
        n = fleet.size
        self._rng = streams["faults"]
        #: Flight seconds left before each drone's next fault (inf: faults off).
        self.budget = ([float(x) for x in self._rng.exponential(HOUR_S / self.rate_h, n)]
                       if self.rate_h > 0 else [math.inf] * n)
        self.since_maint = [0.0] * n
        self.counts = {"drone_failures": 0, "failures_outbound": 0, "failures_on_scene": 0,
                       "maintenance": 0, "dock_failures": 0}
        self.flight_s = 0.0  # airborne seconds of every drone (the fault exposure)
        self.failures_total = 0  # faults over the whole run, warm-up and drain included
        self._held_since = [math.nan] * n  # start of the current hold (any reason)
        self.held_s = 0.0  # out-of-service drone seconds in the measured window
        self._pattern = tuple(r.drone_pattern)
        names = [d.name for d in scn.docks]
        self._dock_hours = {names.index(k): tuple(v) for k, v in r.dock_hours.items()}
        self._by_dock = fleet.by_dock
        self.active = bool(self._pattern or self._dock_hours or self.rate_h > 0
                           or self.maint_every_s > 0 or f.dock_failures_per_year > 0)
        if self._pattern or self._dock_hours:
            self._hour(None)
        if f.dock_failures_per_year > 0:
            rng = streams["dock_faults"]
            mean_gap = 365.25 * 86_400.0 / f.dock_failures_per_year
            for k in range(len(self._by_dock)):
                t = float(rng.exponential(mean_gap))
                while t < prep.horizon_s:
                    env.at(t, self._dock_fault, k)
                    t += float(rng.exponential(mean_gap))
        self.dock_repair_s = f.dock_repair_s

    # --- holds -------------------------------------------------------------------------------
    def hold(self, d: int, bit: int) -> None:
        fl = self.fleet
        if not fl.hold[d]:
            self._held_since[d] = self.env._now
        fl.hold_drone(d, bit)

    def release(self, d: int, bit: int) -> None:
        fl = self.fleet
        was = fl.hold[d]
        fl.release_drone(d, bit)
        if was and not fl.hold[d]:
            self._count_held(d, self.env._now)

    def _count_held(self, d: int, now: float) -> None:
        t0 = self._held_since[d]
        self._held_since[d] = math.nan
        if t0 == t0:
            self.held_s += max(0.0, min(now, self.hi) - max(t0, self.lo))

    def _release_ev(self, ev: Any) -> None:
        d, bit = ev.arg
        self.release(d, bit)

    # --- rosters and dock hours ---------------------------------------------------------------
    def _hour(self, _ev: Any) -> None:
        env = self.env
        now = env._now
        if now < self.hi:
            env.at(now + (HOUR_S - now % HOUR_S), self._hour)
            hour = int(now // HOUR_S) % 24
            share = self._pattern[hour] if self._pattern else 1.0
        else:
            hour, share = -1, 1.0  # past the horizon: everyone back, so the run can drain
        for k, drones in enumerate(self._by_dock):
            on = round(len(drones) * share)
            # Drones of the dock on duty: the first `on` by id (the same drones every day).
            for j, d in enumerate(drones):
                if j < on:
                    if self.fleet.hold[d] & ROSTER:
                        self.release(d, ROSTER)
                elif not self.fleet.hold[d] & ROSTER:
                    self.hold(d, ROSTER)
            hours = self._dock_hours.get(k)
            closed = hour >= 0 and hours is not None and not _open(hour, hours)
            for d in drones:
                if closed and not self.fleet.hold[d] & DOCK_CLOSED:
                    self.hold(d, DOCK_CLOSED)
                elif not closed and self.fleet.hold[d] & DOCK_CLOSED:
                    self.release(d, DOCK_CLOSED)

    # --- dock faults ------------------------------------------------------------------------
    def _dock_fault(self, ev: Any) -> None:
        k = ev.arg
        now = self.env._now
        if self.lo <= now < self.hi:
            self.counts["dock_failures"] += 1
        for d in self._by_dock[k]:
            if not self.fleet.hold[d] & DOCK_FAULT:
                self.hold(d, DOCK_FAULT)
                self.env.at(now + self.dock_repair_s, self._release_ev, (d, DOCK_FAULT))

    # --- faults and maintenance (called by the fleet) ----------------------------------------
    def fault_time(self, d: int, t_launch: float) -> float:
        """When drone d, launching at t_launch, has its next fault if it stays airborne."""
        return t_launch + self.budget[d]

    def fit_on_landing(self, d: int) -> bool:
        """Whether drone d, flying home, will be in service when it lands (no fault due on
        this flight, no maintenance due after it): only then may a mission be booked on it."""
        fl = self.fleet
        m = fl._m[d]  # the mission in flight, a leg row (records.LEG_FIELDS)
        assert m is not None  # (called for a drone flying home)
        land = m[LEG_END]
        if fl._fail[d] <= land:
            return False
        if self.maint_every_s > 0 and (self.since_maint[d] + land - m[LEG_DRONE_LAUNCH]
                                       >= self.maint_every_s):
            return False
        return True

    def landed(self, d: int, t_launch: float, t_land: float, failed: bool, outbound: bool,
               on_scene: bool, exposed: bool = True) -> None:
        """A mission of drone d ended (it is back at its dock): count the fault, consume the
        budget, and hold the drone for repair or maintenance. A leg not ``exposed`` to faults
        (a relief leg, dronesim.engine.relief) counts towards maintenance only."""
        air = t_land - t_launch
        if exposed:
            self.flight_s += air
        now = self.env._now
        counted = self.lo <= now < self.hi
        if failed:
            self.failures_total += 1
            if counted:
                self.counts["drone_failures"] += 1
                if outbound:
                    self.counts["failures_outbound"] += 1
                elif on_scene:
                    self.counts["failures_on_scene"] += 1
            self.budget[d] = float(self._rng.exponential(HOUR_S / self.rate_h))
            self.hold(d, REPAIR)
            self.env.at(now + self.repair_s, self._release_ev, (d, REPAIR))
        elif exposed:
            self.budget[d] -= air
        if self.maint_every_s > 0:
            self.since_maint[d] += air
            if self.since_maint[d] >= self.maint_every_s:
                self.since_maint[d] = 0.0
                if counted:
                    self.counts["maintenance"] += 1
                self.hold(d, MAINTENANCE)
                self.env.at(now + self.maint_s, self._release_ev, (d, MAINTENANCE))

    def kpis(self) -> dict[str, Any]:
        """Counts per week in the measured window and the share of drone time in service."""
        if not self.active:
            return {}
        for d, t0 in enumerate(self._held_since):  # holds still running at the end
            if t0 == t0:
                self.held_s += max(0.0, self.hi - max(t0, self.lo))
                self._held_since[d] = math.nan
        weeks = (self.hi - self.lo) / (7 * 86_400.0)
        n = self.fleet.size
        out: dict[str, Any] = {f"{k}_per_week": v / weeks for k, v in self.counts.items()}
        out["drone_availability"] = (1.0 - self.held_s / (n * (self.hi - self.lo))
                                     if n else math.nan)
        return out


def _open(hour: int, hours: tuple[float, ...]) -> bool:
    """Whether a dock with [open, close) hours is open in hour ``hour`` (close < open wraps
    past midnight; open == close: always open)."""
    a, b = hours
    if a == b:
        return True
    h = hour + 0.5
    return a <= h < b if a < b else (h >= a or h < b)
