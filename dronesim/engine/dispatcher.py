"""The drone dispatcher: puts the policy's decisions into effect and keeps the queue of waiting
incidents (moved out of :mod:`dronesim.engine.replication`)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import cast

import numpy as np

from ..dispatch import Decline, Dispatch, IncidentView, Queue
from ..dispatch.base import DispatchPolicy
from ..dispatch.fast_path import FastPath, check_requested
from ..dispatch.watchdog import active_limit, runs_user_code
from ..inputs.airspace import candidate_legs
from ..inputs.demand import Incidents
from ..kinematics import charge_needed_s, leg_s
from .fleet import UNSETTLED, Fleet, _Snapshot
from .kernel import Kernel
from .prepared import Prepared
from .records import OUTCOME, Records

__all__ = ["FLAT_PREFIX"]


class _Incident(IncidentView):
    """The model's incident view: read from the record columns by key when asked.

    ``ground_estimate`` asks the ground force (a nearest-unit search) only when read."""

    __slots__ = ("_d", "_i")

    def __init__(self, dispatcher: _DroneDispatcher, i: int) -> None:
        self._d = dispatcher
        self._i = i

    index = property(lambda s: s._d.rec.gid[s._i])
    service = property(lambda s: s._d.service_names[s._d.rec.service[s._i]])
    priority = property(lambda s: s._d.rec.priority[s._i])
    x = property(lambda s: s._d.rec.x[s._i])
    y = property(lambda s: s._d.rec.y[s._i])
    borough = property(lambda s: s._d.rec.borough[s._i])
    t_call = property(lambda s: s._d.rec.t_call[s._i])
    ground_eta = property(lambda s: s._d.rec.t_ground_arrival[s._i])

    @property
    def ground_estimate(self) -> float:
        d, i = self._d, self._i
        return d.forces[d.rec.service[i]].estimate_arrival(i, d.env.now)


class _DroneDispatcher:
    """Puts the policy's decisions into effect and keeps the queue of waiting incidents."""

    def __init__(self, env: Kernel, prep: Prepared, rec: Records, fleet: Fleet,
                 policy: DispatchPolicy, forces: list, check: bool | None = None) -> None:
        scn = prep.scenario
        self.prep = prep
        self.forces = forces
        self.preempt = scn.sharing.preemption and scn.sharing.airframes == "pooled"
        self.env = env
        self.rec = rec
        self.fleet = fleet
        self.policy = policy
        self.decide_policy = policy.decide
        limit = active_limit()  # a user policy's decisions timed (dronesim.dispatch.watchdog)
        if limit is not None and runs_user_code(policy):
            self.decide_policy = limit.wrap(policy.decide, scn.dispatch.policy)
        self.ready_only = bool(getattr(policy, "ready_only", False))
        #: The policy is the closest-idle rule (FastPath.promised): decisions are taken here,
        #: by the one closest-idle scan (Fleet.nearest_ready), without a snapshot, an incident
        #: view or a decision object.
        self.nearest_only = FastPath.promised(policy)
        #: Check that promise (DRONESIM_CHECK_FAST_PATH=1, or ``check``): the policy is also
        #: asked through a snapshot at every such decision (_check_promise); the flat lists
        #: (Fleet.decide_first) are then not bound.
        self.check = (check_requested() if check is None else check) and self.nearest_only
        #: Weather and night grounding (dronesim.engine.availability), None when off.
        self.grounding = fleet.grounding if fleet.grounding is not None and \
            fleet.grounding.grounds else None
        self.max_wait = scn.dispatch.max_queue_wait_s
        self.queue: list[tuple[int, float, int, int]] = []
        self.service_names = rec.service_names
        self.refuse_outside = prep.connectivity.outside == "refuse"
        #: Candidate docks of each incident to decide, by key: (docks, lengths, delays).
        self.cand: list[tuple[list, list, list] | None] = []
        #: ``flat`` (set by the model): the closest-idle rule on rows in distance order. Then no
        #: row is made per incident: the nearest candidate (dock, length, delay) and the
        #: second's length are kept by key in flat lists, enough to decide whenever the nearest
        #: dock has a READY drone; the whole row is read from the chunk's arrays (by key:
        #: the arrays and the position in them) only when it does not.
        self.flat = False
        #: By key: nearest dock, its flight length, flight time and the charge a dispatch
        #: from it needs (computed in bulk as Fleet computes them), second dock and length,
        #: third dock and length, fourth length (-1 and inf where there is none). Flat rows
        #: have no authorisation delay (they are in distance order).
        self.first: tuple[list, ...] = tuple([] for _ in range(9))
        self._arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
        self._pos: list[int] = []
        #: With ``flat`` and straight legs, the batched KD-tree query asks only for the
        #: FLAT_PREFIX nearest docks (the k-nearest query's cost grows with k): the answer lies
        #: there unless all of them lack a READY drone, and then (``_truncated``) one query of
        #: the incident alone gives its whole row (Fleet.nearest_ready's UNSETTLED).
        self._truncated = False
        #: The kernel's handler of a drone decision moment (called with the incident's key):
        #: :meth:`_decide`, or :meth:`Fleet.decide_first` when the model binds the flat lists.
        self.decide: Callable[[int], None] = self._decide

    def load(self, start: int, inc: Incidents) -> np.ndarray:
        """A chunk's drone side: outcomes known in advance written at once (decision time, out
        of range, no link); returns the rows that need a decision."""
        prep, scn, rec = self.prep, self.prep.scenario, self.rec
        n = len(inc)
        if len(self.cand) < rec.size:
            grow = rec.size - len(self.cand)
            for col in (self.cand, *self.first, self._arrays, self._pos):
                col.extend([None] * grow)
        suited = np.flatnonzero(inc.suited)
        sl = slice(start, start + n)
        if suited.size == 0:
            return suited
        decision = np.full(n, np.nan)
        decision[suited] = inc.t_call[suited] + scn.drones.decision_s
        rec.set_decision(sl, decision)
        xs, ys = inc.x[suited], inc.y[suited]
        reach = prep.max_range_m
        k = scn.dispatch.candidate_docks
        if self.flat and (prep.zones is None or len(prep.zones) == 0):
            self._truncated = min(k, len(prep.docks)) > FLAT_PREFIX
            k = min(k, FLAT_PREFIX)
        cand, dist = prep.docks.candidates(xs, ys, k, reach)
        delay: np.ndarray
        if prep.zones is None or len(prep.zones) == 0:  # straight legs, as candidate_legs
            delay = np.zeros(dist.shape)
        else:
            cand, dist, delay = candidate_legs(prep.airspace_policy, prep.zones, prep.docks.x,
                                               prep.docks.y, cand, dist, xs, ys,
                                               reach, scn.drones.speed_m_s)
        if scn.airframes:  # mixed fleets: each dock reaches as far as its airframe type
            # (never with ``flat``: see _run)
            cand, dist, delay = _within_type_range(cand, dist, delay, prep.airframes.range_m)
        link_ok = prep.connectivity.covered(inc.service[suited], xs, ys)
        in_range = cand[:, 0] >= 0
        outcome = np.zeros(n, np.int64)  # not_suited
        outcome[suited[~in_range]] = OUTCOME["out_of_range"]
        no_link = in_range & ~link_ok
        if self.refuse_outside:
            outcome[suited[no_link]] = OUTCOME["no_link"]
            go = in_range & link_ok
        else:
            flagged = np.zeros(n, np.int64)
            flagged[suited[no_link]] = 1
            rec.link_outside[sl] = flagged.tolist()
            go = in_range
        gr = self.grounding
        if gr is not None:  # grounded when the decision falls due: declined with the reason
            code = gr.reasons_at(decision[suited])
            down = go & (code > 0)
            if down.any():
                outcome[suited[down]] = _GROUNDED
                reason = np.zeros(n, np.int64)
                reason[suited[down]] = code[down]
                rec.grounded_reason[sl] = reason.tolist()
                go = go & ~down
        rec.drone_outcome[sl] = outcome
        rows = suited[go]
        if rows.size < suited.size:
            cand, dist, delay = cand[go], dist[go], delay[go]
        if self.flat:
            self._load_flat(start, n, rows, cand, dist, delay)
            return rows
        # Each incident's row as lists (docks, flight lengths, authorisation delays), made in
        # bulk; rows without any delay share one list of zeros.
        delays: list[list[float]]
        if delay.any():
            delays = cast("list[list[float]]", delay.tolist())  # delay is 2-D
        else:
            delays = [[0.0] * delay.shape[1]] * rows.size
        store = self.cand
        for key, row in zip((start + rows).tolist(), zip(cand.tolist(), dist.tolist(), delays)):
            store[key] = row
        return rows

    def _load_flat(self, start: int, n: int, rows: np.ndarray, cand: np.ndarray,
                   dist: np.ndarray, delay: np.ndarray) -> None:
        """The flat candidate lists of a chunk (see ``flat``)."""
        arrays = (cand, dist, delay)

        def column(a: np.ndarray, j: int, missing: float) -> np.ndarray:
            return a[:, j] if a.shape[1] > j else np.full(rows.size, missing, a.dtype)

        if delay.any():  # flat rows are in distance order: no authorisation delay
            raise RuntimeError("closest-idle rows with authorisation delays")  # pragma: no cover
        spec = self.prep.scenario.drones
        # Flight time and charge needed, elementwise with Fleet's expressions (same rounding).
        out = leg_s(dist[:, 0], spec.speed_m_s, spec.climb_s, spec.descent_s)
        need = charge_needed_s(dist[:, 0], spec.speed_m_s, spec.climb_s, spec.descent_s,
                               spec.min_on_scene_s, spec.reserve_s)
        cols = (cand[:, 0], dist[:, 0], out, need, column(cand, 1, -1), column(dist, 1, np.inf),
                column(cand, 2, -1), column(dist, 2, np.inf), column(dist, 3, np.inf),
                np.arange(rows.size))
        stores = (*self.first, self._pos)
        if rows.size == n:  # every incident decides: whole slices
            sl = slice(start, start + n)
            for store, col in zip(stores, cols):
                store[sl] = col.tolist()
            self._arrays[sl] = [arrays] * n
            return
        keys = (start + rows).tolist()
        for store, col in zip(stores, cols):
            for key, v in zip(keys, col.tolist()):
                store[key] = v
        store = self._arrays
        for key in keys:
            store[key] = arrays

    def _row(self, i: int) -> tuple:
        """Incident i's candidate row (docks, lengths, delays); with ``flat`` rows cut to the
        prefix, a fourth element True says so (Fleet.nearest_ready then answers UNSETTLED when
        the answer could lie beyond: see :meth:`_whole_row`)."""
        # The key was loaded with a row (load, _load_flat): its slot is not None.
        if not self.flat:
            return cast("tuple[list, list, list]", self.cand[i])
        cand, dist, delay = cast("tuple[np.ndarray, np.ndarray, np.ndarray]", self._arrays[i])
        p = self._pos[i]
        docks = cand[p].tolist()
        if self._truncated and docks[-1] >= 0:  # a prefix of the candidates (see _truncated)
            return docks, dist[p].tolist(), delay[p].tolist(), True
        return docks, dist[p].tolist(), delay[p].tolist()

    def _whole_row(self, i: int) -> tuple[list, list, list]:
        """Incident i's whole candidate row, from a query of the incident alone (straight legs,
        so no authorisation delay): the row the batched query would give."""
        prep = self.prep
        cand, dist = prep.docks.candidates(np.array([self.rec.x[i]]), np.array([self.rec.y[i]]),
                                           prep.scenario.dispatch.candidate_docks,
                                           prep.max_range_m)
        return cand[0].tolist(), dist[0].tolist(), [0.0] * cand.shape[1]

    def _try(self, i: int) -> str:
        """Ask the policy about incident i; returns 'dispatched', 'queued', 'declined' or
        'grounded'."""
        row = self._row(i)
        now = self.env._now
        if self.grounding is not None:
            code = self.grounding.reason_at(now)
            if code:
                self.rec.grounded_reason[i] = code
                return "grounded"
        fleet = self.fleet
        svc = self.rec.service[i]
        if self.nearest_only:
            found = fleet.nearest_ready(row, now, svc)
            if found is UNSETTLED:
                row = self._whole_row(i)
                found = fleet.nearest_ready(row, now, svc)
            if self.check:
                self._check_promise(i, row, now, svc, found)
            if found is not None:
                pos = found[1]
                fleet.send(found[0], i, row[1][pos], row[2][pos])
                return "dispatched"
            return self._preempt_or_queue(i, now)
        snap = _Snapshot(fleet, row, svc, now)
        decision = self.decide_policy(_Incident(self, i), snap, now)
        if type(decision) is Dispatch or isinstance(decision, Dispatch):
            d = decision.drone
            pick = snap._pick
            if pick is not None and pick[0] == d:  # the snapshot's own nearest_ready answer
                pos = pick[1]
            else:
                d = int(d)
                pos = fleet.offered(d, row, now, svc)
                if pos < 0:
                    raise RuntimeError(f"policy {type(self.policy).__name__} chose drone "
                                       f"{decision.drone}, which was not offered for incident "
                                       f"{self.rec.gid[i]}")
            fleet.assign(d, i, row[1][pos], row[2][pos])
            return "dispatched"
        if type(decision) is Queue or isinstance(decision, Queue):
            return self._preempt_or_queue(i, now)
        if isinstance(decision, Decline):
            return "declined"
        raise TypeError(f"policy returned {decision!r}, not Dispatch, Queue or Decline")

    def _preempt_or_queue(self, i: int, now: float) -> str:
        """No drone for incident i now: with pre-emption on, redirect a drone from a
        lower-ranked incident (:meth:`Fleet.preemption_candidate`), else queue."""
        if self.preempt:
            found = self.fleet.preemption_candidate(i, now)
            if found is not None:
                self.fleet.redirect(found[0], i, found[1])
                return "dispatched"
        return "queued"

    def _check_promise(self, i: int, row: tuple, now: float, svc: int,
                       found: tuple[int, int] | None) -> None:
        """The policy's own decision (its ``decide`` with a snapshot of the whole row, as the
        seam asks it) must be the closest-idle rule's ``found``; raises FastPathMismatch."""
        if len(row) > 3 and row[3]:  # a prefix of the candidates: the snapshot sees them all
            row = self._whole_row(i)
        snap = _Snapshot(self.fleet, row, svc, now)
        decision = self.decide_policy(_Incident(self, i), snap, now)
        nearest = None if found is None else found[0]
        if not FastPath.agrees(decision, nearest):
            raise FastPath.mismatch(self.policy, self.rec.gid[i], now, decision, nearest)

    def _decide(self, i: int) -> None:
        outcome = self._try(i)
        if outcome == "queued":
            rec = self.rec
            rec.drone_outcome[i] = _PENDING
            heapq.heappush(self.queue, (rec.rank[i], rec.t_call[i], rec.gid[i], i))
        elif outcome == "declined":
            self.rec.drone_outcome[i] = _DECLINED
            self.rec.range_of[i].open -= 1
        elif outcome == "grounded":
            self.rec.drone_outcome[i] = _GROUNDED
            self.rec.range_of[i].open -= 1

    def _stale(self, i: int, now: float) -> bool:
        g = self.rec.t_ground_arrival[i]
        return now - self.rec.t_drone_decision[i] > self.max_wait or (g == g and g <= now)

    def drone_free(self, _d: int) -> None:
        """A drone landed (or stood down): offer it to the waiting incidents, most urgent first.

        Incidents that waited too long (or whose ground unit arrived) leave the queue as
        abandoned when their turn comes. A policy that only sends READY drones (``ready_only``)
        is not asked again once no drone is idle: its answer would be Queue.
        """
        queue = self.queue
        if not queue:
            return
        now = self.env._now
        rec = self.rec
        fleet = self.fleet
        ready_only = self.ready_only
        keep = []
        fleet.defer_starts()
        while queue:
            if ready_only and fleet.n_idle == 0:
                break
            entry = heapq.heappop(queue)
            i = entry[3]
            if self._stale(i, now):
                rec.drone_outcome[i] = _ABANDONED
                rec.range_of[i].open -= 1
                continue
            outcome = self._try(i)
            if outcome == "queued":
                keep.append(entry)
            elif outcome == "declined":
                rec.drone_outcome[i] = _DECLINED
                rec.range_of[i].open -= 1
            elif outcome == "grounded":
                rec.drone_outcome[i] = _GROUNDED
                rec.range_of[i].open -= 1
        for entry in keep:
            heapq.heappush(queue, entry)
        fleet.begin_deferred()

    def incident_view(self, i: int) -> IncidentView:
        """What a policy sees of incident i (read from the records when asked)."""
        return _Incident(self, i)

    def requeue(self, i: int) -> None:
        """Incident i's booked drone went out of service when it landed (a fault, maintenance):
        the incident waits again for a drone, as it did before it was booked."""
        rec = self.rec
        # (The booking's assignment columns were never logged: Fleet dropped the booking.)
        rec.drone_id[i] = -1
        rec.drone_outcome[i] = _PENDING
        heapq.heappush(self.queue, (rec.rank[i], rec.t_call[i], rec.gid[i], i))
        self.drone_free(-1)  # another drone may be free now

    def finish(self) -> None:
        """Incidents still queued when the run drains: abandoned if they waited too long."""
        now = self.env.now
        for entry in self.queue:
            i = entry[3]
            if self._stale(i, now):
                self.rec.drone_outcome[i] = _ABANDONED
                self.rec.side_done(i)


_PENDING, _DECLINED = OUTCOME["pending"], OUTCOME["declined"]
_ABANDONED = OUTCOME["queue_abandoned"]
_GROUNDED = OUTCOME["grounded"]
#: Candidate docks queried in bulk for the closest-idle rule (see _DroneDispatcher._truncated).
FLAT_PREFIX = 8


def _within_type_range(cand: np.ndarray, dist: np.ndarray, delay: np.ndarray,
                       range_m: list[float]) -> tuple[np.ndarray, ...]:
    """Candidate rows with each dock kept only within its airframe type's radius, the docks kept
    in their order and -1 (distance inf) after them."""
    rng = np.asarray(range_m, float)
    ok = (cand >= 0) & (dist <= rng[np.maximum(cand, 0)] * (1 + 1e-12))
    order = np.argsort(~ok, axis=1, kind="stable")
    take = np.take_along_axis
    cand, dist, delay = (take(cand, order, 1), take(dist, order, 1), take(delay, order, 1))
    keep = take(ok, order, 1)
    cand = np.where(keep, cand, -1)
    dist = np.where(keep, dist, np.inf)
    delay = np.where(keep, delay, 0.0)
    return cand, dist, delay
