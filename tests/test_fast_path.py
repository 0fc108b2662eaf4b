"""The engine's closest-idle fast path gives exactly what the policy seam gives.

A policy that declares ``nearest_ready_only`` (``NearestIdle``) is decided inside the engine
(flat candidate lists, :meth:`dronesim.engine.fleet.Fleet.decide_first`, no snapshot). The same rule
through the seam (a subclass whose ``decide`` calls ``NearestIdle.decide`` on the snapshot, so
the promise does not carry over) must give the same incident and mission tables bit for bit,
in scenarios that reach every branch: queues and bookings, charging, pilot waits and their
deadline, stand-downs, sector caps, pre-emption, more docks than the bulk query's prefix, and
shifts.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from conftest import SCENARIOS

from dronesim.dispatch import Dispatch, NearestIdle, Queue
from dronesim.dispatch.base import READY, picks_nearest_ready
from dronesim.dispatch.fast_path import CHECK_ENV, FastPath, FastPathMismatch
from dronesim.engine.dispatcher import FLAT_PREFIX
from dronesim.engine.features import Features
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.scenario import Scenario, load_scenario


class ViaSnapshot(NearestIdle):
    """The closest-idle rule asked through the snapshot (decide overridden)."""

    def decide(self, incident, fleet, now):
        return super().decide(incident, fleet, now)


def test_promise_counts_only_where_decide_is_defined():
    assert picks_nearest_ready(NearestIdle())
    assert not picks_nearest_ready(ViaSnapshot())
    odd = NearestIdle()
    odd.decide = lambda incident, fleet, now: None  # replaced on the instance
    assert not picks_nearest_ready(odd)

    class Plain:
        nearest_ready_only = True  # no decide of its own here: nothing to promise about

    assert not picks_nearest_ready(Plain())


def _scenario(name: str, weeks: float, **changes) -> Scenario:
    """A scenario file made busy (longer range, more drone-suited calls, so that every path is
    taken often), with the closest-idle rule and ``section__field`` changes."""
    scn = load_scenario(SCENARIOS / name)
    changes = {"simulation__weeks": weeks, "simulation__warmup_hours": 2.0,
               "drones__max_range_m": 7000.0, "dispatch__policy": "nearest_idle", **changes}
    for key, value in changes.items():
        section, field = key.split("__")
        scn = dataclasses.replace(
            scn, **{section: dataclasses.replace(getattr(scn, section), **{field: value})})
    services = {n: dataclasses.replace(s, drone_suited_share=tuple(
        min(1.0, 3 * v + 0.02) for v in s.drone_suited_share)) for n, s in scn.services.items()}
    return dataclasses.replace(scn, services=services)


def _assert_fast_equals_seam(scn: Scenario) -> None:
    """One replication decided by the fast path and by the seam (the same rule through the
    snapshot) give the same incident and mission tables and KPIs, bit for bit."""
    fast = prepare(scn)
    seam = prepare(scn)
    seam.new_policy = ViaSnapshot  # the seam, with the same rule
    a = run_replication(fast, 0)
    b = run_replication(seam, 0)
    assert len(a.missions) > 50
    pd.testing.assert_frame_equal(a.incidents, b.incidents, check_exact=True)
    pd.testing.assert_frame_equal(a.missions, b.missions, check_exact=True)
    assert json.dumps(a.kpis, sort_keys=True, default=float) == \
        json.dumps(b.kpis, sort_keys=True, default=float)


SHIFTS = (0.5,) * 7 + (1.0,) * 12 + (0.75,) * 5
#: Issue 17: the Met baseline, and the scenarios extending it, fly in London weather with night
#: rules and faults; these cases test the fast path, which needs them off.
OPERATIONS_OFF = {"weather__enabled": False, "night__rule": "allowed",
                  "faults__failures_per_flight_hour": 0.0,
                  "faults__maintenance_every_flight_hours": 0.0,
                  "faults__dock_failures_per_year": 0.0}

CASES = {
    "met_congested": lambda: _scenario("met_baseline_weather_free.toml", 0.5),
    "met_one_pilot": lambda: _scenario("met_baseline_weather_free.toml", 0.5,
                                       control_room__pilots=1,
                                       dispatch__max_queue_wait_s=120.0),
    "met_shifts_exponential": lambda: _scenario("met_baseline_weather_free.toml", 0.5,
                                                control_room__shift_pattern=SHIFTS,
                                                drones__loiter="exponential"),
    "separate_sectors": lambda: _scenario("bluelight_separate.toml", 0.3),
    "shared_preemption": lambda: _scenario("bluelight_shared_preemption.toml", 0.3),
    # No restriction zones (rows are then cut to the FLAT_PREFIX nearest docks), a long range
    # and three times the drone-suited calls: the 8 nearest docks often have no READY drone,
    # so incidents are decided on their whole row (a query of the incident alone).
    "whole_rows": lambda: _busier(_scenario("bluelight_separate.toml", 0.3, airspace__frz=(),
                                            drones__max_range_m=12000.0)),
    "drone_resolved": lambda: _scenario("met_drone_resolved.toml", 0.3, **OPERATIONS_OFF),
    "mutual_aid": lambda: _scenario("met_mutual_aid.toml", 0.3, **OPERATIONS_OFF),
    # Restriction zones flown through with authorisation: rows in flight-time order, so no
    # flat lists; decided by the whole-row scan without a snapshot, started inline.
    "authorised_legs": lambda: _scenario("met_growth_frz_permission.toml", 0.2,
                                         **OPERATIONS_OFF),
}


def _busier(scn: Scenario) -> Scenario:
    """Three times the drone-suited share of every service (at most all calls)."""
    return dataclasses.replace(scn, services={n: dataclasses.replace(s, drone_suited_share=tuple(
        min(1.0, 3 * v) for v in s.drone_suited_share)) for n, s in scn.services.items()})


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_equals_the_policy_seam(case, monkeypatch):
    scn = CASES[case]()
    if case in ("separate_sectors", "shared_preemption", "whole_rows"):
        assert len(scn.docks) > FLAT_PREFIX  # more docks than the flat prefix
    whole = _count_whole_rows(monkeypatch)
    calls = _count_fast_path(monkeypatch)
    _assert_fast_equals_seam(scn)
    # The flat fast path is taken exactly when its predicate says so.
    if FastPath.applies(Features.of(prepare(scn)), NearestIdle()):
        assert calls["decide_first"] > 100
    else:
        assert calls["decide_first"] == 0 and calls["take_off"] > 100
    if case == "whole_rows":  # the fallback beyond the prefix is taken, and agrees
        assert whole["n"] > 50


def _count_whole_rows(monkeypatch) -> dict[str, int]:
    """Count the incidents decided on their whole candidate row (beyond the flat prefix)."""
    from dronesim.engine.dispatcher import _DroneDispatcher

    calls = {"n": 0}
    whole_row = _DroneDispatcher._whole_row

    def counted(self, i):
        calls["n"] += 1
        return whole_row(self, i)

    monkeypatch.setattr(_DroneDispatcher, "_whole_row", counted)
    return calls


# --- operations features (issue 9) ---------------------------------------------------------
# Grounding (weather, night), duty holds and faults (rosters, repairs, maintenance), relief
# drones and airframe types (per-dock speed, endurance, recharge, range) change which drone
# goes or whether it flies. With any of them on, the closest-idle rule is not decided by
# Fleet.decide_first (its flat lists hold the [drones] airframe's flight times and know
# nothing of holds, grounding or faults) nor started inline by Fleet.send: it takes the
# general path, and must still equal the policy seam bit for bit.

OPS_CASES = {
    "mixed_fleet": lambda: _scenario("met_mixed_fleet.toml", 0.5),
    "weather_night_faults": lambda: _scenario("met_baseline_operations.toml", 0.5,
                                              faults__failures_per_flight_hour=1.0),
    "night_slower": lambda: _scenario("met_baseline_operations.toml", 0.5,
                                      night__rule="slower", night__speed_factor=0.7,
                                      night__extra_launch_s=60.0),
    "rosters": lambda: _scenario("met_rosters.toml", 0.5),
    "relief": lambda: _scenario("met_relief_short_battery.toml", 0.5),
    "per_leg": lambda: _scenario("met_wind_8ms.toml", 0.5),
    "charging_curve": lambda: _scenario("met_baseline_operations.toml", 0.5,
                                        drones__charging="cccv", drones__recharge_full_s=5400.0),
}


@pytest.mark.parametrize("case", sorted(OPS_CASES))
def test_fast_path_equals_the_policy_seam_with_operations(case):
    scn = OPS_CASES[case]()
    _assert_fast_equals_seam(scn)


def _count_fast_path(monkeypatch) -> dict[str, int]:
    """Count calls of the fast path's entry points (Fleet.decide_first, send's inline start)."""
    from dronesim.engine.fleet import Fleet

    calls = {"decide_first": 0, "inline": 0, "take_off": 0}
    decide_first, land, take_off = Fleet.decide_first, Fleet._land, Fleet._take_off

    def counted(self, i):
        calls["decide_first"] += 1
        return decide_first(self, i)

    def taking_off(self, *args):  # send's (and decide_first's) inline start
        calls["take_off"] += 1
        return take_off(self, *args)

    def landing(self, m, d, t):  # the general path schedules landings here, the inline one not
        calls["inline"] -= 1
        return land(self, m, d, t)

    monkeypatch.setattr(Fleet, "decide_first", counted)
    monkeypatch.setattr(Fleet, "_land", landing)
    monkeypatch.setattr(Fleet, "_take_off", taking_off)
    return calls


@pytest.mark.parametrize("case", sorted(OPS_CASES))
def test_operations_take_the_general_path(case, monkeypatch):
    calls = _count_fast_path(monkeypatch)
    res = run_replication(prepare(OPS_CASES[case]()), 0)
    assert calls["decide_first"] == 0 and calls["take_off"] == 0
    # Every landing of the drones' own missions was scheduled by the general path (relief
    # legs time their landings themselves and are not in the count).
    own = int((~res.missions["relief"]).sum())
    assert -calls["inline"] >= own > 50


def test_without_operations_the_fast_path_is_taken(monkeypatch):
    calls = _count_fast_path(monkeypatch)
    run_replication(prepare(CASES["met_congested"]()), 0)
    assert calls["decide_first"] > 100 and calls["take_off"] > 100


# --- the one predicate (dronesim.dispatch.fast_path.FastPath.applies) ------------------------
#: Every field of Features, classified: allowed on the fast path (the case of CASES that has it
#: on and proves the fast path equal to the seam under it), or off the fast path (the case
#: that has it on and proves the general path equal). A new field fails
#: test_every_feature_is_classified until it is added here, and stays off the fast path
#: until it is added to FastPath.ALLOWED with a case.
ALLOWED_BY = {
    "airspace_management": "separate_sectors",
    "dedicated_airframes": "separate_sectors",
    "refuse_outside": "separate_sectors",
    "preemption": "shared_preemption",
    "queue_limit": "met_one_pilot",
    "pilot_shifts": "met_shifts_exponential",
    "exponential_loiter": "met_shifts_exponential",
    "ground_response": "met_congested",
    "drone_resolution": "drone_resolved",
    "mutual_aid": "mutual_aid",
    "conveyance": "separate_sectors",  # (the ambulance service conveys to hospital)
}
OFF_BY = {
    "grounding": "weather_night_faults",
    "grounded_hours": "weather_night_faults",
    "flight_faults": "weather_night_faults",
    "duty": "rosters",
    "relief": "relief",
    "airframe_types": "mixed_fleet",
    "authorised_legs": "authorised_legs",
    "per_leg": "per_leg",
    "charging_curve": "charging_curve",
}


def test_every_feature_is_classified():
    names = {f.name for f in dataclasses.fields(Features)}
    assert names == set(ALLOWED_BY) | set(OFF_BY), "classify the new Features field here"
    assert not set(ALLOWED_BY) & set(OFF_BY)
    assert set(ALLOWED_BY) == FastPath.ALLOWED
    assert all(c in CASES for c in ALLOWED_BY.values())
    assert all(c in CASES or c in OPS_CASES for c in OFF_BY.values())


@pytest.mark.parametrize("name", sorted(ALLOWED_BY) + sorted(OFF_BY))
def test_the_classifying_case_has_the_feature_on(name):
    case = ALLOWED_BY.get(name) or OFF_BY[name]
    scn = (CASES.get(case) or OPS_CASES[case])()
    assert name in Features.of(prepare(scn)).on


def test_the_predicate_is_an_allow_list():
    policy = NearestIdle()
    assert FastPath.applies(Features(), policy)
    assert FastPath.applies(Features(**dict.fromkeys(ALLOWED_BY, True)), policy)
    for name in OFF_BY:
        assert not FastPath.applies(Features(**{name: True}), policy), name
    assert not FastPath.applies(Features(), ViaSnapshot())  # no promise, no fast path

    class Unknown:  # a feature the predicate has never heard of turns it off
        on = frozenset({"wind"})

    assert not FastPath.applies(Unknown(), policy)
    assert not FastPath.starts_inline(Unknown())
    assert FastPath.starts_inline(Features(authorised_legs=True))
    assert not FastPath.starts_inline(Features(relief=True))


# --- a user policy's promise is checked, not trusted (DRONESIM_CHECK_FAST_PATH=1) ------------
class HonestNearest:
    """A user policy that claims the closest-idle rule and keeps the promise."""

    nearest_ready_only = True

    def decide(self, incident, fleet, now):
        d = fleet.nearest_ready()
        return Queue() if d is None else Dispatch(d)


class LyingNearest:
    """A user policy that claims the closest-idle rule but sends the farthest READY drone."""

    nearest_ready_only = True

    def decide(self, incident, fleet, now):
        ready = fleet.drone[fleet.status == READY]
        return Queue() if ready.size == 0 else Dispatch(int(ready[-1]))


def _run_with(policy: type, monkeypatch, check: bool):
    if check:
        monkeypatch.setenv(CHECK_ENV, "1")
    else:
        monkeypatch.delenv(CHECK_ENV, raising=False)
    prep = prepare(CASES["met_congested"]())
    prep.new_policy = policy
    return run_replication(prep, 0)


def test_a_lying_policy_is_caught(monkeypatch):
    unchecked = _run_with(LyingNearest, monkeypatch, check=False)  # trusted: the rule runs
    assert len(unchecked.missions) > 50
    with pytest.raises(FastPathMismatch, match="LyingNearest.*nearest_ready_only"):
        _run_with(LyingNearest, monkeypatch, check=True)


def test_an_honest_policy_passes_the_check_with_the_same_results(monkeypatch):
    a = _run_with(HonestNearest, monkeypatch, check=False)
    b = _run_with(HonestNearest, monkeypatch, check=True)
    assert len(a.missions) > 50
    pd.testing.assert_frame_equal(a.incidents, b.incidents, check_exact=True)
    pd.testing.assert_frame_equal(a.missions, b.missions, check_exact=True)


def test_the_check_covers_every_closest_idle_decision(monkeypatch):
    """Under the check the policy is asked at every decision (and not the flat path)."""
    calls = _count_fast_path(monkeypatch)
    asked = {"n": 0}

    class Counting(HonestNearest):
        nearest_ready_only = True

        def decide(self, incident, fleet, now):
            asked["n"] += 1
            return super().decide(incident, fleet, now)

    res = _run_with(Counting, monkeypatch, check=True)
    assert calls["decide_first"] == 0
    assert asked["n"] >= len(res.missions) > 50
