"""Reference model 2, with ground units: :mod:`benchmarks.ref_heapq` plus the police patrol
units of the Met baseline, in the same hand-written event loop.

Four streams of moments are merged: drone decisions (calls are sorted), ground dispatches
(call + handling, sorted once with ``numpy.argsort``), drone landings and units clearing (two
heaps). Ground dispatch: the nearest idle unit of the call's borough (one pass over that
borough's idle units, kept in plain lists), else the borough's waiting heap (priority, then call
time); arrival = dispatch + turnout + the road model's ``drive_s`` (dronesim's own object,
:class:`benchmarks.workload.GroundUnits`) x the call's variability factor; the unit clears after
its on-scene time, at the incident, and takes the head of its borough's heap or goes idle.
Drone side as :mod:`benchmarks.ref_heapq`, with the same two ground rules as
:mod:`benchmarks.ref_simpy_ground` (a waiting call whose officer is on scene leaves the queue; a
drone whose officer will be there by its launch stands down).
"""

from __future__ import annotations

import bisect
import heapq
import math

import numpy as np
from scipy.spatial import cKDTree

from .workload import Case, Outcome


def run(case: Case) -> Outcome:
    """Simulate the case; returns the drone and the ground unit sent to each call, with their
    times on scene."""
    spec, gc, gu = case.spec, case.ground, case.units
    if gc is None or gu is None:
        raise ValueError("a drones-only case: use benchmarks.ref_heapq")
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
    nearest = cand[:, 0].tolist()

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
    queued = ground_queued = 0

    # Ground side.
    nb = gu.n_boroughs
    drive = gu.travel.drive_s  # type: ignore[attr-defined]
    scale = gu.scale.tolist()
    borough = case.borough.tolist()
    turnout, factor = gc.turnout_s.tolist(), gc.travel_factor.tolist()
    ground_on = gc.on_scene_s.tolist()
    t_disp_arr = case.t_call + gc.handling_s
    order = np.argsort(t_disp_arr, kind="stable").tolist()
    t_disp = t_disp_arr.tolist()
    ux, uy = list(gu.x), list(gu.y)
    u_idle: list[list[int]] = [[] for _ in range(nb)]
    u_x: list[list[float]] = [[] for _ in range(nb)]
    u_y: list[list[float]] = [[] for _ in range(nb)]
    for u, b in enumerate(gu.borough):
        u_idle[b].append(u)
        u_x[b].append(ux[u])
        u_y[b].append(uy[u])
    unit_b = list(gu.borough)
    g_wait: list[list[tuple[int, float, int]]] = [[] for _ in range(nb)]
    frees: list[tuple[float, int]] = []  # (time, unit)
    unit_sent = [-1] * n
    t_ground = [math.nan] * n

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

    def send_unit(u: int, i: int, d2: float, now: float) -> None:
        x, y = xs[i], ys[i]
        arrive = now + turnout[i] + drive(math.sqrt(d2), ux[u], uy[u], x, y, scale[i]) * factor[i]
        unit_sent[i] = u
        t_ground[i] = arrive
        ux[u], uy[u] = x, y
        heapq.heappush(frees, (arrive + ground_on[i], u))

    i = 0  # next drone decision
    g = 0  # next ground dispatch (position in ``order``)
    inf = math.inf
    while True:
        t_dec = t_call[i] + decision if i < n else inf
        t_gd = t_disp[order[g]] if g < n else inf
        t_land = lands[0][0] if lands else inf
        t_free = frees[0][0] if frees else inf
        if t_gd <= t_dec and t_gd <= t_land and t_gd <= t_free:
            if t_gd == inf:
                break
            c = order[g]
            g += 1
            b = borough[c]
            ids = u_idle[b]
            if not ids:
                heapq.heappush(g_wait[b], (1, t_call[c], c))
                ground_queued += 1
                continue
            x, y = xs[c], ys[c]
            uxs, uys = u_x[b], u_y[b]
            best_k, best_d2 = 0, inf
            for q, px in enumerate(uxs):
                ddx = px - x
                ddy = uys[q] - y
                d2 = ddx * ddx + ddy * ddy
                if d2 < best_d2:
                    best_k, best_d2 = q, d2
            u = ids[best_k]
            ids[best_k] = ids[-1]
            ids.pop()
            uxs[best_k] = uxs[-1]
            uxs.pop()
            uys[best_k] = uys[-1]
            uys.pop()
            send_unit(u, c, best_d2, t_gd)
            continue
        if t_free <= t_dec and t_free <= t_land:
            now, u = heapq.heappop(frees)
            b = unit_b[u]
            q_b = g_wait[b]
            if q_b:
                c = heapq.heappop(q_b)[2]
                ddx = ux[u] - xs[c]
                ddy = uy[u] - ys[c]
                send_unit(u, c, ddx * ddx + ddy * ddy, now)
            else:
                u_idle[b].append(u)
                u_x[b].append(ux[u])
                u_y[b].append(uy[u])
            continue
        if t_land < t_dec:
            now, d = heapq.heappop(lands)
            j = dock_of[d]
            q = 0
            while q < len(waiting):
                w = waiting[q]
                tg = t_ground[w]
                if tg <= now:  # officer on scene (NaN compares False): leaves the queue
                    del waiting[q]
                    continue
                if math.hypot(dx[j] - xs[w], dy[j] - ys[w]) > max_range:
                    q += 1
                    continue
                del waiting[q]
                if tg <= now + launch:  # stand down at once
                    continue
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
                    break
                if idle[j]:
                    d = idle[j].pop(0)
                    break
            else:
                if k < n_docks:  # every candidate busy: exact scan of docks with an idle drone
                    x, y = xs[i], ys[i]
                    best, best_dist = -1, inf
                    for j in range(n_docks):
                        if idle[j]:
                            dist = math.hypot(dx[j] - x, dy[j] - y)
                            if dist < best_dist:
                                best, best_dist = j, dist
                    if best_dist <= max_range:
                        d = idle[best].pop(0)
        if d >= 0:
            if t_ground[i] <= t_dec + launch:  # stand down: the drone stays idle
                bisect.insort(idle[dock_of[d]], d)
            else:
                n_idle -= 1
                busy += fly(i, d, t_dec)
        else:
            waiting.append(i)
            queued += 1
        i += 1
    return Outcome("heapq + KD-tree, ground units", np.asarray(sent, np.int64),
                   np.asarray(t_scene), case.t_call, busy,
                   {"queued": queued, "ground_queued": ground_queued},
                   np.asarray(unit_sent, np.int64), np.asarray(t_ground))
