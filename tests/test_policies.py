"""Built-in dispatch policies: hand-made snapshots, short simulations, user policies from files.

Part 1 needs no simulation: every expected choice below is worked out by hand in the comments.
Part 2 runs each built-in policy for a few simulated days of the Met baseline. Part 3 registers a
policy in the test and names it in a scenario file.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

import dronesim
from dronesim.dispatch import (
    CHARGING,
    READY,
    RETURNING,
    BenefitThreshold,
    CoveragePreserving,
    Decline,
    Dispatch,
    EarliestArrival,
    FleetSnapshot,
    GroundOnly,
    IncidentView,
    NearestIdle,
    PolicyContext,
    PriorityReserve,
    Queue,
    available_policies,
    make_policy,
    register_policy,
)
from dronesim.dispatch.registry import _REGISTRY

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "met_baseline.toml"
#: Issue 17: the baseline flies in London weather with night rules and faults; these tests use
#: it with every hour flyable (as scenarios/met_baseline_weather_free.toml), read as a table.
OPERATIONS = ("weather", "night", "faults")
BUILT_IN = ("earliest_arrival", "nearest_idle", "priority_reserve", "benefit_threshold",
            "coverage_preserving", "ground_only")


# --------------------------------------------------------------------------------------------
# Hand-made inputs
# --------------------------------------------------------------------------------------------
def incident(priority: int = 1, ground_estimate: float = math.nan, t_call: float = 0.0
             ) -> IncidentView:
    return IncidentView(index=0, service="police", priority=priority, x=0.0, y=0.0, borough=0,
                        t_call=t_call, ground_eta=math.nan, ground_estimate=ground_estimate)


def snapshot(rows: list[tuple[int, int, int, float, float]], *, now: float = 0.0,
             fleet_size: int = 9, fleet_ready: int | None = None,
             dock_idle: list[int] | None = None) -> FleetSnapshot:
    """rows: (drone, dock, status, distance_m, arrival_at); ready_at = arrival_at - 60."""
    if not rows:
        return FleetSnapshot.empty(now, fleet_size, fleet_ready or 0, 0)
    d, k, s, dist, arr = (np.asarray(c) for c in zip(*rows))
    idle = (np.asarray(dock_idle, np.int64) if dock_idle is not None
            else np.bincount(k[s != RETURNING], minlength=int(k.max()) + 1).astype(np.int64))
    ready = int(idle.sum()) if fleet_ready is None else fleet_ready
    return FleetSnapshot(now, d.astype(np.int64), k.astype(np.int64), s.astype(np.int64),
                         dist.astype(float), arr.astype(float) - 60.0, arr.astype(float),
                         fleet_size, ready, int(np.unique(k).size), idle)


def toy_context() -> PolicyContext:
    """2 docks, 3 demand points: dock 0 covers points 0 and 1, dock 1 covers points 1 and 2."""
    cover = sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.int8))
    return PolicyContext(dock_x=np.array([0.0, 1000.0]), dock_y=np.zeros(2),
                         dock_drones=np.array([1, 2]), demand_x=np.array([0.0, 500.0, 1000.0]),
                         demand_y=np.zeros(3), demand_w=np.array([10.0, 1.0, 2.0]), cover=cover,
                         within_s=120.0, services=("police",))


# --------------------------------------------------------------------------------------------
# 1. Policies on hand-made snapshots
# --------------------------------------------------------------------------------------------
def test_registry_lists_every_built_in():
    assert set(BUILT_IN) <= set(available_policies())
    for name in BUILT_IN:
        assert callable(make_policy(name).decide)


def test_earliest_arrival_prefers_returning_drone_when_earlier():
    # Drone 5 flies home and would be on scene at 150 s; drone 1 is READY but arrives at 200 s.
    snap = snapshot([(1, 0, READY, 1500.0, 200.0), (5, 1, RETURNING, 800.0, 150.0)])
    assert EarliestArrival().decide(incident(), snap, 0.0) == Dispatch(5)
    assert EarliestArrival(include_returning=False).decide(incident(), snap, 0.0) == Dispatch(1)
    # Predicted response 200 s > 180 s: not worth sending.
    slow = EarliestArrival(include_returning=False, max_response_s=180.0)
    assert slow.decide(incident(), snap, 0.0) == Decline("too_slow")
    assert EarliestArrival().decide(incident(), snapshot([]), 0.0) == Queue()


def test_nearest_idle_ignores_charging_drone_even_if_earlier():
    # Drone 0 charges at the nearest dock (500 m) and is predicted first (100 s); the READY
    # drones 4 and 3 share the 1,500 m dock: the closer READY dock wins, then the lower id.
    snap = snapshot([(0, 0, CHARGING, 500.0, 100.0), (4, 1, READY, 1500.0, 150.0),
                     (3, 1, READY, 1500.0, 150.0), (7, 2, READY, 1800.0, 160.0)])
    assert EarliestArrival().decide(incident(), snap, 0.0) == Dispatch(0)
    assert NearestIdle().decide(incident(), snap, 0.0) == Dispatch(3)
    # The rule is by distance, not by predicted arrival (for READY drones of one fleet the two
    # agree; a hand-made snapshot can tell them apart).
    odd = snapshot([(1, 0, READY, 900.0, 300.0), (2, 1, READY, 1200.0, 100.0)])
    assert NearestIdle().decide(incident(), odd, 0.0) == Dispatch(1)


def test_nearest_idle_queues_without_a_ready_drone():
    snap = snapshot([(0, 0, CHARGING, 500.0, 100.0), (1, 1, RETURNING, 900.0, 300.0)])
    assert NearestIdle().decide(incident(), snap, 0.0) == Queue()
    assert NearestIdle().decide(incident(), snapshot([]), 0.0) == Queue()


def test_priority_reserve_keeps_the_last_drone_for_urgent_incidents():
    snap_one = snapshot([(2, 0, READY, 900.0, 120.0)], fleet_ready=1)
    pol = PriorityReserve(reserve=1, reserve_priority=1)
    # Only `reserve` (1) drone idle fleet-wide: an S-grade (2) incident is declined ...
    assert pol.decide(incident(priority=2), snap_one, 0.0) == Decline("reserved")
    # ... an I-grade (1) incident gets it.
    assert pol.decide(incident(priority=1), snap_one, 0.0) == Dispatch(2)
    # Two idle: more than the reserve, so priority 2 follows the base rule (earliest arrival).
    snap_two = snapshot([(2, 0, READY, 900.0, 120.0), (6, 1, CHARGING, 400.0, 90.0)],
                        fleet_ready=2)
    assert pol.decide(incident(priority=2), snap_two, 0.0) == Dispatch(6)
    # The base rule is pluggable: nearest_idle skips the charging drone.
    assert PriorityReserve(base="nearest_idle").decide(incident(priority=2), snap_two, 0.0) \
        == Dispatch(2)
    # reserve_priority=2 protects priorities 1 and 2; priority 3 is declined.
    pol2 = PriorityReserve(reserve=2, reserve_priority=2)
    assert pol2.decide(incident(priority=2), snap_two, 0.0) == Dispatch(6)
    assert pol2.decide(incident(priority=3), snap_two, 0.0) == Decline("reserved")


def test_priority_reserve_forwards_bind_only_when_base_needs_it():
    assert not hasattr(PriorityReserve(), "bind")
    pol = PriorityReserve(base="coverage_preserving", base_params={"slack_s": 0.0})
    pol.bind(toy_context())
    assert pol.base.context is not None and pol.base.slack_s == 0.0


def test_benefit_threshold():
    snap = snapshot([(3, 0, READY, 1000.0, 200.0)])
    # Ground predicted at 250 s: the drone gains 50 s, less than the 60 s margin.
    assert BenefitThreshold(60.0).decide(incident(ground_estimate=250.0), snap, 0.0) \
        == Decline("no_benefit")
    assert BenefitThreshold(50.0).decide(incident(ground_estimate=250.0), snap, 0.0) \
        == Dispatch(3)
    # Ground arrival unknown (no unit free): assume the drone is worth sending.
    assert BenefitThreshold(1e9).decide(incident(), snap, 0.0) == Dispatch(3)
    assert BenefitThreshold().decide(incident(ground_estimate=999.0), snapshot([]), 0.0) \
        == Queue()
    # The benefit is judged for the earliest drone, a returning one included.
    snap2 = snapshot([(3, 0, READY, 1000.0, 200.0), (8, 1, RETURNING, 500.0, 140.0)])
    assert BenefitThreshold(100.0).decide(incident(ground_estimate=250.0), snap2, 0.0) \
        == Dispatch(8)


def test_coverage_loss_by_hand():
    # dock_idle = [1, 2] -> drones covering each point n = [1, 1 + 2, 2] = [1, 3, 2].
    # q = 0.5: marginal w_j (1 - q) q^(n_j - 1) = [10 x .5 x 1, 1 x .5 x .25, 2 x .5 x .5]
    #        = [5, 0.125, 0.5]; dock 0 loses 5 + 0.125, dock 1 loses 0.125 + 0.5.
    pol = CoveragePreserving(busy_fraction=0.5)
    pol.bind(toy_context())
    np.testing.assert_allclose(pol.loss(np.array([1, 2])), [5.125, 0.625])
    # q = 0: only points covered by a single drone count (point 0, by dock 0).
    pol0 = CoveragePreserving(busy_fraction=0.0)
    pol0.bind(toy_context())
    np.testing.assert_allclose(pol0.loss(np.array([1, 2])), [10.0, 0.0])
    with pytest.raises(ValueError, match="dock_idle"):
        pol.loss(np.array([1, 2, 3]))


def test_coverage_preserving_spares_the_dock_whose_absence_costs_more():
    # Drone 0 (dock 0) arrives first at 100 s; drones 1 and 2 (dock 1) at 110 s. Taking dock 0's
    # only drone loses 5.125 expected covered incidents, one of dock 1's only 0.625 (above).
    snap = snapshot([(0, 0, READY, 600.0, 100.0), (2, 1, READY, 800.0, 110.0),
                     (1, 1, READY, 800.0, 110.0)], dock_idle=[1, 2])
    pol = CoveragePreserving(busy_fraction=0.5, slack_s=30.0)
    assert pol.decide(incident(), snap, 0.0) == Dispatch(0)  # unbound: earliest arrival
    pol.bind(toy_context())
    assert pol.decide(incident(), snap, 0.0) == Dispatch(1)  # dock 1, lowest id
    # Slack of 5 s: dock 1's drones are 10 s later, so only drone 0 is a candidate.
    tight = CoveragePreserving(busy_fraction=0.5, slack_s=5.0)
    tight.bind(toy_context())
    assert tight.decide(incident(), snap, 0.0) == Dispatch(0)


def test_coverage_preserving_falls_back_without_ready_drones():
    pol = CoveragePreserving()
    pol.bind(toy_context())
    snap = snapshot([(0, 0, CHARGING, 600.0, 400.0), (3, 1, RETURNING, 800.0, 300.0)],
                    dock_idle=[1, 0])
    assert pol.decide(incident(), snap, 0.0) == Dispatch(3)
    assert pol.decide(incident(), snapshot([]), 0.0) == Queue()


def test_ground_only_always_declines():
    snap = snapshot([(0, 0, READY, 100.0, 50.0)])
    assert GroundOnly().decide(incident(), snap, 0.0) == Decline("ground_only")
    assert GroundOnly().decide(incident(), snapshot([]), 0.0) == Decline("ground_only")


@pytest.mark.parametrize("name, params", [
    ("earliest_arrival", {"max_response_s": 0.0}),
    ("earliest_arrival", {"max_response_s": math.nan}),
    ("earliest_arrival", {"include_returning": "yes"}),
    ("priority_reserve", {"reserve": -1}),
    ("priority_reserve", {"reserve": 1.5}),
    ("priority_reserve", {"reserve": True}),
    ("priority_reserve", {"reserve_priority": 0}),
    ("priority_reserve", {"base": "no_such_policy"}),
    ("priority_reserve", {"base": "priority_reserve"}),
    ("priority_reserve", {"base_params": {"max_response_s": -5.0}}),
    ("benefit_threshold", {"margin_s": "60"}),
    ("benefit_threshold", {"margin_s": math.nan}),
    ("coverage_preserving", {"busy_fraction": 1.0}),
    ("coverage_preserving", {"busy_fraction": -0.1}),
    ("coverage_preserving", {"slack_s": -1.0}),
    ("coverage_preserving", {"slack_s": math.inf}),
])
def test_bad_parameters_raise(name, params):
    cls = _REGISTRY[name]
    with pytest.raises(ValueError):
        cls(**params)
    with pytest.raises(dronesim.InputError, match="dispatch.params"):
        make_policy(name, params, "scn.toml")


def test_snapshot_and_incident_are_read_only():
    snap = snapshot([(0, 0, READY, 100.0, 50.0), (1, 1, CHARGING, 200.0, 80.0)])
    for name in ("drone", "dock", "status", "distance_m", "ready_at", "arrival_at", "dock_idle"):
        arr = getattr(snap, name)
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(snap, name, arr.copy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.fleet_ready = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        incident().priority = 1

    class Meddler:
        def decide(self, incident, fleet, now):
            fleet.status[:] = READY  # a policy cannot change what it was shown
            return Queue()

    with pytest.raises(ValueError, match="read-only"):
        Meddler().decide(incident(), snap, 0.0)
    assert snap.status.tolist() == [READY, CHARGING]


# --------------------------------------------------------------------------------------------
# 2. Each built-in policy in a short simulation
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_table() -> dict:
    table = tomllib.loads(BASELINE.read_text())
    for section in OPERATIONS:
        table.pop(section)
    table["simulation"].update(weeks=0.3, warmup_hours=2, replications=1)
    return table


def simulate(table: dict, policy: str, params: dict | None = None, suited=None):
    t = {**table, "simulation": dict(table["simulation"]),
         "dispatch": {**table["dispatch"], "policy": policy, "params": params or {}}}
    if suited is not None:
        t["services"] = {"police": {**table["services"]["police"], "drone_suited_share": suited}}
    scn = dronesim.scenario_from_dict(t)
    res = dronesim.run_scenario(scn, workers=1)
    return res.incidents, res.missions


def outcomes(inc) -> dict[str, int]:
    return inc.loc[inc["drone_suited"], "drone_outcome"].value_counts().to_dict()


@pytest.mark.parametrize("load", ["baseline", "congested"])
@pytest.mark.parametrize("policy", BUILT_IN)
def test_every_built_in_policy_runs(base_table, policy, load):
    table, suited = base_table, None
    if load == "congested":
        # One drone per dock and five times the drone-suited calls: drones are often busy, so
        # incidents queue, charging and returning drones are booked, and queues are abandoned.
        table = {**base_table, "docks": [{**d, "drones": 1} for d in base_table["docks"]]}
        suited = [0.5, 0.1]
    inc, missions = simulate(table, policy, suited=suited)
    out = outcomes(inc)
    assert sum(out.values()) == inc["drone_suited"].sum() > 0
    assert out.get("pending", 0) == 0 and out.get("not_suited", 0) == 0
    if policy == "ground_only":
        assert len(missions) == 0 and out.get("on_scene", 0) == 0
        asked = inc["drone_suited"] & (inc["drone_outcome"] != "out_of_range")
        assert asked.sum() > 0
        assert (inc.loc[asked, "drone_outcome"] == "declined").all()
        return
    assert out.get("on_scene", 0) > 0 and len(missions) == out["on_scene"]
    # No drone flies two missions at once (a booked drone is assigned before it lands, but
    # launches only after).
    for _, m in missions.sort_values("t_launch").groupby("drone_id"):
        assert (m["t_launch"].to_numpy()[1:] >= m["t_landed"].to_numpy()[:-1]).all()
    if load == "congested":
        assert out.get("queue_abandoned", 0) > 0  # the queue path was exercised
        if policy == "earliest_arrival":  # and drones flying home were booked
            booked = 0
            for _, m in missions.sort_values("t_launch").groupby("drone_id"):
                booked += int((m["t_assigned"].to_numpy()[1:]
                               < m["t_landed"].to_numpy()[:-1]).sum())
            assert booked > 0


def test_nearest_idle_and_earliest_arrival_deploy(base_table):
    for policy in ("nearest_idle", "earliest_arrival"):
        inc, _ = simulate(base_table, policy)
        assert (inc["drone_outcome"] == "on_scene").sum() > 0


def test_benefit_threshold_margin_declines_more(base_table):
    inc0, _ = simulate(base_table, "benefit_threshold", {"margin_s": 0.0})
    inc_big, _ = simulate(base_table, "benefit_threshold", {"margin_s": 1e9})
    d0 = outcomes(inc0).get("declined", 0)
    d_big = outcomes(inc_big).get("declined", 0)
    assert d_big > d0
    assert outcomes(inc_big).get("on_scene", 0) < outcomes(inc0).get("on_scene", 0)


def test_priority_reserve_of_whole_fleet_declines_every_priority_2(base_table):
    fleet = sum(d["drones"] for d in base_table["docks"])
    inc, _ = simulate(base_table, "priority_reserve", {"reserve": fleet},
                      suited=[0.088, 0.05])
    p2 = inc[inc["drone_suited"] & (inc["priority"] == 2)]
    p1 = inc[inc["drone_suited"] & (inc["priority"] == 1)]
    assert (p2["drone_outcome"] == "declined").sum() > 0
    assert p2["drone_outcome"].isin(["declined", "out_of_range"]).all()
    assert (p1["drone_outcome"] == "on_scene").sum() > 0


def test_coverage_preserving_is_bound_by_the_model(base_table):
    t = {**base_table, "dispatch": {**base_table["dispatch"], "policy": "coverage_preserving"}}
    prep = dronesim.prepare(dronesim.scenario_from_dict(t))
    pol = prep.new_policy()
    assert pol.context is not None
    assert pol.context.cover.shape == (len(base_table["docks"]), pol.context.demand_w.size)
    # Deterministic: the same scenario twice gives the same drones to the same incidents.
    a, _ = simulate(base_table, "coverage_preserving")
    b, _ = simulate(base_table, "coverage_preserving")
    assert a["drone_id"].equals(b["drone_id"])


# --------------------------------------------------------------------------------------------
# 3. A user's own policy, named in a scenario file
# --------------------------------------------------------------------------------------------
def scenario_file(tmp_path: Path, policy: str, params_toml: str) -> Path:
    text = BASELINE.read_text()
    text = text.split("\n[weather]")[0]  # [weather], [night], [faults]: the file's last sections
    assert not any(f"\n[{section}]" in text for section in OPERATIONS)
    text = re.sub(r"(?m)^weeks = .*$", "weeks = 0.3", text)
    text = re.sub(r"(?m)^warmup_hours = .*$", "warmup_hours = 2", text)
    text = re.sub(r"(?m)^replications = .*$", "replications = 1", text)
    text, n = re.subn(r'(?m)^policy = .*$', f'policy = "{policy}"', text)
    assert n == 1
    text += f"\n[dispatch.params]\n{params_toml}\n"
    path = tmp_path / "my_policy.toml"
    path.write_text(text)
    return path


@pytest.fixture
def always_first():
    @register_policy("test_always_first")
    class AlwaysFirst:
        """The first candidate offered (nearest dock), whatever its state."""

        calls = 0
        instances: list = []

        def __init__(self, tag: str = "none") -> None:
            if not isinstance(tag, str):
                raise ValueError("tag must be a string")
            self.tag = tag
            AlwaysFirst.instances.append(self)

        def decide(self, incident, fleet, now):
            AlwaysFirst.calls += 1
            return Dispatch(int(fleet.drone[0])) if len(fleet) else Queue()

    yield AlwaysFirst
    _REGISTRY.pop("test_always_first", None)


def test_user_policy_from_scenario_file(tmp_path, always_first):
    path = scenario_file(tmp_path, "test_always_first", 'tag = "from_file"')
    scn = dronesim.load_scenario(path)
    assert scn.dispatch.policy == "test_always_first"
    res = dronesim.run_scenario(scn, workers=1)
    assert always_first.calls > 0
    assert always_first.instances and all(p.tag == "from_file" for p in always_first.instances)
    assert (res.incidents["drone_outcome"] == "on_scene").sum() > 0
    assert res.summary["policy"] == "test_always_first"


def test_unknown_policy_parameters_are_input_errors(tmp_path, always_first):
    path = scenario_file(tmp_path, "test_always_first", "bogus = 1")
    with pytest.raises(dronesim.InputError, match=r"dispatch\.params\.bogus") as err:
        dronesim.prepare(dronesim.load_scenario(path))
    assert str(path) in str(err.value)
    path = scenario_file(tmp_path, "test_always_first", "tag = 3")
    with pytest.raises(dronesim.InputError, match="tag must be a string"):
        dronesim.prepare(dronesim.load_scenario(path))
    path = scenario_file(tmp_path, "benefit_threshold", 'margin_s = "a lot"')
    with pytest.raises(dronesim.InputError, match="margin_s"):
        dronesim.prepare(dronesim.load_scenario(path))
    path = scenario_file(tmp_path, "no_such_policy", "")
    with pytest.raises(dronesim.InputError, match="unknown policy"):
        dronesim.prepare(dronesim.load_scenario(path))
