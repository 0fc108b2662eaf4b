"""The benchmark's models answer the same question: a small version of ``make bench``'s check.

``benchmarks/`` compares dronesim's speed with an idiomatic SimPy model and a heapq loop on the
same pre-generated calls. Those ratios mean something only while the three models simulate the
same thing, so this test runs all three on a few thousand calls of the benchmark workload at
each fleet size and requires the same drone for every call, the same number dispatched and the
same mean drone response (within ``MEAN_TOLERANCE_S``). dronesim runs in whichever mode the
checkout supports (calls passed in or replayed as a trace; no ground response, or one kept out
of the drones' way: see ``benchmarks/adapter.py``), so the check follows the engine as it
changes. Deterministic: fixed seed, no timing.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package

from benchmarks import ref_heapq, ref_simpy  # noqa: E402
from benchmarks.adapter import Dronesim, detect  # noqa: E402
from benchmarks.workload import (  # noqa: E402
    FLEETS,
    MEAN_TOLERANCE_S,
    agreement,
    allocate,
    bench_drone,
    busy_s,
    make_case,
    make_fleet,
    make_workload,
    spread_sites,
)

CALLS = 3_000


@pytest.fixture(scope="module")
def workload():
    return make_workload(CALLS)


@pytest.fixture(scope="module", params=FLEETS, ids=[f"{n}_drones" for n in FLEETS])
def case(request, workload):
    return make_case(workload, make_fleet(request.param))


@pytest.fixture(scope="module")
def heapq_outcome(case):
    return ref_heapq.run(case)


def test_fleets_have_the_stated_size():
    for n in FLEETS:
        fleet = make_fleet(n)
        assert fleet.size == n
        assert (fleet.drones >= 1).all()
        assert len(set(zip(fleet.x.tolist(), fleet.y.tolist()))) == len(fleet.names)


def test_allocate_and_spread_by_hand():
    assert allocate(np.array([0.7, 0.2, 0.1]), 10).tolist() == [7, 2, 1]
    assert allocate(np.array([0.98, 0.01, 0.01]), 4).tolist() == [2, 1, 1]  # one per site
    x = np.array([0.0, 1.0, 10.0, 5.0])
    y = np.zeros(4)
    # Start nearest the mean (4.0: the point at 5), then the farthest from it (0), then 10.
    assert spread_sites(x, y, 3).tolist() == [3, 0, 2]


def test_workload_exercises_queue_and_battery_cap(case, heapq_outcome):
    """The comparison covers the paths that differ most between engines: calls that wait for
    a drone (at 9 drones) and missions whose time on scene the battery cuts short."""
    spec = bench_drone()
    dist = np.hypot(case.fleet.x[case.fleet.dock_of[heapq_outcome.drone]] - case.x,
                    case.fleet.y[case.fleet.dock_of[heapq_outcome.drone]] - case.y)
    out = spec.climb_s + dist / spec.speed_m_s + spec.descent_s
    capped = case.on_scene_s > spec.endurance_s - 2 * out - spec.reserve_s
    assert heapq_outcome.dispatched == len(case)  # the range spans London
    if case.fleet.size == 9:
        assert heapq_outcome.info["queued"] > 0
        assert capped.sum() > 0
    # No call found its drone beyond its 16 nearest docks (dronesim would have queued it).
    assert heapq_outcome.info["fallback_scans_dispatched"] == 0
    assert np.isfinite(busy_s(dist, case.on_scene_s, spec)).all()


def test_simpy_and_heapq_agree(case, heapq_outcome):
    a = agreement(ref_simpy.run(case), heapq_outcome)
    assert a["different_drone"] == 0
    assert a["dispatched"][0] == a["dispatched"][1]
    assert a["mean_gap_s"] <= MEAN_TOLERANCE_S
    assert a["agree"]


def test_dronesim_agrees_with_the_references(case, heapq_outcome, tmp_path):
    ds = Dronesim(case, detect(), tmp_path)
    try:
        got = ds.outcome(ds.run())
    finally:
        ds.close()
    a = agreement(got, heapq_outcome)
    assert a["dispatched"][0] == a["dispatched"][1], ds.mode
    assert a["different_drone"] == 0, ds.mode
    assert a["mean_gap_s"] <= MEAN_TOLERANCE_S, ds.mode


def test_calls_passed_in_equal_the_trace_replay(case, tmp_path):
    """When the engine takes ``incidents=``, the adapter passes columns built from the workload;
    they must be what the trace replay gives dronesim today, column by column."""
    from benchmarks.adapter import _incidents
    from dronesim.inputs.demand import generate_incidents
    from dronesim.inputs.streams import Streams

    ds = Dronesim(case, dataclasses.replace(detect(), incidents_kw=False), tmp_path)
    try:
        prep = ds.prep
        replayed = generate_incidents(prep.scenario, prep.london, Streams(case.seed, 0),
                                      prep.horizon_s, prep.trace)
    finally:
        ds.close()
    built = _incidents(case, prep.scenario)
    # The columns a drones-only model reads; ground durations play no part (no ground units).
    drone_cols = {"t_call", "x", "y", "borough", "service", "priority", "suited",
                  "drone_loiter_s", "service_names"}
    for f in dataclasses.fields(built):
        if f.name not in drone_cols:
            continue
        a, b = getattr(built, f.name), getattr(replayed, f.name)
        if f.name == "service_names":
            assert a == b
        else:
            assert np.array_equal(a, b), f.name
            assert a.dtype == b.dtype, f.name


def test_instruction_count_reads_valgrind_and_runs_the_case(monkeypatch):
    """benchmarks/instructions.py: its child runs the benchmark case; the counts are read from
    cachegrind's summary (valgrind itself is too slow for the tests); without valgrind it says
    so in one line and exits 2."""
    from benchmarks import instructions

    runs = []
    monkeypatch.setattr(Dronesim, "run", lambda self, sink=None: runs.append(len(self.case)))
    assert instructions.main(["--child", "2", "--calls", "300"]) == 0
    assert runs == [300, 300]
    sample = ("==12== I   refs:      9,356,802,432\n==12== I1  misses:  1\n"
              "==12== D1  misses:     89,715,772  ( 73,829,797 rd + 15,885,975 wr)\n")
    found = {m.group(1).split()[0]: int(m.group(2).replace(",", ""))
             for m in instructions.COUNT.finditer(sample)}
    assert found == {"I": 9_356_802_432, "D1": 89_715_772}
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main([]) == 2


# --- ground units on (what users run) --------------------------------------------------------

GROUND_FLEETS = (9, 200)


@pytest.fixture(scope="module")
def ground_workload():
    from benchmarks.workload import make_workload as mk

    return mk(CALLS, ground=True)


@pytest.fixture(scope="module", params=GROUND_FLEETS, ids=[f"{n}_drones" for n in GROUND_FLEETS])
def ground_outcomes(request, ground_workload):
    from benchmarks import ref_heapq_ground, ref_simpy_ground

    case = make_case(ground_workload, make_fleet(request.param))
    ds = Dronesim(case, detect())
    try:
        dro = ds.outcome(ds.run())
    finally:
        ds.close()
    return case, ref_simpy_ground.run(case), ref_heapq_ground.run(case), dro


def test_ground_models_send_the_same_unit_and_drone(ground_outcomes):
    """dronesim with the Met baseline's police patrol units and both ground-aware references
    send the same officer and the same drone to every call, with the same arrival times."""
    case, sim, hq, dro = ground_outcomes
    for a in (sim, dro):
        assert a.unit is not None and a.t_ground is not None and hq.unit is not None
        assert np.array_equal(a.unit, hq.unit)
        assert np.allclose(a.t_ground, hq.t_ground, rtol=0, atol=MEAN_TOLERANCE_S)
        ag = agreement(a, hq)
        assert ag["agree"], ag
    assert (hq.unit >= 0).all()  # every call gets an officer in the end


def test_ground_workload_exercises_the_ground_paths(ground_outcomes):
    """The comparison covers officers waiting for a unit of their borough, and (at 9 drones)
    drones that stand down or leave the queue because the officer got there first."""
    case, sim, hq, dro = ground_outcomes
    assert hq.info["ground_queued"] > 0
    if case.fleet.size == 9:
        assert hq.dispatched < len(case)  # some calls lost their drone to the officer
        assert hq.info["queued"] > 0


def test_ground_units_are_dronesims(ground_workload):
    """The references' units are dronesim's: the staffing rule's count per borough at the
    case's rate, each unit in its own borough's polygon."""
    from benchmarks.workload import trace_scenario_dict
    from dronesim.engine.ground import units_per_borough
    from dronesim.inputs.geography import load_london
    from dronesim.inputs.scenario import scenario_from_dict

    case = make_case(ground_workload, make_fleet(9))
    assert case.units is not None
    scn = scenario_from_dict(trace_scenario_dict(case.rate_per_s, case.seed, True), "<t>")
    counts = units_per_borough(scn.services["police"], load_london())
    assert np.bincount(case.units.borough, minlength=counts.size).tolist() == counts.tolist()
