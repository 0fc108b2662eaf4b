"""The engine's closest-idle fast path gives exactly what the policy seam gives.

A policy that declares ``nearest_ready_only`` (``NearestIdle``) is decided inside the engine
(flat candidate lists, :meth:`dronesim.fleet.Fleet.decide_first`, no snapshot). The same rule
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

from dronesim.dispatch import NearestIdle
from dronesim.dispatch.base import picks_nearest_ready
from dronesim.model import FLAT_PREFIX, prepare, run_replication
from dronesim.scenario import Scenario, load_scenario

from conftest import SCENARIOS


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


SHIFTS = (0.5,) * 7 + (1.0,) * 12 + (0.75,) * 5

CASES = {
    "met_congested": lambda: _scenario("met_baseline.toml", 0.5),
    "met_one_pilot": lambda: _scenario("met_baseline.toml", 0.5, control_room__pilots=1,
                                       dispatch__max_queue_wait_s=120.0),
    "met_shifts_exponential": lambda: _scenario("met_baseline.toml", 0.5,
                                                control_room__shift_pattern=SHIFTS,
                                                drones__loiter="exponential"),
    "separate_sectors": lambda: _scenario("bluelight_separate.toml", 0.3),
    "shared_preemption": lambda: _scenario("bluelight_shared_preemption.toml", 0.3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_equals_the_policy_seam(case):
    scn = CASES[case]()
    if case in ("separate_sectors", "shared_preemption"):
        assert len(scn.docks) > FLAT_PREFIX  # whole-row queries are reachable
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
