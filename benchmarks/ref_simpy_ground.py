"""Reference model 1, with ground units: :mod:`benchmarks.ref_simpy` plus the police patrol units
of the Met baseline, written the way a competent SimPy user would write them.

Ground side (``[services.police.ground]`` of ``scenarios/met_baseline.toml``; the units, their
start points and the road model are dronesim's own, :class:`benchmarks.workload.GroundUnits`):

* each call starts a ground process that waits its call handling, then takes the nearest idle
  unit of the call's borough (``min()`` over that borough's unit objects, straight-line
  distance); with none idle it joins the borough's waiting heap (priority, then call time) and
  yields an event;
* arrival = dispatch + turnout + the road model's ``drive_s`` (called, not re-implemented) x the
  call's variability factor; the unit is busy until arrival + its on-scene time, then stands at
  the incident and hands itself to the head of its borough's heap (``event.succeed(unit)``) or
  goes idle.

Drone side: as :mod:`benchmarks.ref_simpy`, with the two rules by which dronesim's drones meet
the ground (:mod:`dronesim.engine.dispatcher`, :mod:`dronesim.engine.fleet`): a waiting call
whose officer is already on scene when a drone lands leaves the queue (abandoned), and a drone
assigned to a call whose officer will be on scene by the drone's launch stands down (the drone
is free again at once). The drone's time on scene is its own exponential draw (as in the
drones-only benchmark), so an officer's arrival does not shorten it.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import simpy

from .workload import Case, Outcome


class Drone:
    __slots__ = ("id", "x", "y", "idle")

    def __init__(self, drone_id: int, x: float, y: float) -> None:
        self.id = drone_id
        self.x = x
        self.y = y
        self.idle = True


class Unit:
    __slots__ = ("id", "x", "y", "idle")

    def __init__(self, unit_id: int, x: float, y: float) -> None:
        self.id = unit_id
        self.x = x
        self.y = y
        self.idle = True


def run(case: Case) -> Outcome:
    """Simulate the case; returns the drone and the ground unit sent to each call, with their
    times on scene."""
    spec, gc, gu = case.spec, case.ground, case.units
    if gc is None or gu is None:
        raise ValueError("a drones-only case: use benchmarks.ref_simpy")
    decision, launch = spec.decision_s, spec.launch_overhead_s
    climb, descent, speed = spec.climb_s, spec.descent_s, spec.speed_m_s
    endurance, reserve, max_range = spec.endurance_s, spec.reserve_s, spec.max_range_m
    fleet = case.fleet
    drones = [Drone(d, float(fleet.x[k]), float(fleet.y[k]))
              for d, k in enumerate(fleet.dock_of.tolist())]
    units: list[list[Unit]] = [[] for _ in range(gu.n_boroughs)]
    for u, b in enumerate(gu.borough):
        units[b].append(Unit(u, gu.x[u], gu.y[u]))
    drive = gu.travel.drive_s  # type: ignore[attr-defined]
    scale = gu.scale.tolist()
    t_call = case.t_call.tolist()
    xs, ys = case.x.tolist(), case.y.tolist()
    borough = case.borough.tolist()
    on_scene = case.on_scene_s.tolist()
    handling, turnout = gc.handling_s.tolist(), gc.turnout_s.tolist()
    factor, ground_on = gc.travel_factor.tolist(), gc.on_scene_s.tolist()
    n = len(t_call)
    sent = [-1] * n
    t_scene = [math.nan] * n
    unit_sent = [-1] * n
    t_ground = [math.nan] * n  # known once the unit is dispatched
    waiting: list[tuple[int, simpy.Event]] = []  # calls waiting for a drone, oldest first
    ground_wait: list[list[tuple[int, float, int, simpy.Event]]] = [
        [] for _ in range(gu.n_boroughs)]
    busy = [0.0]
    env = simpy.Environment()

    def officer_by(i: int, t: float) -> bool:
        g = t_ground[i]
        return g == g and g <= t

    def land(drone: Drone) -> None:
        now = env.now
        k = 0
        while k < len(waiting):
            j, ev = waiting[k]
            if officer_by(j, now):  # the officer is there already: the call leaves the queue
                del waiting[k]
                continue
            if math.hypot(drone.x - xs[j], drone.y - ys[j]) > max_range:
                k += 1
                continue
            del waiting[k]
            if officer_by(j, now + launch):  # would launch too late: stand down at once
                continue
            ev.succeed(drone)
            return
        drone.idle = True

    def call(i: int):
        yield env.timeout(decision)
        x, y = xs[i], ys[i]
        nearest = min(((dist, d.id, d) for d in drones
                       if d.idle and (dist := math.hypot(d.x - x, d.y - y)) <= max_range),
                      default=None)
        if nearest is not None:
            dist, _, drone = nearest
            drone.idle = False
            if officer_by(i, env.now + launch):
                land(drone)
                return
        elif any(math.hypot(d.x - x, d.y - y) <= max_range for d in drones):
            ev = env.event()
            waiting.append((i, ev))
            drone = yield ev
            dist = math.hypot(drone.x - x, drone.y - y)
        else:
            return  # no dock within range
        sent[i] = drone.id
        start = env.now
        out = climb + dist / speed + descent
        yield env.timeout(launch)
        yield env.timeout(out)
        t_scene[i] = env.now
        yield env.timeout(min(on_scene[i], max(0.0, endurance - out - out - reserve)))
        yield env.timeout(out)
        busy[0] += env.now - start
        land(drone)

    def ground(i: int):
        yield env.timeout(handling[i])
        b, x, y = borough[i], xs[i], ys[i]
        nearest = min((((u.x - x) ** 2 + (u.y - y) ** 2, u.id, u)
                       for u in units[b] if u.idle), default=None)
        if nearest is None:
            ev = env.event()
            heapq.heappush(ground_wait[b], (1, t_call[i], i, ev))
            unit = yield ev
            dx, dy = unit.x - x, unit.y - y
            d2 = dx * dx + dy * dy
        else:
            d2, _, unit = nearest
            unit.idle = False
        now = env.now
        arrive = now + turnout[i] + drive(math.sqrt(d2), unit.x, unit.y, x, y, scale[i]) * factor[i]
        unit_sent[i] = unit.id
        t_ground[i] = arrive
        clear = arrive + ground_on[i]
        unit.x, unit.y = x, y
        yield env.timeout(clear - now)
        q = ground_wait[b]
        if q:
            heapq.heappop(q)[3].succeed(unit)
        else:
            unit.idle = True

    def source():
        for i, t in enumerate(t_call):
            yield env.timeout(t - env.now)
            env.process(call(i))
            env.process(ground(i))

    env.process(source())
    env.run()
    return Outcome("idiomatic SimPy, ground units", np.asarray(sent, np.int64),
                   np.asarray(t_scene), case.t_call, busy[0],
                   {"kernel": "simpy " + simpy.__version__}, np.asarray(unit_sent, np.int64),
                   np.asarray(t_ground))
