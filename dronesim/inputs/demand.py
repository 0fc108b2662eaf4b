"""Incident demand, generated a week of simulated time at a time, before it is simulated.

Pre-generating incidents (vectorised, one named stream per input) means each policy, fleet
size and infrastructure setting run with the same seed sees exactly the same incidents: common
random numbers for free (../shared/design/PERFORMANCE.md, technique 3). Each week of a
replication draws from streams of its own (:meth:`dronesim.inputs.streams.Streams.block`), so a
week's incidents depend only on (seed, replication, week): a replication can be generated and
simulated in chunks (:func:`demand_chunks`) without holding its whole demand, and the
incidents are the same whatever the chunk size, the horizon or the process.

Modelling assumptions
---------------------
* Arrivals of each service are a non-homogeneous Poisson process whose rate is constant within
  each hour of the week: ``incidents_per_week`` x the hour-of-week share of the call profile. The
  only real call profile found is the London Fire Brigade's (2023 sample); it is the default for
  every service (documented in the scenarios).
* The simulated clock starts on a Monday at 00:00.
* Location: small area drawn by demand weight, point uniform within it (see :mod:`geography`);
  with ``spatial_weight = "lfb_sample"`` one of the LFB sample's incident points, jittered within
  its 50 m cell (see :mod:`sources`).
* Priority is drawn from ``priority_shares`` (priority 1 is the most urgent); whether a drone is
  suited is a Bernoulli draw with the priority's ``drone_suited_share``.
* Per-incident random durations (ground call handling, turnout, travel variability, ground time
  on scene, drone loiter in ``exponential`` mode) are drawn here too, so they do not depend on
  event order.
* Trace replay (``[demand] trace``): the trace's times, places, services and priorities replace
  the generators; whether a drone is suited (when the trace does not say) and every duration are
  still drawn from the service's named streams, in the trace's call-time order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from .geography import London
from .scenario import Scenario, ServiceSpec
from .sources import Trace, lfb_call_profile, sample_lfb_points
from .streams import Streams

__all__ = ["Incidents", "generate_incidents", "demand_chunks", "MIN_CHUNK_INCIDENTS",
           "lognormal_mean_cv", "hour_of_week_rates"]

WEEK_S = 7 * 86_400.0


def lognormal_mean_cv(rng: np.random.Generator, mean: float, cv: float, size: int) -> np.ndarray:
    """Lognormal draws with the given mean and coefficient of variation (cv = 0: constant)."""
    if cv <= 0 or mean <= 0:
        return np.full(size, float(mean))
    sigma2 = np.log1p(cv * cv)
    mu = np.log(mean) - sigma2 / 2
    return rng.lognormal(mu, np.sqrt(sigma2), size)


@dataclass(eq=False)
class Incidents:
    """Columns of one replication's incidents, sorted by call time."""

    t_call: np.ndarray
    x: np.ndarray
    y: np.ndarray
    borough: np.ndarray
    service: np.ndarray  # index into service_names
    priority: np.ndarray  # 1 = most urgent
    suited: np.ndarray  # a drone is suited to this incident
    handling_s: np.ndarray  # ground call handling (call -> unit dispatched)
    turnout_s: np.ndarray  # ground turnout (dispatched -> moving off)
    travel_factor: np.ndarray  # mean-one multiplier on ground travel time
    ground_on_scene_s: np.ndarray
    drone_loiter_s: np.ndarray  # used when drones.loiter = "exponential"
    service_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.t_call.size)

    def rows(self, a: int, b: int) -> Incidents:
        """Incidents ``a`` to ``b`` (views, no copy)."""
        cols = {f.name: getattr(self, f.name)[a:b] for f in fields(self)
                if f.name != "service_names"}
        return Incidents(**cols, service_names=self.service_names)

    def take(self, order: np.ndarray) -> Incidents:
        cols = {f.name: getattr(self, f.name)[order] for f in fields(self)
                if f.name != "service_names"}
        return Incidents(**cols, service_names=self.service_names)


def hour_of_week_rates(spec: ServiceSpec, london: London) -> np.ndarray:
    """Expected incidents per hour for each of the 168 hours of the week (Monday 00:00 first)."""
    if spec.time_profile == "flat":
        share = np.full(168, 1 / 168)
    elif spec.time_profile == "lfb_fire":
        share = lfb_call_profile(london, "lfb_fire").reshape(-1)
    else:  # "lfb_all"
        share = london.call_profile.reshape(-1)
    return spec.incidents_per_week * share


def _arrival_times(rates_per_hour: np.ndarray, lo_s: float, hi_s: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Arrival times in ``[lo_s, hi_s)``; ``lo_s`` is the start of a week."""
    n_bins = int(np.ceil((hi_s - lo_s) / 3600.0))
    starts = lo_s + np.arange(n_bins) * 3600.0
    lengths = np.minimum(3600.0, hi_s - starts)
    lam = rates_per_hour[np.arange(n_bins) % 168] * lengths / 3600.0
    counts = rng.poisson(lam)
    t = np.repeat(starts, counts) + rng.random(counts.sum()) * np.repeat(lengths, counts)
    t.sort()
    return t


def _service_incidents(name: str, k: int, spec: ServiceSpec, scn: Scenario, london: London,
                       streams: Streams, lo_s: float, hi_s: float) -> dict[str, np.ndarray]:
    t = _arrival_times(hour_of_week_rates(spec, london), lo_s, hi_s,
                       streams[f"{name}.arrivals"])
    n = t.size
    if spec.spatial_weight == "lfb_sample":
        x, y, borough = sample_lfb_points(london, n, streams[f"{name}.locations"],
                                          streams[f"{name}.points"])
    else:
        w = london.weights(spec.spatial_weight)
        lsoa = streams[f"{name}.locations"].choice(w.size, size=n, p=w / w.sum())
        x, y = london.sample_in_lsoa(lsoa, streams[f"{name}.points"])
        borough = london.lsoa_borough[lsoa]
    shares = np.asarray(spec.priority_shares)
    priority = streams[f"{name}.priority"].choice(shares.size, size=n, p=shares) + 1
    suited_share = np.asarray(spec.drone_suited_share)[priority - 1]
    suited = (streams[f"{name}.suited"].random(n) < suited_share) & spec.uses_drones
    return {
        "t_call": t,
        "x": x,
        "y": y,
        "borough": borough,
        "service": np.full(n, k, np.int16),
        "priority": priority.astype(np.int16),
        "suited": suited,
        **_durations(name, spec, scn, streams, n),
    }


def _durations(name: str, spec: ServiceSpec, scn: Scenario, streams: Streams, n: int
               ) -> dict[str, np.ndarray]:
    """Per-incident random durations of one service's ``n`` incidents, from its named streams."""
    g = spec.ground
    # Turnout is drawn only when it varies, so that a constant turnout uses no stream at all.
    turnout = (lognormal_mean_cv(streams[f"{name}.turnout"], g.turnout_s, g.turnout_cv, n)
               if g.turnout_cv > 0 else np.full(n, float(g.turnout_s)))
    return {
        "handling_s": lognormal_mean_cv(streams[f"{name}.handling"], g.call_handling_mean_s,
                                        g.call_handling_cv, n),
        "turnout_s": turnout,
        "travel_factor": lognormal_mean_cv(streams[f"{name}.travel"], 1.0, g.travel_cv, n),
        "ground_on_scene_s": lognormal_mean_cv(streams[f"{name}.on_scene"], g.on_scene_mean_s,
                                               g.on_scene_cv, n),
        "drone_loiter_s": streams[f"{name}.loiter"].exponential(scn.drones.loiter_mean_s, n),
    }


def _trace_incidents(scn: Scenario, streams: Streams, trace: Trace) -> Incidents:
    """The trace's incidents (already in call-time order) with their random durations drawn."""
    names = tuple(scn.services)
    if trace.service_names != names:
        raise ValueError("trace read for a different list of services")
    n = len(trace)
    cols: dict[str, np.ndarray] = {
        "t_call": trace.t_call.astype(float),
        "x": trace.x.astype(float),
        "y": trace.y.astype(float),
        "borough": trace.borough.astype(np.int64),
        "service": trace.service.astype(np.int16),
        "priority": trace.priority.astype(np.int16),
        "suited": np.zeros(n, bool),
    }
    for key in ("handling_s", "turnout_s", "travel_factor", "ground_on_scene_s",
                "drone_loiter_s"):
        cols[key] = np.zeros(n)
    for k, name in enumerate(names):
        rows = np.flatnonzero(trace.service == k)
        if rows.size == 0:
            continue
        spec = scn.services[name]
        prio = trace.priority[rows]
        share = np.asarray(spec.drone_suited_share)[prio - 1]
        drawn = streams[f"{name}.suited"].random(rows.size) < share
        given = trace.suited[rows]
        cols["suited"][rows] = np.where(given >= 0, given == 1, drawn) & spec.uses_drones
        for key, v in _durations(name, spec, scn, streams, rows.size).items():
            cols[key][rows] = v
    return Incidents(**cols, service_names=names)


def _concat(parts: list[Incidents], names: tuple[str, ...]) -> Incidents:
    if len(parts) == 1:
        return parts[0]
    cols = {f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(Incidents) if f.name != "service_names"}
    return Incidents(**cols, service_names=names)


def _week(scn: Scenario, london: London, streams: Streams, block: int, horizon_s: float
          ) -> Incidents:
    """All services' incidents of week ``block`` (clipped to the horizon), from that week's
    own streams, merged and sorted by call time."""
    names = tuple(scn.services)
    lo = block * WEEK_S
    hi = min(horizon_s, lo + WEEK_S)
    bs = streams.block(block)
    parts = [_service_incidents(name, k, scn.services[name], scn, london, bs, lo, hi)
             for k, name in enumerate(names)]
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(cols["t_call"], kind="stable")
    return Incidents(**{k: v[order] for k, v in cols.items()}, service_names=names)


def _pieces(scn: Scenario, london: London, streams: Streams, horizon_s: float,
            trace: Trace | None, incidents: Incidents | None
            ) -> Iterator[tuple[Incidents, float]]:
    """Incidents in time order, as ``(incidents, covered_until)`` pieces."""
    if incidents is None and trace is not None:
        incidents = _trace_incidents(scn, streams, trace)
    if incidents is not None:
        yield incidents, math.inf
        return
    for block in range(int(math.ceil(horizon_s / WEEK_S))):
        yield _week(scn, london, streams, block, horizon_s), min(horizon_s, (block + 1) * WEEK_S)


def generate_incidents(scn: Scenario, london: London, streams: Streams, horizon_s: float,
                       trace: Trace | None = None) -> Incidents:
    """All incidents of all services over ``[0, horizon_s)``, merged and sorted by call time.

    Demand is drawn a week at a time, each week from its own streams
    (:meth:`dronesim.inputs.streams.Streams.block`): the incidents of a week do not depend on the
    horizon or on how the weeks are grouped into chunks (:func:`demand_chunks`). With a
    ``trace`` (see :func:`dronesim.inputs.sources.read_trace`) its incidents replace the generators;
    incident ``k`` is then the trace's ``k``-th incident in call-time order.
    """
    names = tuple(scn.services)
    parts = [p for p, _ in _pieces(scn, london, streams, horizon_s, trace, None)]
    return _concat(parts, names) if parts else _week(scn, london, streams, 0, 0.0)


#: Default chunking: whole weeks, as many as it takes to hold this many incidents. A chunk has
#: fixed costs of about a millisecond, and what a run holds at its peak is about two chunks
#: (the one being simulated and the one finishing): 5,000 keeps both small. A week of
#: London-wide demand (tens of thousands of incidents) is a chunk of its own.
MIN_CHUNK_INCIDENTS = 5_000


def demand_chunks(scn: Scenario, london: London, streams: Streams, horizon_s: float,
                  trace: Trace | None = None, *, incidents: Incidents | None = None,
                  chunk_s: float | None = None) -> Iterator[tuple[Incidents, float]]:
    """The replication's incidents in consecutive chunks of simulated time, drawn as needed.

    Yields ``(incidents, until)``: the incidents called from where the previous chunk ended up
    to ``until`` (sorted by call time), ``until`` being where the next chunk starts (``inf``
    for the last). With ``chunk_s`` the chunks are ``[k x chunk_s, (k + 1) x chunk_s)``;
    by default they are whole weeks, consecutive weeks merged until a chunk holds
    :data:`MIN_CHUNK_INCIDENTS`. The incidents, joined, are those of
    :func:`generate_incidents` whatever the chunking; only the weeks a chunk needs are held.
    With ``incidents`` given those are cut into chunks instead.
    """
    if chunk_s is not None:
        yield from _chunks(scn, london, streams, horizon_s, trace, incidents, float(chunk_s))
        return
    names = tuple(scn.services)
    held: list[Incidents] = []
    n = 0
    for inc, until in _chunks(scn, london, streams, horizon_s, trace, incidents, WEEK_S):
        held.append(inc)
        n += len(inc)
        if n >= MIN_CHUNK_INCIDENTS or until == math.inf:
            yield _concat(held, names), until
            held, n = [], 0


def _chunks(scn: Scenario, london: London, streams: Streams, horizon_s: float,
            trace: Trace | None, incidents: Incidents | None, chunk_s: float
            ) -> Iterator[tuple[Incidents, float]]:
    """:func:`demand_chunks` with chunks of exactly ``chunk_s``."""
    if not chunk_s > 0:
        raise ValueError("chunk_s must be > 0")
    names = tuple(scn.services)
    held: list[Incidents] = []
    k = 0
    for piece, covered in _pieces(scn, london, streams, horizon_s, trace, incidents):
        held.append(piece)
        if covered == math.inf:
            covered = float(piece.t_call[-1]) if len(piece) else 0.0
        edges = []
        while (k + 1) * chunk_s <= covered:
            edges.append((k + 1) * chunk_s)
            k += 1
        if not edges:
            continue
        buf = _concat(held, names)
        a = 0
        for edge, cut in zip(edges, np.searchsorted(buf.t_call, edges, side="left").tolist()):
            yield buf.rows(a, cut), edge
            a = cut
        held = [buf.rows(a, len(buf))]
    buf = _concat(held, names) if held else _week(scn, london, streams, 0, 0.0)
    yield buf, math.inf
