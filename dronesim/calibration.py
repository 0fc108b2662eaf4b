"""Calibration: the parameters set from data or from one published figure, reproducibly.

Each function returns the value and the evidence behind it; ``scripts/calibrate.py`` prints them
all, and the scenario files quote the results. Nothing here changes a scenario file.

* Road travel (:func:`fit_road_travel`): least-squares fit of LFB first-pump attendance against
  the straight-line distance from the deploying station (``data/calibration/lfb_travel_pairs.csv``):
  ``attendance = fixed_s + s_per_m x distance``. The marginal straight-line speed is ``1/s_per_m``;
  with a circuity factor c the road speed is ``c / s_per_m``.
* Drone-suited share (:func:`drone_suited_share`): the share of in-range incidents of a priority
  that must be suited to a drone for the expected deployments to equal a published weekly count.
* Call handling (:func:`call_handling_for_target`): the mean call-handling time that makes the
  simulated mean ground response equal a published mean. Handling time shifts every response by
  its mean, so one simulation and a correction (then a check run) suffice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .coverage import static_coverage
from .geography import default_data_dir
from .model import Prepared
from .scenario import CoverageSpec, Scenario

__all__ = ["RoadFit", "fit_road_travel", "drone_suited_share", "call_handling_for_target"]


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
    if not isinstance(pairs, pd.DataFrame):
        pairs = pd.read_csv(pairs)
    d = pairs["distance_m"].to_numpy(float)
    t = pairs["first_pump_s"].to_numpy(float)
    ok = np.isfinite(d) & np.isfinite(t) & (t > 30)  # < 30 s: recording artefacts
    d, t = d[ok], t[ok]
    A = np.column_stack([np.ones_like(d), d])
    (fixed, slope), *_ = np.linalg.lstsq(A, t, rcond=None)
    ratio = t / (fixed + slope * d)
    return RoadFit(float(fixed), float(slope), float(ratio.std() / ratio.mean()), int(d.size))


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


def call_handling_for_target(scn: Scenario, service: str, target_mean_s: float,
                             replications: int = 5, data_dir: str | Path | None = None
                             ) -> tuple[float, float, float]:
    """Mean call handling giving ``target_mean_s`` mean ground response.

    Returns ``(handling_s, mean_before_s, mean_after_s)``: the mean simulated with the scenario's
    own handling, the corrected handling, and the mean simulated with it (the check).
    """
    from .experiment import run_scenario

    def with_handling(h: float) -> Scenario:
        spec = scn.services[service]
        ground = dataclasses.replace(spec.ground, call_handling_mean_s=h)
        services = dict(scn.services)
        services[service] = dataclasses.replace(spec, ground=ground)
        return dataclasses.replace(scn, services=services)

    h0 = scn.services[service].ground.call_handling_mean_s
    before = run_scenario(scn, replications=replications, data_dir=data_dir)
    m0 = before.summary["ground_response_s"]["mean"]
    h1 = max(0.0, h0 + target_mean_s - m0)
    after = run_scenario(with_handling(h1), replications=replications, data_dir=data_dir)
    return h1, m0, after.summary["ground_response_s"]["mean"]
