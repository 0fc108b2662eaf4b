"""Mutual aid between boroughs' patrol units (ground.py): hand-built traces in Richmond upon
Thames, where the model's borough-confined officers wait longest.

Every incident has call handling 0, turnout 0, no travel variability and a fixed time on scene,
so dispatch, arrival and clear times follow from the units' patrol positions, which the test
rebuilds from the same named stream the model uses.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from dronesim.engine.ground import GroundForce, basic_command_units
from dronesim.engine.kernel import Kernel
from dronesim.engine.records import Records
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.inputs.streams import Streams

ON_SCENE = 5000.0
SPEED = 10.0
SEED = 11


def _borough(london, name: str) -> int:
    return int(np.flatnonzero(london.borough_names == name)[0])


def _point_in(london, name: str, k: int = 0) -> tuple[float, float]:
    """A point well inside the borough: the representative point of one of its small areas."""
    b = _borough(london, name)
    geoms = london.lsoa.geometry.values[london.lsoa_borough == b]
    p = shapely.point_on_surface(geoms[k * 7 % len(geoms)])
    return float(p.x), float(p.y)


def _scenario(tmp_path: Path, rows: list[tuple[float, float, float]], **ground) -> dict:
    body = "time,x,y,service\n" + "".join(f"{t},{x},{y},police\n" for t, x, y in rows)
    (tmp_path / "t.csv").write_text(body, encoding="utf-8")
    g = {"call_handling_mean_s": 0.0, "call_handling_cv": 0.0, "turnout_s": 0.0,
         "travel_cv": 0.0, "on_scene_mean_s": ON_SCENE, "on_scene_cv": 0.0, "circuity": 1.0,
         "speed_m_s": SPEED, "min_units_per_borough": 2, "staffing_utilisation": 0.5,
         "travel_model": "straight"}
    g.update(ground)
    return {
        "simulation": {"warmup_hours": 0.0, "seed": SEED},
        "demand": {"trace": str(tmp_path / "t.csv")},
        # Tiny expected demand: the staffing rule gives every borough its minimum of 2 units.
        "services": {"police": {"incidents_per_week": 1.0, "uses_drones": False,
                                "spatial_weight": "crime", "ground": g}},
        "dispatch": {"policy": "ground_only"},
    }


def _units(prep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patrol start points and borough of every unit, from the model's own stream."""
    scn = prep.scenario
    rec = Records(0, tuple(scn.services), prep.london.borough_codes)
    f = GroundForce(Kernel(), "police", scn.services["police"], prep.london, rec,
                    Streams(scn.simulation.seed, 0), 0, lambda i: None)
    return np.array(f.ux), np.array(f.uy), f.unit_borough


def _run(tmp_path, rows, **ground):
    prep = prepare(scenario_from_dict(_scenario(tmp_path, rows, **ground)))
    return prep, run_replication(prep, 0).incidents


def test_three_calls_in_richmond_third_gets_nearest_neighbour_after_the_delay(tmp_path, london):
    x, y = _point_in(london, "Richmond upon Thames")
    rows = [(0.0, x, y), (1.0, x, y), (2.0, x, y)]
    prep, df = _run(tmp_path, rows, mutual_aid="neighbours", mutual_aid_delay_s=300.0,
                    mutual_aid_max_distance_m=20_000.0)
    ux, uy, ub = _units(prep)
    rich = _borough(london, "Richmond upon Thames")
    assert (ub == rich).sum() == 2
    # The first two take Richmond's two units at once; the third waits its 300 s ...
    assert df["t_ground_dispatch"].tolist()[:2] == [0.0, 1.0]
    assert df["mutual_aid_from"].tolist()[:2] == ["", ""]
    assert df["t_ground_dispatch"].iloc[2] == pytest.approx(2.0 + 300.0)
    # ... then the nearest unit of a neighbouring borough comes (Hammersmith and Fulham across
    # the river included).
    allowed = [b for b in prep.london.borough_neighbours()[rich]]
    assert {prep.london.borough_names[b] for b in allowed} == {
        "Hammersmith and Fulham", "Hounslow", "Kingston upon Thames", "Wandsworth"}
    cand = np.isin(ub, allowed)
    d = np.hypot(ux[cand] - x, uy[cand] - y)
    k = int(np.argmin(d))
    assert df["ground_distance_m"].iloc[2] == pytest.approx(d[k])
    assert df["mutual_aid_from"].iloc[2] == prep.london.borough_codes[ub[cand][k]]
    assert df["t_ground_arrival"].iloc[2] == pytest.approx(302.0 + d[k] / SPEED)
    assert df["ground_unit"].iloc[2] == int(np.flatnonzero(cand)[k])


def test_without_mutual_aid_the_third_call_waits_for_richmond(tmp_path, london):
    x, y = _point_in(london, "Richmond upon Thames")
    rows = [(0.0, x, y), (1.0, x, y), (2.0, x, y)]
    prep, df = _run(tmp_path, rows)
    ux, uy, ub = _units(prep)
    rich = np.flatnonzero(ub == _borough(london, "Richmond upon Thames"))
    # Each Richmond unit clears ON_SCENE after arriving; the third call takes the first free.
    clears = sorted(df["t_ground_clear"].iloc[:2])
    assert df["t_ground_dispatch"].iloc[2] == pytest.approx(clears[0])
    assert df["ground_unit"].iloc[2] in rich.tolist()
    assert (df["mutual_aid_from"] == "").all()


def test_bcu_aid_comes_only_from_the_same_command_unit(tmp_path, london):
    x, y = _point_in(london, "Richmond upon Thames")
    rows = [(0.0, x, y), (1.0, x, y), (2.0, x, y)]
    prep, df = _run(tmp_path, rows, mutual_aid="bcu", mutual_aid_delay_s=0.0,
                    mutual_aid_max_distance_m=30_000.0)
    ux, uy, ub = _units(prep)
    units = basic_command_units(prep.london)
    rich = _borough(london, "Richmond upon Thames")
    assert units[rich] == "South West"
    allowed = [b for b in range(len(units)) if units[b] == "South West" and b != rich]
    assert {prep.london.borough_names[b] for b in allowed} == {
        "Kingston upon Thames", "Merton", "Wandsworth"}
    cand = np.isin(ub, allowed)
    d = np.hypot(ux[cand] - x, uy[cand] - y)
    k = int(np.argmin(d))
    # Delay 0: pooled at once, own borough first.
    assert df["t_ground_dispatch"].iloc[2] == pytest.approx(2.0)
    assert df["mutual_aid_from"].iloc[2] == prep.london.borough_codes[ub[cand][k]]
    assert df["ground_distance_m"].iloc[2] == pytest.approx(d[k])


def test_aid_beyond_the_distance_limit_is_not_sent(tmp_path, london):
    x, y = _point_in(london, "Richmond upon Thames")
    rows = [(0.0, x, y), (1.0, x, y), (2.0, x, y)]
    prep, df = _run(tmp_path, rows, mutual_aid="london", mutual_aid_delay_s=60.0,
                    mutual_aid_max_distance_m=1.0)
    clears = sorted(df["t_ground_clear"].iloc[:2])
    assert df["t_ground_dispatch"].iloc[2] == pytest.approx(clears[0])
    assert (df["mutual_aid_from"] == "").all()


def test_waiting_incident_goes_to_the_first_unit_to_clear_at_home_or_next_door(tmp_path, london):
    """Richmond and all of its neighbours busy when the delay runs out: the incident keeps its
    place at home and is offered to the neighbours' units too; the first unit to clear with
    nothing to do at home takes it."""
    x, y = _point_in(london, "Richmond upon Thames")
    rows = [(0.0, x, y), (0.5, x, y)]
    for name in ("Hammersmith and Fulham", "Hounslow", "Kingston upon Thames", "Wandsworth"):
        for k in range(2):
            rows.append((0.1 + 0.01 * len(rows), *_point_in(london, name, k)))
    rows.append((3.0, x, y))  # the one left waiting
    rows.sort()
    prep, df = _run(tmp_path, rows, mutual_aid="neighbours", mutual_aid_delay_s=100.0,
                    mutual_aid_max_distance_m=50_000.0)
    last = df.iloc[-1]
    before = df.iloc[:-1]
    assert (before["mutual_aid_from"] == "").all()  # each borough served its own calls
    first_free = before["t_ground_clear"].min()
    assert last["t_ground_dispatch"] == pytest.approx(first_free)
    unit = before.loc[before["t_ground_clear"].idxmin(), "ground_unit"]
    assert last["ground_unit"] == unit
    ub = _units(prep)[2]
    came_from = prep.london.borough_codes[ub[int(unit)]]
    rich_code = prep.london.borough_codes[_borough(london, "Richmond upon Thames")]
    assert last["mutual_aid_from"] == ("" if came_from == rich_code else came_from)
    # With this seed a Hammersmith and Fulham unit clears first: the path under test is taken.
    assert last["mutual_aid_from"] != ""


def test_mutual_aid_needs_patrol_units():
    from dronesim.errors import InputError

    d = {"services": {"fire": {"uses_drones": False, "ground": {
        "base": "stations", "mutual_aid": "neighbours"}}}, "dispatch": {"policy": "ground_only"}}
    with pytest.raises(InputError, match="services.fire.ground.mutual_aid"):
        scenario_from_dict(d)


def test_neighbours_cross_the_thames_in_central_london(london):
    nb = london.borough_neighbours()
    names = list(london.borough_names)

    def pair(a: str, b: str) -> bool:
        return names.index(b) in nb[names.index(a)]

    assert pair("Westminster", "Lambeth") and pair("Lambeth", "Westminster")
    assert pair("City of London", "Southwark")
    assert pair("Richmond upon Thames", "Kingston upon Thames")
    assert not pair("Westminster", "Croydon")
    assert not pair("Greenwich", "Tower Hamlets")  # the river wide, crossings few
    assert all(b not in nb[b] for b in range(len(nb)))
    assert all(a in nb[b] for a in range(len(nb)) for b in nb[a])  # symmetric


def test_bcu_table_covers_every_borough(london):
    units = basic_command_units(london)
    assert len(units) == 33
    assert len({u for u in units if u}) == 12
    assert units[list(london.borough_names).index("City of London")] == ""
    sizes = [units.count(u) for u in set(units) if u]
    assert min(sizes) == 2 and max(sizes) == 4
    assert math.isclose(sum(sizes), 32)
