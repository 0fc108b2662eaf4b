"""Reference model 2: a minimal hand-written event loop with batched KD-tree candidates.

The practical speed ceiling for this dispatch in plain Python (../shared/design/PERFORMANCE.md).
Calls are already sorted, so the loop merges them with one heap of "drone lands at t" events;
there is no event object, process or callback per call. Nearest-idle search: one
``cKDTree.query`` of every call against the docks per run (``k`` = 16 nearest docks within
range), then per decision the first candidate dock with an idle drone (its lowest drone id); when
all candidates are busy, an exact scan over the docks that have an idle drone. Mission times are
computed arithmetically, with the same expressions as :mod:`benchmarks.ref_simpy` and the same
tie-breaking (see :mod:`benchmarks.workload`), so both give the same drone for every call.
"""

from __future__ import annotations

import bisect
import heapq
import math

import numpy as np
from scipy.spatial import cKDTree

from .workload import Case, Outcome


def run(case: Case) -> Outcome:
    """Simulate the case; returns the drone sent to each call and its time on scene."""
    spec = case.spec
    decision, launch = spec.decision_s, spec.launch_overhead_s
    climb, descent, speed = spec.climb_s, spec.descent_s, spec.speed_m_s
    endurance, reserve, max_range = spec.endurance_s, spec.reserve_s, spec.max_range_m
    fleet = case.fleet
    n_docks = len(fleet.names)
    dx, dy = fleet.x.tolist(), fleet.y.tolist()
    dock_of = fleet.dock_of.tolist()
    k = min(case.k, n_docks)
    _, cand = cKDTree(np.column_stack([fleet.x, fleet.y])).query(
        np.column_stack([case.x, case.y]), k=k, distance_upper_bound=max_range)
    cand = np.asarray(cand).reshape(len(case), k)  # n_docks marks "none in range"
    nearest = cand[:, 0].tolist()  # the common case: the nearest dock has an idle drone

    idle = [[] for _ in range(n_docks)]  # idle drone ids per dock, ascending
    for d, j in enumerate(dock_of):
        idle[j].append(d)
    n_idle = len(dock_of)
    t_call = case.t_call.tolist()
    xs, ys = case.x.tolist(), case.y.tolist()
    on_scene = case.on_scene_s.tolist()
    n = len(t_call)
    sent = [-1] * n
    t_scene = [math.nan] * n
    waiting: list[int] = []  # calls waiting for a drone, oldest first
    lands: list[tuple[float, int]] = []  # (time, drone)
    busy = 0.0
    fallback = queued = 0

    def fly(i: int, d: int, now: float) -> float:
        """Send drone d to call i at ``now``; returns when it lands."""
        j = dock_of[d]
        out = climb + math.hypot(dx[j] - xs[i], dy[j] - ys[i]) / speed + descent
        sent[i] = d
        t = now + launch + out
        t_scene[i] = t
        t = t + min(on_scene[i], max(0.0, endurance - out - out - reserve)) + out
        heapq.heappush(lands, (t, d))
        return t - now

    i = 0
    while i < n or lands:
        t_dec = t_call[i] + decision if i < n else math.inf
        if lands and lands[0][0] < t_dec:
            now, d = heapq.heappop(lands)
            j = dock_of[d]
            for q, w in enumerate(waiting):
                if math.hypot(dx[j] - xs[w], dy[j] - ys[w]) <= max_range:
                    del waiting[q]
                    busy += fly(w, d, now)
                    break
            else:
                bisect.insort(idle[j], d)
                n_idle += 1
            continue
        # Decision for call i: first candidate dock with an idle drone.
        j = nearest[i]
        if j == n_docks:
            i += 1  # no dock within range
            continue
        d = -1
        if idle[j]:
            d = idle[j].pop(0)
        elif n_idle:
            for j in cand[i, 1:].tolist():
                if j == n_docks:
                    break  # the candidates hold every dock in range, all busy: no scan needed
                if idle[j]:
                    d = idle[j].pop(0)
                    break
            else:
                if k < n_docks:  # every candidate busy: exact scan of docks with an idle drone
                    x, y = xs[i], ys[i]
                    best, best_dist = -1, math.inf
                    for j in range(n_docks):
                        if idle[j]:
                            dist = math.hypot(dx[j] - x, dy[j] - y)
                            if dist < best_dist:
                                best, best_dist = j, dist
                    if best_dist <= max_range:
                        d = idle[best].pop(0)
                        fallback += 1
        if d >= 0:
            n_idle -= 1
            busy += fly(i, d, t_dec)
        else:
            waiting.append(i)
            queued += 1
        i += 1
    return Outcome("heapq + KD-tree", np.asarray(sent, np.int64), np.asarray(t_scene),
                   case.t_call, busy, {"fallback_scans_dispatched": fallback, "queued": queued})
