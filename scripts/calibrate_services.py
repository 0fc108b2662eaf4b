"""Reproduce the fire and ambulance calibrations quoted in scenarios/lfb_replay.toml and
scenarios/london_three_services.toml.

Usage: python scripts/calibrate_services.py

Prints: the LFB road-travel fits (deploying station and nearest station; the straight-line
model), the fire turnout of the fitted travel model (LFB's 79 s crew turnout + the replay's
dispatch gap), the LFB sample replay check (London and per-borough first-pump attendance,
simulated against the sample), and the ambulance staffing (units per borough, through
``staffing_utilisation``) that gives the NHS ARP Category-1 mean of 7 minutes.
Changes no file: copy the values into the scenarios if they moved.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dronesim.experiment.calibration import (
    fire_replay_check,
    fit_road_travel,
    fit_road_travel_nearest,
    staffing_for_target,
)
from dronesim.inputs.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
ARP_CAT1_MEAN_S = 7 * 60.0  # NHS Ambulance Response Programme Category 1 mean standard
LFB_TURNOUT_S = 79.0  # LFB average crew turnout, 2015/16 (urbs.london)


def main() -> None:
    for label, fit in (("deploying station", fit_road_travel()),
                       ("nearest station", fit_road_travel_nearest())):
        print(f"LFB road fit, {label} (n={fit.n}): attendance = {fit.fixed_s:.1f} s + "
              f"{fit.s_per_m:.4f} s/m x distance; road speed at circuity 1.4: "
              f"{fit.road_speed_m_s(1.4):.2f} m/s; residual cv {fit.residual_cv:.2f}")
    print()
    # Fitted travel model: the replay with LFB's own crew turnout (79 s) falls short of the
    # sample by the dispatch gap (first pumps not from the quickest station); turnout_s = 79 s +
    # that gap.
    replay = load_scenario(REPO / "scenarios" / "lfb_replay.toml")
    fire = replay.services["fire"]
    at79 = dataclasses.replace(replay, services={"fire": dataclasses.replace(
        fire, ground=dataclasses.replace(fire.ground, turnout_s=LFB_TURNOUT_S))})
    check = fire_replay_check(at79, replications=3)
    gap = check.london_sample_s - check.london_sim_s
    print(f"fire turnout ({fire.ground.travel_model} travel): with {LFB_TURNOUT_S:.0f} s the "
          f"replay gives {check.london_sim_s:.1f} s against the sample's "
          f"{check.london_sample_s:.1f} s: turnout_s = {LFB_TURNOUT_S:.0f} + {gap:.0f} = "
          f"{LFB_TURNOUT_S + gap:.0f} s (scenario has {fire.ground.turnout_s:.0f} s)")
    print()
    print(fire_replay_check(REPO / "scenarios" / "lfb_replay.toml", replications=3).format())
    print()
    # Ambulance ground response does not depend on the other services or on the drones: calibrate
    # on the ambulance service alone, without drones, over two weeks.
    scn = load_scenario(REPO / "scenarios" / "london_three_services.toml",
                        {"simulation": {"weeks": 2.0}})
    amb = dataclasses.replace(scn.services["ambulance"], uses_drones=False)
    alone = dataclasses.replace(scn, services={"ambulance": amb})
    u, steps = staffing_for_target(alone, "ambulance", ARP_CAT1_MEAN_S, replications=3,
                                   priority=1)
    tried = ", ".join(f"{x:.2f} -> {m:.0f} s" for x, m in steps)
    print(f"ambulance staffing_utilisation (call handling {amb.ground.call_handling_mean_s:.0f} s"
          f" fixed): {tried}; the largest meeting the Category-1 mean of "
          f"{ARP_CAT1_MEAN_S:.0f} s: {u:.2f} (scenario has "
          f"{amb.ground.staffing_utilisation:.2f})")

if __name__ == "__main__":
    main()
