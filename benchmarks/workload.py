"""The benchmark workload: one London trace of calls, the docks of each fleet, one drone.

Every model (dronesim, :mod:`benchmarks.ref_simpy`, :mod:`benchmarks.ref_heapq`) is given the same
numpy arrays and answers the same question: nearest idle drone, the mission flown, the call
queued when no drone is idle. Results are compared incident by incident.

The trace
---------
Generated once with dronesim's own demand code (:func:`dronesim.inputs.demand.generate_incidents`):
one police service, locations weighted by Met recorded crime (small area by weight, point uniform
inside it), a homogeneous Poisson process at one call per second (``time_profile = "flat"``), and
an exponential on-scene time per incident (``drones.loiter = "exponential"``). Each fleet replays
the same calls at its own rate: call times are divided by the fleet's rate, so locations,
on-scene times and call order are identical across fleets and the process stays Poisson.

The rate of each fleet (:func:`call_rate`) puts the expected drone utilisation at
``TARGET_UTILISATION``: rate = 0.4 x drones / mean busy time per call, the busy time (launch
overhead, flight out, time on scene, flight back) counted from each call's nearest dock. The
harness prints the rate and the utilisation realised. 0.4 is well below 1, yet calls do queue at
9 drones (about 1 in 70). It is not higher because with a range that spans London a busy
neighbourhood sends calls to distant docks, whose long flights keep drones busy longer: at 0.5 the
50-drone fleet's queue runs away (utilisation 1.0, as ../shared/design/PERFORMANCE.md warns).

The docks
---------
* 9 drones: the Met's 3 sites, 3 drones each, from ``scenarios/met_baseline.toml``.
* 50 and 200 drones: 25 and 100 sites from ``data/sites/candidate_sites.csv`` (fire stations
  and hospitals) outside the London flight restriction zones, spread over London by
  farthest-point sampling (start at the site nearest the mean of all sites; add the site farthest
  from those chosen; deterministic). Drones go to sites in proportion to the crime-weighted
  demand nearest each site (at least one each), so every dock carries about the same load.

The drone (the same for every model)
------------------------------------
The Met airframe of ``scenarios/met_baseline.toml`` (speed, decision delay, launch overhead,
climb, descent, reserve, minimum on-scene time), with three benchmark choices:

* Range 40 km: beyond the farthest point of London from the Met's docks (about 32 km), so every
  call is a dispatch decision at every fleet size (the regime in which the targets of issue 8
  were set, ../shared/design/PERFORMANCE.md); the range check is still made by every model.
* Endurance = the charge the longest in-range dispatch needs (out, minimum on scene, back,
  reserve: :func:`dronesim.engine.fleet.battery_needed_s` at 40 km), so every in-range dispatch is
  feasible; the battery then caps the time on scene at endurance - out - back - reserve, which
  binds on long flights.
* The battery is exchanged on landing (``recharge_full_s = 0``): a landed drone is available at
  once. dronesim's linear recharge makes a drone available to one incident and not another,
  depending on each incident's distance, which a reference model would have to copy line by
  line; an exchange keeps "idle" meaning "at its dock" in all three models.

Tie-breaking, shared by all models: among idle drones in range, the smallest distance, then the
lowest drone id (drones are numbered dock by dock, as dronesim numbers them); a drone that lands
goes to the longest-waiting queued call within its range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
MET_BASELINE = REPO / "scenarios" / "met_baseline.toml"
LONDON_YEAR = REPO / "scenarios" / "london_three_services.toml"

#: Seed of the trace (issue 8).
SEED = 8
#: Calls in the trace.
N_CALLS = 100_000
#: Fleet sizes benchmarked.
FLEETS = (9, 50, 200)
#: Expected drone utilisation each fleet's call rate is set for.
TARGET_UTILISATION = 0.4
#: Nearest docks looked up per call: the heapq loop's k, and dronesim's dispatch.candidate_docks
#: (its default).
CANDIDATE_DOCKS = 16
#: Benchmark range (see the module docstring).
RANGE_M = 40_000.0
#: Mean on-scene time of the exponential draw (dronesim's default loiter_mean_s).
ON_SCENE_MEAN_S = 600.0
#: Average drones per site for the fleets built from candidate sites.
DRONES_PER_SITE = 2


@lru_cache(maxsize=1)
def bench_drone():
    """The benchmark drone as a :class:`dronesim.inputs.scenario.DroneSpec` (see module
    docstring)."""
    from dronesim.engine.fleet import battery_needed_s
    from dronesim.inputs.scenario import load_scenario

    met = load_scenario(MET_BASELINE).drones
    spec = dataclasses.replace(met, max_range_m=RANGE_M, recharge_full_s=0.0,
                               loiter="exponential", loiter_mean_s=ON_SCENE_MEAN_S)
    return dataclasses.replace(spec, endurance_s=float(battery_needed_s(RANGE_M, spec)))


# --------------------------------------------------------------------------------------------
# The trace
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Workload:
    """Calls at one call per second, in call order."""

    t_unit: np.ndarray  # call times of a rate-1 Poisson process (s)
    x: np.ndarray  # EPSG:27700
    y: np.ndarray
    borough: np.ndarray  # dronesim borough index (only dronesim's records use it)
    on_scene_s: np.ndarray  # exponential time on scene, before the battery cap
    seed: int
    #: Ground columns (per call, drawn by dronesim's generator; None: drones only).
    ground: GroundCalls | None = None

    def __len__(self) -> int:
        return int(self.t_unit.size)


@dataclass(eq=False)
class GroundCalls:
    """What each call brings for the ground side, as dronesim's generator draws it from the
    Met baseline's police ground settings (:func:`ground_spec_dict`)."""

    handling_s: np.ndarray  # call to dispatch (call handling)
    turnout_s: np.ndarray
    travel_factor: np.ndarray  # mean-one variability of the road time
    on_scene_s: np.ndarray  # officer time on scene


@lru_cache(maxsize=1)
def ground_spec_dict() -> dict:
    """The ground side of the ground-on benchmark: ``[services.police.ground]`` of
    ``scenarios/met_baseline.toml`` (patrol units per borough by the staffing rule, calibrated
    call handling, the fitted road model, lognormal variability), as users run it. Mutual aid
    and conveyance stay at the baseline's setting (off)."""
    from dronesim.inputs.scenario import load_scenario

    g = load_scenario(MET_BASELINE).services["police"].ground
    d = {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
    if d["mutual_aid"] != "off" or any(v > 0 for v in d["conveyance_share"]):
        raise RuntimeError("the ground references model neither mutual aid nor conveyance")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}


def trace_scenario_dict(rate_per_s: float, seed: int = SEED, ground: bool = False) -> dict:
    """The demand side of the benchmark as a scenario table: one police service, crime-weighted
    locations, flat Poisson arrivals at ``rate_per_s``, one priority, every call drone-suited;
    with ``ground`` the Met baseline's police ground response (:func:`ground_spec_dict`)."""
    spec = bench_drone()
    drones = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    out = {
        "name": "bench",
        "simulation": {"weeks": 1.0, "warmup_hours": 0.0, "replications": 1, "seed": seed},
        "drones": drones,
        "services": {"police": {"incidents_per_week": rate_per_s * 7 * 86_400.0,
                                "spatial_weight": "crime", "time_profile": "flat",
                                "priority_shares": [1.0], "drone_suited_share": [1.0]}},
        "airspace": {"frz": []},
    }
    if ground:
        out["services"]["police"]["ground"] = dict(ground_spec_dict())
    return out


def make_workload(n: int = N_CALLS, seed: int = SEED, ground: bool = False) -> Workload:
    """The first ``n`` calls of dronesim's generator at one call per second (replication 0);
    with ``ground``, each call's ground columns as the generator draws them (the calls' times,
    places and drone on-scene times are the same either way: each is its own named stream)."""
    from dronesim.inputs.demand import generate_incidents
    from dronesim.inputs.geography import load_london
    from dronesim.inputs.scenario import scenario_from_dict
    from dronesim.inputs.streams import Streams

    scn = scenario_from_dict(trace_scenario_dict(1.0, seed, ground), source="<bench>")
    # Long enough for n calls with overwhelming probability (Poisson mean plus 8 sd), whole hours.
    horizon = math.ceil((n + 8 * math.sqrt(n) + 10) / 3600.0) * 3600.0
    london = load_london()
    inc = generate_incidents(scn, london, Streams(seed, 0), horizon)
    if len(inc) < n:
        raise RuntimeError(f"generated {len(inc)} calls, fewer than {n}")
    # On-scene times drawn as dronesim's trace replay draws them (all calls at once from the
    # service's loiter stream), so the trace fallback of the adapter sees the same numbers.
    on_scene = Streams(seed, 0)["police.loiter"].exponential(scn.drones.loiter_mean_s, n)
    calls = (GroundCalls(inc.handling_s[:n].copy(), inc.turnout_s[:n].copy(),
                         inc.travel_factor[:n].copy(), inc.ground_on_scene_s[:n].copy())
             if ground else None)
    # Each call's borough as the trace replay finds it (the borough polygon around the point):
    # the generator's is its small area's, and the two layers' edges differ by metres, so about
    # one point in 3,000 near a borough edge would otherwise be in another borough by replay.
    x, y = inc.x[:n].copy(), inc.y[:n].copy()
    return Workload(inc.t_call[:n].copy(), x, y, london.borough_of(x, y, nearest=True),
                    on_scene, seed, calls)


# --------------------------------------------------------------------------------------------
# The fleets
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Fleet:
    """Dock sites and the drones at each; drone ids run dock by dock (dronesim's numbering)."""

    label: str
    names: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    drones: np.ndarray  # drones per dock

    @property
    def size(self) -> int:
        return int(self.drones.sum())

    @property
    def dock_of(self) -> np.ndarray:
        """Dock index of each drone."""
        return np.repeat(np.arange(len(self.names)), self.drones)


def _met_fleet() -> Fleet:
    from dronesim.inputs.geography import lonlat_to_bng
    from dronesim.inputs.scenario import load_scenario

    docks = load_scenario(MET_BASELINE).docks
    x, y = lonlat_to_bng([d.lon for d in docks], [d.lat for d in docks])
    return Fleet("Met: 3 sites x 3", tuple(d.name for d in docks), np.asarray(x, float),
                 np.asarray(y, float), np.array([d.drones for d in docks], np.int64))


def spread_sites(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` points spread out by farthest-point sampling (deterministic)."""
    if k > x.size:
        raise ValueError(f"asked for {k} sites, only {x.size} available")
    first = int(np.argmin(np.hypot(x - x.mean(), y - y.mean())))
    chosen = [first]
    gap = np.hypot(x - x[first], y - y[first])
    for _ in range(k - 1):
        nxt = int(np.argmax(gap))  # ties: lowest index
        chosen.append(nxt)
        gap = np.minimum(gap, np.hypot(x - x[nxt], y - y[nxt]))
    return np.asarray(chosen, np.int64)


def allocate(share: np.ndarray, total: int) -> np.ndarray:
    """Whole drones per site in proportion to ``share``, at least one each (largest remainder)."""
    if total < share.size:
        raise ValueError(f"{total} drones cannot cover {share.size} sites")
    target = total * share / share.sum()
    n = np.maximum(1, np.floor(target)).astype(np.int64)
    while n.sum() > total:  # the floor of one per site overshot: take from the most over target
        over = np.where(n > 1, n - target, -np.inf)
        n[int(np.argmax(over))] -= 1
    while n.sum() < total:
        n[int(np.argmax(target - n))] += 1
    return n


@lru_cache(maxsize=8)
def make_fleet(size: int) -> Fleet:
    """The docks of a fleet of ``size`` drones (see the module docstring)."""
    if size == 9:
        return _met_fleet()
    import shapely

    from dronesim.inputs.airspace import london_frz
    from dronesim.inputs.geography import default_data_dir, load_london

    sites = pd.read_csv(default_data_dir() / "sites" / "candidate_sites.csv")
    sites = sites[sites["kind"].isin(["fire_station", "hospital"])]
    sx, sy = sites["x"].to_numpy(float), sites["y"].to_numpy(float)
    sites = sites[~london_frz().contains(sx, sy)].reset_index(drop=True)
    n_sites = max(1, size // DRONES_PER_SITE)
    chosen = sites.iloc[spread_sites(sites["x"].to_numpy(float), sites["y"].to_numpy(float),
                                     n_sites)]
    x, y = chosen["x"].to_numpy(float), chosen["y"].to_numpy(float)
    # Drones per site in proportion to the crime-weighted demand nearest each site, so that
    # every dock carries about the same load (sites spread evenly over London would otherwise
    # leave the centre's docks overloaded and the queue running away).
    london = load_london()
    pts = shapely.point_on_surface(np.asarray(london.lsoa.geometry.values))
    _, nearest = cKDTree(np.column_stack([x, y])).query(
        np.column_stack([shapely.get_x(pts), shapely.get_y(pts)]))
    share = np.bincount(nearest, weights=london.weights("crime"), minlength=n_sites)
    return Fleet(f"{n_sites} sites, {size / n_sites:g} drones per site on average",
                 tuple(chosen["site_id"]), x, y, allocate(share, size))


# --------------------------------------------------------------------------------------------
# One fleet's case: what every model is given
# --------------------------------------------------------------------------------------------


def busy_s(distance_m: np.ndarray, on_scene_s: np.ndarray, spec) -> np.ndarray:
    """Time a drone is committed to a call: launch overhead, out, on scene (battery-capped),
    back. The arithmetic every model uses for a mission."""
    out = spec.climb_s + distance_m / spec.speed_m_s + spec.descent_s
    stay = np.minimum(on_scene_s, np.maximum(0.0, spec.endurance_s - out - out - spec.reserve_s))
    return spec.launch_overhead_s + out + stay + out


def call_rate(work: Workload, fleet: Fleet, spec=None, rho: float = TARGET_UTILISATION) -> float:
    """Calls per second that give expected utilisation ``rho`` (nearest-dock missions)."""
    spec = spec or bench_drone()
    d, _ = cKDTree(np.column_stack([fleet.x, fleet.y])).query(np.column_stack([work.x, work.y]))
    return rho * fleet.size / float(busy_s(d, work.on_scene_s, spec).mean())


@dataclass(eq=False)
class Case:
    """One fleet's benchmark input: the workload at the fleet's rate."""

    fleet: Fleet
    rate_per_s: float
    t_call: np.ndarray
    x: np.ndarray
    y: np.ndarray
    borough: np.ndarray
    on_scene_s: np.ndarray
    spec: object = field(default_factory=bench_drone)  # DroneSpec
    seed: int = SEED
    k: int = CANDIDATE_DOCKS
    ground: GroundCalls | None = None  # per-call ground columns (None: drones only)
    units: GroundUnits | None = None  # the ground units (None: drones only)

    def __len__(self) -> int:
        return int(self.t_call.size)


@dataclass(eq=False)
class GroundUnits:
    """The patrol units of one case, taken from dronesim itself: its
    :class:`dronesim.engine.ground.GroundForce` is built for the case's scenario with the same
    named stream (``police.units`` of (seed, replication 0)), so the count per borough (the
    staffing rule at the case's call rate) and every start point are the ones dronesim draws.
    ``travel`` is the force's own road model object (:mod:`dronesim.inputs.travel`); the
    references call its ``drive_s`` for every leg and never re-implement it, and ``scale`` is
    its ``incident_scale`` of every call (hour of week x borough)."""

    borough: list[int]  # borough of each unit (unit id = index)
    x: list[float]  # start point of each unit
    y: list[float]
    n_boroughs: int
    travel: object  # dronesim.inputs.travel.TravelModel
    scale: np.ndarray  # per call


def ground_units(rate_per_s: float, seed: int, t_call: np.ndarray,
                 borough: np.ndarray) -> GroundUnits:
    """dronesim's police units for the ground-on scenario at ``rate_per_s`` (see
    :class:`GroundUnits`)."""
    from dronesim.engine.ground import GroundForce, make_force
    from dronesim.engine.kernel import Kernel
    from dronesim.inputs.geography import load_london
    from dronesim.inputs.scenario import scenario_from_dict
    from dronesim.inputs.streams import Streams

    scn = scenario_from_dict(trace_scenario_dict(rate_per_s, seed, True), source="<bench>")
    london = load_london()
    class _Columns:
        """Stands in for the records: the force keeps references to its columns at set-up and
        reads none of them before an incident is loaded."""

        def __getattr__(self, name: str) -> list:
            return []

    force = make_force(Kernel(), "police", scn.services["police"], london,
                       _Columns(),  # type: ignore[arg-type]
                       Streams(seed, 0), 0, lambda i: None)
    if not isinstance(force, GroundForce):
        raise RuntimeError("the benchmark's ground side must be patrol units")
    scale = np.asarray(force.travel.incident_scale(t_call, borough), float)
    return GroundUnits(force.unit_borough.tolist(), list(force.ux), list(force.uy),
                       london.n_boroughs, force.travel, scale)


def make_case(work: Workload, fleet: Fleet, rate_per_s: float | None = None) -> Case:
    """The workload replayed at ``rate_per_s`` (default: :func:`call_rate`) on ``fleet``; with
    the workload's ground columns, the ground units drawn as dronesim draws them."""
    rate = rate_per_s if rate_per_s is not None else call_rate(work, fleet)
    t_call = work.t_unit / rate
    units = (ground_units(rate, work.seed, t_call, work.borough)
             if work.ground is not None else None)
    return Case(fleet, rate, t_call, work.x, work.y, work.borough, work.on_scene_s,
                seed=work.seed, ground=work.ground, units=units)


# --------------------------------------------------------------------------------------------
# Outcomes and their comparison
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Outcome:
    """What a model did with each call: drone sent (-1: none) and time on scene (NaN: none)."""

    model: str
    drone: np.ndarray
    t_on_scene: np.ndarray
    t_call: np.ndarray
    busy_s: float = math.nan  # drone time committed to calls, summed
    info: dict = field(default_factory=dict)
    unit: np.ndarray | None = None  # ground unit sent to each call (ground-on cases)
    t_ground: np.ndarray | None = None  # its arrival on scene

    @property
    def dispatched(self) -> int:
        return int((self.drone >= 0).sum())

    @property
    def response_s(self) -> np.ndarray:
        return (self.t_on_scene - self.t_call)[self.drone >= 0]

    @property
    def mean_response_s(self) -> float:
        r = self.response_s
        return float(r.mean()) if r.size else math.nan

    def utilisation(self, fleet_size: int) -> float:
        """Drone time committed to calls over fleet x the span of the calls."""
        span = float(self.t_call[-1] - self.t_call[0]) if self.t_call.size > 1 else 0.0
        return self.busy_s / (fleet_size * span) if span > 0 else math.nan


#: Tolerance on the mean drone response between models (seconds). The models compute the same
#: expressions; they differ only in how the clock accumulates (SimPy: now + delay, each step),
#: which moves times by a few units in the last place.
MEAN_TOLERANCE_S = 1e-6


def agreement(a: Outcome, b: Outcome) -> dict:
    """Incident-by-incident comparison of two outcomes on the same case."""
    same_drone = a.drone == b.drone
    both = (a.drone >= 0) & (b.drone >= 0)
    gap = np.abs(a.t_on_scene[both] - b.t_on_scene[both])
    mean_gap = abs(a.mean_response_s - b.mean_response_s)
    out = {
        "dispatched": (a.dispatched, b.dispatched),
        "different_drone": int((~same_drone).sum()),
        "max_time_gap_s": float(gap.max()) if gap.size else 0.0,
        "mean_gap_s": mean_gap,
        "agree": bool(same_drone.all() and a.dispatched == b.dispatched
                      and mean_gap <= MEAN_TOLERANCE_S),
    }
    if a.unit is not None and b.unit is not None:
        assert a.t_ground is not None and b.t_ground is not None
        same_unit = a.unit == b.unit
        sent = (a.unit >= 0) & (b.unit >= 0)
        ggap = np.abs(a.t_ground[sent] - b.t_ground[sent])
        out["different_unit"] = int((~same_unit).sum())
        out["max_ground_gap_s"] = float(ggap.max()) if ggap.size else 0.0
        out["agree"] = bool(out["agree"] and same_unit.all()
                            and out["max_ground_gap_s"] <= MEAN_TOLERANCE_S)
    return out
