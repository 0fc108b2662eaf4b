"""The issue-9 scenario sections ([weather], [night], [faults], [[airframes]], [rosters],
[costs], [value], ground mutual_aid_*, simulation.start_date): defaults leave existing scenarios
unchanged, values load and round-trip, and each bad value is refused naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MET_BASELINE, extends_baseline, tiny_scenario_dict, write_toml

from dronesim.errors import InputError
from dronesim.inputs.scenario import (
    AirframeSpec,
    CostSpec,
    FaultSpec,
    NightSpec,
    RosterSpec,
    Scenario,
    ValueSpec,
    WeatherSpec,
    dump_scenario_toml,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
)


def test_defaults_are_off_or_without_effect():
    # Issue 17: the Met baseline is operational (weather, night, faults on); its weather-free
    # variant turns them off, and the schema's defaults are off.
    scn = load_scenario(MET_BASELINE.with_name("met_baseline_weather_free.toml"))
    assert Scenario().weather == WeatherSpec() and not WeatherSpec().enabled
    assert Scenario().night == NightSpec() and Scenario().faults == FaultSpec()
    assert scn.weather == WeatherSpec() and not scn.weather.enabled
    assert scn.night == NightSpec() and scn.night.rule == "allowed"
    assert scn.faults.failures_per_flight_hour == 0.0
    assert scn.faults.maintenance_every_flight_hours == 0.0
    assert scn.faults.dock_failures_per_year == 0.0
    assert scn.airframes == () and all(d.airframe == "" for d in scn.docks)
    assert scn.rosters == RosterSpec() and not scn.rosters.drone_pattern
    assert not scn.rosters.dock_hours
    assert scn.costs == CostSpec(price_year=2025)
    assert scn.value == ValueSpec() and not scn.value.drone_resolved_share
    assert scn.services["police"].ground.mutual_aid == "off"
    assert scn.simulation.start_date == "2025-10-27"


FULL = {
    "simulation": {"start_date": "2026-01-05"},
    "weather": {"enabled": True, "max_wind_m_s": 12.0, "max_precip_mm_h": 0.5},
    "night": {"rule": "slower", "speed_factor": 0.8, "extra_launch_s": 30.0},
    "faults": {"failures_per_flight_hour": 0.001, "maintenance_every_flight_hours": 100.0},
    "airframes": [{"name": "dock_quad", "speed_m_s": 18.0, "endurance_s": 2400.0,
                   "cost_gbp": 12000.0, "source": "assumption"},
                  {"name": "long_range", "speed_m_s": 27.0, "max_range_m": 8000.0}],
    "rosters": {"drone_pattern": [1.0] * 8 + [0.5] * 16, "dock_hours": {"Croydon": [7, 23]}},
    "costs": {"pilots_per_shift": 3},
    "value": {"drone_resolved_share": {"police": [0.2, 0.3]}},
    "services": {"police": {"ground": {"mutual_aid": "neighbours",
                                       "mutual_aid_delay_s": 120.0}}},
}


def _full() -> dict:
    d = tiny_scenario_dict(**FULL)
    d["docks"][1]["airframe"] = "long_range"
    return d


def test_every_section_loads_and_round_trips(tmp_path):
    scn = scenario_from_dict(_full())
    assert scn.weather.enabled and scn.weather.max_wind_m_s == 12.0
    assert scn.night.rule == "slower" and scn.night.speed_factor == 0.8
    assert [a.name for a in scn.airframes] == ["dock_quad", "long_range"]
    assert scn.docks[1].airframe == "long_range"
    assert scn.rosters.dock_hours["Croydon"] == (7.0, 23.0)
    assert scn.value.drone_resolved_share["police"] == (0.2, 0.3)
    assert scn.services["police"].ground.mutual_aid_delay_s == 120.0
    again = load_scenario(write_toml(tmp_path / "resolved.toml", dump_scenario_toml(scn)))
    assert scenario_to_dict(again) == scenario_to_dict(scn)
    # an unset airframe field stays unset (NaN: take the [drones] value)
    assert isinstance(again.airframes[1], AirframeSpec)
    assert again.airframes[1].endurance_s != again.airframes[1].endurance_s


def _refused(d: dict) -> InputError:
    with pytest.raises(InputError) as ei:
        scenario_from_dict(d, source="<test>")
    return ei.value


@pytest.mark.parametrize("over,field", [
    ({"simulation": {"start_date": "2026-01-06"}}, "simulation.start_date"),  # a Tuesday
    ({"simulation": {"start_date": "5 Jan 2026"}}, "simulation.start_date"),
    ({"weather": {"rain_days": [10.0] * 11}}, "weather.rain_days"),
    ({"weather": {"clear_share": [0.9] * 11 + [1.5]}}, "weather.clear_share"),
    ({"weather": {"wind_mean_m_s": [4.0] * 11 + [0.0]}}, "weather.wind_mean_m_s"),
    ({"weather": {"rain_mm": [5.0] * 12}}, "weather.rain_mm[0]"),  # < 1 mm per rain day
    ({"weather": {"rain_days": [31.0] + [8.0] * 11}}, "weather.rain_days[0]"),
    ({"weather": {"rain_days": [20.0] * 12, "rain_mm": [60.0] * 12,
                  "wet_day_persistence": 0.0}}, "weather.wet_day_persistence"),
    ({"weather": {"max_wind_m_s": 0.0}}, "weather.max_wind_m_s"),
    ({"weather": {"humidity": 3}}, "weather.humidity"),
    ({"night": {"rule": "sometimes"}}, "night.rule"),
    ({"night": {"speed_factor": 1.5}}, "night.speed_factor"),
    ({"night": {"timezone": "Mars/Olympus"}}, "night.timezone"),
    ({"faults": {"failures_per_flight_hour": -0.1}}, "faults.failures_per_flight_hour"),
    ({"rosters": {"drone_pattern": [1.0] * 23}}, "rosters.drone_pattern"),
    ({"rosters": {"dock_hours": {"Croydon": [7]}}}, "rosters.dock_hours.Croydon"),
    ({"rosters": {"dock_hours": {"Nowhere": [7, 19]}}}, "rosters.dock_hours.Nowhere"),
    ({"costs": {"dock_life_years": 0}}, "costs.dock_life_years"),
    ({"value": {"drone_resolved_share": {"police": [0.2]}}}, "value.drone_resolved_share.police"),
    ({"value": {"drone_resolved_share": {"police": [0.2, 1.2]}}},
     "value.drone_resolved_share.police"),
    ({"value": {"drone_resolved_share": {"fire": [0.2]}}}, "value.drone_resolved_share.fire"),
    ({"services": {"police": {"ground": {"mutual_aid": "always"}}}},
     "services.police.ground.mutual_aid"),
    ({"airframes": [{"name": "a"}, {"name": "a"}]}, "airframes"),
    ({"airframes": [{"speed_m_s": 20.0}]}, "airframes[0].name"),
    ({"airframes": [{"name": "a", "speed_m_s": -1.0}]}, "airframes[0].speed_m_s"),
])
def test_bad_values_are_refused_naming_the_field(over, field):
    err = _refused(tiny_scenario_dict(**over))
    assert err.field == field, str(err)


def test_dock_must_name_a_known_airframe():
    d = tiny_scenario_dict()
    d["docks"][0]["airframe"] = "blimp"
    assert _refused(d).field == "docks[0].airframe"


def test_met_baseline_child_with_weather_and_night(tmp_path: Path):
    path = extends_baseline(tmp_path / "child.toml",
                            "[weather]\nenabled = true\n[night]\nrule = 'not_allowed'\n")
    scn = load_scenario(path)
    assert scn.weather.enabled and scn.night.rule == "not_allowed"
    assert scn.fleet_size == 9


def test_relief_section_loads_and_its_policy_is_checked():
    from dronesim.engine.replication import prepare

    scn = scenario_from_dict(tiny_scenario_dict(relief={"enabled": True, "lead_s": 120.0}))
    assert scn.relief.enabled and scn.relief.lead_s == 120.0
    assert load_scenario(MET_BASELINE).relief.enabled is False  # off by default
    bad = scenario_from_dict(tiny_scenario_dict(relief={"enabled": True, "policy": "nope"}))
    with pytest.raises(InputError, match="relief.policy"):
        prepare(bad)
    with pytest.raises(InputError, match="relief.lead_s"):
        scenario_from_dict(tiny_scenario_dict(relief={"lead_s": -1.0}))


def test_mutual_aid_bcu_is_a_choice():
    scn = scenario_from_dict(tiny_scenario_dict(
        services={"police": {"ground": {"mutual_aid": "bcu"}}}))
    assert scn.services["police"].ground.mutual_aid == "bcu"
    with pytest.raises(InputError, match="mutual_aid"):
        scenario_from_dict(tiny_scenario_dict(
            services={"police": {"ground": {"mutual_aid": "everyone"}}}))
