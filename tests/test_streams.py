"""Named random streams: numbers depend only on (seed, replication, name), so adding a service
or a stream leaves every other stream, and every other service's incidents, unchanged."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_scenario_dict

from dronesim.inputs.demand import WEEK_S, generate_incidents
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.inputs.streams import Streams, stream

INCIDENT_COLUMNS = ("t_call", "x", "y", "borough", "priority", "suited", "handling_s",
                    "travel_factor", "ground_on_scene_s", "drone_loiter_s")


def test_same_key_same_numbers():
    a = stream(20251023, 3, "police.arrivals").random(1000)
    b = stream(20251023, 3, "police.arrivals").random(1000)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("other", [
    (20251023, 3, "police.locations"),  # another name
    (20251023, 4, "police.arrivals"),  # another replication
    (20251024, 3, "police.arrivals"),  # another seed
    (20251023, 3, "fire.arrivals"),  # the same input of another service
])
def test_different_key_different_numbers(other):
    a = stream(20251023, 3, "police.arrivals").random(1000)
    b = stream(*other).random(1000)
    assert not np.allclose(a, b)
    # Not merely shifted copies of each other either.
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.15


def test_streams_object_caches_and_matches_stream():
    s = Streams(7, 2)
    g = s["x"]
    assert s["x"] is g
    np.testing.assert_array_equal(g.random(10), stream(7, 2, "x").random(10))
    assert s.names() == ["x"]


def test_draw_order_between_streams_does_not_matter():
    s1, s2 = Streams(11, 0), Streams(11, 0)
    a1 = s1["a"].random(5)
    b1 = s1["b"].random(5)
    b2 = s2["b"].random(5)  # b first this time, and another stream in between
    s2["c"].random(100)
    a2 = s2["a"].random(5)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)


def test_stable_across_processes():
    # crc32 of the name, not hash(): a fresh interpreter (new hash seed) gives the same numbers.
    code = ("from dronesim.inputs.streams import stream; "
            "print(repr(stream(5, 1, 'police.arrivals').random()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert float(out.stdout) == stream(5, 1, "police.arrivals").random()


def _police_columns(inc) -> dict[str, np.ndarray]:
    k = inc.service_names.index("police")
    sel = inc.service == k
    return {c: getattr(inc, c)[sel] for c in INCIDENT_COLUMNS}


def test_adding_a_service_leaves_police_incidents_unchanged(london):
    horizon = 0.3 * WEEK_S
    police_only = scenario_from_dict(tiny_scenario_dict())
    with_fire = scenario_from_dict(tiny_scenario_dict(services={
        "fire": {"incidents_per_week": 800.0, "spatial_weight": "population",
                 "time_profile": "lfb_all"}}))
    assert list(with_fire.services) == ["police", "fire"]
    a = generate_incidents(police_only, london, Streams(7, 0), horizon)
    b = generate_incidents(with_fire, london, Streams(7, 0), horizon)
    assert len(b) > len(a) > 100
    pa, pb = _police_columns(a), _police_columns(b)
    for c in INCIDENT_COLUMNS:
        np.testing.assert_array_equal(pa[c], pb[c], err_msg=c)
    # And the merged table stays sorted by call time.
    assert (np.diff(b.t_call) >= 0).all()


def test_service_order_does_not_matter(london):
    horizon = 0.2 * WEEK_S
    fire = {"incidents_per_week": 800.0, "spatial_weight": "population"}
    d1 = tiny_scenario_dict(services={"fire": fire})
    d2 = tiny_scenario_dict()
    d2["services"] = {"fire": fire, "police": d1["services"]["police"]}
    a = generate_incidents(scenario_from_dict(d1), london, Streams(3, 1), horizon)
    b = generate_incidents(scenario_from_dict(d2), london, Streams(3, 1), horizon)
    for c in INCIDENT_COLUMNS:
        np.testing.assert_array_equal(_police_columns(a)[c], _police_columns(b)[c])


def test_fleet_changes_do_not_change_incidents(london):
    # Common random numbers: drone and dock settings do not touch demand streams.
    horizon = 0.2 * WEEK_S
    a = generate_incidents(scenario_from_dict(tiny_scenario_dict()), london, Streams(9, 0),
                           horizon)
    d = tiny_scenario_dict(drones={"speed_m_s": 30.0, "max_range_m": 5000.0},
                           control_room={"pilots": 5})
    d["docks"] = [{"name": "Solo", "x": 530000.0, "y": 180000.0, "drones": 9}]
    b = generate_incidents(scenario_from_dict(d), london, Streams(9, 0), horizon)
    for c in INCIDENT_COLUMNS:
        np.testing.assert_array_equal(getattr(a, c), getattr(b, c))


def test_replications_differ_and_repeat(london):
    scn = scenario_from_dict(tiny_scenario_dict())
    h = 0.2 * WEEK_S
    r0 = generate_incidents(scn, london, Streams(7, 0), h)
    r0_again = generate_incidents(scn, london, Streams(7, 0), h)
    r1 = generate_incidents(scn, london, Streams(7, 1), h)
    np.testing.assert_array_equal(r0.t_call, r0_again.t_call)
    np.testing.assert_array_equal(r0.x, r0_again.x)
    assert len(r0) != len(r1) or not np.array_equal(r0.t_call, r1.t_call)


def test_incident_rate_and_shares(london):
    # Flat profile, 3000 a week for 2 weeks: Poisson count within 4 standard deviations.
    scn = scenario_from_dict(tiny_scenario_dict())
    inc = generate_incidents(scn, london, Streams(1, 0), 2 * WEEK_S)
    expected = 6000
    assert abs(len(inc) - expected) < 4 * np.sqrt(expected)
    assert ((inc.t_call >= 0) & (inc.t_call < 2 * WEEK_S)).all()
    p1 = (inc.priority == 1).mean()
    assert p1 == pytest.approx(0.5, abs=0.03)
    # Suited: all of priority 1, half of priority 2.
    assert inc.suited[inc.priority == 1].all()
    assert inc.suited[inc.priority == 2].mean() == pytest.approx(0.5, abs=0.03)
