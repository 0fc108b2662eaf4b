"""Scenario files: loading, validation (file and dotted field named in every error),
``extends``, the resolved-TOML round trip, and the checks that need the map or the registry."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest
from conftest import MET_BASELINE, SCENARIOS, extends_baseline, tiny_scenario_dict, write_toml

from dronesim.engine.replication import prepare
from dronesim.errors import InputError
from dronesim.inputs.scenario import (
    DroneSpec,
    Scenario,
    dump_scenario_toml,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
)

ALL_SCENARIOS = sorted(SCENARIOS.glob("*.toml"))


# --------------------------------------------------------------------------------------------
# The shipped scenarios
# --------------------------------------------------------------------------------------------


def test_met_baseline_loads():
    raw = tomllib.loads(MET_BASELINE.read_text())
    scn = load_scenario(MET_BASELINE)
    assert isinstance(scn, Scenario)
    assert scn.name == "met_baseline"
    assert scn.source == str(MET_BASELINE)
    assert scn.fleet_size == 9  # MODEL.md: today's nine drones ...
    assert len(scn.docks) == 3  # ... at three sites
    assert [d.name for d in scn.docks] == [d["name"] for d in raw["docks"]]
    assert list(scn.services) == ["police"]
    police, raw_police = scn.services["police"], raw["services"]["police"]
    assert police.priority_shares == tuple(raw_police["priority_shares"])
    assert police.drone_suited_share == tuple(raw_police["drone_suited_share"])
    assert police.ground.call_handling_mean_s == raw_police["ground"]["call_handling_mean_s"]
    # Values come from the file, not the schema defaults.
    for key, value in raw["drones"].items():
        assert getattr(scn.drones, key) == value
    assert scn.control_room.pilots == raw["control_room"]["pilots"]
    assert scn.dispatch.policy == raw["dispatch"]["policy"]


def test_scenario_objects_are_frozen():
    scn = load_scenario(MET_BASELINE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        scn.services["fire"] = scn.services["police"]  # type: ignore[index]


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=[p.name for p in ALL_SCENARIOS])
def test_every_scenario_file_loads(path):
    scn = load_scenario(path)
    assert scn.fleet_size >= 0
    assert scn.services


def test_defaults_fill_missing_tables():
    scn = scenario_from_dict({})
    assert scn.drones == DroneSpec()
    assert list(scn.services) == ["police"]
    assert scn.docks == ()


def test_overrides_are_merged_and_validated():
    scn = load_scenario(MET_BASELINE, {"simulation": {"weeks": 0.5}, "drones": {"climb_s": 5}})
    assert scn.simulation.weeks == 0.5
    assert scn.drones.climb_s == 5.0 and isinstance(scn.drones.climb_s, float)
    assert scn.simulation.seed == 20251023  # untouched keys kept
    with pytest.raises(InputError) as ei:
        load_scenario(MET_BASELINE, {"simulation": {"weeks": -1}})
    assert ei.value.field == "simulation.weeks"


# --------------------------------------------------------------------------------------------
# Validation errors name the file and the dotted field
# --------------------------------------------------------------------------------------------


def _error_for(tmp_path: Path, body: str) -> InputError:
    path = extends_baseline(tmp_path / "child.toml", body)
    with pytest.raises(InputError) as ei:
        load_scenario(path)
    err = ei.value
    assert err.file == str(path)
    assert str(err).startswith(f"{path}: ")
    assert "\n" not in str(err)
    return err


@pytest.mark.parametrize("body,field", [
    ("colour = 'blue'\n", "colour"),
    ("[drones]\nwingspan_m = 1.0\n", "drones.wingspan_m"),
    ("[simulation]\nwarmup = 3\n", "simulation.warmup"),
    ("[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\nheight_m = 30\n", "docks[0].height_m"),
    ("[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\n"
     "[[docks]]\nname = 'B'\nx = 531000.0\ny = 181000.0\ncolor = 'red'\n", "docks[1].color"),
    ("[services.police]\nrate = 3\n", "services.police.rate"),
    ("[services.police.ground]\nsirens = true\n", "services.police.ground.sirens"),
    ("[services.coastguard]\nincidents_per_week = 3.0\n", "services.coastguard"),
    ("[control_room]\nrooms = 2\n", "control_room.rooms"),
    ("[dispatch]\nmax_wait_s = 3\n", "dispatch.max_wait_s"),
    ("[coverage]\nwithin_min = 2\n", "coverage.within_min"),
])
def test_unknown_keys_rejected(tmp_path, body, field):
    err = _error_for(tmp_path, body)
    assert err.field == field
    assert f": {field}: " in str(err)
    assert "unknown" in err.problem


@pytest.mark.parametrize("body,field", [
    ("[drones]\nspeed_m_s = 'fast'\n", "drones.speed_m_s"),
    ("[drones]\nspeed_m_s = true\n", "drones.speed_m_s"),
    ("[simulation]\nreplications = 2.5\n", "simulation.replications"),
    ("[simulation]\nseed = true\n", "simulation.seed"),
    ("[services.police]\nuses_drones = 'yes'\n", "services.police.uses_drones"),
    ("[services.police]\npriority_shares = 1.0\n", "services.police.priority_shares"),
    ("[services.police]\ndrone_suited_share = [0.1, 'x']\n",
     "services.police.drone_suited_share[1]"),
    ("[services.police]\nspatial_weight = 'traffic'\n", "services.police.spatial_weight"),
    ("[drones]\nloiter = 'forever'\n", "drones.loiter"),
    ("drones = 5\n", "drones"),
    ("docks = 3\n", "docks"),
    ("services = 3\n", "services"),
    ("[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\ndrones = 'three'\n", "docks[0].drones"),
    ("[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\ndrones = 2.0\n", "docks[0].drones"),
    ("name = 7\n", "name"),
    ("[drones]\nspeed_m_s = nan\n", "drones.speed_m_s"),
])
def test_wrong_types_rejected(tmp_path, body, field):
    err = _error_for(tmp_path, body)
    assert err.field == field


@pytest.mark.parametrize("body,field", [
    ("[drones]\nspeed_m_s = -20.0\n", "drones.speed_m_s"),
    ("[drones]\nspeed_m_s = 0\n", "drones.speed_m_s"),
    ("[drones]\nspeed_m_s = 1000.0\n", "drones.speed_m_s"),
    ("[drones]\nclimb_s = -1\n", "drones.climb_s"),
    # endurance must exceed reserve + min_on_scene + 2 x (climb + descent)
    ("[drones]\nendurance_s = 100.0\nreserve_s = 0.0\nmin_on_scene_s = 60.0\n"
     "climb_s = 10.0\ndescent_s = 10.0\n", "drones.endurance_s"),
    ("[simulation]\nweeks = 0\n", "simulation.weeks"),
    ("[simulation]\nreplications = 0\n", "simulation.replications"),
    ("[services.police]\nincidents_per_week = -5.0\n", "services.police.incidents_per_week"),
    ("[services.police]\ndrone_suited_share = [1.5, 0.0]\n",
     "services.police.drone_suited_share"),
    ("[services.police]\ndrone_suited_share = [0.5, -0.1]\n",
     "services.police.drone_suited_share"),
    ("[services.police]\npriority_shares = [0.5, 0.4]\n", "services.police.priority_shares"),
    ("[services.police]\npriority_shares = [1.2, -0.2]\n", "services.police.priority_shares"),
    ("[services.police]\npriority_shares = [0.5, 0.5]\ndrone_suited_share = [1.0]\n",
     "services.police.drone_suited_share"),
    ("[services.police]\npriority_shares = [0.2, 0.3, 0.5]\n",
     "services.police.drone_suited_share"),  # the baseline gives two suited shares
    ("[services.police.ground]\nstaffing_utilisation = 1.0\n",
     "services.police.ground.staffing_utilisation"),
    ("[services.police.ground]\ncircuity = 0.9\n", "services.police.ground.circuity"),
    ("[control_room]\npilots = 0\n", "control_room.pilots"),
    ("[dispatch]\nmax_queue_wait_s = -1.0\n", "dispatch.max_queue_wait_s"),
    ("[coverage]\nborough_population_share = 1.5\n", "coverage.borough_population_share"),
    ("[[docks]]\nname = 'A'\nlon = 200.0\nlat = 51.5\n", "docks[0].lon"),
    ("[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\ndrones = -1\n", "docks[0].drones"),
])
def test_out_of_range_rejected(tmp_path, body, field):
    err = _error_for(tmp_path, body)
    assert err.field == field


def test_negative_speed_message(tmp_path):
    err = _error_for(tmp_path, "[drones]\nspeed_m_s = -20.0\n")
    assert str(err) == f"{tmp_path / 'child.toml'}: drones.speed_m_s: must be > 0; got -20"


@pytest.mark.parametrize("dock,problem", [
    ("lon = -0.11\nlat = 51.53\nx = 531187.0\ny = 183392.0\n", "either"),
    ("lon = -0.11\n", "lon and lat"),
    ("y = 183392.0\n", "x and y"),
    ("", "either"),
])
def test_dock_position_must_be_one_pair(tmp_path, dock, problem):
    err = _error_for(tmp_path, f"[[docks]]\nname = 'A'\n{dock}")
    assert err.field == "docks[0]"
    assert problem in err.problem


def test_duplicate_dock_names_rejected(tmp_path):
    err = _error_for(tmp_path, "[[docks]]\nname = 'A'\nx = 530000.0\ny = 180000.0\n"
                               "[[docks]]\nname = 'A'\nx = 531000.0\ny = 181000.0\n")
    assert err.field == "docks"
    assert "A" in err.problem


def test_malformed_toml(tmp_path):
    path = write_toml(tmp_path / "bad.toml", "[drones\nspeed_m_s = 20\n")
    with pytest.raises(InputError) as ei:
        load_scenario(path)
    assert ei.value.file == str(path)
    assert "TOML" in ei.value.problem


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as ei:
        load_scenario(tmp_path / "nope.toml")
    assert ei.value.file == str(tmp_path / "nope.toml")
    assert "not found" in ei.value.problem


def test_scenario_from_dict_names_its_source():
    with pytest.raises(InputError) as ei:
        scenario_from_dict(tiny_scenario_dict(drones={"speed_m_s": -1.0}), source="mine")
    assert ei.value.file == "mine" and ei.value.field == "drones.speed_m_s"


# --------------------------------------------------------------------------------------------
# extends
# --------------------------------------------------------------------------------------------


def test_extends_one_level(tmp_path):
    path = extends_baseline(tmp_path / "child.toml",
                            "name = 'child'\n[drones]\nspeed_m_s = 25.0\n"
                            "[services.police.ground]\nturnout_s = 45.0\n")
    scn = load_scenario(path)
    base = load_scenario(MET_BASELINE)
    assert scn.name == "child"
    assert scn.drones.speed_m_s == 25.0
    assert scn.drones.decision_s == base.drones.decision_s  # tables merged key by key
    assert scn.services["police"].ground.turnout_s == 45.0
    assert scn.services["police"].ground.call_handling_mean_s == \
        base.services["police"].ground.call_handling_mean_s
    assert scn.docks == base.docks
    assert scn.source == str(path)


def test_extends_relative_path_and_arrays_replaced(tmp_path):
    write_toml(tmp_path / "parent.toml", tiny_scenario_toml())
    path = write_toml(tmp_path / "child.toml",
                      'extends = "parent.toml"\n'
                      "[[docks]]\nname = 'Only'\nx = 530000.0\ny = 180000.0\ndrones = 4\n")
    scn = load_scenario(path)
    assert [d.name for d in scn.docks] == ["Only"]  # arrays are replaced whole
    assert scn.fleet_size == 4
    assert scn.name == "tiny"


def test_extends_two_levels_refused(tmp_path):
    write_toml(tmp_path / "a.toml", tiny_scenario_toml())
    write_toml(tmp_path / "b.toml", 'extends = "a.toml"\nname = "b"\n')
    path = write_toml(tmp_path / "c.toml", 'extends = "b.toml"\nname = "c"\n')
    with pytest.raises(InputError) as ei:
        load_scenario(path)
    assert ei.value.field == "extends"
    assert ei.value.file == str((tmp_path / "b.toml").resolve())
    assert "one level" in ei.value.problem


def test_extends_missing_parent(tmp_path):
    """The child is blamed, in its field extends, with the path that is not there."""
    path = write_toml(tmp_path / "c.toml", 'extends = "nothere.toml"\n')
    with pytest.raises(InputError) as ei:
        load_scenario(path)
    assert ei.value.file == str(path) and ei.value.field == "extends"
    assert "not found" in ei.value.problem
    assert str((tmp_path / "nothere.toml").resolve()) in ei.value.problem
    assert str(ei.value).startswith(f"{path}: extends: ")


def test_extends_must_be_a_string(tmp_path):
    path = write_toml(tmp_path / "c.toml", "extends = 3\n")
    with pytest.raises(InputError) as ei:
        load_scenario(path)
    assert ei.value.field == "extends"


# --------------------------------------------------------------------------------------------
# Round trip through the resolved TOML
# --------------------------------------------------------------------------------------------


def tiny_scenario_toml() -> str:
    import tomli_w

    return tomli_w.dumps(tiny_scenario_dict())


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=[p.name for p in ALL_SCENARIOS])
def test_round_trip_shipped(tmp_path, path):
    scn = load_scenario(path)
    text = dump_scenario_toml(scn)
    again = load_scenario(write_toml(tmp_path / "resolved.toml", text))
    assert scenario_to_dict(again) == scenario_to_dict(scn)


def test_round_trip_special_values(tmp_path):
    d = tiny_scenario_dict(
        dispatch={"max_queue_wait_s": math.inf,
                  "params": {"include_returning": False, "max_response_s": 600.0}},
        drones={"loiter": "exponential", "loiter_mean_s": 450.0},
        services={"police": {"uses_drones": False},
                  "fire": {"incidents_per_week": 500.0, "spatial_weight": "population"}},
    )
    d["docks"].append({"name": "LonLat", "lon": -0.1663, "lat": 51.5077, "drones": 0})
    scn = scenario_from_dict(d)
    text = dump_scenario_toml(scn)
    again = load_scenario(write_toml(tmp_path / "resolved.toml", text))
    assert scenario_to_dict(again) == scenario_to_dict(scn)
    assert again.dispatch.max_queue_wait_s == math.inf
    assert dict(again.dispatch.params) == {"include_returning": False, "max_response_s": 600.0}
    assert list(again.services) == ["police", "fire"]
    assert math.isnan(again.docks[2].x) and again.docks[2].lon == -0.1663
    assert (again.docks[2].name, again.docks[2].lat, again.docks[2].drones) == \
        ("LonLat", 51.5077, 0)


def test_scenario_to_dict_is_complete():
    d = scenario_to_dict(load_scenario(MET_BASELINE))
    assert set(d) == {f.name for f in dataclasses.fields(Scenario)
                      if not f.metadata.get("internal")}
    assert {"name", "simulation", "drones", "docks", "services", "control_room", "dispatch",
            "coverage"} <= set(d)
    assert set(d["drones"]) == {f.name for f in dataclasses.fields(DroneSpec)}
    assert "source" not in d


# --------------------------------------------------------------------------------------------
# Checks against the map and the policy registry (model.prepare)
# --------------------------------------------------------------------------------------------


def test_dock_outside_london_refused_by_prepare():
    d = tiny_scenario_dict()
    d["docks"].append({"name": "Paris", "lon": 2.35, "lat": 48.85, "drones": 1})
    scn = scenario_from_dict(d, source="paris.toml")
    with pytest.raises(InputError) as ei:
        prepare(scn)
    err = ei.value
    assert err.file == "paris.toml"
    assert err.field == "docks[2]"
    assert "Paris" in err.problem and "outside London" in err.problem


def test_dock_on_the_thames_accepted_with_nearest_borough(london):
    # The borough polygons stop at mean high water; a river site counts as London.
    d = tiny_scenario_dict(docks=[{"name": "River", "lon": -0.1218, "lat": 51.5008}])
    prep = prepare(scenario_from_dict(d))
    assert london.borough_names[prep.docks.borough[0]] in {"Westminster", "Lambeth"}


def test_dock_just_beyond_the_boundary_refused(london):
    # 5 km north of the northern tip of London (Enfield): outside every borough.
    ymax = london.outline.bounds[3]
    d = tiny_scenario_dict(docks=[{"name": "Herts", "x": 533000.0, "y": ymax + 5000.0}])
    with pytest.raises(InputError) as ei:
        prepare(scenario_from_dict(d))
    assert ei.value.field == "docks[0]" and "Herts" in ei.value.problem


def test_unknown_policy_refused():
    scn = scenario_from_dict(tiny_scenario_dict(dispatch={"policy": "fastest_horse"}),
                             source="p.toml")
    with pytest.raises(InputError) as ei:
        prepare(scn)
    assert ei.value.file == "p.toml"
    assert ei.value.field == "dispatch.policy"
    assert "fastest_horse" in ei.value.problem and "earliest_arrival" in ei.value.problem


def test_unknown_policy_parameter_refused():
    scn = scenario_from_dict(tiny_scenario_dict(dispatch={"params": {"greed": 3}}),
                             source="p.toml")
    with pytest.raises(InputError) as ei:
        prepare(scn)
    assert ei.value.field == "dispatch.params.greed"
    assert "include_returning" in ei.value.problem


def test_bad_policy_parameter_value_refused():
    scn = scenario_from_dict(tiny_scenario_dict(dispatch={"params": {"max_response_s": -5.0}}))
    with pytest.raises(InputError) as ei:
        prepare(scn)
    assert ei.value.field == "dispatch.params"


def test_prepare_places_docks(tiny_scenario):
    prep = prepare(tiny_scenario())
    assert prep.docks.names == ("Islington", "Croydon")
    assert list(prep.london.borough_codes[prep.docks.borough]) == ["E09000019", "E09000008"]
    assert list(prep.docks.drones) == [2, 1]
