"""Reference model 1: drone dispatch written the way a competent SimPy user would write it.

A source process starts one SimPy process per call at its call time. The call process waits the
decision delay, takes the nearest idle drone in range with ``min()`` over the list of drones
(plain objects), and flies the mission as SimPy timeouts: launch overhead, flight out, time on
scene (capped by the battery), flight back; the battery is exchanged on landing (see
:mod:`benchmarks.workload`). With no idle drone in range the call joins a waiting list and
yields an event; a drone that lands hands itself to the longest-waiting call within its range
(``event.succeed(drone)``), or goes idle.

It is not tuned (no collapsed events, no spatial index, no pre-sorted candidates): that is the
point of the comparison. It is not made slow either: lists instead of numpy scalars in the loop,
one distance computation per drone per decision, ``__slots__`` on the drone.
"""

from __future__ import annotations

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


def run(case: Case) -> Outcome:
    """Simulate the case; returns the drone sent to each call and its time on scene."""
    spec = case.spec
    decision, launch = spec.decision_s, spec.launch_overhead_s
    climb, descent, speed = spec.climb_s, spec.descent_s, spec.speed_m_s
    endurance, reserve, max_range = spec.endurance_s, spec.reserve_s, spec.max_range_m
    fleet = case.fleet
    drones = [Drone(d, float(fleet.x[k]), float(fleet.y[k]))
              for d, k in enumerate(fleet.dock_of.tolist())]
    t_call = case.t_call.tolist()
    xs, ys = case.x.tolist(), case.y.tolist()
    on_scene = case.on_scene_s.tolist()
    n = len(t_call)
    sent = [-1] * n
    t_scene = [math.nan] * n
    waiting: list[tuple[int, simpy.Event]] = []  # calls waiting for a drone, oldest first
    busy = [0.0]
    env = simpy.Environment()

    def land(drone: Drone) -> None:
        for k, (j, ev) in enumerate(waiting):
            if math.hypot(drone.x - xs[j], drone.y - ys[j]) <= max_range:
                del waiting[k]
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

    def source():
        for i, t in enumerate(t_call):
            yield env.timeout(t - env.now)
            env.process(call(i))

    env.process(source())
    env.run()
    return Outcome("idiomatic SimPy", np.asarray(sent, np.int64), np.asarray(t_scene),
                   case.t_call, busy[0], {"kernel": "simpy " + simpy.__version__})
