"""Monotonicity with common random numbers: more drones never make the mean drone response
worse (beyond the confidence interval) and never reduce deployments.

The Met baseline with 1, 3 and 9 drones per dock, every replication seeing the same incidents
(same seed). Drone-suited demand is raised (30% of I-grade calls instead of the calibrated 8.8%)
so that one drone per dock is a real bottleneck and the comparison means something; pilots are
made ample (one per drone) so that the number of drones is the only thing that changes. With
two pilots, extra drones are dispatched only to wait for a pilot: see
``test_pilot_bound_fleet_growth`` for what happens then.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import oracle
import pytest
from conftest import MET_BASELINE
from scipy import stats

from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.scenario import load_scenario

REPS = 4
PER_DOCK = (1, 3, 9)


def _scenario(per_dock: int, pilots: int):
    scn = load_scenario(MET_BASELINE, {
        "simulation": {"weeks": 0.5, "replications": REPS},
        "services": {"police": {"drone_suited_share": [0.3, 0.0]}},
        "control_room": {"pilots": pilots},
    })
    return scn.replace(docks=tuple(dataclasses.replace(d, drones=per_dock) for d in scn.docks))


def _kpis(per_dock: int, pilots: int) -> list[dict]:
    prep = prepare(_scenario(per_dock, pilots))
    out = []
    for r in range(REPS):
        res = run_replication(prep, r)
        out.append(oracle.replication_kpis(
            res.incidents, res.missions, warmup_s=res.warmup_s, horizon_s=res.horizon_s,
            fleet_size=res.fleet_size, pilots=res.pilots))
    return out


def _paired_ci(more: list[float], fewer: list[float]) -> tuple[float, float, float]:
    d = np.asarray(more) - np.asarray(fewer)
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


@pytest.fixture(scope="module")
def ample_pilots() -> dict[int, list[dict]]:
    return {n: _kpis(n, pilots=9 * 3) for n in PER_DOCK}


@pytest.mark.parametrize("fewer,more", [(1, 3), (3, 9), (1, 9)])
def test_more_drones_never_worsen_mean_response(ample_pilots, fewer, more):
    a = [k["drone"]["mean"] for k in ample_pilots[fewer]]
    b = [k["drone"]["mean"] for k in ample_pilots[more]]
    mean, lo, hi = _paired_ci(b, a)
    # Worse would mean the whole interval of (more - fewer) lies above zero.
    assert lo <= 0, f"{more}/dock slower than {fewer}/dock by {mean:.1f} s [{lo:.1f}, {hi:.1f}]"


def test_one_drone_per_dock_is_a_real_bottleneck(ample_pilots):
    # Makes the test above able to fail: with one drone per dock responses are clearly slower
    # and incidents are lost from the queue; with nine they are not.
    a = [k["drone"]["mean"] for k in ample_pilots[1]]
    b = [k["drone"]["mean"] for k in ample_pilots[9]]
    mean, lo, hi = _paired_ci(b, a)
    assert hi < 0, f"9/dock not faster than 1/dock: {mean:.1f} s [{lo:.1f}, {hi:.1f}]"
    assert all(k["queue_abandoned_per_week"] > 0 for k in ample_pilots[1])
    assert all(k["queue_abandoned_per_week"] == 0 for k in ample_pilots[9])


@pytest.mark.parametrize("fewer,more", [(1, 3), (3, 9)])
def test_deployments_never_fall(ample_pilots, fewer, more):
    for r in range(REPS):
        a = ample_pilots[fewer][r]["drone_deployments_per_week"]
        b = ample_pilots[more][r]["drone_deployments_per_week"]
        assert b >= a, f"replication {r}: {more}/dock deployed {b}, {fewer}/dock {a}"


def test_pilot_bound_fleet_growth():
    # With the baseline's two pilots, deployments still never fall as drones are added ...
    k1, k3 = _kpis(1, pilots=2), _kpis(3, pilots=2)
    for a, b in zip(k1, k3):
        assert b["drone_deployments_per_week"] >= a["drone_deployments_per_week"]
    # ... and the pilots, not the drones, are what incidents wait for.
    assert np.mean([k["pilot_wait_s"] for k in k3]) > np.mean([k["drone_queue_wait_s"]
                                                               for k in k3])
