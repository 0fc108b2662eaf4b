"""One replication: build the environment, walk the pre-generated incidents, return records.

Assembly only: demand, fleet, ground, control room and the dispatch policy are owned by their
modules. Expensive per-scenario work (map layers, dock index) is done once in :func:`prepare` and
shared by every replication.

Event walk: all incidents are known in advance, so one driver process walks a single, pre-sorted
timeline of "ground dispatch" (call + call handling) and "drone decision" (call + decision_s)
moments. There is no process or event object per incident beyond the unit-clear callback; drone
missions are processes because they wait on pilots. The run drains after the last arrival so that
every incident's record is complete.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import simpy
from scipy import sparse

from .airspace import AirspacePolicy, NoFlyZones, candidate_legs, zones_for
from . import siting
from .coverage import StaticCoverage, reach_radius_m, static_coverage
from .demand import WEEK_S, Incidents, generate_incidents
from .dispatch import Decline, Dispatch, IncidentView, Queue, make_policy
from .dispatch.base import DispatchPolicy, PolicyContext
from .fleet import Fleet
from .geography import WEIGHT_COLUMNS, London, load_london
from .errors import InputError
from .ground import GroundForce, StationForce, make_force
from .infrastructure import Connectivity, PilotRooms, Sectors, drone_owners, service_ranks
from .records import OUTCOME, Records
from .scenario import Scenario
from .sites import Docks, build_docks, sited_docks
from .sources import Trace, load_trace
from .streams import Streams

__all__ = ["Prepared", "ReplicationResult", "prepare", "run_replication"]


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
    prep.connectivity  # fail early on a bad coverage file
    return prep


@dataclass(eq=False)
class ReplicationResult:
    replication: int
    incidents: pd.DataFrame
    missions: pd.DataFrame
    warmup_s: float
    horizon_s: float
    fleet_size: int
    pilots: int
    ground_units: dict[str, int]
    wall_s: float


class _DroneDispatcher:
    """Puts the policy's decisions into effect and keeps the queue of waiting incidents."""

    def __init__(self, env: simpy.Environment, prep: Prepared, inc: Incidents, rec: Records,
                 fleet: Fleet, policy: DispatchPolicy,
                 forces: list[GroundForce | StationForce], ranks: np.ndarray) -> None:
        scn = prep.scenario
        self.forces = forces
        self.ranks = ranks
        self.preempt = scn.sharing.preemption and scn.sharing.airframes == "pooled"
        self.env = env
        self.inc = inc
        self.rec = rec
        self.fleet = fleet
        self.policy = policy
        self.max_wait = scn.dispatch.max_queue_wait_s
        self.queue: list[tuple[int, float, int]] = []
        suited = np.flatnonzero(inc.suited)
        self.row = np.full(len(inc), -1, np.int64)
        self.row[suited] = np.arange(suited.size)
        cand, dist = prep.docks.candidates(
            inc.x[suited], inc.y[suited], scn.dispatch.candidate_docks, scn.drones.max_range_m)
        self.cand_dock, self.cand_dist, self.cand_delay = candidate_legs(
            prep.airspace_policy, prep.zones, prep.docks.x, prep.docks.y, cand, dist,
            inc.x[suited], inc.y[suited], scn.drones.max_range_m, scn.drones.speed_m_s)
        self.service_names = inc.service_names
        # Link coverage of each suited incident's service (shared: the union).
        self.link_ok = np.ones(len(inc), bool)
        self.link_ok[suited] = prep.connectivity.covered(inc.service[suited], inc.x[suited],
                                                         inc.y[suited])
        self.refuse_outside = prep.connectivity.outside == "refuse"

    def _view(self, i: int) -> IncidentView:
        inc = self.inc
        k = int(inc.service[i])
        return IncidentView(i, self.service_names[k], int(inc.priority[i]),
                            float(inc.x[i]), float(inc.y[i]), int(inc.borough[i]),
                            float(inc.t_call[i]), float(self.rec.t_ground_arrival[i]),
                            self.forces[k].estimate_arrival(i, self.env.now))

    def _try(self, i: int) -> str:
        """Ask the policy about incident i; returns 'dispatched', 'queued' or 'declined'."""
        r = self.row[i]
        snap = self.fleet.snapshot(self.cand_dock[r], self.cand_dist[r], self.cand_delay[r],
                                   self.env.now, int(self.inc.service[i]))
        decision = self.policy.decide(self._view(i), snap, self.env.now)
        if isinstance(decision, Dispatch):
            hit = np.flatnonzero(snap.drone == decision.drone)
            if hit.size == 0:
                raise RuntimeError(f"policy {type(self.policy).__name__} chose drone "
                                   f"{decision.drone}, which was not offered for incident {i}")
            k = hit[0]
            self.rec.airspace_delay_s[i] = self.cand_delay[r][
                np.flatnonzero(self.cand_dock[r] == snap.dock[k])[0]]
            self.fleet.assign(decision.drone, i, float(snap.distance_m[k]))
            return "dispatched"
        if isinstance(decision, Queue):
            if self.preempt:
                found = self.fleet.preemption_candidate(i, self.env.now)
                if found is not None:
                    self.fleet.redirect(found[0], i, found[1])
                    return "dispatched"
            return "queued"
        if isinstance(decision, Decline):
            return "declined"
        raise TypeError(f"policy returned {decision!r}, not Dispatch, Queue or Decline")

    def decide(self, i: int) -> None:
        self.rec.t_drone_decision[i] = self.env.now
        if self.cand_dock[self.row[i], 0] < 0:
            self.rec.drone_outcome[i] = OUTCOME["out_of_range"]
            return
        if not self.link_ok[i]:
            if self.refuse_outside:
                self.rec.drone_outcome[i] = OUTCOME["no_link"]
                return
            self.rec.link_outside[i] = 1  # flown, flagged
        outcome = self._try(i)
        if outcome == "queued":
            self.rec.drone_outcome[i] = OUTCOME["pending"]
            heapq.heappush(self.queue, (int(self.ranks[i]), float(self.inc.t_call[i]), i))
        elif outcome == "declined":
            self.rec.drone_outcome[i] = OUTCOME["declined"]

    def _stale(self, i: int, now: float) -> bool:
        g = self.rec.t_ground_arrival[i]
        return now - self.rec.t_drone_decision[i] > self.max_wait or (not math.isnan(g) and g <= now)

    def drone_free(self, _d: int) -> None:
        """A drone landed (or stood down): offer it to the waiting incidents, most urgent first."""
        if not self.queue:
            return
        now = self.env.now
        keep = []
        for entry in sorted(self.queue):
            i = entry[2]
            if self._stale(i, now):
                self.rec.drone_outcome[i] = OUTCOME["queue_abandoned"]
                continue
            outcome = self._try(i)
            if outcome == "queued":
                keep.append(entry)
            elif outcome == "declined":
                self.rec.drone_outcome[i] = OUTCOME["declined"]
        heapq.heapify(keep)
        self.queue = keep

    def finish(self) -> None:
        """Incidents still queued when the run drains: abandoned if they waited too long."""
        now = self.env.now
        for _, _, i in self.queue:
            if self._stale(i, now):
                self.rec.drone_outcome[i] = OUTCOME["queue_abandoned"]


def _timeline(inc: Incidents, decision_s: float) -> tuple[list, list, list]:
    n = len(inc)
    drone_i = np.flatnonzero(inc.suited)
    t = np.concatenate([inc.t_call + inc.handling_s, inc.t_call[drone_i] + decision_s])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(drone_i.size, np.int8)])
    idx = np.concatenate([np.arange(n), drone_i])
    order = np.lexsort((kind, t))
    return t[order].tolist(), kind[order].tolist(), idx[order].tolist()


def run_replication(prep: Prepared, replication: int) -> ReplicationResult:
    """Simulate one replication of a prepared scenario and return its record tables."""
    wall0 = time.perf_counter()
    scn = prep.scenario
    streams = Streams(scn.simulation.seed, replication)
    inc = generate_incidents(scn, prep.london, streams, prep.horizon_s, prep.trace)
    rec = Records(len(inc))
    env = simpy.Environment()
    rooms = PilotRooms(env, scn, scn.fleet_size, prep.horizon_s)
    sectors = Sectors(env, scn)
    ranks_of = service_ranks(scn)
    svc_rank = np.array([ranks_of[s] for s in inc.service_names], np.int64)
    ranks = svc_rank[inc.service] * 100 + inc.priority.astype(np.int64)
    policy = prep.new_policy()

    dispatcher: _DroneDispatcher | None = None

    def on_free(d: int) -> None:
        dispatcher.drone_free(d)

    fleet = Fleet(env, scn.drones, prep.docks, rooms, inc, rec, on_free, owners=prep.owners,
                  pooled=scn.sharing.airframes == "pooled", ranks=ranks, sectors=sectors,
                  max_wait_s=scn.dispatch.max_queue_wait_s)
    forces = []
    offset = 0
    for name in inc.service_names:
        force = make_force(env, name, scn.services[name], prep.london, inc, rec, streams,
                           offset, fleet.ground_eta_known)
        offset += force.size
        forces.append(force)
    dispatcher = _DroneDispatcher(env, prep, inc, rec, fleet, policy, forces, ranks)
    service = inc.service.tolist()
    times, kinds, idx = _timeline(inc, scn.drones.decision_s)

    def driver(env: simpy.Environment):
        ground = [f.dispatch for f in forces]
        decide = dispatcher.decide
        for t, k, i in zip(times, kinds, idx):
            if t > env.now:
                yield env.timeout(t - env.now)
            if k == 0:
                ground[service[i]](i)
            else:
                decide(i)

    env.process(driver(env))
    env.run()
    dispatcher.finish()
    codes = prep.london.borough_codes
    return ReplicationResult(
        replication=replication,
        incidents=rec.incident_table(inc, replication, codes),
        missions=rec.mission_table(replication, inc),
        warmup_s=prep.warmup_s,
        horizon_s=prep.horizon_s,
        fleet_size=fleet.size,
        pilots=rooms.capacity,
        ground_units={n: f.size for n, f in zip(inc.service_names, forces)},
        wall_s=time.perf_counter() - wall0,
    )
