"""Calibration: the parameters set from data or from one published figure, reproducibly.

Each function returns the value and the evidence behind it; ``scripts/calibrate.py`` prints them
all, and the scenario files quote the results. Nothing here changes a scenario file.

* Road travel (:func:`fit_road_travel`): least-squares fit of LFB first-pump attendance against
  the straight-line distance from the deploying station (``data/calibration/lfb_travel_pairs.csv``):
  ``attendance = fixed_s + s_per_m x distance``. The marginal straight-line speed is ``1/s_per_m``;
  with a circuity factor c the road speed is ``c / s_per_m``.
* Drone-suited share (:func:`drone_suited_share`): the share of in-range incidents of a priority
  that must be suited to a drone for the expected deployments to equal a published weekly count.
* Drone-suited share under operations (:func:`suited_share_for_deployments`, issue 17): the
  share that gives the published weekly count in SIMULATION, with the scenario's weather, night
  rules and faults (the Met counts its deployments under real weather), searched with common
  random numbers; :func:`drone_suited_share` is the weather-free, analytic starting point.
* Call handling (:func:`call_handling_for_target`): the mean call-handling time that makes the
  simulated mean ground response (optionally of one priority) equal a published mean. Handling
  time shifts every response by its mean, so one simulation and a correction (then a check run)
  suffice.
* Fire stations (:func:`fit_road_travel_nearest`): the same road fit against the distance from
  the *nearest* land station, which is the distance the station-based ground model uses. In the
  sample the first pump came from the nearest station (straight line) on only 72% of incidents
  (road network, river crossings, pumps busy elsewhere), so the deploying-station fit
  (194 s + 0.0772 s/m) underestimates attendance by about 23 s when every pump goes from the
  nearest station; the nearest-station fit (about 221 s + 0.0764 s/m) absorbs that.
* Met anchors (:func:`met_anchor_table`): the published I-grade figures of
  ``data/calibration/met_response_anchors.csv`` (London-wide and a few boroughs, 2014-2022) set
  beside the model's priority-1 officer figures of the same areas (mean response; share within
  15 minutes), for one or several runs side by side (e.g. mutual aid off and on). A check of
  direction and order of magnitude, not a calibration: the figures are few, scattered in time and
  from months with known problems (see ``data/README.md``).
* Fire replay (:func:`fire_replay_check`): replays the LFB sample's own incidents through a
  station-based fire scenario and compares first-pump attendance (ground arrival - ground
  dispatch, as LFB's attendance excludes call handling) with the sample, London-wide and per
  borough (by LFB's own borough code of each incident).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..engine.prepared import Prepared
from ..inputs.geography import default_data_dir, load_london
from ..inputs.scenario import CoverageSpec, Scenario
from ..inputs.sources import fire_stations
from ..siting.coverage import static_coverage

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["RoadFit", "fit_road_travel", "fit_road_travel_nearest", "drone_suited_share",
           "SuitedShareSearch", "suited_share_for_deployments",
           "call_handling_for_target", "FireReplayCheck", "fire_replay_check",
           "read_met_anchors", "met_anchor_table"]


@dataclass(frozen=True)
class RoadFit:
    fixed_s: float
    s_per_m: float
    residual_cv: float
    n: int

    @property
    def straight_line_speed_m_s(self) -> float:
        return 1.0 / self.s_per_m

    def road_speed_m_s(self, circuity: float) -> float:
        return circuity / self.s_per_m


def fit_road_travel(pairs: pd.DataFrame | str | Path | None = None) -> RoadFit:
    """Fit ``attendance = fixed + slope x distance`` to LFB station-to-incident pairs."""
    if pairs is None:
        pairs = default_data_dir() / "calibration" / "lfb_travel_pairs.csv"
    frame = pairs if isinstance(pairs, pd.DataFrame) else pd.read_csv(pairs)
    d = frame["distance_m"].to_numpy(float)
    t = frame["first_pump_s"].to_numpy(float)
    ok = np.isfinite(d) & np.isfinite(t) & (t > 30)  # < 30 s: recording artefacts
    d, t = d[ok], t[ok]
    A = np.column_stack([np.ones_like(d), d])
    (fixed, slope), *_ = np.linalg.lstsq(A, t, rcond=None)
    ratio = t / (fixed + slope * d)
    return RoadFit(float(fixed), float(slope), float(ratio.std() / ratio.mean()), int(d.size))


def fit_road_travel_nearest(data_dir: str | Path | None = None) -> RoadFit:
    """Fit ``attendance = fixed + slope x distance`` with the distance from each sampled
    incident (``data/demand/lfb_incidents_2023.csv``) to the nearest LFB land station."""
    from scipy.spatial import cKDTree

    london = load_london(data_dir)
    root = Path(london.data_dir)
    inc = pd.read_csv(root / "demand" / "lfb_incidents_2023.csv")
    st = fire_stations(london)
    d, _ = cKDTree(st[["x", "y"]].to_numpy(float)).query(inc[["x", "y"]].to_numpy(float))
    pairs = pd.DataFrame({"distance_m": d, "first_pump_s": inc["first_pump_s"].to_numpy(float)})
    return fit_road_travel(pairs)


def drone_suited_share(prep: Prepared, service: str, deployments_per_week: float,
                       priority: int = 1) -> tuple[float, float]:
    """Suited share giving the target deployments, and the weekly in-range incidents behind it.

    In-range incidents per week = incidents_per_week x priority share x the share of the
    service's demand weight lying within ``max_range_m`` of a dock (area-weighted by small area).
    """
    scn = prep.scenario
    spec = scn.services[service]
    reach = dataclasses.replace(scn.drones, decision_s=0.0, launch_overhead_s=0.0, climb_s=0.0,
                                descent_s=0.0)
    big_t = scn.drones.max_range_m / scn.drones.speed_m_s + 1.0
    cov = static_coverage(prep.london, prep.docks, reach, CoverageSpec(within_s=big_t),
                          weights=(spec.spatial_weight,))
    in_range = (spec.incidents_per_week * spec.priority_shares[priority - 1]
                * cov.demand_share[spec.spatial_weight])
    return deployments_per_week / in_range, in_range


@dataclass(frozen=True)
class SuitedShareSearch:
    """The simulated search for a drone-suited share (issue 17): every step's share and the
    deployments a week it gave (mean over replications, with its 95% CI half-width)."""

    share: float
    deployments_per_week: float
    steps: tuple[tuple[float, float, float], ...]  # (share, mean, CI half-width)

    def format(self) -> str:
        lines = [f"  step {k}: share {s:.4f} -> {m:.1f} +- {h:.1f} deployments a week"
                 for k, (s, m, h) in enumerate(self.steps)]
        return "\n".join(lines)


def suited_share_for_deployments(scn: Scenario, service: str, target_per_week: float,
                                 *, priority: int = 1, tolerance: float = 2.0,
                                 max_steps: int = 6, start: float | None = None,
                                 data_dir: str | Path | None = None) -> SuitedShareSearch:
    """Drone-suited share giving ``target_per_week`` simulated deployments a week, searched by
    simulation UNDER the scenario's own weather, night rules and faults.

    Every step runs the scenario with the same seed and replications (common random numbers:
    the same incidents, weather and faults; only which incidents are suited changes), so the
    deployments move with the share alone. Deployments are close to proportional to the share
    (a drone is sent to a suited in-range incident whenever one can fly), so the first step
    scales the starting share by ``target / deployments`` and later steps use the secant
    through the last two points; the search stops within ``tolerance`` deployments a week of
    the target or after ``max_steps`` runs. ``start``: first share (default: the scenario's).
    """
    from .runner import run_scenario

    spec = scn.services[service]

    def with_share(x: float) -> Scenario:
        shares = list(spec.drone_suited_share)
        shares[priority - 1] = float(min(max(x, 0.0), 1.0))
        services = dict(scn.services)
        services[service] = dataclasses.replace(spec, drone_suited_share=tuple(shares))
        return dataclasses.replace(scn, services=services)

    def deployments(x: float) -> tuple[float, float]:
        res = run_scenario(with_share(x), data_dir=data_dir)
        d = res.summary["drone_deployments_per_week"]
        lo, hi = d.get("ci95_mean", (math.nan, math.nan))
        return float(d["mean"]), float((hi - lo) / 2)

    x = spec.drone_suited_share[priority - 1] if start is None else float(start)
    steps: list[tuple[float, float, float]] = []
    m, h = deployments(x)
    steps.append((x, m, h))
    while abs(m - target_per_week) > tolerance and len(steps) < max_steps:
        if len(steps) == 1 or steps[-1][1] == steps[-2][1]:
            x_new = x * target_per_week / m if m > 0 else min(1.0, 2 * x + 0.01)
        else:
            (x0, m0, _), (x1, m1, _) = steps[-2], steps[-1]
            x_new = x1 + (target_per_week - m1) * (x1 - x0) / (m1 - m0)
        x = float(min(max(x_new, 0.0), 1.0))
        m, h = deployments(x)
        steps.append((x, m, h))
    best = min(steps, key=lambda st: abs(st[1] - target_per_week))
    return SuitedShareSearch(share=best[0], deployments_per_week=best[1], steps=tuple(steps))


def _ground_mean(result: RunResult, warmup_s: float, horizon_s: float, service: str,
                 priority: int | None) -> float:
    """Mean ground response of a service (optionally one priority), mean over replications."""
    df = result.incidents
    assert df is not None  # run_scenario keeps the tables
    w = df[(df["t_call"] >= warmup_s) & (df["t_call"] < horizon_s) & (df["service"] == service)]
    if priority is not None:
        w = w[w["priority"] == priority]
    return float(w.groupby("replication")["ground_response_s"].mean().mean())


def call_handling_for_target(scn: Scenario, service: str, target_mean_s: float,
                             replications: int = 5, data_dir: str | Path | None = None,
                             priority: int | None = None) -> tuple[float, float, float]:
    """Mean call handling giving ``target_mean_s`` mean ground response.

    Returns ``(handling_s, mean_before_s, mean_after_s)``: the mean simulated with the scenario's
    own handling, the corrected handling, and the mean simulated with it (the check). Without
    ``priority`` the target is the scenario's overall ground mean (all services, as in the
    summary); with it, the mean of that service's incidents of that priority.
    """
    from .runner import run_scenario

    def mean_of(result: RunResult) -> float:
        if priority is None:
            return result.summary["ground_response_s"]["mean"]
        return _ground_mean(result, result.prepared.warmup_s, result.prepared.horizon_s,
                            service, priority)

    def with_handling(h: float) -> Scenario:
        spec = scn.services[service]
        ground = dataclasses.replace(spec.ground, call_handling_mean_s=h)
        services = dict(scn.services)
        services[service] = dataclasses.replace(spec, ground=ground)
        return dataclasses.replace(scn, services=services)

    h0 = scn.services[service].ground.call_handling_mean_s
    before = run_scenario(scn, replications=replications, data_dir=data_dir)
    m0 = mean_of(before)
    h1 = max(0.0, h0 + target_mean_s - m0)
    after = run_scenario(with_handling(h1), replications=replications, data_dir=data_dir)
    return h1, m0, mean_of(after)


def staffing_for_target(scn: Scenario, service: str, target_mean_s: float,
                        replications: int = 3, priority: int | None = None,
                        grid: tuple[float, ...] = ()) -> tuple[float, list[tuple[float, float]]]:
    """The largest ``staffing_utilisation`` (fewest units) whose mean ground response (of a
    priority, optionally) is at or below ``target_mean_s``, by bisection over ``grid``
    (descending), on common random numbers (the scenario's seed at every step).

    Returns ``(utilisation, steps)``: the value found and each ``(utilisation, mean)`` tried.
    The default grid: 0.60 down to 0.20 in steps of 0.01.
    Fewer units (a higher utilisation) never shorten the mean by more than the noise of a
    replication, so the mean is taken as decreasing along the grid.
    """
    from .runner import run_scenario

    def mean_at(u: float) -> float:
        spec = scn.services[service]
        ground = dataclasses.replace(spec.ground, staffing_utilisation=u)
        services = dict(scn.services)
        services[service] = dataclasses.replace(spec, ground=ground)
        res = run_scenario(dataclasses.replace(scn, services=services),
                           replications=replications)
        return _ground_mean(res, res.prepared.warmup_s, res.prepared.horizon_s, service,
                            priority)

    grid = grid or tuple(k / 100 for k in range(60, 19, -1))
    steps: list[tuple[float, float]] = []
    lo, hi = 0, len(grid) - 1  # invariant: grid[hi] meets the target (checked), grid[lo] may not
    m_hi = mean_at(grid[hi])
    steps.append((grid[hi], m_hi))
    if m_hi > target_mean_s:
        return grid[hi], steps  # not reachable on the grid: the most units tried
    while hi - lo > 1:
        mid = (lo + hi) // 2
        m = mean_at(grid[mid])
        steps.append((grid[mid], m))
        if m <= target_mean_s:
            hi = mid
        else:
            lo = mid
    if lo == 0:
        m0 = mean_at(grid[0])
        steps.append((grid[0], m0))
        if m0 <= target_mean_s:
            return grid[0], steps
    return grid[hi], steps


@dataclass(frozen=True)
class FireReplayCheck:
    """Simulated vs sampled first-pump attendance (seconds) on the LFB sample's own incidents."""

    london_sample_s: float
    london_sim_s: float
    sim_median_s: float
    sim_p90_s: float
    sim_within_360s: float
    table: pd.DataFrame  # gss_code, name, incidents, sample_mean_s, sim_mean_s, diff_s
    replications: int

    def within(self, tolerance_s: float = 45.0) -> int:
        """Boroughs whose simulated mean is within ``tolerance_s`` of the sample's."""
        return int((self.table["diff_s"].abs() <= tolerance_s).sum())

    def format(self, tolerance_s: float = 45.0) -> str:
        lines = [f"London first-pump attendance: sample {self.london_sample_s:.1f} s, simulated "
                 f"{self.london_sim_s:.1f} s ({self.replications} replications; simulated "
                 f"median {self.sim_median_s:.0f} s, P90 {self.sim_p90_s:.0f} s, "
                 f"{self.sim_within_360s:.1%} within 6 min)",
                 f"{'borough':<24} {'n':>5} {'sample':>7} {'sim':>7} {'diff':>6}"]
        for r in self.table.itertuples():
            lines.append(f"{r.name:<24} {r.incidents:>5d} {r.sample_mean_s:>7.1f} "
                         f"{r.sim_mean_s:>7.1f} {r.diff_s:>+6.1f}")
        lines.append(f"boroughs within {tolerance_s:g} s: {self.within(tolerance_s)} of "
                     f"{len(self.table)}")
        return "\n".join(lines)


def fire_replay_check(scn: Scenario | str | Path | None = None, replications: int = 3,
                      workers: int | None = 1, data_dir: str | Path | None = None
                      ) -> FireReplayCheck:
    """Replay the LFB 2023 sample and compare first-pump attendance with it.

    ``scn`` must replay ``data/demand/lfb_incidents_2023.csv`` (default:
    ``scenarios/lfb_replay.toml``). Attendance = ground arrival - ground dispatch (LFB's
    attendance excludes call handling), on the incidents that have a first-pump time in the
    sample, grouped by the sample's own borough code. Sample means are those of
    ``data/calibration/lfb_attendance_by_borough.csv``.
    """
    from ..inputs.scenario import load_scenario
    from .runner import run_scenario

    if scn is None:
        scn = Path(__file__).resolve().parents[2] / "scenarios" / "lfb_replay.toml"
    if not isinstance(scn, Scenario):
        scn = load_scenario(scn)
    result = run_scenario(scn, replications=replications, workers=workers, data_dir=data_dir)
    prep = result.prepared
    if prep.trace is None:
        raise ValueError(f"{scn.source}: not a trace replay ([demand] trace)")
    root = Path(prep.london.data_dir)
    sample = pd.read_csv(root / "demand" / "lfb_incidents_2023.csv")
    cal = pd.read_csv(root / "calibration" / "lfb_attendance_by_borough.csv")
    df = result.incidents
    assert df is not None  # run_scenario keeps the tables
    df = df[(df["t_call"] >= prep.warmup_s) & (df["t_call"] < prep.horizon_s)]
    row = prep.trace.line[df["incident_id"].to_numpy()] - 2  # header = line 1
    if row.max() >= len(sample):
        raise ValueError(f"{prep.trace.path} is not the LFB sample")
    has_time = sample["first_pump_s"].notna().to_numpy()[row]
    sim = pd.DataFrame({
        "replication": df["replication"].to_numpy(),
        "gss_code": sample["gss_code"].to_numpy()[row],
        "att": (df["t_ground_arrival"] - df["t_ground_dispatch"]).to_numpy(),
    })[has_time]
    per_rep = sim.groupby(["gss_code", "replication"])["att"].mean()
    per_b = per_rep.groupby(level=0).mean()
    reps = sim.groupby("replication")["att"]
    london_code = "E12000007"
    table = cal[cal["gss_code"] != london_code][["gss_code", "name", "with_first_pump",
                                                 "mean_s"]].rename(
        columns={"with_first_pump": "incidents", "mean_s": "sample_mean_s"})
    table["sim_mean_s"] = table["gss_code"].map(per_b).to_numpy(float)
    table["diff_s"] = table["sim_mean_s"] - table["sample_mean_s"]
    london = float(cal.loc[cal["gss_code"] == london_code, "mean_s"].iloc[0])
    return FireReplayCheck(
        london_sample_s=london,
        london_sim_s=float(reps.mean().mean()),
        sim_median_s=float(reps.median().mean()),
        sim_p90_s=float(reps.quantile(0.9).mean()),
        sim_within_360s=float(reps.apply(lambda a: (a <= 360).mean()).mean()),
        table=table.reset_index(drop=True),
        replications=replications,
    )


def read_met_anchors(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The published Met response figures (``data/calibration/met_response_anchors.csv``)."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return pd.read_csv(root / "calibration" / "met_response_anchors.csv",
                       keep_default_na=False)


def met_anchor_table(summaries: dict[str, dict], data_dir: str | Path | None = None,
                     worst: int = 5) -> pd.DataFrame:
    """Published I-grade figures beside the model's, one column per run.

    Parameters
    ----------
    summaries
        Label -> a run's ``summary.json`` (e.g. ``{"mutual aid off": ..., "bcu": ...}``).
        The model's figure for a borough is its priority-1 ground response (I-grade in the Met
        scenarios): ``ground_priority1_mean_s`` for a mean, ``ground_priority1_within_900`` for
        a share within 15 minutes; London-wide, the run's own figures.
    worst
        Also list the boroughs with the highest all-priority mean in the first run (whether or
        not a figure was published for them), with their all-priority mean: where a borough
        model confined to its borough is weakest.

    Returns
    -------
    One row per published figure of grade I (then the worst boroughs): area, period, measure,
    published value, and each run's value (seconds or share).
    """
    anchors = read_met_anchors(data_dir)
    anchors = anchors[anchors["grade"] == "I"]
    rows = []
    keys = {"mean response": ("ground_priority1_mean_s", "s"),
            "share within 15 min": ("ground_priority1_within_900", "share")}
    for a in anchors.itertuples(index=False):
        key, unit = keys[a.measure]
        row = {"area": a.area, "period": a.period, "measure": a.measure + " (I-grade)",
               "unit": unit, "published": float(a.value), "note": a.note}
        for label, s in summaries.items():
            if a.gss_code == "E12000007":
                block = s.get(key)
            else:
                b: dict[str, Any] = next(
                    (r for r in s["per_borough"] if r["gss_code"] == a.gss_code), {})
                block = b.get(key)
            row[label] = (block or {}).get("mean")
        rows.append(row)
    first = next(iter(summaries.values()))
    ranked = sorted((r for r in first["per_borough"] if r.get("ground_response_s")),
                    key=lambda r: -r["ground_response_s"]["mean"])
    for r in ranked[:worst]:
        row = {"area": r["name"], "period": "(model)", "measure": "mean response, all calls",
               "unit": "s", "published": float("nan"), "note": "no published figure found"}
        for label, s in summaries.items():
            b = next(x for x in s["per_borough"] if x["gss_code"] == r["gss_code"])
            row[label] = (b.get("ground_response_s") or {}).get("mean")
        rows.append(row)
    return pd.DataFrame(rows)
