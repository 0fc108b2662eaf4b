"""Analytic verification: one dock with zero travel time and exponential on-scene times is an
M/M/c queue, so the mean wait for a drone must match Erlang C within the replication confidence
interval; with ample drones nobody waits at all.

Zero flight time cannot be set within the scenario schema (``drones.speed_m_s <= 100`` and every
incident is somewhere in London, up to ~30 km from the dock), so the validated scenario's
DroneSpec is replaced afterwards with an infinite cruise speed (flight time exactly zero).
Everything else is an ordinary scenario: launch overhead, climb, descent and decision 0, no
recharge (``recharge_full_s = 0``: a landed drone is ready at once), pilots never binding, a
flat arrival profile, no queue time limit, no restricted airspace, and ground units so late
(call handling 24 h) that they never cancel or abandon a drone dispatch.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.demand import WEEK_S
from dronesim.inputs.scenario import scenario_from_dict

MEAN_S = 600.0  # mean on-scene (service) time
WEEKS = 1.5
REPS = 10


def erlang_c(c: int, a: float) -> float:
    """Probability an arrival waits in M/M/c with offered load a = lambda / mu (< c)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_scenario(c: int, lam_per_s: float, seed: int = 4242):
    d = {
        "name": f"mm{c}",
        "simulation": {"weeks": WEEKS, "warmup_hours": 24.0, "replications": REPS,
                       "seed": seed},
        "drones": {"speed_m_s": 100.0, "decision_s": 0.0, "launch_overhead_s": 0.0,
                   "climb_s": 0.0, "descent_s": 0.0, "endurance_s": 86_400.0,
                   "reserve_s": 0.0, "recharge_full_s": 0.0, "min_on_scene_s": 0.0,
                   "max_range_m": 100_000.0, "loiter": "exponential",
                   "loiter_mean_s": MEAN_S},
        "docks": [{"name": "only", "x": 530000.0, "y": 180000.0, "drones": c}],
        "services": {"police": {
            "incidents_per_week": lam_per_s * WEEK_S, "spatial_weight": "population",
            "time_profile": "flat", "priority_shares": [1.0], "drone_suited_share": [1.0],
            "ground": {"call_handling_mean_s": 86_400.0, "call_handling_cv": 0.0,
                       "travel_model": "straight"}}},
        "control_room": {"pilots": c + 10},
        "dispatch": {"policy": "earliest_arrival", "max_queue_wait_s": math.inf},
        "airspace": {"frz": []},  # no flight restriction zones: every incident reachable
    }
    scn = scenario_from_dict(d)
    return scn.replace(drones=dataclasses.replace(scn.drones, speed_m_s=math.inf))


def _waits(prep, rep: int) -> tuple[np.ndarray, object]:
    res = run_replication(prep, rep)
    df = res.incidents
    w = df[(df["t_call"] >= prep.warmup_s) & (df["t_call"] < prep.horizon_s)]
    return w, res


def _ci(values: list[float]) -> tuple[float, float, float]:
    v = np.asarray(values)
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def test_erlang_c_formula():
    # Textbook values: M/M/1 waits with probability rho; M/M/2 at a = 1: C = 1/3.
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_mmc_mean_wait_matches_erlang_c():
    c, rho = 3, 0.7
    mu = 1 / MEAN_S
    lam = rho * c * mu
    prep = prepare(mmc_scenario(c, lam))
    mean_wait, p_wait, served = [], [], 0
    for rep in range(REPS):
        w, res = _waits(prep, rep)
        # Every incident is suited, in range and served: nothing is lost from the queue.
        assert (w["drone_outcome"] == "on_scene").all()
        # The model really is zero-travel: on scene at launch, landed when leaving.
        np.testing.assert_array_equal(w["t_drone_on_scene"], w["t_launch"])
        np.testing.assert_array_equal(w["t_drone_landed"], w["t_drone_leave"])
        np.testing.assert_array_equal(w["t_pilot"], w["t_drone_assigned"])  # pilots ample
        wait = (w["t_drone_assigned"] - w["t_drone_decision"]).to_numpy()
        assert (wait >= 0).all()
        mean_wait.append(wait.mean())
        p_wait.append((wait > 0).mean())
        served += len(w)
    assert served > REPS * 0.9 * lam * WEEKS * WEEK_S

    wq = erlang_c(c, lam / mu) / (c * mu - lam)  # 328.2 s
    m, lo, hi = _ci(mean_wait)
    assert lo <= wq <= hi, f"Erlang C Wq = {wq:.1f} s outside the 95% CI [{lo:.1f}, {hi:.1f}]"
    # The interval must be tight enough to mean something (a wrong model would fall outside).
    assert hi - lo < 0.5 * wq
    # The probability of waiting matches Erlang C as well.
    pc = erlang_c(c, lam / mu)
    m, lo, hi = _ci(p_wait)
    assert lo <= pc <= hi, f"Erlang C P(wait) = {pc:.3f} outside [{lo:.3f}, {hi:.3f}]"


def test_on_scene_time_is_the_exponential_loiter():
    # In exponential mode the service time is exactly the pre-drawn loiter (battery ample).
    c = 3
    prep = prepare(mmc_scenario(c, 0.7 * c / MEAN_S))
    w, _ = _waits(prep, 0)
    stay = (w["t_drone_leave"] - w["t_drone_on_scene"]).to_numpy()
    assert stay.mean() == pytest.approx(MEAN_S, rel=4 / math.sqrt(len(stay)))
    assert stay.std() / stay.mean() == pytest.approx(1.0, rel=0.1)  # exponential: cv 1
    assert set(w["drone_leave_reason"]) == {"task_done"}


def test_ample_drones_never_wait():
    c = 40
    prep = prepare(mmc_scenario(c, 0.7 * 3 / MEAN_S))
    for rep in range(2):
        w, res = _waits(prep, rep)
        assert len(w) > 1000
        assert (w["drone_outcome"] == "on_scene").all()
        wait = (w["t_drone_assigned"] - w["t_drone_decision"]).to_numpy()
        np.testing.assert_array_equal(wait, np.zeros(len(w)))
        # Decision at the call (decision_s = 0) and pilot at once: on scene at the call.
        np.testing.assert_array_equal(w["drone_response_s"], np.zeros(len(w)))
