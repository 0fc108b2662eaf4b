"""Reproduce every calibrated value quoted in scenarios/met_baseline.toml.

Usage: python scripts/calibrate.py [SCENARIO]   (default scenarios/met_baseline.toml)

Prints: the LFB road-travel fit, the drone-suited share that matches the Met's ~200 deployments
a week, and the call-handling mean that matches the Met's ~9-minute officer response (with a
check run). Changes no file: copy the values into the scenario if they moved.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dronesim.engine.replication import prepare
from dronesim.experiment.calibration import (
    call_handling_for_target,
    drone_suited_share,
    fit_road_travel,
)
from dronesim.inputs.scenario import load_scenario

MET_DEPLOYMENTS_PER_WEEK = 200.0  # Met Commissioner, 2026 (../shared/data/README.md section 6)
MET_OFFICER_MEAN_S = 9 * 60.0  # "nine minute average response time for our response officers"


def main(path: str = "scenarios/met_baseline.toml") -> None:
    scn = load_scenario(Path(path))
    fit = fit_road_travel()
    circ = scn.services["police"].ground.circuity
    print(f"LFB road travel fit (n={fit.n}): attendance = {fit.fixed_s:.0f} s + "
          f"{fit.s_per_m:.4f} s/m x distance; straight-line speed "
          f"{fit.straight_line_speed_m_s:.1f} m/s; road speed at circuity {circ}: "
          f"{fit.road_speed_m_s(circ):.1f} m/s; residual cv {fit.residual_cv:.2f}")
    prep = prepare(scn)
    share, in_range = drone_suited_share(prep, "police", MET_DEPLOYMENTS_PER_WEEK)
    print(f"drone-suited share of I-grade police incidents: {in_range:.0f} in range a week -> "
          f"{share:.3f} (scenario has {scn.services['police'].drone_suited_share[0]})")
    h, before, after = call_handling_for_target(scn, "police", MET_OFFICER_MEAN_S)
    print(f"police call handling: scenario {scn.services['police'].ground.call_handling_mean_s:.0f}"
          f" s gives officer mean {before:.0f} s; {h:.0f} s gives {after:.0f} s "
          f"(target {MET_OFFICER_MEAN_S:.0f} s)")


if __name__ == "__main__":
    main(*sys.argv[1:])
