"""One replication: build the environment, walk the pre-generated incidents, return records.

Assembly only: demand, fleet, ground, control room and the dispatch policy are owned by their
modules. Expensive per-scenario work (map layers, dock index) is done once in :func:`prepare` and
shared by every replication.

Event walk: incidents are known in advance (generated a chunk of simulated time at a time, see
:func:`dronesim.inputs.demand.demand_chunks`), so the kernel walks a pre-sorted timeline of "ground
dispatch" (call + call handling) and "drone decision" (call + decision_s) moments against its own
event queue (:meth:`Kernel.walk`); those moments never become kernel events. The kernel holds only
what the model cannot know in advance, one callback each: a ground unit clearing, a drone landing
(or charged, or giving up a pilot wait), a pilot shift change. No process, ``Timeout`` or object
per incident beyond those. The run drains after the last arrival so that every incident's record
is complete.

Decisions: the policy gets a lazily built snapshot
(:class:`dronesim.engine.fleet.Fleet.snapshot`) and incident view; a policy that asks only for
the nearest ready drone builds no array. A policy that is the closest-idle rule
(``nearest_ready_only``, see :func:`dronesim.dispatch.base.picks_nearest_ready`) gets no
snapshot at all: with straight legs the dispatcher keeps each incident's two nearest
candidates in flat lists by key (filled in bulk per chunk, from a batched KD-tree query of the
``FLAT_PREFIX`` nearest docks) and the kernel's handler is
:meth:`dronesim.engine.fleet.Fleet.decide_first`; the rare incident whose answer lies beyond
those two docks is decided on its whole candidate row. When that applies is one predicate,
:meth:`dronesim.dispatch.fast_path.FastPath.applies`, over the scenario's
:class:`dronesim.engine.features.Features` (decided once); with a feature it is not proven
under (weather or night grounding, rosters, faults and maintenance, relief drones, airframe
types, ...) the closest-idle rule is decided on the whole candidate row and its missions
start on the general path, as through the policy seam.

Records stream (issue 8, item 2): each chunk's records leave
:class:`~dronesim.engine.records.Records` as soon as they are complete, go to the sink (kept in
memory by default, or written to Parquet) and into running aggregates
(:mod:`dronesim.engine.aggregates`) that give the replication's KPIs. Memory holds the chunks
still in play, not the run.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from ..dispatch.fast_path import FastPath
from ..errors import InputError
from ..inputs.airspace import zones_for
from ..inputs.demand import Incidents, demand_chunks
from ..inputs.geography import load_london
from ..inputs.scenario import Scenario
from ..inputs.sources import load_trace
from ..inputs.streams import Streams
from ..inputs.travel import make_travel_model
from ..siting.sites import build_docks, sited_docks
from .aggregates import Aggregates
from .dispatcher import FLAT_PREFIX, _DroneDispatcher
from .features import Features
from .fleet import CurvedFleet, Fleet
from .ground import DroneResolution, make_force
from .infrastructure import PilotRooms, Sectors, service_ranks
from .kernel import Kernel
from .prepared import Prepared
from .records import Records
from .sinks import MemorySink, RunShape

if TYPE_CHECKING:
    from .ground import _Force
    from .sinks import Observer, Sink

__all__ = ["ReplicationResult", "prepare", "run_replication"]


def _no_listener(_d: int) -> None:
    """The fleet's ``on_free`` until the dispatcher exists (it is set right after)."""


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
    for name, spec in scn.services.items():  # read every travel model (file) once, up front
        if spec.ground.base != "none":
            make_travel_model(spec.ground, london.data_dir, tuple(london.borough_codes), base,
                              f"services.{name}.ground.travel_file")
    if scn.relief.enabled:  # and the relief policy ([relief], dronesim.engine.relief)
        from .relief import relief_policy

        relief_policy(prep)
    _ = prep.connectivity  # fail early on a bad coverage file (built once, cached)
    return prep


@dataclass(eq=False)
class ReplicationResult:
    """One replication.

    ``incidents`` / ``missions`` are the record tables when the run kept them (no sink given),
    None when they were streamed to a sink. ``kpis`` is always there: the KPIs of the
    replication, computed from running aggregates of the same record chunks
    (:func:`dronesim.engine.aggregates.Aggregates.kpis`).
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
                    observers: Sequence[Observer] | None = None,
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
        Where the record chunks go (e.g. :class:`dronesim.engine.sinks.ParquetSink`). None keeps
        them in memory and returns them as tables in ``result.incidents`` /
        ``result.missions``; with a sink those are None and memory does not grow with the run.
    observers
        What counts the replication's KPIs from its record chunks
        (:class:`dronesim.engine.sinks.Observer`), created by the caller (the runner); their
        ``kpis()`` together (in order) are ``result.kpis``, with the weather and duty figures of
        the availability processes. None: one :class:`dronesim.engine.aggregates.Aggregates`
        (every engine KPI).
    incidents
        Pre-generated incidents (sorted by call time) to simulate instead of generating the
        scenario's demand, e.g. identical incidents for several models; every incident of
        ``incidents`` is simulated and the horizon stays the scenario's.
    chunk_s
        Simulated time per chunk of demand (default one week). Results do not depend on it.

    Returns
    -------
    ReplicationResult
        Always with ``kpis``, the replication's KPIs counted by the observers from the same
        records.
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
        return _run(prep, replication, sink, observers, incidents, chunk_s, freeze)
    finally:
        if freeze:
            gc.unfreeze()
        if enabled:
            gc.enable()


def _run(prep: Prepared, replication: int, sink: Sink | None,
         observers: Sequence[Observer] | None, incidents: Incidents | None,
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
    features = Features.of(prep)  # which features are on: read below, never re-decided
    fleet = (CurvedFleet if features.charging_curve else Fleet)(
        env, scn.drones, prep.docks, rooms, rec, _no_listener, owners=prep.owners,
        pooled=scn.sharing.airframes == "pooled", sectors=sectors,
        max_wait_s=scn.dispatch.max_queue_wait_s,
        airframes=prep.airframes if scn.airframes else None)
    if features.charging_curve:
        cast("CurvedFleet", fleet).set_charging(scn)
    ops = _operations(prep, env, fleet, streams, features)
    ground_forces: list[_Force] = []
    offset = 0
    for name in names:
        force = make_force(env, name, scn.services[name], prep.london, rec, streams, offset,
                           fleet.ground_eta_known, _scenario_folder(scn))
        offset += force.size
        ground_forces.append(force)
    forces: list[_Force | DroneResolution] = list(ground_forces)
    for k, name in enumerate(names):  # drones resolving incidents alone ([value])
        shares = scn.value.drone_resolved_share.get(name)
        if shares and any(shares):
            forces[k] = DroneResolution(ground_forces[k], name, shares, fleet, rec, streams)
    dispatcher = _DroneDispatcher(env, prep, rec, fleet, policy, forces)
    if features.relief:
        from .relief import Relief

        fleet.attach_relief(Relief(prep, env, fleet, rec, dispatcher))
    # The closest-idle fast path (dronesim.dispatch.fast_path.FastPath) decides from the
    # features alone whether the mission's start may be inline (Fleet.send). Rows are in
    # flight-time order; that is distance order unless authorisation delays (restriction zones
    # flown through in "authorise" mode) add to some legs.
    fleet.attach_dispatcher(dispatcher.drone_free, dispatcher.requeue, dispatcher.queue,
                            by_distance=not features.authorised_legs,
                            inline_start=FastPath.starts_inline(features))
    if FastPath.applies(features, policy) and not dispatcher.check:
        # Decisions straight from the flat candidate lists, in the fleet (Fleet.decide_first);
        # the dispatcher takes every case the nearest dock does not settle. Any feature the
        # fast path is not proven under decides through the dispatcher.
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
    # Conveyance to hospital (dronesim.engine.conveyance), written only when some service has it.
    if not features.conveyance:
        unwritten |= {"t_hospital_arrival", "t_handover_end", "conveyed", "hospital"}
    rec.unwritten = frozenset(unwritten)
    handlers = [f.dispatch for f in forces] + [dispatcher.decide]
    memory: MemorySink | None = None  # the record tables, kept for the result when no sink
    if sink is None:
        sink = memory = MemorySink()
    out: Sink = sink
    watch = tuple(observers) if observers is not None else (Aggregates(prep, features=features),)
    shape = RunShape(fleet_size=fleet.size, pilots=rooms.capacity,
                     ground_units={n: f.size for n, f in zip(names, forces)})
    for o in watch:
        o.start(shape)
    counts = [0, 0]  # incidents, missions written

    def flush(force: bool = False) -> None:
        # Legs first: their rows fill their incidents' columns before a chunk leaves.
        missions = rec.take_missions()
        if len(missions):
            out.write_missions(missions)
            counts[1] += len(missions)
            for o in watch:
                o.add_missions(missions)
        for chunk in rec.finished(force):
            if len(chunk):
                out.write_incidents(chunk)
                counts[0] += len(chunk)
                for o in watch:
                    o.add_incidents(chunk)

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
        for k, side in enumerate(forces):
            side.load(start, inc, np.flatnonzero(inc.service == k))
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
    if counts[0] == 0:  # typed, empty tables rather than none
        out.write_incidents(rec.empty_chunk())
    if counts[1] == 0:
        out.write_missions(rec.empty_missions())
    out.close()
    result = ReplicationResult(
        replication=replication,
        incidents=memory.incidents(rec.empty_chunk()) if memory is not None else None,
        missions=memory.missions(rec.empty_missions()) if memory is not None else None,
        warmup_s=prep.warmup_s,
        horizon_s=prep.horizon_s,
        fleet_size=fleet.size,
        pilots=rooms.capacity,
        ground_units=shape.ground_units,
        wall_s=0.0,
        n_incidents=counts[0],
        n_missions=counts[1],
        peak_held=peak,
    )
    for o in watch:
        result.kpis.update(o.kpis())
    for part in ops:  # weather and duty figures (dronesim.engine.availability)
        result.kpis.update(part.kpis())
    result.wall_s = time.perf_counter() - wall0
    return result


def _operations(prep: Prepared, env: Kernel, fleet: Fleet, streams: Streams,
                features: Features) -> list:
    """Weather, night, rosters, faults and maintenance (:mod:`dronesim.engine.availability`)
    and the per-leg effects (:mod:`dronesim.engine.legs`) attached to the fleet when the
    scenario turns them on; nothing otherwise."""
    from .availability import Duty, Grounding
    from .legs import Legs

    out: list = []
    gr = None
    if features.grounding:
        gr = Grounding(prep, streams, features)
        fleet.attach_grounding(gr)
        out.append(gr)
    if features.per_leg:  # the per-leg effects (dronesim.engine.legs)
        legs = Legs(prep, gr, fleet._spd, fleet.spec.climb_s,
                    fleet.spec.descent_s)
        fleet.attach_legs(legs)
        legs.drive_need_speed(env, fleet.set_need_speeds)
    if features.duty:
        duty = Duty(prep, env, fleet, streams)
        fleet.attach_duty(duty)
        out.append(duty)
    return out


def _scenario_folder(scn: Scenario) -> Path:
    """The folder a scenario's relative file names (a travel file) are resolved against."""
    src = str(scn.source)
    return Path(src).parent if src and not src.startswith("<") else Path.cwd()
