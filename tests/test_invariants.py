"""Property tests: on small random scenarios every replication's records obey the model's
invariants (timestamps ordered, incidents conserved, one outcome each, no drone or ground unit
on two jobs at once, pilots never over-committed, no flight beyond endurance, battery never
below reserve, and the mission arithmetic of fleet.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from conftest import INSIDE, MET_BASELINE
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dronesim.engine.fleet import battery_needed_s, flight_time_s
from dronesim.engine.records import DRONE_OUTCOMES, MISSION_COLUMNS
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.demand import generate_incidents
from dronesim.inputs.scenario import load_scenario, scenario_from_dict
from dronesim.inputs.streams import Streams

EPS = 1e-6
DRONE_CHAIN = ("t_call", "t_drone_decision", "t_drone_assigned", "t_pilot", "t_launch",
               "t_drone_on_scene", "t_drone_leave", "t_drone_landed")
GROUND_CHAIN = ("t_call", "t_ground_dispatch", "t_ground_arrival", "t_ground_clear")
# Which drone timestamps (after the call) each outcome has: a prefix of the chain.
DEFINED = {
    "not_suited": 0, "out_of_range": 1, "declined": 1, "queue_abandoned": (1, 2), "pending": 1,
    "cancelled": 3, "on_scene": 7, "no_link": 1,
    # Operations (availability.py): grounded at the decision, or stood down at launch; a fault on
    # the way out: launched, never on scene, back home (checked apart below).
    "grounded": (1, 3), "fault": None,
}
# queue_abandoned: 1 = gave up waiting for a drone; 2 = a drone was assigned but no pilot was
# free within max_queue_wait_s of the decision.


def _ordered(df: pd.DataFrame, chain: tuple[str, ...]) -> np.ndarray:
    """Row mask: the defined timestamps of the chain never decrease."""
    a = df[list(chain)].to_numpy(float)
    prev = np.fmax.accumulate(a, axis=1)  # running max, ignoring NaN
    ok = np.isnan(a[:, 1:]) | (a[:, 1:] >= prev[:, :-1] - EPS)
    return ok.all(axis=1)


def _max_overlap(start: np.ndarray, end: np.ndarray) -> int:
    """Largest number of [start, end) intervals open at once (an end frees before a start)."""
    if start.size == 0:
        return 0
    t = np.concatenate([start, end])
    kind = np.concatenate([np.ones(start.size), -np.ones(end.size)])
    order = np.lexsort((kind, t))  # at equal times ends (-1) first
    return int(np.cumsum(kind[order]).max())


def check_invariants(prep, res) -> None:
    scn = prep.scenario
    spec = scn.drones
    df = res.incidents
    mis = res.missions
    n = len(df)

    # --- conservation: the generated incidents, each exactly once ---------------------------
    inc = generate_incidents(scn, prep.london, Streams(scn.simulation.seed, res.replication),
                             prep.horizon_s)
    assert n == len(inc)
    np.testing.assert_array_equal(df["incident_id"], np.arange(n))
    np.testing.assert_array_equal(df["t_call"], inc.t_call)
    np.testing.assert_array_equal(df["x"], inc.x)
    np.testing.assert_array_equal(df["drone_suited"], inc.suited)
    assert (df["replication"] == res.replication).all()

    # --- one final outcome each, consistent with the timestamps -----------------------------
    out = df["drone_outcome"].astype(str)
    assert set(DRONE_OUTCOMES) == set(DEFINED), "a new outcome: say which timestamps it has"
    assert out.isin(DRONE_OUTCOMES).all()
    assert not (out == "pending").any()  # the run drains: no incident is left undecided
    assert ((out == "not_suited") == ~df["drone_suited"]).all()
    drone_times = df[list(DRONE_CHAIN[1:])].notna().to_numpy()
    for name, ks in DEFINED.items():
        rows = drone_times[(out == name).to_numpy()]
        if rows.size and ks is None:  # fault: decision to launch, no scene, leave and landing
            assert (rows[:, :4].all(axis=1) & ~rows[:, 4] & rows[:, 5:].all(axis=1)).all()
        elif rows.size:
            ks = ks if isinstance(ks, tuple) else (ks,)
            ok = np.zeros(len(rows), bool)
            for k in ks:
                ok |= rows[:, :k].all(axis=1) & ~rows[:, k:].any(axis=1)
            assert ok.all(), f"{name}: timestamps other than a prefix of length {ks}"
    assert ((out == "on_scene") == df["t_drone_on_scene"].notna()).all()
    assert ((df["drone_id"] >= 0) == df["t_drone_assigned"].notna()).all()

    # --- timestamps ordered ------------------------------------------------------------------
    bad = ~_ordered(df, DRONE_CHAIN)
    assert not bad.any(), df.loc[bad, list(DRONE_CHAIN)].head()
    bad = ~_ordered(df, GROUND_CHAIN)
    assert not bad.any(), df.loc[bad, list(GROUND_CHAIN)].head()
    # Every incident gets a ground response by the time the run drains, unless the drone on
    # scene resolved it alone (then none at all).
    resolved = df["drone_resolved"].to_numpy(bool) if "drone_resolved" in df else \
        np.zeros(n, bool)
    assert df.loc[~resolved, list(GROUND_CHAIN)].notna().all().all()
    assert df.loc[resolved, list(GROUND_CHAIN[1:])].isna().all().all()
    assert (df.loc[~resolved, "ground_unit"] >= 0).all()
    assert (out[resolved] == "on_scene").all()

    # --- drone timing arithmetic -----------------------------------------------------------
    s = df[df["drone_suited"]]
    np.testing.assert_allclose(s["t_drone_decision"], s["t_call"] + spec.decision_s, atol=EPS)
    a = df[df["t_drone_assigned"].notna()]
    assert (a["t_drone_assigned"] - a["t_drone_decision"]
            <= scn.dispatch.max_queue_wait_s + EPS).all()
    # Each dock's airframe type (mixed fleets; one type: the [drones] figures everywhere).
    types = prep.airframes
    k_speed, k_end = np.asarray(types.speed), np.asarray(types.endurance)
    k_range = np.asarray(types.range_m)
    assert (a["drone_distance_m"] <= k_range[a["dock_id"]] * (1 + 1e-9)).all()
    dock_of = np.repeat(np.arange(len(prep.docks)), prep.docks.drones)
    np.testing.assert_array_equal(a["dock_id"], dock_of[a["drone_id"]])
    on = df[out == "on_scene"]
    fo = (spec.climb_s + on["drone_distance_m"].to_numpy() / k_speed[on["dock_id"]]
          + spec.descent_s)
    assert scn.airframes or np.allclose(fo, flight_time_s(on["drone_distance_m"].to_numpy(),
                                                          spec))
    # Launch: pilot assigned (then an airspace sector slot, if sectors are capped), then the
    # authorisation delay (restriction zones, airspace management), then the launch overhead.
    delay = (df["airspace_delay_s"].fillna(0.0) if "airspace_delay_s" in df
             else pd.Series(0.0, index=df.index))
    cleared = df["t_sector"].fillna(df["t_pilot"]) if "t_sector" in df else df["t_pilot"]
    assert (cleared[on.index] >= on["t_pilot"] - EPS).all()
    np.testing.assert_allclose(on["t_launch"],
                               cleared[on.index] + delay[on.index] + spec.launch_overhead_s,
                               atol=EPS)
    np.testing.assert_allclose(on["t_drone_on_scene"], on["t_launch"] + fo, atol=EPS)
    np.testing.assert_allclose(on["t_drone_landed"], on["t_drone_leave"] + fo, atol=EPS)
    # A drone is cancelled only when the ground is on scene by its launch time.
    c = df[out == "cancelled"]
    assert (c["t_ground_arrival"]
            <= cleared[c.index] + delay[c.index] + spec.launch_overhead_s + EPS).all()
    assert ((on["t_ground_arrival"] > on["t_launch"] - EPS) | resolved[on.index]).all()

    # --- the mission log ---------------------------------------------------------------------
    assert list(mis.columns)[:len(MISSION_COLUMNS) + 1] == ["replication", *MISSION_COLUMNS]
    # (Pre-emption splits a mission into legs; these scenarios do not enable it.)
    if "redirected" in mis:
        assert not mis["redirected"].any()
    relief = mis["relief"].to_numpy(bool) if "relief" in mis else np.zeros(len(mis), bool)
    legs, mis = mis, mis[~relief]  # relief legs (relief.py) are checked apart below
    flown = df[out.isin(["on_scene", "fault"])]
    assert len(mis) == len(flown)
    assert sorted(mis["incident"]) == sorted(flown["incident_id"])
    m = mis.set_index("incident").loc[on["incident_id"]]
    np.testing.assert_array_equal(m["drone_id"], on["drone_id"])
    np.testing.assert_array_equal(m["t_launch"], on["t_launch"])
    np.testing.assert_array_equal(m["t_landed"], on["t_drone_landed"])
    np.testing.assert_array_equal(m["dock_id"], dock_of[m["drone_id"]])

    # --- battery and endurance ---------------------------------------------------------------
    assert (mis["t_landed"] - mis["t_launch"] <= k_end[mis["dock_id"]] + EPS).all()
    assert (mis["battery_landed_s"] >= spec.reserve_s - EPS).all()
    assert (mis["battery_launch_s"] <= k_end[mis["dock_id"]] + EPS).all()
    np.testing.assert_allclose(mis["battery_launch_s"] - mis["battery_landed_s"],
                               mis["t_landed"] - mis["t_launch"], atol=EPS)
    # Launched with enough charge for the flight out, the minimum stay, the flight back and
    # the reserve.
    need = 2 * fo + spec.min_on_scene_s + spec.reserve_s
    assert scn.airframes or np.allclose(need, battery_needed_s(
        on["drone_distance_m"].to_numpy(), spec))
    assert (m["battery_launch_s"].to_numpy() >= need - EPS).all()

    # --- how long the drone stays -------------------------------------------------------------
    latest = on["t_drone_on_scene"].to_numpy() + np.maximum(
        0.0, m["battery_launch_s"].to_numpy() - 2 * fo - spec.reserve_s)
    if spec.loiter == "exponential":
        want = on["t_drone_on_scene"].to_numpy() + inc.drone_loiter_s[on["incident_id"]]
    else:
        want = np.maximum(on["t_ground_arrival"].to_numpy() + spec.handover_s,
                          on["t_drone_on_scene"].to_numpy())
    # Resolved by the drone: it stays min_on_scene_s (and at least until the moment the ground
    # unit would have been sent), within its battery.
    res_on = on["drone_resolved"].to_numpy(bool) if "drone_resolved" in on else \
        np.zeros(len(on), bool)
    if res_on.any():
        disp = (on["t_call"] + inc.handling_s[on["incident_id"]]).to_numpy()
        want = np.where(res_on, np.maximum(disp, on["t_drone_on_scene"].to_numpy()
                                           + spec.min_on_scene_s), want)
    reason = on["drone_leave_reason"].astype(str).to_numpy()
    fault = reason == "fault"  # left early: a fault on scene (availability.py)
    assert (on["t_drone_leave"].to_numpy()[fault] <= np.minimum(want, latest)[fault] + 1e-6).all()
    np.testing.assert_allclose(on["t_drone_leave"][~fault], np.minimum(want, latest)[~fault],
                               atol=1e-6)
    assert set(reason) <= ({"task_done", "battery", "fault", "resolved"}
                           if spec.loiter == "exponential"
                           else {"ground_arrived", "battery", "fault", "resolved"})
    np.testing.assert_array_equal((reason == "battery")[~fault], ~(want < latest)[~fault])
    np.testing.assert_array_equal((reason == "resolved")[~fault], (res_on & (want < latest))
                                  [~fault])

    # --- relief legs: one per relief counted on its incident, flown like any leg ----------
    r = legs[relief]
    assert len(r) == int(df["relief_drones"].sum()) if "relief_drones" in df else not len(r)
    if len(r):
        assert (r["t_launch"] <= r["t_on_scene"] + EPS).all()
        assert (r["t_on_scene"] <= r["t_leave"] + EPS).all()
        assert (r["battery_landed_s"] >= spec.reserve_s - EPS).all()
        hit = df[df["relief_drones"] > 0]
        assert (hit["relief_gap_s"] >= 0).all() and (hit["drone_outcome"] == "on_scene").all()
        # At the same instant at the latest: a drone whose battery allows a stay shorter than
        # lead_s asks for its relief as it takes off, and a relief from the same dock then
        # arrives with it (found by hypothesis; the relief is still asked for correctly).
        assert (hit["t_relief_on_scene"] >= hit["t_drone_on_scene"] - EPS).all()
    mis = legs  # every leg, relief ones too, for the checks of drones and pilots below

    # --- no drone on two missions at once ----------------------------------------------------
    for d, g in mis.groupby("drone_id"):
        g = g.sort_values("t_pilot")
        t_pilot, t_landed = g["t_pilot"].to_numpy(), g["t_landed"].to_numpy()
        assert (t_pilot[1:] >= t_landed[:-1] - EPS).all(), f"drone {d} on two missions"
    # Including stand-downs: per drone, [assigned-or-previous-landing, landed] do not overlap.
    held = df[df["t_pilot"].notna()]
    end = held["t_drone_landed"].fillna(held["t_pilot"])
    for _d, g in pd.DataFrame({"d": held["drone_id"], "s": held["t_pilot"], "e": end}).groupby("d"):
        assert _max_overlap(g["s"].to_numpy(), g["e"].to_numpy()) <= 1

    # --- pilots never over-committed ---------------------------------------------------------
    assert _max_overlap(mis["t_pilot"].to_numpy(), mis["t_landed"].to_numpy()) <= res.pilots

    # --- a ground unit never on two incidents at once ----------------------------------------
    for u, g in df[df["ground_unit"] >= 0].groupby("ground_unit"):  # (-1: none sent)
        g = g.sort_values("t_ground_dispatch")
        disp, clear = g["t_ground_dispatch"].to_numpy(), g["t_ground_clear"].to_numpy()
        assert (disp[1:] >= clear[:-1] - EPS).all(), f"ground unit {u} on two incidents"
    assert df["ground_unit"].max() < sum(res.ground_units.values())


# --------------------------------------------------------------------------------------------
# Random small scenarios
# --------------------------------------------------------------------------------------------

DOCK_POINTS = list(INSIDE.values())


@st.composite
def small_scenarios(draw):
    n_docks = draw(st.integers(1, 3))
    points = draw(st.permutations(DOCK_POINTS))[:n_docks]
    total = draw(st.integers(max(1, n_docks - 1), 6))
    # Split `total` drones over the docks (a dock may hold none).
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=n_docks - 1,
                                max_size=n_docks - 1)))
    counts = np.diff([0, *cuts, total]).tolist()
    if sum(counts) == 0:
        counts[0] = 1
    docks = [{"name": f"d{k}", "x": p[0], "y": p[1], "drones": int(c)}
             for k, (p, c) in enumerate(zip(points, counts))]
    two_prio = draw(st.booleans())
    services = {"police": {
        "incidents_per_week": draw(st.sampled_from([300.0, 3000.0, 10000.0])),
        "spatial_weight": draw(st.sampled_from(["population", "crime"])),
        "time_profile": draw(st.sampled_from(["flat", "lfb_all"])),
        "priority_shares": [0.4, 0.6] if two_prio else [1.0],
        "drone_suited_share": ([1.0, draw(st.sampled_from([0.0, 0.5]))] if two_prio
                               else [draw(st.sampled_from([0.5, 1.0]))]),
        "ground": {"call_handling_mean_s": draw(st.sampled_from([30.0, 200.0])),
                   "staffing_utilisation": draw(st.sampled_from([0.3, 0.8]))},
    }}
    if draw(st.booleans()):
        services["fire"] = {"incidents_per_week": 400.0, "spatial_weight": "population",
                            "drone_suited_share": [1.0], "uses_drones": draw(st.booleans())}
    loiter = draw(st.sampled_from(["until_ground", "exponential"]))
    d = {
        "name": "random",
        "simulation": {"weeks": draw(st.sampled_from([0.1, 0.2])), "warmup_hours": 2.0,
                       "seed": draw(st.integers(0, 2**31))},
        "drones": {
            "speed_m_s": draw(st.sampled_from([15.0, 25.0])),
            "decision_s": draw(st.sampled_from([0.0, 10.0, 60.0])),
            "launch_overhead_s": draw(st.sampled_from([0.0, 20.0])),
            "endurance_s": draw(st.sampled_from([900.0, 2400.0])),
            "reserve_s": draw(st.sampled_from([0.0, 300.0])),
            "recharge_full_s": draw(st.sampled_from([0.0, 600.0, 2700.0])),
            "min_on_scene_s": draw(st.sampled_from([0.0, 180.0])),
            "handover_s": draw(st.sampled_from([0.0, 60.0])),
            "max_range_m": draw(st.sampled_from([1500.0, 4000.0, 9000.0])),
            "loiter": loiter,
            "loiter_mean_s": draw(st.sampled_from([120.0, 900.0])),
        },
        "docks": docks,
        "services": services,
        "control_room": {"pilots": draw(st.integers(1, 3))},
        "dispatch": {
            "policy": "earliest_arrival",
            "max_queue_wait_s": draw(st.sampled_from([0.0, 120.0, 600.0, math.inf])),
            "params": {"include_returning": draw(st.booleans())},
        },
        # Restricted airspace: none, the default zones flown around, or flown through after an
        # authorisation delay.
        "airspace": draw(st.sampled_from([{"frz": []}, {}, {"mode": "authorise",
                                                            "authorisation_delay_s": 60.0}])),
    }
    return scenario_from_dict(d, source="<hypothesis>")


@settings(max_examples=50)
@given(scn=small_scenarios(), rep=st.integers(0, 3))
def test_invariants_random_scenarios(scn, rep):
    prep = prepare(scn)
    res = run_replication(prep, rep)
    for outcome in set(res.incidents["drone_outcome"].astype(str)):
        event(f"outcome {outcome}")  # shown by --hypothesis-show-statistics
    if res.incidents["t_drone_assigned"].gt(res.incidents["t_drone_decision"]).any():
        event("some drone queue wait")
    if res.incidents["t_pilot"].gt(res.incidents["t_drone_assigned"]).any():
        event("some pilot wait")
    if res.incidents.get("airspace_delay_s", res.incidents["t_call"] * 0).gt(0).any():
        event("some airspace delay")
    check_invariants(prep, res)


def test_invariants_met_baseline_busy():
    # The baseline with many more drone-suited calls: queues, abandonments, returning drones
    # booked in flight, pilot waits and cancellations all happen.
    scn = load_scenario(MET_BASELINE, {
        "simulation": {"weeks": 0.25},
        "services": {"police": {"drone_suited_share": [1.0, 0.2]}},
    })
    prep = prepare(scn)
    res = run_replication(prep, 0)
    outcomes = set(res.incidents["drone_outcome"].astype(str))
    assert {"on_scene", "queue_abandoned", "out_of_range", "cancelled"} <= outcomes
    check_invariants(prep, res)


def test_checker_catches_overlapping_missions(tiny_scenario):
    # The checker itself must be able to fail: corrupt a mission log and see it caught.
    prep = prepare(tiny_scenario(services={"police": {"incidents_per_week": 6000.0}}))
    res = run_replication(prep, 0)
    check_invariants(prep, res)
    mis = res.missions
    d = mis["drone_id"].value_counts().index[0]
    rows = mis.index[mis["drone_id"] == d][:2]
    assert len(rows) == 2
    mis.loc[rows[1], "t_pilot"] = mis.loc[rows[0], "t_pilot"]
    try:
        check_invariants(prep, res)
    except AssertionError:
        return
    raise AssertionError("overlapping missions not detected")


def test_empty_mission_log_typed(tiny_scenario):
    # A replication without a single mission must still give numeric mission columns, or the
    # missions.parquet schema (and arithmetic on the table) depends on whether a drone flew.
    prep = prepare(tiny_scenario(services={"police": {"drone_suited_share": [0.0, 0.0]}}))
    res = run_replication(prep, 0)
    assert len(res.missions) == 0
    full = run_replication(prepare(tiny_scenario()), 0).missions
    assert len(full) > 0
    assert dict(res.missions.dtypes) == dict(full.dtypes)
