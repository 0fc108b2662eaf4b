"""Operations in the engine (dronesim/engine/availability.py): weather and night grounding, night
rules, faults, maintenance, rosters and dock hours, by hand on replayed traces, and the fault
rate against flight hours over replications."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import INSIDE
from scipy import stats

from dronesim.engine import availability
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.daylight import sun_times
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.inputs.weather import REASONS, Flyability

ISL = INSIDE["islington"]
SPEED, CLIMB, DESCENT, OVERHEAD, DECISION = 20.0, 10.0, 10.0, 20.0, 10.0


def _trace(tmp_path: Path, times: list[float], dx: float = 400.0) -> str:
    """Police incidents ``dx`` metres east of the Islington dock at the given call times."""
    body = "time,x,y,service\n" + "".join(
        f"{t},{ISL[0] + dx},{ISL[1]},police\n" for t in times)
    path = tmp_path / "trace.csv"
    path.write_text(body, encoding="utf-8")
    return str(path)


def _scenario(trace: str, drones: int = 2, pilots: int = 4, **over) -> dict:
    d = {
        "simulation": {"warmup_hours": 0.0, "seed": 5, "start_date": "2025-12-22"},
        "demand": {"trace": trace},
        "drones": {"speed_m_s": SPEED, "decision_s": DECISION, "launch_overhead_s": OVERHEAD,
                   "climb_s": CLIMB, "descent_s": DESCENT, "max_range_m": 3000.0,
                   "loiter": "until_ground", "recharge_full_s": 0.0},
        "docks": [{"name": "Islington", "x": ISL[0], "y": ISL[1], "drones": drones}],
        "services": {"police": {"incidents_per_week": 10.0, "priority_shares": [1.0],
                                "drone_suited_share": [1.0], "ground": {
                                    "call_handling_mean_s": 600.0, "call_handling_cv": 0.0,
                                    "travel_cv": 0.0, "on_scene_mean_s": 600.0,
                                    "on_scene_cv": 0.0}}},
        "control_room": {"pilots": pilots},
        "dispatch": {"policy": "earliest_arrival", "max_queue_wait_s": math.inf},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return d


def _known_weather(monkeypatch, codes_by_hour: dict[int, int]) -> None:
    """Replace the replication's weather with hours grounded by the given reason codes."""

    def fake(weather, night, start_date, horizon_s, rng, drones=None):
        n = int(math.ceil(horizon_s / 3600))
        reason = np.zeros(n, np.int8)
        for h, c in codes_by_hour.items():
            reason[h] = c
        mask = np.where(reason > 0, 1 << (reason.astype(np.int64) - 1), 0).astype(np.uint8)
        return None, Flyability(flyable=reason == 0, reason=reason, reason_mask=mask)

    monkeypatch.setattr(availability, "replication_flyability", fake)


# --------------------------------------------------------------------------------------------
# Weather
# --------------------------------------------------------------------------------------------


def test_a_known_weather_series_grounds_the_known_hours(tmp_path, monkeypatch):
    wind, rain, vis = REASONS.index("wind"), REASONS.index("rain"), REASONS.index("visibility")
    _known_weather(monkeypatch, {1: wind, 3: rain, 4: vis})
    times = [1800.0, 3700.0, 7300.0, 11000.0, 15000.0, 18100.0,
             3580.0]  # decision at 3590 (flyable), launch at 3610 (hour 1: wind)
    prep = prepare(scenario_from_dict(_scenario(_trace(tmp_path, sorted(times)),
                                                weather={"enabled": True})))
    res = run_replication(prep, 0)
    df = res.incidents.set_index("t_call")
    out = df["drone_outcome"].astype(str)
    why = df["grounded_reason"].astype(str)
    assert out[1800.0] == "on_scene" and out[7300.0] == "on_scene" and out[18100.0] == "on_scene"
    assert (out[3700.0], why[3700.0]) == ("grounded", "wind")
    assert (out[11000.0], why[11000.0]) == ("grounded", "rain")
    assert (out[15000.0], why[15000.0]) == ("grounded", "visibility")
    # Decided in a flyable hour, due to take off in a grounded one: stood down at launch.
    assert (out[3580.0], why[3580.0]) == ("grounded", "wind")
    assert df.loc[3580.0, "t_pilot"] == pytest.approx(3590.0)
    assert math.isnan(df.loc[3580.0, "t_launch"])
    assert (why[out != "grounded"] == "").all()
    # The trace runs to midnight: 24 measured hours, 3 grounded.
    k = res.kpis
    assert k["flyable_hours_per_day"] == pytest.approx(21.0)
    assert k["grounded_hours_per_week"] == pytest.approx(3 * 7.0)
    assert k["grounded_hours_wind_per_week"] == pytest.approx(7.0)
    assert k["grounded_per_week"] == pytest.approx(4 * 7.0)
    assert k["grounded_wind_per_week"] == pytest.approx(2 * 7.0)
    assert k["grounded_rain_per_week"] == pytest.approx(7.0)


def test_weather_off_changes_nothing(tmp_path):
    trace = _trace(tmp_path, [1800.0, 3700.0, 7300.0])
    a = run_replication(prepare(scenario_from_dict(_scenario(trace))), 0)
    b = run_replication(prepare(scenario_from_dict(_scenario(
        trace, weather={"enabled": False}, night={"rule": "allowed"}))), 0)
    assert a.incidents.equals(b.incidents)
    assert "grounded_per_week" not in a.kpis and "flyable_hours_per_day" not in a.kpis


# --------------------------------------------------------------------------------------------
# Night
# --------------------------------------------------------------------------------------------

# 22 December 2025 (a Monday): sunrise about 08:04, sunset about 15:53 in London.
NIGHT_T = 3 * 3600.0  # 03:00
DAY_T = 12 * 3600.0  # noon


def test_the_solstice_night_is_where_the_test_assumes():
    st = sun_times(dt.date(2025, 12, 22))
    assert 7.5 * 3600 < st.sunrise_s < 8.5 * 3600 and 15.5 * 3600 < st.sunset_s < 16.5 * 3600


def test_night_not_allowed_grounds_night_calls(tmp_path):
    trace = _trace(tmp_path, [NIGHT_T, DAY_T, 20 * 3600.0])
    res = run_replication(prepare(scenario_from_dict(_scenario(
        trace, night={"rule": "not_allowed"}))), 0)
    df = res.incidents
    assert df["drone_outcome"].astype(str).tolist() == ["grounded", "on_scene", "grounded"]
    assert df["grounded_reason"].astype(str).tolist() == ["night", "", "night"]
    assert 7.5 < res.kpis["flyable_hours_per_day"] < 8.5  # about 7 h 50 min of daylight


def test_night_slower_flights(tmp_path):
    dx = 1200.0
    trace = _trace(tmp_path, [NIGHT_T, DAY_T], dx=dx)
    res = run_replication(prepare(scenario_from_dict(_scenario(
        trace, night={"rule": "slower", "speed_factor": 0.5, "extra_launch_s": 40.0}))), 0)
    night, day = res.incidents.iloc[0], res.incidents.iloc[1]
    assert night["t_launch"] == pytest.approx(NIGHT_T + DECISION + OVERHEAD + 40.0)
    assert night["t_drone_on_scene"] - night["t_launch"] == pytest.approx(
        CLIMB + dx / (SPEED * 0.5) + DESCENT)
    assert day["t_launch"] == pytest.approx(DAY_T + DECISION + OVERHEAD)
    assert day["t_drone_on_scene"] - day["t_launch"] == pytest.approx(
        CLIMB + dx / SPEED + DESCENT)
    # Home by the same path at the same speed; the reserve still kept.
    assert night["t_drone_landed"] - night["t_drone_leave"] == pytest.approx(
        CLIMB + dx / (SPEED * 0.5) + DESCENT)
    assert (res.missions["battery_landed_s"] >= 300.0 - 1e-6).all()


def test_second_pilot_halves_night_flights(tmp_path):
    # Two pilots, two drones, two calls at once: by day both fly; at night one flight holds
    # both pilots, so the second call waits for the first drone to land.
    trace = _trace(tmp_path, [NIGHT_T, NIGHT_T + 1.0, DAY_T, DAY_T + 1.0])
    res = run_replication(prepare(scenario_from_dict(_scenario(
        trace, pilots=2, night={"rule": "second_pilot", "pilots_per_flight": 2}))), 0)
    df = res.incidents
    assert df["t_pilot"].iloc[0] == pytest.approx(NIGHT_T + DECISION)
    assert df["t_pilot"].iloc[1] == pytest.approx(df["t_drone_landed"].iloc[0])
    assert df["t_pilot"].iloc[2] == pytest.approx(DAY_T + DECISION)
    assert df["t_pilot"].iloc[3] == pytest.approx(DAY_T + 1.0 + DECISION)


# --------------------------------------------------------------------------------------------
# Faults and maintenance
# --------------------------------------------------------------------------------------------


def _busy_scenario(**over) -> dict:
    """A small fleet kept busy: exponential time on scene of 20 minutes."""
    d = {
        "simulation": {"weeks": 1.0, "warmup_hours": 0.0, "seed": 17},
        "drones": {"loiter": "exponential", "loiter_mean_s": 1200.0, "endurance_s": 3600.0,
                   "recharge_full_s": 600.0, "max_range_m": 3000.0},
        "docks": [{"name": "Islington", "x": ISL[0], "y": ISL[1], "drones": 3}],
        "services": {"police": {"incidents_per_week": 40000.0, "spatial_weight": "crime",
                                "time_profile": "flat", "priority_shares": [1.0],
                                "drone_suited_share": [0.2], "ground": {"base": "none"}}},
        "control_room": {"pilots": 3},
    }
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v}
    return d


def test_fault_rate_times_flight_hours_within_the_interval():
    """r faults per flight hour: over replications, faults per flight hour has a 95% interval
    holding r (faults are a Poisson process in each drone's flight time)."""
    r = 0.5
    prep = prepare(scenario_from_dict(_busy_scenario(
        faults={"failures_per_flight_hour": r, "repair_s": 600.0})))
    rates, n_total = [], 0
    for rep in range(8):
        mis = run_replication(prep, rep).missions
        hours = float((mis["t_landed"] - mis["t_launch"]).sum() / 3600.0)
        n = int(mis["fault"].sum())
        n_total += n
        rates.append(n / hours)
    lo, hi = stats.t.interval(0.95, len(rates) - 1, loc=np.mean(rates),
                              scale=stats.sem(rates))
    assert lo <= r <= hi, (rates, lo, hi)
    assert n_total > 100  # enough faults for the interval to mean something


def test_a_fault_ends_the_flight_and_the_drone_goes_for_repair():
    prep = prepare(scenario_from_dict(_busy_scenario(
        faults={"failures_per_flight_hour": 2.0, "repair_s": 7200.0})))
    res = run_replication(prep, 0)
    df, mis = res.incidents, res.missions
    out = df["drone_outcome"].astype(str)
    # On the way out: never on scene, home as far as it came.
    f = df[out == "fault"]
    assert len(f) > 0 and f["t_drone_on_scene"].isna().all()
    np.testing.assert_allclose(f["t_drone_landed"] - f["t_drone_leave"],
                               f["t_drone_leave"] - f["t_launch"], atol=1e-6)
    # On scene: left early with reason "fault".
    assert (df["drone_leave_reason"].astype(str) == "fault").sum() > 0
    # After a faulty leg the drone is not launched again within the repair time.
    for _d, g in mis.sort_values("t_launch").groupby("drone_id"):
        landed = g["t_landed"].to_numpy()
        launch = g["t_launch"].to_numpy()
        fault = g["fault"].to_numpy()
        assert (launch[1:][fault[:-1]] >= landed[:-1][fault[:-1]] + 7200.0 - 1e-6).all()
    assert 0 < res.kpis["drone_availability"] < 1


def test_maintenance_after_the_stated_flight_hours():
    prep = prepare(scenario_from_dict(_busy_scenario(
        faults={"maintenance_every_flight_hours": 2.0, "maintenance_s": 3 * 3600.0})))
    mis = run_replication(prep, 0).missions
    seen = 0
    for _d, g in mis.sort_values("t_launch").groupby("drone_id"):
        air = (g["t_landed"] - g["t_launch"]).to_numpy()
        since = 0.0
        for j in range(len(g) - 1):
            since += air[j]
            if since >= 2 * 3600.0:
                since = 0.0
                seen += 1
                assert g["t_launch"].iloc[j + 1] >= g["t_landed"].iloc[j] + 3 * 3600 - 1e-6
    assert seen > 3


# --------------------------------------------------------------------------------------------
# Rosters and dock hours
# --------------------------------------------------------------------------------------------


def test_roster_keeps_drones_at_home_off_duty():
    # No drone on duty from midnight to noon; all of them from noon to midnight.
    pattern = [0.0] * 12 + [1.0] * 12
    prep = prepare(scenario_from_dict(_busy_scenario(rosters={"drone_pattern": pattern})))
    res = run_replication(prep, 0)
    mis = res.missions
    hour = (mis["t_assigned"] % 86_400) // 3600
    assert (hour >= 12).all()  # no mission starts off duty
    assert res.kpis["drone_availability"] == pytest.approx(0.5, abs=0.02)


def test_half_the_drones_on_duty():
    pattern = [1 / 3] * 24
    prep = prepare(scenario_from_dict(_busy_scenario(rosters={"drone_pattern": pattern})))
    mis = run_replication(prep, 0).missions
    assert set(mis["drone_id"]) == {0}  # round(3 / 3) = 1: the first drone of the dock


def test_dock_hours_close_a_dock():
    d = _busy_scenario(rosters={"dock_hours": {"Croydon": [8, 20]}})
    d["docks"].append({"name": "Croydon", "x": INSIDE["croydon"][0],
                       "y": INSIDE["croydon"][1], "drones": 2})
    prep = prepare(scenario_from_dict(d))
    mis = run_replication(prep, 0).missions
    croydon = mis[mis["dock_id"] == 1]
    hour = (croydon["t_assigned"] % 86_400) / 3600
    assert len(croydon) > 10 and ((hour >= 8) & (hour < 20)).all()
    assert ((mis[mis["dock_id"] == 0]["t_assigned"] % 86_400) / 3600 < 8).any()


def test_dock_faults_take_the_dock_out():
    prep = prepare(scenario_from_dict(_busy_scenario(
        faults={"dock_failures_per_year": 200.0, "dock_repair_s": 86_400.0})))
    k = run_replication(prep, 0).kpis
    assert k["dock_failures_per_week"] > 0 and k["drone_availability"] < 1


def test_duty_off_costs_nothing(tmp_path):
    from dronesim.engine.kernel import Kernel  # noqa: F401

    prep = prepare(scenario_from_dict(_busy_scenario()))
    res = run_replication(prep, 0)
    assert "drone_availability" not in res.kpis and not res.missions["fault"].any()


# --------------------------------------------------------------------------------------------
# Incidents resolved by the drone alone
# --------------------------------------------------------------------------------------------


def test_drone_on_scene_resolves_and_no_officer_is_sent(tmp_path):
    # One drone. Call 1: it is on scene when call handling ends (600 s): resolved, nobody sent.
    # Call 2 comes while the drone is still at call 1 and gives up waiting for a drone after
    # 100 s: the officer is sent when its call handling ends, at 900 s.
    trace = _trace(tmp_path, [0.0, 300.0, 5000.0])
    d = _scenario(trace, drones=1, value={"drone_resolved_share": {"police": [1.0]}},
                  dispatch={"max_queue_wait_s": 100.0})
    res = run_replication(prepare(scenario_from_dict(d)), 0)
    df = res.incidents
    first = df.iloc[0]
    t_scene = DECISION + OVERHEAD + CLIMB + 400.0 / SPEED + DESCENT
    assert first["t_drone_on_scene"] == pytest.approx(t_scene)
    assert bool(first["drone_resolved"]) and math.isnan(first["t_ground_dispatch"])
    assert first["ground_unit"] == -1 and math.isnan(first["ground_response_s"])
    # The drone stays its minimum time on scene, at least until the unit would have gone.
    assert first["t_drone_leave"] == pytest.approx(max(600.0, t_scene + 180.0))
    assert first["drone_leave_reason"] == "resolved"
    second = df.iloc[1]
    assert second["drone_outcome"] == "queue_abandoned"
    assert not second["drone_resolved"] and second["t_ground_dispatch"] == pytest.approx(900.0)
    # The third: the drone is back and resolves it too.
    assert bool(df.iloc[2]["drone_resolved"])
    assert res.kpis["drone_resolved_per_week"] > 0 and res.kpis["p_drone_first"] == 1.0


def test_no_share_no_resolution(tmp_path):
    trace = _trace(tmp_path, [0.0, 5000.0])
    a = run_replication(prepare(scenario_from_dict(_scenario(trace))), 0).incidents
    b = run_replication(prepare(scenario_from_dict(_scenario(
        trace, value={"drone_resolved_share": {"police": [0.0]}}))), 0).incidents
    assert a.equals(b) and not a["drone_resolved"].any()


# --------------------------------------------------------------------------------------------
# Relief drones
# --------------------------------------------------------------------------------------------


def _relief_run(tmp_path, lead_s: float, handling_s: float, relief: bool = True):
    trace = _trace(tmp_path, [0.0])
    d = _scenario(trace, drones=2, relief={"enabled": relief, "lead_s": lead_s})
    d["drones"].update({"endurance_s": 900.0, "reserve_s": 300.0, "min_on_scene_s": 60.0})
    d["services"]["police"]["ground"]["call_handling_mean_s"] = handling_s
    # The officers' arrival is placed by the call handling on the straight-line road model.
    d["services"]["police"]["ground"]["travel_model"] = "straight"
    return run_replication(prepare(scenario_from_dict(d)), 0)


FLY = CLIMB + 400.0 / SPEED + DESCENT  # 40 s dock to scene
T_SCENE = DECISION + OVERHEAD + FLY  # 70 s
LEAVE = T_SCENE + (900.0 - 2 * FLY - 300.0)  # 590 s: the battery reserve forces it home


def test_relief_arrives_before_the_first_drone_leaves(tmp_path):
    res = _relief_run(tmp_path, lead_s=300.0, handling_s=3000.0)
    inc = res.incidents.iloc[0]
    assert inc["t_drone_on_scene"] == pytest.approx(T_SCENE)
    assert inc["t_drone_leave"] == pytest.approx(LEAVE) and inc["drone_leave_reason"] == "battery"
    # Asked 300 s before, launched at once (20 s), 40 s to the scene.
    assert inc["relief_drones"] == 1 and inc["relief_drone_id"] == 1
    assert inc["t_relief_on_scene"] == pytest.approx(LEAVE - 300.0 + OVERHEAD + FLY)
    assert inc["relief_gap_s"] == 0.0
    # The relief stays until its own battery says so (the officers come much later); no third
    # drone is free to relieve it.
    assert inc["t_relief_leave"] == pytest.approx(inc["t_relief_on_scene"] + 900 - 2 * FLY - 300)
    relief = res.missions[res.missions["relief"]]
    assert len(relief) == 1 and relief["drone_id"].iloc[0] == 1
    assert relief["t_launch"].iloc[0] == pytest.approx(LEAVE - 300.0 + OVERHEAD)
    assert relief["battery_landed_s"].iloc[0] == pytest.approx(300.0)


def test_late_relief_leaves_a_gap(tmp_path):
    res = _relief_run(tmp_path, lead_s=10.0, handling_s=3000.0)
    inc = res.incidents.iloc[0]
    arrive = LEAVE - 10.0 + OVERHEAD + FLY
    assert inc["t_relief_on_scene"] == pytest.approx(arrive)
    # Each drone is relieved in turn by the other (back and recharged at once), each time 50 s
    # late, until the officers arrive.
    n = int(inc["relief_drones"])
    assert n >= 2
    assert inc["relief_gap_s"] == pytest.approx(n * (arrive - LEAVE))
    assert inc["t_relief_leave"] >= inc["t_ground_arrival"]
    assert res.kpis["covered_until_handover"] == 0.0  # covered to the end, but with gaps


def test_relief_hands_over_to_the_ground_unit(tmp_path):
    res = _relief_run(tmp_path, lead_s=300.0, handling_s=200.0)
    inc = res.incidents.iloc[0]
    g = inc["t_ground_arrival"]
    assert LEAVE < g < inc["t_relief_on_scene"] + 900 - 2 * FLY - 300  # within the relief's stay
    assert inc["t_relief_leave"] == pytest.approx(g + 60.0)  # handover_s
    assert res.kpis["covered_until_handover"] == 1.0
    # Without relief the scene is left uncovered from LEAVE until the officers arrive.
    off = _relief_run(tmp_path, lead_s=300.0, handling_s=200.0, relief=False)
    assert off.kpis["covered_until_handover"] == 0.0 and off.incidents["relief_drones"].iloc[0] == 0


# --------------------------------------------------------------------------------------------
# Mixed fleets
# --------------------------------------------------------------------------------------------

CROY = INSIDE["croydon"]


def _mixed(tmp_path, rows: list[tuple[float, float, float]], **over) -> dict:
    body = "time,x,y,service\n" + "".join(f"{t},{x},{y},police\n" for t, x, y in rows)
    (tmp_path / "m.csv").write_text(body, encoding="utf-8")
    d = _scenario(str(tmp_path / "m.csv"), **over)
    d["airframes"] = [{"name": "long_range", "speed_m_s": 30.0, "endurance_s": 3600.0,
                       "max_range_m": 6000.0, "cost_gbp": 40000.0}]
    d["docks"] = [{"name": "Islington", "x": ISL[0], "y": ISL[1], "drones": 1},
                  {"name": "Croydon", "x": CROY[0], "y": CROY[1], "drones": 1,
                   "airframe": "long_range"}]
    return d


def test_each_dock_flies_its_airframe_type(tmp_path):
    rows = [(0.0, ISL[0] + 1000.0, ISL[1]),  # 1 km from Islington: the [drones] type, 20 m/s
            (7200.0, CROY[0] + 4000.0, CROY[1]),  # 4 km from Croydon: only the long-range type
            (14400.0, ISL[0] + 4000.0, ISL[1])]  # 4 km from Islington: out of its 3 km range
    res = run_replication(prepare(scenario_from_dict(_mixed(tmp_path, rows))), 0)
    df = res.incidents
    assert df["dock_id"].tolist()[:2] == [0, 1]
    a, b = df.iloc[0], df.iloc[1]
    assert a["t_drone_on_scene"] - a["t_launch"] == pytest.approx(CLIMB + 1000.0 / SPEED + DESCENT)
    assert b["t_drone_on_scene"] - b["t_launch"] == pytest.approx(CLIMB + 4000.0 / 30.0 + DESCENT)
    assert df["drone_outcome"].iloc[2] == "out_of_range"  # Croydon is 18 km away
    # The long-range battery: 3,600 s at launch.
    m = res.missions.set_index("dock_id")
    assert m.loc[1, "battery_launch_s"] == pytest.approx(3600.0)
    assert m.loc[0, "battery_launch_s"] == pytest.approx(2400.0)
    per = res.kpis["per_airframe"]
    assert set(per) == {"[drones]", "long_range"}


def test_policies_see_the_airframe_type(tmp_path):
    from dronesim import Decline, Dispatch, register_policy
    from dronesim.dispatch.registry import _REGISTRY

    seen = []

    @register_policy("test_long_range_only")
    class LongRangeOnly:
        def decide(self, incident, fleet, now):
            names = fleet.airframe_names
            seen.append([names[t] for t in fleet.airframe])
            rows = [j for j, t in enumerate(fleet.airframe) if names[t] == "long_range"]
            return Dispatch(int(fleet.drone[rows[0]])) if rows else Decline("type")

    try:
        # Half-way between the docks (about 9 km each way): in range of the long-range dock only;
        # then next to Islington, where both are candidates but the policy wants long range.
        mid = ((ISL[0] + CROY[0]) / 2, (ISL[1] + CROY[1]) / 2)
        rows = [(0.0, ISL[0] + 200.0, ISL[1])]
        d = _mixed(tmp_path, rows, dispatch={"policy": "test_long_range_only"})
        d["airframes"][0]["max_range_m"] = 30_000.0
        res = run_replication(prepare(scenario_from_dict(d)), 0)
        assert seen[0] == ["", "long_range"]
        assert res.incidents["dock_id"].iloc[0] == 1  # the long-range drone from Croydon
        assert mid  # (documenting the geometry)
    finally:
        _REGISTRY.pop("test_long_range_only", None)


def test_mixed_fleet_costs_by_type(tmp_path):
    from dronesim.experiment.derived import airframe_prices

    prep = prepare(scenario_from_dict(_mixed(tmp_path, [(0.0, ISL[0] + 100.0, ISL[1])])))
    assert airframe_prices(prep) == [prep.scenario.costs.airframe_cost_gbp, 40000.0]


# --------------------------------------------------------------------------------------------
# Invariants under hypothesis, with exploration on (new examples on every run)
# --------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_invariants import check_invariants  # noqa: E402

from dronesim.engine.availability import Grounding  # noqa: E402
from dronesim.engine.ground import basic_command_units  # noqa: E402
from dronesim.inputs.streams import Streams  # noqa: E402


@st.composite
def ops_scenarios(draw):
    docks = [{"name": "Islington", "x": ISL[0], "y": ISL[1], "drones": draw(st.integers(1, 3))},
             {"name": "Croydon", "x": INSIDE["croydon"][0], "y": INSIDE["croydon"][1],
              "drones": draw(st.integers(0, 2))}]
    night_rule = draw(st.sampled_from(["allowed", "not_allowed", "second_pilot"]))
    if draw(st.booleans()):  # a mixed fleet: Croydon's drones of a long-range type
        docks[1]["airframe"] = "long_range"
    d = {
        "name": "ops",
        "simulation": {"weeks": 0.15, "warmup_hours": 2.0, "seed": draw(st.integers(0, 2**31)),
                       "start_date": draw(st.sampled_from(["2025-01-06", "2025-06-23",
                                                           "2025-10-27"]))},
        "drones": {"loiter": draw(st.sampled_from(["until_ground", "exponential"])),
                   "loiter_mean_s": 900.0, "max_range_m": 4000.0,
                   "endurance_s": draw(st.sampled_from([900.0, 2400.0])),
                   "recharge_full_s": draw(st.sampled_from([0.0, 2700.0]))},
        "relief": {"enabled": draw(st.booleans()),
                   "lead_s": draw(st.sampled_from([0.0, 300.0]))},
        "docks": docks,
        "services": {"police": {
            "incidents_per_week": draw(st.sampled_from([3000.0, 20000.0])),
            "spatial_weight": "crime", "time_profile": "flat", "priority_shares": [0.5, 0.5],
            "drone_suited_share": [1.0, draw(st.sampled_from([0.0, 0.5]))],
            "ground": {"call_handling_mean_s": draw(st.sampled_from([60.0, 300.0])),
                       "mutual_aid": draw(st.sampled_from(["off", "neighbours", "bcu",
                                                           "london"])),
                       "mutual_aid_delay_s": draw(st.sampled_from([0.0, 120.0])),
                       "staffing_utilisation": draw(st.sampled_from([0.5, 0.9]))}}},
        "control_room": {"pilots": draw(st.integers(1, 3))},
        "dispatch": {"max_queue_wait_s": draw(st.sampled_from([120.0, 600.0]))},
        "weather": {"enabled": draw(st.booleans()),
                    "max_wind_m_s": draw(st.sampled_from([6.0, 10.0]))},
        "night": {"rule": night_rule},
        "faults": {"failures_per_flight_hour": draw(st.sampled_from([0.0, 0.5])),
                   "repair_s": 3600.0,
                   "maintenance_every_flight_hours": draw(st.sampled_from([0.0, 1.0])),
                   "maintenance_s": 1800.0,
                   "dock_failures_per_year": draw(st.sampled_from([0.0, 100.0])),
                   "dock_repair_s": 7200.0},
        "rosters": draw(st.sampled_from([{}, {"drone_pattern": [0.5] * 12 + [1.0] * 12},
                                         {"dock_hours": {"Islington": [6, 22]}}])),
        "airframes": [{"name": "long_range", "speed_m_s": 27.0, "endurance_s": 3300.0,
                       "recharge_full_s": 3600.0, "max_range_m": 6000.0}],
        "value": {"drone_resolved_share": {"police": draw(st.sampled_from(
            [[0.0, 0.0], [0.3, 0.0], [1.0, 1.0]]))}},
    }
    return scenario_from_dict(d, source="<hypothesis>")


@settings(derandomize=False, database=None, max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scn=ops_scenarios(), rep=st.integers(0, 3))
def test_operations_invariants(scn, rep):
    prep = prepare(scn)
    res = run_replication(prep, rep)
    check_invariants(prep, res)  # ordered, conserved, one mission at a time, battery, ...
    df, mis = res.incidents, res.missions
    for name, seen in (("relief", mis["relief"].any()), ("fault", mis["fault"].any()),
                       ("grounded", (df["drone_outcome"] == "grounded").any()),
                       ("resolved", df["drone_resolved"].any()),
                       ("mutual aid", (df["mutual_aid_from"] != "").any())):
        if seen:
            event(name)  # --hypothesis-show-statistics shows how often each is exercised
    out = df["drone_outcome"].astype(str)
    why = df["grounded_reason"].astype(str)
    # Grounding: the reason recorded is the weather's (or night's) at that moment.
    gr = Grounding(prep, Streams(scn.simulation.seed, rep))
    grounded = df[out == "grounded"]
    assert (why[out == "grounded"] != "").all() and (why[out != "grounded"] == "").all()
    if not gr.grounds:
        assert grounded.empty
    at_launch = grounded["t_pilot"].notna()
    t = (grounded["t_sector"].fillna(grounded["t_pilot"]) + grounded["airspace_delay_s"]
         .fillna(0.0) + scn.drones.launch_overhead_s)[at_launch]
    for tt, w in zip(t, why[grounded.index[at_launch]]):
        assert REASONS[gr.reason_at(tt)] == w
    for td, w in zip(grounded.loc[~at_launch, "t_drone_decision"], why[grounded.index[~at_launch]]):
        codes = {REASONS[gr.reason_at(td + s)] for s in np.arange(0, 601, 1.0)}
        assert w in codes  # at the decision or a retry of the queue
    # Every launch in a flyable hour.
    for tl in mis["t_launch"]:
        assert gr.reason_at(tl) == 0
    # Faults: outbound ones are the incidents with outcome "fault"; flags only with faults on.
    if scn.faults.failures_per_flight_hour == 0:
        assert not mis["fault"].any() and not (out == "fault").any()
    assert (out == "fault").sum() <= mis["fault"].sum()
    # Mutual aid only from the boroughs allowed, never before the delay.
    g = scn.services["police"].ground
    aid = df[df["mutual_aid_from"] != ""]
    if g.mutual_aid == "off":
        assert aid.empty
    else:
        codes = list(prep.london.borough_codes)
        nb = prep.london.borough_neighbours()
        units = basic_command_units(prep.london)
        for own, other, _t0, _td in zip(aid["gss_code"], aid["mutual_aid_from"],
                                      aid["t_call"], aid["t_ground_dispatch"]):
            a, b = codes.index(own), codes.index(other)
            assert a != b
            if g.mutual_aid == "neighbours":
                assert b in nb[a]
            elif g.mutual_aid == "bcu":
                assert units[a] and units[a] == units[b]
        assert (aid["ground_distance_m"] <= g.mutual_aid_max_distance_m + 1e-6).all()
        assert (aid["t_ground_dispatch"] - aid["t_call"] >= g.mutual_aid_delay_s - 1e-6).all()
    # Resolved only by a drone on scene at the moment a unit would have been sent.
    res_rows = df[df["drone_resolved"]]
    if not any(scn.value.drone_resolved_share["police"]):
        assert res_rows.empty
    assert (res_rows["t_drone_on_scene"] <= res_rows["t_drone_leave"]).all()
    # Availability is a share; counts are counts.
    k = res.kpis
    if "drone_availability" in k:
        assert 0.0 <= k["drone_availability"] <= 1.0
