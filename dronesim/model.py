"""One replication: build the environment, walk the pre-generated incidents, return records.

Assembly only: demand, fleet, ground, control room and the dispatch policy are owned by their
modules. Expensive per-scenario work (map layers, dock index) is done once in :func:`prepare` and
shared by every replication.

Event walk: incidents are known in advance (generated a chunk of simulated time at a time, see
:func:`dronesim.demand.demand_chunks`), so the kernel walks a pre-sorted timeline of "ground
dispatch" (call + call handling) and "drone decision" (call + decision_s) moments against its own
event queue (:meth:`Kernel.walk`); those moments never become kernel events. The kernel holds only
what the model cannot know in advance, one callback each: a ground unit clearing, a drone landing
(or charged, or giving up a pilot wait), a pilot shift change. No process, ``Timeout`` or object
per incident beyond those. The run drains after the last arrival so that every incident's record
is complete.

Decisions: the policy gets a lazily built snapshot (:class:`dronesim.fleet.Fleet.snapshot`) and
incident view; a policy that asks only for the nearest ready drone builds no array. A policy
that is the closest-idle rule (``nearest_ready_only``, see
:func:`dronesim.dispatch.base.picks_nearest_ready`) gets no snapshot at all: with straight
legs the dispatcher keeps each incident's two nearest candidates in flat lists by key (filled
in bulk per chunk, from a batched KD-tree query of the ``FLAT_PREFIX`` nearest docks) and the
kernel's handler is :meth:`dronesim.fleet.Fleet.decide_first`; the rare incident whose answer
lies beyond those two docks is decided on its whole candidate row. With an operations feature
on (weather or night grounding, rosters, faults and maintenance, relief drones, airframe
types: :attr:`dronesim.fleet.Fleet.operations`) the closest-idle rule is decided on the whole
candidate row and its missions start on the general path, as through the policy seam.

Records stream (issue 8, item 2): each chunk's records leave :class:`~dronesim.records.Records`
as soon as they are complete, go to the sink (kept in memory by default, or written to Parquet)
and into running aggregates (:mod:`dronesim.aggregates`) that give the replication's KPIs. Memory
holds the chunks still in play, not the run.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
import simpy
from scipy import sparse

from .airspace import AirspacePolicy, NoFlyZones, candidate_legs, zones_for
from . import siting
from .coverage import StaticCoverage, reach_radius_m, static_coverage
from .demand import WEEK_S, Incidents, demand_chunks
from .dispatch import Decline, Dispatch, IncidentView, Queue, make_policy
from .dispatch.base import DispatchPolicy, PolicyContext, picks_nearest_ready
from .dispatch.watchdog import active_limit, runs_user_code
from .fleet import UNSETTLED, AirframeTable, Fleet, _Snapshot
from .geography import WEIGHT_COLUMNS, London, load_london
from .errors import InputError
from .ground import make_force
from .infrastructure import Connectivity, PilotRooms, Sectors, drone_owners, service_ranks
from .records import OUTCOME, Records
from .scenario import Scenario
from .sites import Docks, build_docks, sited_docks
from .sources import Trace, load_trace
from .streams import Streams
from .aggregates import Aggregates
from .sinks import MemorySink

if TYPE_CHECKING:
    from .sinks import Sink

__all__ = ["Prepared", "ReplicationResult", "Kernel", "prepare", "run_replication"]


@dataclass(eq=False)
class Prepared:
    """A validated scenario placed on the map: everything replications share."""

    scenario: Scenario
    london: London
    docks: Docks
    zones: NoFlyZones | None = None
    trace: Trace | None = None  # replayed instead of generated demand ([demand] trace)

    @functools.cached_property
    def owners(self) -> np.ndarray:
        """Owning service of each drone (-1: any), after dock sharing."""
        return drone_owners(self.scenario, self.docks)

    @functools.cached_property
    def airframes(self) -> AirframeTable:
        """Each dock's airframe type and its performance (mixed fleets, ``[[airframes]]``)."""
        return AirframeTable.of(self.scenario)

    @property
    def max_range_m(self) -> float:
        """The farthest any dock's drones fly (the ``[drones]`` radius without airframe types)."""
        scn = self.scenario
        if not scn.airframes or not len(self.docks):
            return scn.drones.max_range_m
        return max(self.airframes.range_m)

    @functools.cached_property
    def connectivity(self) -> Connectivity:
        src = self.scenario.source
        base = Path(src).parent if src and not src.startswith("<") else None
        return Connectivity(self.scenario, self.docks, self.owners, base)

    @property
    def airspace_policy(self) -> AirspacePolicy:
        a = self.scenario.airspace
        return AirspacePolicy(a.mode, a.authorisation_delay_s, a.margin_m)

    @property
    def warmup_s(self) -> float:
        return self.scenario.simulation.warmup_hours * 3600.0

    @property
    def horizon_s(self) -> float:
        """End of the measured window; with a trace, midnight after its last incident (the
        scenario's ``simulation.weeks`` is then ignored)."""
        if self.trace is not None:
            return self.trace.horizon_s
        return self.warmup_s + self.scenario.simulation.weeks * WEEK_S

    def new_policy(self) -> DispatchPolicy:
        d = self.scenario.dispatch
        policy = make_policy(d.policy, d.params, self.scenario.source)
        bind = getattr(policy, "bind", None)
        if callable(bind):
            bind(self.policy_context)
        return policy

    def static_coverage(self, weights: tuple[str, ...] | None = None) -> StaticCoverage:
        """Static coverage of this scenario's docks at its target time, airspace included.

        ``weights`` defaults to the demand weights of the services (computed once, cached).
        """
        if weights is None:
            weights = tuple(dict.fromkeys(s.spatial_weight for s in self.scenario.services.values()
                                          if s.spatial_weight in WEIGHT_COLUMNS)) or ("population",)
        cache = self.__dict__.setdefault("_coverage_cache", {})
        if weights not in cache:
            scn = self.scenario
            cache[weights] = static_coverage(self.london, self.docks, scn.drones, scn.coverage,
                                             weights, self.zones, self.airspace_policy)
        return cache[weights]

    @functools.cached_property
    def policy_context(self) -> PolicyContext:
        """Docks, drone-suited demand points and their coverage within the target time."""
        scn, london = self.scenario, self.london
        pts = shapely.point_on_surface(np.asarray(london.lsoa.geometry.values))
        px, py = shapely.get_x(pts), shapely.get_y(pts)
        w = np.zeros(px.size)
        for spec in scn.services.values():
            if not spec.uses_drones:
                continue
            weight = london.weights(spec.spatial_weight)
            suited = float(np.dot(spec.priority_shares, spec.drone_suited_share))
            w += spec.incidents_per_week * suited * weight / weight.sum()
        radius = reach_radius_m(scn.drones, scn.coverage.within_s)
        docks_xy = np.column_stack([self.docks.x, self.docks.y])
        if radius > 0:
            cover = siting.coverage_matrix(docks_xy, np.column_stack([px, py]), radius).T.tocsr()
        else:  # the target leaves no time to fly: nothing is covered
            cover = sparse.csr_matrix((len(self.docks), px.size), dtype=np.int8)
        return PolicyContext(self.docks.x, self.docks.y, self.docks.drones, px, py, w, cover,
                             scn.coverage.within_s, tuple(scn.services))


def prepare(scn: Scenario, data_dir: str | Path | None = None) -> Prepared:
    """Check a scenario against the map (docks inside London, policy known) and index it."""
    london = load_london(data_dir)
    base = Path(scn.source).parent if scn.source and not scn.source.startswith("<") else None
    zones = zones_for(scn.airspace, base)
    if scn.siting.method != "listed":
        # Resolve the siting method once; the prepared scenario lists every dock explicitly,
        # so its resolved TOML re-runs the same network without re-optimising.
        scn = dataclasses.replace(scn, docks=sited_docks(scn, london, zones),
                                  siting=dataclasses.replace(scn.siting, method="listed"))
    docks = build_docks(scn, london, zones)
    prep = Prepared(scn, london, docks, zones, trace=load_trace(scn, london))
    if prep.trace is not None and prep.warmup_s >= prep.horizon_s:
        raise InputError(scn.source, "simulation.warmup_hours",
                         f"{scn.simulation.warmup_hours:g} h leaves nothing of the trace "
                         f"{prep.trace.path} (it ends {prep.horizon_s / 3600:,.0f} h in)")
    prep.new_policy()  # fail early on an unknown policy or bad parameters
    if scn.relief.enabled:  # and the relief policy ([relief], dronesim.relief)
        from .relief import relief_policy

        relief_policy(prep)
    prep.connectivity  # fail early on a bad coverage file
    return prep


@dataclass(eq=False)
class ReplicationResult:
    """One replication.

    ``incidents`` / ``missions`` are the record tables when the run kept them (no sink given),
    None when they were streamed to a sink. ``kpis`` is always there: the KPIs of the
    replication, computed from running aggregates of the same record chunks
    (:func:`dronesim.aggregates.Aggregates.kpis`).
    """

    replication: int
    incidents: pd.DataFrame | None
    missions: pd.DataFrame | None
    warmup_s: float
    horizon_s: float
    fleet_size: int
    pilots: int
    ground_units: dict[str, int]
    wall_s: float
    kpis: dict[str, Any] = field(default_factory=dict)
    n_incidents: int = 0
    n_missions: int = 0
    peak_held: int = 0  # most incidents held at once (chunks in play)


class _Event:
    """The smallest object SimPy's kernel can process: its callbacks, and an argument."""

    __slots__ = ("callbacks", "arg")
    _ok = True  # the model's events never fail (a class value: one store less per event)


class Kernel(simpy.Environment):
    """SimPy's environment with two additions for an event-economical model.

    * :meth:`at` schedules a plain callback at an absolute time (one small object, no
      ``Process`` and no ``Timeout`` wrapper). Hot paths that schedule many events of one kind
      push ``(t, NORMAL, next(_eid), event)`` themselves with a :attr:`Call` whose
      ``callbacks`` list they share (the kernel only reads it).
    * :meth:`walk` runs a pre-sorted timeline of moments known in advance (incident arrivals)
      against the kernel's own queue: before each moment, every kernel event due at or before
      it is processed, then the clock is set to it and its handler called. The known moments
      never enter the kernel's heap (../shared/design/PERFORMANCE.md, technique 3).

    The model's hot paths read the clock as ``_now`` (what SimPy's ``now`` property returns).
    """

    #: The event type :meth:`at` schedules (for hot paths that push events themselves).
    Call = _Event

    def at(self, t: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(event)`` at time ``t`` (``event.arg`` is ``arg``)."""
        ev = _Event()
        ev.callbacks = [callback]
        ev.arg = arg
        heapq.heappush(self._queue, (t, 1, next(self._eid), ev))  # 1: SimPy's NORMAL priority

    def walk(self, times: list[float], kinds: list[int], keys: list[int],
             handlers: list[Callable[[int], None]]) -> None:
        """For each moment in time order: process due kernel events, then
        ``handlers[kind](key)`` at that time."""
        queue = self._queue
        pop = heapq.heappop
        for t, kind, key in zip(times, kinds, keys):
            while queue and queue[0][0] <= t:
                # SimPy's Environment.step, inline (the model's events never fail).
                self._now, _, _, event = pop(queue)
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok:
                    raise event._value
            self._now = t
            handlers[kind](key)


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
                 policy: DispatchPolicy, forces: list) -> None:
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
        #: The policy is the closest-idle rule (picks_nearest_ready): decisions are taken here,
        #: without a snapshot, an incident view or a decision object.
        self.nearest_only = picks_nearest_ready(policy)
        #: Weather and night grounding (dronesim.availability), None when off.
        self.grounding = fleet.grounding if fleet.grounding is not None and \
            fleet.grounding.grounds else None
        if self.nearest_only and self.grounding is None:  # (grounding: checked in _try)
            self.decide = self._decide_nearest
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
        self._arrays: list[tuple | None] = []
        self._pos: list[int] = []
        #: With ``flat`` and straight legs, the batched KD-tree query asks only for the
        #: FLAT_PREFIX nearest docks (the k-nearest query's cost grows with k): the answer lies
        #: there unless all of them lack a READY drone, and then (``_truncated``) one query of
        #: the incident alone gives its whole row (Fleet.nearest_ready's UNSETTLED).
        self._truncated = False

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
        if delay.any():
            delays = delay.tolist()
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
        out = spec.climb_s + dist[:, 0] / spec.speed_m_s + spec.descent_s
        need = 2 * out + spec.min_on_scene_s + spec.reserve_s
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
        if not self.flat:
            return self.cand[i]
        cand, dist, delay = self._arrays[i]
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

    def _decide_nearest(self, i: int) -> None:
        """:meth:`decide` for the closest-idle rule: the common case (a READY drone) inline."""
        row = self.cand[i]
        found = self.fleet.nearest_ready(row, self.env._now, self.rec.service[i])
        if found is not None:
            pos = found[1]
            self.fleet.send(found[0], i, row[1][pos], row[2][pos])
        else:
            self._decide(i)

    def decide(self, i: int) -> None:
        self._decide(i)

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


_PENDING, _DECLINED, _ABANDONED = OUTCOME["pending"], OUTCOME["declined"], OUTCOME["queue_abandoned"]
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


def _chunk_timeline(inc: Incidents, start: int, first_id: int, decide_rows: np.ndarray,
                    decision_s: float, ground: np.ndarray) -> tuple[np.ndarray, ...]:
    """Known moments of a chunk: ground dispatch (call + handling; kind = service index) of
    the services with a ground response, and drone decisions (call + decision_s; kind =
    ``drone_kind``, after any ground dispatch at the same time)."""
    g = np.flatnonzero(ground[inc.service])
    t = np.concatenate([inc.t_call[g] + inc.handling_s[g],
                        inc.t_call[decide_rows] + decision_s])
    kind = np.concatenate([inc.service[g].astype(np.int64),
                           np.full(decide_rows.size, ground.size, np.int64)])
    rows = np.concatenate([g, decide_rows])
    return t, kind, first_id + rows, start + rows


def run_replication(prep: Prepared, replication: int, *, sink: Sink | None = None,
                    incidents: Incidents | None = None, chunk_s: float | None = None
                    ) -> ReplicationResult:
    """Simulate one replication of a prepared scenario.

    Parameters
    ----------
    prep
        The prepared scenario (:func:`prepare`).
    replication
        Replication number: with the scenario's seed it names every random stream.
    sink
        Where the record chunks go (e.g. :class:`dronesim.sinks.ParquetSink`). None keeps
        them in memory and returns them as tables in ``result.incidents`` /
        ``result.missions``; with a sink those are None and memory does not grow with the run.
    incidents
        Pre-generated incidents (sorted by call time) to simulate instead of generating the
        scenario's demand, e.g. identical incidents for several models; every incident of
        ``incidents`` is simulated and the horizon stays the scenario's.
    chunk_s
        Simulated time per chunk of demand (default one week). Results do not depend on it.

    Returns
    -------
    ReplicationResult
        Always with ``kpis``, the replication's KPIs from running aggregates of the same
        records (:class:`dronesim.aggregates.Aggregates`).
    """
    # The run creates millions of small objects and keeps large lists alive: automatic cyclic
    # garbage collection would traverse those lists again and again (it took two thirds of
    # the time of a drones-only run). Nothing the run creates per event forms a cycle, so it is
    # off during the run; young objects are collected at each chunk boundary. The run's
    # long-lived lists are frozen while still empty (gc.freeze), so that those collections do
    # not traverse them once they hold a chunk (13 ms a run at 200 drones); a process that
    # froze objects of its own is left as it is.
    enabled = gc.isenabled()
    gc.disable()
    freeze = gc.get_freeze_count() == 0
    try:
        return _run(prep, replication, sink, incidents, chunk_s, freeze)
    finally:
        if freeze:
            gc.unfreeze()
        if enabled:
            gc.enable()


def _run(prep: Prepared, replication: int, sink: Sink | None, incidents: Incidents | None,
         chunk_s: float | None, freeze: bool = False) -> ReplicationResult:
    wall0 = time.perf_counter()
    scn = prep.scenario
    streams = Streams(scn.simulation.seed, replication)
    names = tuple(scn.services)
    codes = prep.london.borough_codes
    env = Kernel()
    rec = Records(replication, names, codes)
    rooms = PilotRooms(env, scn, scn.fleet_size, prep.horizon_s)
    sectors = Sectors(env, scn)
    ranks_of = service_ranks(scn)
    svc_rank = np.array([ranks_of[s] for s in names], np.int64)
    policy = prep.new_policy()
    fleet = Fleet(env, scn.drones, prep.docks, rooms, rec, None, owners=prep.owners,
                  pooled=scn.sharing.airframes == "pooled", sectors=sectors,
                  max_wait_s=scn.dispatch.max_queue_wait_s,
                  airframes=prep.airframes if scn.airframes else None)
    ops = _operations(prep, env, fleet, streams)
    forces = []
    offset = 0
    for name in names:
        force = make_force(env, name, scn.services[name], prep.london, rec, streams, offset,
                           fleet.ground_eta_known)
        offset += force.size
        forces.append(force)
    from .ground import DroneResolution

    for k, name in enumerate(names):  # drones resolving incidents alone ([value])
        shares = scn.value.drone_resolved_share.get(name)
        if shares and any(shares):
            forces[k] = DroneResolution(forces[k], name, shares, fleet, rec, streams)
    dispatcher = _DroneDispatcher(env, prep, rec, fleet, policy, forces)
    if scn.relief.enabled and scn.drones.loiter == "until_ground":
        from .relief import Relief

        fleet.relief = Relief(prep, env, fleet, rec, dispatcher)
    fleet.on_free = dispatcher.drone_free
    fleet.on_unbook = dispatcher.requeue
    fleet._ops = fleet.operations  # (grounding, duty, relief, airframe types: no inline start)
    fleet.waiting = dispatcher.queue
    # Rows are in flight-time order; that is distance order unless authorisation delays
    # (restriction zones flown through in "authorise" mode) add to some legs.
    fleet.by_distance = prep.zones is None or len(prep.zones) == 0 or \
        scn.airspace.mode != "authorise"
    if dispatcher.nearest_only and fleet.by_distance and not fleet.operations:
        # Decisions straight from the flat candidate lists, in the fleet (Fleet.decide_first);
        # the dispatcher takes every case the nearest dock does not settle. Not with an
        # operations feature that changes which drone goes or whether it flies (grounding,
        # duty holds and faults, relief, mixed airframes: Fleet.operations): those decide
        # through the dispatcher, as the policy seam does.
        dispatcher.flat = True
        fleet.bind_first(dispatcher.first, dispatcher._decide)
        dispatcher.decide = fleet.decide_first
    ground = np.array([scn.services[n].ground.base != "none" for n in names])
    # Inputs read by key: by the ground forces, by policies (the incident view), by the fleet
    # (pre-emption and sectors read positions, the exponential loiter its draw) and by
    # whole-row queries (positions).
    unread = {"suited", "handling_s"}
    if not ground.any():
        unread |= {"travel_factor", "turnout_s", "ground_on_scene_s", "priority", "borough"}
    if dispatcher.flat:
        if not (ground.any() or dispatcher.preempt or sectors.active
                or len(prep.docks) > FLAT_PREFIX):
            unread |= {"x", "y"}
    if not fleet._exponential:
        unread.add("drone_loiter_s")
    if not dispatcher.flat:  # the incident view reads these
        unread -= {"priority", "borough", "x", "y"}
    rec.unread = frozenset(unread)
    unwritten = set()
    if not ground.any():
        unwritten |= {"t_ground_dispatch", "t_ground_arrival", "t_ground_clear",
                      "ground_distance_m", "ground_unit"}
    if not sectors.active:
        unwritten.add("t_sector")
    if not dispatcher.preempt:
        unwritten.add("preempted_by")
    if dispatcher.refuse_outside:
        unwritten.add("link_outside")
    # Operations columns (issue 9) written only when their feature is on.
    if fleet.relief is None:
        unwritten |= {"t_relief_on_scene", "t_relief_leave", "relief_gap_s", "relief_drones",
                      "relief_drone_id"}
    if fleet.grounding is None:
        unwritten.add("grounded_reason")
    if not any(isinstance(f, DroneResolution) for f in forces):
        unwritten.add("drone_resolved")
    if not any(sv.ground.mutual_aid != "off" for sv in scn.services.values()):
        unwritten.add("mutual_aid_from")
    rec.unwritten = frozenset(unwritten)
    handlers = [f.dispatch for f in forces] + [dispatcher.decide]
    own_sink = sink is None
    out = MemorySink() if own_sink else sink
    agg = Aggregates(prep, fleet_size=fleet.size, pilots=rooms.capacity)

    def flush(force: bool = False) -> None:
        # Legs first: their rows fill their incidents' columns before a chunk leaves.
        missions = rec.take_missions()
        if len(missions):
            out.write_missions(missions)
            agg.add_missions(missions)
        for chunk in rec.finished(force):
            if len(chunk):
                out.write_incidents(chunk)
                agg.add_incidents(chunk)

    if freeze:
        gc.freeze()
    # Known moments not yet walked: (time, kind, incident id, key).
    later = tuple(np.zeros(0, dt) for dt in (float, np.int64, np.int64, np.int64))
    peak = 0
    chunks = demand_chunks(scn, prep.london, streams, prep.horizon_s, prep.trace,
                           incidents=incidents, chunk_s=chunk_s)
    for inc, until in chunks:
        cid, start = rec.load(inc, svc_rank[inc.service] * 100 + inc.priority)
        peak = max(peak, rec.live)
        first_id = rec.gid[start] if len(inc) else 0
        rows = dispatcher.load(start, inc)
        for k, force in enumerate(forces):
            force.load(start, inc, np.flatnonzero(inc.service == k))
        rec.open(cid, int(ground[inc.service].sum()) + int(rows.size))
        part = _chunk_timeline(inc, start, first_id, rows, scn.drones.decision_s, ground)
        t, kind, gid, key = (np.concatenate([a, b]) for a, b in zip(later, part))
        order = np.lexsort((gid, kind, t))
        t, kind, gid, key = t[order], kind[order], gid[order], key[order]
        now_n = int(np.searchsorted(t, until, side="left"))
        env.walk(t[:now_n].tolist(), kind[:now_n].tolist(), key[:now_n].tolist(), handlers)
        later = (t[now_n:], kind[now_n:], gid[now_n:], key[now_n:])
        flush()
        gc.collect(1)
    env.walk(later[0].tolist(), later[1].tolist(), later[3].tolist(), handlers)
    env.run()
    dispatcher.finish()
    fleet.open_assignments()
    flush(force=True)
    if rec.live:
        raise RuntimeError("records left behind")  # pragma: no cover
    if agg.n_incidents == 0:  # typed, empty tables rather than none
        out.write_incidents(rec.empty_chunk())
    if agg.n_missions == 0:
        out.write_missions(rec.empty_missions())
    out.close()
    result = ReplicationResult(
        replication=replication,
        incidents=out.incidents(rec.empty_chunk()) if own_sink else None,
        missions=out.missions(rec.empty_missions()) if own_sink else None,
        warmup_s=prep.warmup_s,
        horizon_s=prep.horizon_s,
        fleet_size=fleet.size,
        pilots=rooms.capacity,
        ground_units={n: f.size for n, f in zip(names, forces)},
        wall_s=0.0,
        n_incidents=agg.n_incidents,
        n_missions=agg.n_missions,
        peak_held=peak,
    )
    result.kpis = agg.kpis()
    for part in ops:  # weather and duty figures (dronesim.availability)
        result.kpis.update(part.kpis())
    result.wall_s = time.perf_counter() - wall0
    return result


def _operations(prep: Prepared, env: Kernel, fleet: Fleet, streams: Streams) -> list:
    """Weather, night, rosters, faults and maintenance (:mod:`dronesim.availability`) attached
    to the fleet when the scenario turns them on; nothing otherwise."""
    from .availability import Duty, make_grounding

    out: list = []
    gr = make_grounding(prep, streams)
    if gr is not None:
        fleet.grounding = gr
        if gr.slower:  # a dispatch's charge is judged at the night speed
            fleet.set_need_speed_factor(gr.speed_factor)
        out.append(gr)
    scn = prep.scenario
    f, r = scn.faults, scn.rosters
    if (f.failures_per_flight_hour > 0 or f.maintenance_every_flight_hours > 0
            or f.dock_failures_per_year > 0 or r.drone_pattern or r.dock_hours):
        duty = Duty(prep, env, fleet, streams)
        fleet.duty = duty
        out.append(duty)
    return out
