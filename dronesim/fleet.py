"""Drones and docks: pure kinematics and battery functions, and the mission process.

Mission (../shared/design/MODEL.md): dispatch decision -> (wait for charge) -> remote pilot assigned
-> launch overhead -> climb, cruise, descent -> on scene, until the ground unit arrives plus a
handover (or, in ``exponential`` loiter mode, an exponential task time), or until the battery
reserve forces a return -> return flight -> land -> recharge at the dock.

Event economy (../shared/design/PERFORMANCE.md): a mission's phase times are computed
arithmetically; the only kernel events are the pilot grant and the landing. When the ground
unit's arrival becomes known mid-mission the mission process is interrupted and its landing
rescheduled.

Battery model: flight and hover both drain one second of endurance per second; charging at the
dock restores ``endurance_s`` in ``recharge_full_s`` (linear). A dispatch is feasible only if the
charge covers the flight out, ``min_on_scene_s``, the flight back and ``reserve_s``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import simpy

from .demand import Incidents
from .dispatch.base import CHARGING, READY, RETURNING, FleetSnapshot
from .infrastructure import PilotRooms, Sectors
from .records import LEAVE, OUTCOME, Records
from .scenario import DroneSpec
from .sites import Docks

__all__ = ["flight_time_s", "battery_needed_s", "Fleet", "IDLE", "RESERVED", "FLYING"]

# Drone states.
IDLE, RESERVED, FLYING = 0, 1, 2


def flight_time_s(distance_m: np.ndarray | float, spec: DroneSpec) -> np.ndarray | float:
    """Dock-to-scene flight time: climb + cruise + descent (launch overhead excluded)."""
    return spec.climb_s + np.asarray(distance_m) / spec.speed_m_s + spec.descent_s


def battery_needed_s(distance_m: np.ndarray | float, spec: DroneSpec) -> np.ndarray | float:
    """Charge (seconds of flight) a dispatch must have: out, minimum on scene, back, reserve."""
    return 2 * flight_time_s(distance_m, spec) + spec.min_on_scene_s + spec.reserve_s


class Fleet:
    """State of every drone, and the mission process that moves it."""

    def __init__(self, env: simpy.Environment, spec: DroneSpec, docks: Docks,
                 rooms: PilotRooms, inc: Incidents, rec: Records,
                 on_free: Callable[[int], None], *, owners: np.ndarray | None = None,
                 pooled: bool = True, ranks: np.ndarray | None = None,
                 sectors: Sectors | None = None, max_wait_s: float = math.inf) -> None:
        self.env = env
        self.spec = spec
        self.docks = docks
        self.rooms = rooms
        self.sectors = sectors
        self.inc = inc
        self.rank = ranks if ranks is not None else inc.priority.astype(np.int64)
        self.pooled = pooled
        self.max_wait_s = max_wait_s
        self.rec = rec
        self.on_free = on_free
        self.dock_of = np.repeat(np.arange(len(docks)), docks.drones).astype(np.int64)
        n = self.size = int(self.dock_of.size)
        self.by_dock: list[list[int]] = [[] for _ in range(len(docks))]
        for d, k in enumerate(self.dock_of):
            self.by_dock[k].append(d)
        self.owner = owners if owners is not None else np.full(n, -1, np.int64)
        self.state = np.full(n, IDLE, np.int8)
        self.t_launch = np.full(n, np.nan)  # current flight: launch time, battery at launch
        self.battery_launch = np.full(n, np.nan)
        self.t_scene = np.full(n, np.nan)
        self.battery0 = np.full(n, spec.endurance_s)  # charge at t0 (valid while IDLE)
        self.t0 = np.zeros(n)
        self.leave_at = np.full(n, np.nan)
        self.land_at = np.full(n, np.nan)
        self.battery_land = np.full(n, np.nan)
        self.booked = np.full(n, -1, np.int64)  # incident waiting for this drone to land
        self.incident_of = np.full(n, -1, np.int64)
        self.proc: list[simpy.Process | None] = [None] * n
        self.in_flight_phase = np.zeros(n, bool)
        self.dock_idle = np.asarray(docks.drones, np.int64).copy()  # IDLE drones per dock
        self.n_idle = n
        self._rate = (spec.endurance_s / spec.recharge_full_s
                      if spec.recharge_full_s > 0 else math.inf)

    # --- pure state queries ------------------------------------------------------------------
    def battery_at(self, d: int, t: float) -> float:
        """Charge of an IDLE drone at time t (it charges from t0)."""
        if self._rate == math.inf:
            return self.spec.endurance_s
        return min(self.spec.endurance_s, self.battery0[d] + (t - self.t0[d]) * self._rate)

    def _ready_time(self, d: int, need: float, now: float) -> tuple[int, float]:
        """(status, time it could launch with ``need`` charge) or (-1, inf) if unavailable."""
        if need > self.spec.endurance_s:
            return -1, math.inf
        st = self.state[d]
        if st == IDLE:
            b = self.battery_at(d, now)
            if b >= need:
                return READY, now
            return CHARGING, now + (need - b) / self._rate
        if st == FLYING and self.booked[d] < 0 and now >= self.leave_at[d]:
            short = max(0.0, need - self.battery_land[d])
            extra = 0.0 if short == 0 else short / self._rate
            return RETURNING, self.land_at[d] + extra
        return -1, math.inf

    def snapshot(self, cand_dock: np.ndarray, cand_dist: np.ndarray, cand_delay: np.ndarray,
                 now: float, service: int = -1) -> FleetSnapshot:
        """The candidate drones at the given docks (fastest first), as a read-only snapshot.

        ``cand_dist`` is the flight length (around no-fly zones if routed) and ``cand_delay`` the
        airspace authorisation delay of each candidate dock. With dedicated airframes only
        drones owned by ``service`` (or by no service) are offered.
        """
        spec = self.spec
        rows_d, rows_k, rows_s, rows_dist, rows_ready, rows_delay = [], [], [], [], [], []
        n_docks = 0
        for k, dist, delay in zip(cand_dock, cand_dist, cand_delay):
            if k < 0:
                break
            n_docks += 1
            need = 2 * (spec.climb_s + dist / spec.speed_m_s + spec.descent_s) \
                + spec.min_on_scene_s + spec.reserve_s
            for d in self.by_dock[k]:
                if not self.pooled and self.owner[d] >= 0 and self.owner[d] != service:
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
        if not rows_d:
            return FleetSnapshot.empty(now, self.size, self.n_idle, n_docks,
                                       self.dock_idle.copy())
        dist = np.asarray(rows_dist)
        ready = np.asarray(rows_ready)
        arrival = (ready + np.asarray(rows_delay) + spec.launch_overhead_s
                   + flight_time_s(dist, spec))
        return FleetSnapshot(now, np.asarray(rows_d, np.int64), np.asarray(rows_k, np.int64),
                             np.asarray(rows_s, np.int64), dist, ready, arrival, self.size,
                             self.n_idle, n_docks, self.dock_idle.copy())

    # --- actions -----------------------------------------------------------------------------
    def assign(self, d: int, i: int, distance_m: float) -> None:
        """Commit drone d to incident i (a RETURNING drone is booked for when it lands)."""
        now = self.env.now
        self.rec.t_drone_assigned[i] = now
        self.rec.drone_id[i] = d
        self.rec.dock_id[i] = self.dock_of[d]
        self.rec.drone_distance_m[i] = distance_m
        if self.state[d] == FLYING:
            if self.booked[d] >= 0 or now < self.leave_at[d]:
                raise RuntimeError(f"drone {d} is not bookable")  # policy broke the protocol
            self.booked[d] = i
            return
        if self.state[d] != IDLE:
            raise RuntimeError(f"drone {d} is not available")
        self._start(d, i)

    def _start(self, d: int, i: int) -> None:
        self.dock_idle[self.dock_of[d]] -= 1
        self.n_idle -= 1
        self.state[d] = RESERVED
        self.incident_of[d] = i
        self.proc[d] = self.env.process(self._mission(d, i))

    def ground_eta_known(self, i: int) -> None:
        """The ground arrival of incident i is now known: shorten the loiter if flying."""
        d = self.rec.drone_id[i]
        if d >= 0 and self.incident_of[d] == i and self.in_flight_phase[d]:
            self.proc[d].interrupt()

    def _leave_time(self, i: int, t_scene: float, latest: float) -> tuple[float, int]:
        spec = self.spec
        if spec.loiter == "exponential":
            t = t_scene + self.inc.drone_loiter_s[i]
            return (t, LEAVE["task_done"]) if t < latest else (latest, LEAVE["battery"])
        g = self.rec.t_ground_arrival[i]
        if not math.isnan(g):
            t = max(g + spec.handover_s, t_scene)
            if t < latest:
                return t, LEAVE["ground_arrived"]
        return latest, LEAVE["battery"]

    def _mission(self, d: int, i: int):
        env, spec, rec, inc = self.env, self.spec, self.rec, self.inc
        dist = rec.drone_distance_m[i]
        out = float(flight_time_s(dist, spec))  # dock to scene
        back = out  # scene to dock (same path)
        need = float(battery_needed_s(dist, spec))
        now = env.now
        if self.state[d] == RESERVED and self.battery_at(d, now) < need:
            yield env.timeout((need - self.battery_at(d, now)) / self._rate)
        room = self.rooms.room(int(inc.service[i]))
        req = room.request(int(self.rank[i]))
        # The wait for a pilot counts against the same limit as the wait for a drone: past
        # max_queue_wait_s from the decision the drone is no longer sent.
        limit = self.max_wait_s - (env.now - rec.t_drone_decision[i])
        if math.isfinite(limit):
            got = yield req | env.timeout(max(0.0, limit))
            if req not in got:
                req.cancel()
                rec.drone_outcome[i] = OUTCOME["queue_abandoned"]
                self._to_idle(d, self.battery_at(d, env.now), env.now)
                return
        else:
            yield req
        t_pilot = env.now
        rec.t_pilot[i] = t_pilot
        sreq = None
        if self.sectors is not None and self.sectors.active:
            sreq = self.sectors.request(int(inc.service[i]), float(inc.x[i]), float(inc.y[i]),
                                        int(self.rank[i]))
            yield sreq
            rec.t_sector[i] = env.now
        # Authorisation: crossing a restriction zone in "authorise" mode, plus the airspace
        # management service's latency; sought before launch, and it covers the return leg.
        delay = rec.airspace_delay_s[i]
        delay = (0.0 if math.isnan(delay) else delay) + (
            self.sectors.delay_s if self.sectors is not None else 0.0)
        rec.airspace_delay_s[i] = delay
        t_launch = env.now + delay + spec.launch_overhead_s
        g = rec.t_ground_arrival[i]
        if not math.isnan(g) and g <= t_launch:
            # Ground already on scene: stand the drone down before it takes off.
            room.release(req)
            Sectors.release(sreq)
            rec.drone_outcome[i] = OUTCOME["cancelled"]
            self._to_idle(d, self.battery_at(d, env.now), env.now)
            return
        battery = self.battery_at(d, t_launch)
        self.t_launch[d] = t_launch
        self.battery_launch[d] = battery
        t_scene = t_launch + out
        self.t_scene[d] = t_scene
        latest = t_scene + max(0.0, battery - out - back - spec.reserve_s)
        self.state[d] = FLYING
        self.in_flight_phase[d] = True
        leg_launch, leg_pilot, leg_battery = t_launch, t_pilot, battery
        leave, reason = self._leave_time(i, t_scene, latest)
        while True:
            self.leave_at[d] = leave
            self.land_at[d] = leave + back
            self.battery_land[d] = battery - (leave + back - t_launch)
            try:
                yield env.timeout(leave + back - env.now)
                break
            except simpy.Interrupt as intr:
                now = env.now
                if intr.cause is None:
                    if now < leave:  # not yet on the way home: the ground ETA can shorten the stay
                        leave, reason = self._leave_time(i, t_scene, latest)
                    continue
                # Pre-emption: leave incident i now for a higher-ranked incident j.
                _, j, hop = intr.cause
                self._close_leg(d, i, leg_pilot, leg_launch, t_scene, now, now,
                                LEAVE["preempted"], leg_battery, battery - (now - t_launch),
                                redirected=True)
                rec.preempted_by[i] = j
                i = j
                self.incident_of[d] = i
                rec.t_pilot[i] = rec.t_launch[i] = now
                leg_launch, leg_pilot = now, now
                leg_battery = battery - (now - t_launch)
                t_scene = now + hop / spec.speed_m_s
                self.t_scene[d] = t_scene
                home = math.hypot(float(inc.x[i]) - self.docks.x[self.dock_of[d]],
                                  float(inc.y[i]) - self.docks.y[self.dock_of[d]])
                back = float(flight_time_s(home, spec))
                latest = t_scene + max(0.0, battery - (t_scene - t_launch) - back
                                       - spec.reserve_s)
                leave, reason = self._leave_time(i, t_scene, latest)
        self.in_flight_phase[d] = False
        t_land = env.now
        room.release(req)
        Sectors.release(sreq)
        b_land = battery - (t_land - t_launch)
        self._close_leg(d, i, leg_pilot, leg_launch, t_scene, leave, t_land, reason,
                        leg_battery, b_land)
        self._to_idle(d, b_land, t_land)

    def _close_leg(self, d: int, i: int, t_pilot: float, t_launch: float, t_scene: float,
                   leave: float, t_end: float, reason: int, b_start: float, b_end: float,
                   redirected: bool = False) -> None:
        rec = self.rec
        rec.t_launch[i] = t_launch
        rec.t_drone_on_scene[i] = t_scene
        rec.t_drone_leave[i] = leave
        if not redirected:
            rec.t_drone_landed[i] = t_end
        rec.drone_leave_reason[i] = reason
        rec.drone_outcome[i] = OUTCOME["on_scene"]
        rec.missions.append((d, int(self.dock_of[d]), i, rec.t_drone_assigned[i], t_pilot,
                             t_launch, t_scene, leave, t_end, b_start, b_end, redirected))

    # --- pre-emption ------------------------------------------------------------------------
    def preemption_candidate(self, i: int, now: float) -> tuple[int, float] | None:
        """The drone on scene at a strictly lower-ranked incident that can reach i first.

        It must have the charge to fly to i, stay ``min_on_scene_s``, fly home and keep its
        reserve. Returns ``(drone, hop distance)`` or None.
        """
        spec, inc = self.spec, self.inc
        xi, yi = float(inc.x[i]), float(inc.y[i])
        best, best_t = None, math.inf
        for d in np.flatnonzero(self.in_flight_phase & (self.booked < 0)):
            j = self.incident_of[d]
            if j < 0 or self.rank[j] <= self.rank[i]:
                continue
            if not (self.t_scene[d] <= now < self.leave_at[d]):
                continue
            hop = math.hypot(xi - float(inc.x[j]), yi - float(inc.y[j]))
            k = self.dock_of[d]
            home = math.hypot(xi - self.docks.x[k], yi - self.docks.y[k])
            remaining = self.battery_launch[d] - (now - self.t_launch[d])
            need = hop / spec.speed_m_s + spec.min_on_scene_s + float(
                flight_time_s(home, spec)) + spec.reserve_s
            if remaining < need or home > spec.max_range_m:
                continue
            t = now + hop / spec.speed_m_s
            if t < best_t:
                best, best_t = (int(d), hop), t
        return best

    def redirect(self, d: int, i: int, hop: float) -> None:
        """Send drone d, on scene at a lower-ranked incident, straight on to incident i."""
        rec = self.rec
        rec.t_drone_assigned[i] = self.env.now
        rec.drone_id[i] = d
        rec.dock_id[i] = self.dock_of[d]
        rec.drone_distance_m[i] = hop
        self.proc[d].interrupt(("redirect", i, hop))

    def _to_idle(self, d: int, battery: float, t: float) -> None:
        self.dock_idle[self.dock_of[d]] += 1
        self.n_idle += 1
        self.state[d] = IDLE
        self.battery0[d] = battery
        self.t0[d] = t
        self.incident_of[d] = -1
        self.leave_at[d] = self.land_at[d] = self.battery_land[d] = np.nan
        self.proc[d] = None
        booked = self.booked[d]
        if booked >= 0:
            self.booked[d] = -1
            self._start(d, int(booked))
        else:
            self.on_free(d)
