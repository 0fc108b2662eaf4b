"""Fleet-growth sweeps and dock siting: ``--fleet`` parsing, the nested growth pathway
(today's docks pinned, sites only added, none in a no-fly zone), common random numbers across
steps, the ``sweep`` command's output folder, the ``[siting]`` methods resolved by ``prepare``,
and restricted airspace: docks refused inside a flight restriction zone, flights detouring around
it or waiting for authorisation, and static coverage lost to it.

Everything runs on short horizons (a fraction of a week) with one worker unless the command line
picks its own, so the module stays within a few seconds of simulation.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import MET_BASELINE, REPO, SCENARIOS, extends_baseline, run_cli

from dronesim.engine.replication import prepare, run_replication
from dronesim.errors import InputError
from dronesim.experiment.sweep import parse_fleet, plan_growth, run_sweep
from dronesim.inputs.airspace import zones_for
from dronesim.inputs.geography import load_london, lonlat_to_bng
from dronesim.inputs.scenario import (
    DockSite,
    Scenario,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
)
from dronesim.siting import solvers as siting
from dronesim.siting.sites import RIVER_TOLERANCE_M, candidate_pool, sited_docks

MET_GROWTH = SCENARIOS / "met_growth.toml"
LISTED = ("Islington", "West End", "Hyde Park")  # met_baseline's [[docks]], in order
N_BOROUGHS = 33
GROWTH_SIZES = [9, 20, 40]
SWEEP_SIZES = [9, 30]

#: Columns of the operations figures, present when weather and faults are on, as in
#: scenarios/met_growth.toml (it extends the Met baseline, operational since issue 17).
OPERATIONS_STEP_COLUMNS = {"drone_availability", "drone_failures_per_week", "grounded_per_week",
                           "flyable_hours_per_day"}
#: Columns of ``SweepResult.steps`` (one row per step and replication), as sweep.csv holds them.
STEP_COLUMNS = {
    "step", "fleet_requested", "fleet_size", "sites", "pilots", "replication",
    "drone_mean_s", "drone_median_s", "drone_p90_s", "ground_mean_s",
    "deployments_per_week", "suited_per_week", "suited_share_within_target",
    "p_drone_first", "time_saved_s", "drone_utilisation", "pilot_utilisation", "p_pilot_wait",
    "out_of_range_per_week", "declined_per_week", "queue_abandoned_per_week", "unstable",
    "area_share", "population_share", "boroughs_covered",
    # issue 9: cover until handover, costs and equity (dronesim.experiment.derived), always present
    "covered_until_handover", "cost_per_year_gbp", "cost_per_deployment_gbp",
    "cost_per_minute_saved_gbp", "minutes_saved_per_week", "flight_hours_per_week",
    "equity_worst_share", "equity_spread", "equity_gini", "population_share_missing_target",
}


def dock_xy(docks: tuple[DockSite, ...]) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:27700 positions of dock sites given either as x/y or lon/lat."""
    xs, ys = [], []
    for d in docks:
        if math.isnan(d.x):
            x, y = lonlat_to_bng(d.lon, d.lat)
            xs.append(float(x))
            ys.append(float(y))
        else:
            xs.append(d.x)
            ys.append(d.y)
    return np.asarray(xs, float), np.asarray(ys, float)


def with_docks(scn: Scenario, docks: tuple[DockSite, ...]) -> Scenario:
    return dataclasses.replace(scn, docks=docks,
                               siting=dataclasses.replace(scn.siting, method="listed"))


def baseline_dict(**over) -> dict:
    """met_baseline as a plain dict with top-level tables merged key by key."""
    d = scenario_to_dict(load_scenario(MET_BASELINE))
    for k, v in over.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) else v
    return d


def from_dict(d: dict) -> Scenario:
    return scenario_from_dict(d, source=str(MET_BASELINE))


# ---------------------------------------------------------------------------------------------
# 1. --fleet
# ---------------------------------------------------------------------------------------------


def test_parse_fleet_range_evenly_spaced():
    sizes = parse_fleet("9:300", steps=8)
    assert len(sizes) == 8
    assert sizes[0] == 9 and sizes[-1] == 300
    assert all(b > a for a, b in zip(sizes, sizes[1:]))
    assert all(isinstance(s, int) for s in sizes)
    # Evenly spaced up to rounding.
    assert np.allclose(np.diff(sizes), (300 - 9) / 7, atol=1)


def test_parse_fleet_range_with_step_ends_at_the_top():
    assert parse_fleet("9:300:50") == [9, 59, 109, 159, 209, 259, 300]
    assert parse_fleet("9:309:50") == [9, 59, 109, 159, 209, 259, 309]  # lands exactly


def test_parse_fleet_list():
    assert parse_fleet("9,30,60") == [9, 30, 60]
    assert parse_fleet(" 60, 9 ,30,30 ") == [9, 30, 60]  # sorted, duplicates dropped


@pytest.mark.parametrize("text", ["x", "9:", "0,5", "9:300:0", "", "9:300:-5", "1:2:3:4",
                                  "9.5,10", "300:9:10"])
def test_parse_fleet_bad_input_names_the_option(text):
    with pytest.raises(InputError) as err:
        parse_fleet(text)
    assert err.value.field == "--fleet"
    assert "--fleet" in str(err.value)


# ---------------------------------------------------------------------------------------------
# 2-3. The nested growth pathway
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def growth():
    """met_growth planned for GROWTH_SIZES: (scenario, plans, prepared scenario of each step)."""
    scn = load_scenario(MET_GROWTH)
    plans = plan_growth(scn, GROWTH_SIZES)
    preps = [prepare(with_docks(scn, docks)) for _, docks in plans]
    return scn, plans, preps


def test_growth_first_step_is_todays_met_docks(growth):
    scn, plans, _ = growth
    n, docks = plans[0]
    assert n == 9
    assert docks == scn.docks
    assert [d.name for d in docks] == list(LISTED)
    assert sum(d.drones for d in docks) == 9


def test_growth_steps_are_nested(growth):
    _, plans, _ = growth
    assert [n for n, _ in plans] == GROWTH_SIZES
    prev: set = set()
    for _, docks in plans:
        here = {(d.name, round(d.x, 3), round(d.y, 3)) if not math.isnan(d.x)
                else (d.name, d.lon, d.lat) for d in docks}
        assert len(here) == len(docks), "a site is listed twice"
        assert prev <= here, f"sites dropped: {sorted(prev - here)}"
        assert len(here) > len(prev)
        prev = here
    for k in range(1, len(plans)):  # listed docks stay first, earlier steps are a prefix by name
        assert [d.name for d in plans[k][1][:3]] == list(LISTED)


def test_growth_fleet_sizes_round_up_to_whole_sites(growth):
    scn, plans, preps = growth
    per = scn.siting.drones_per_site
    for (n, docks), prep in zip(plans, preps):
        fleet = sum(d.drones for d in docks)
        assert n <= fleet < n + per
        assert prep.scenario.fleet_size == fleet
        assert all(d.drones == per for d in docks[3:])


def test_growth_rounding_with_three_drones_a_site():
    # Fire stations only: with the hex lattice too, the small-p MILP takes seconds.
    scn = load_scenario(MET_GROWTH, {"siting": {"drones_per_site": 3,
                                                "candidates": ["fire_station"]}})
    plans = plan_growth(scn, [5, 10, 20])
    fleets = [sum(d.drones for d in docks) for _, docks in plans]
    # Below today's 9 drones: today's docks only; above: whole 3-drone sites, rounded up.
    assert fleets == [9, 12, 21]
    assert [len(docks) for _, docks in plans] == [3, 4, 7]
    for n, f in zip([10, 20], fleets[1:]):
        assert n <= f < n + 3


def test_growth_sites_avoid_no_fly_zones_and_stay_in_london(growth, london):
    scn, plans, preps = growth
    zones = zones_for(scn.airspace)
    assert zones is not None and len(zones) == 4
    for (_, docks), prep in zip(plans, preps):
        x, y = dock_xy(docks)
        assert not zones.contains(x, y).any()
        # prepare() accepted the step (it refuses docks outside London or in a zone) and its
        # prepared zones are the same FRZs.
        assert len(prep.docks) == len(docks)
        assert not prep.zones.contains(prep.docks.x, prep.docks.y).any()
        gap = shapely.distance(london.outline, shapely.points(x, y))
        inside = london.borough_of(x, y) >= 0
        assert np.all(inside | (gap <= RIVER_TOLERANCE_M))


def test_growth_static_coverage_never_falls(growth):
    _, _, preps = growth
    cov = [p.static_coverage(("population",)) for p in preps]
    pop = [c.population_share for c in cov]
    boroughs = [c.boroughs_covered for c in cov]
    area = [c.area_share for c in cov]
    for seq in (pop, boroughs, area):
        assert all(b >= a for a, b in zip(seq, seq[1:])), seq
    assert pop[-1] > pop[0]  # 31 more sites do add coverage
    assert all(0 <= b <= N_BOROUGHS for b in boroughs)


def test_growth_refuses_more_sites_than_candidates():
    scn = load_scenario(MET_GROWTH, {"siting": {"candidates": ["fire_station"]}})
    with pytest.raises(InputError) as err:
        plan_growth(scn, [9, 9 + 500])
    assert err.value.field == "siting.candidates"


# ---------------------------------------------------------------------------------------------
# 4. run_sweep
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep():
    scn = load_scenario(MET_GROWTH, {"simulation": {"weeks": 0.2}})
    return scn, run_sweep(scn, SWEEP_SIZES, replications=2, workers=1)


def test_sweep_steps_table(sweep):
    _, res = sweep
    steps = res.steps
    assert set(steps.columns) == STEP_COLUMNS | OPERATIONS_STEP_COLUMNS
    assert len(steps) == len(SWEEP_SIZES) * 2
    assert sorted(zip(steps["step"], steps["replication"])) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for k, n in enumerate(SWEEP_SIZES):
        g = steps[steps["step"] == k]
        assert (g["fleet_requested"] == n).all()
        assert (g["fleet_size"] >= n).all()
        assert g["sites"].nunique() == 1 and g["fleet_size"].nunique() == 1
    assert not steps["unstable"].any()


def test_sweep_common_random_numbers(sweep):
    _, res = sweep
    s = res.steps
    for rep, g in s.groupby("replication"):
        # Ground response does not depend on drones: exactly equal across steps.
        assert g["ground_mean_s"].nunique() == 1, (rep, g["ground_mean_s"].tolist())
        # Same incidents at every step: the same drone-suited incidents.
        assert g["suited_per_week"].nunique() == 1, (rep, g["suited_per_week"].tolist())
    # ... while replications differ from each other.
    assert s.groupby("replication")["ground_mean_s"].first().nunique() == 2


def test_sweep_more_drones_more_deployments(sweep):
    _, res = sweep
    wide = res.steps.pivot(index="replication", columns="step", values="deployments_per_week")
    assert (wide[1] >= wide[0]).all(), wide
    out = res.steps.pivot(index="replication", columns="step", values="out_of_range_per_week")
    assert (out[1] <= out[0]).all(), out


def test_sweep_summary(sweep):
    scn, res = sweep
    summ = res.summary
    assert len(summ["steps"]) == 2
    fleets = [s["fleet_size"] for s in summ["steps"]]
    assert fleets == sorted(res.steps.groupby("step")["fleet_size"].first().tolist())
    small = summ["smallest_fleet_covering_every_borough"]
    assert small is None or small in fleets
    assert summ["largest_fleet"] == fleets[-1]
    assert summ["replications"] == 2 and summ["seed"] == scn.simulation.seed
    for s in summ["steps"]:
        lo, hi = s["drone_mean_s"]["ci95_mean"]
        m = s["drone_mean_s"]["mean"]
        assert lo is None or lo <= m <= hi


def test_sweep_boroughs_and_sites_tables(sweep):
    _, res = sweep
    b = res.boroughs
    assert b.groupby("step").size().tolist() == [N_BOROUGHS] * 2
    assert (b.groupby("step")["gss_code"].nunique() == N_BOROUGHS).all()
    assert {"gss_code", "step", "fleet_size", "population_share",
            "simulated_share_within_target"} <= set(b.columns)
    sites_per_step = res.steps.groupby("step")["sites"].first()
    assert res.sites.groupby("step").size().tolist() == sites_per_step.tolist()
    assert res.sites[res.sites["step"] == 0]["site"].tolist() == list(LISTED)


def test_sweep_ground_identical_incident_by_incident():
    """Why ground_mean_s is equal across steps: per incident, ground arrivals do not move."""
    scn = load_scenario(MET_GROWTH, {"simulation": {"weeks": 0.1}})
    plans = plan_growth(scn, SWEEP_SIZES)
    runs = [run_replication(prepare(with_docks(scn, docks)), 0) for _, docks in plans]
    a, b = (r.incidents for r in runs)
    assert len(a) == len(b)
    for col in ("t_call", "x", "y", "drone_suited", "t_ground_dispatch", "t_ground_arrival",
                "ground_unit"):
        pd.testing.assert_series_equal(a[col], b[col])
    assert (a["drone_outcome"] != b["drone_outcome"]).any()  # the drones themselves did differ


# ---------------------------------------------------------------------------------------------
# 5. The sweep command
# ---------------------------------------------------------------------------------------------


def test_cli_sweep_writes_every_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "sweep_out"
    argv = ["sweep", "scenarios/met_growth.toml", "--fleet", "9,20", "--replications", "1",
            "--weeks", "0.2", "--out", str(out), "--quiet"]
    code, stdout, stderr = run_cli(argv, capsys)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    for name in ("sweep.csv", "boroughs.csv", "sites.csv", "summary.json", "manifest.json",
                 "scenario.resolved.toml"):
        assert (out / name).is_file(), name
    for name in ("coverage_vs_fleet.png", "response_vs_fleet.png", "borough_coverage.png"):
        p = out / "plots" / name
        assert p.is_file(), name
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    steps = pd.read_csv(out / "sweep.csv")
    assert set(steps.columns) == STEP_COLUMNS | OPERATIONS_STEP_COLUMNS
    assert steps["fleet_size"].tolist() == [9, 20]
    assert len(pd.read_csv(out / "boroughs.csv")) == 2 * N_BOROUGHS
    summary = json.loads((out / "summary.json").read_text())
    assert [s["fleet_size"] for s in summary["steps"]] == [9, 20]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == argv
    assert load_scenario(out / "scenario.resolved.toml").name == "met_growth"
    assert "smallest fleet covering every borough" in stdout
    # Nothing half-written left beside the output folder.
    assert [p.name for p in tmp_path.iterdir()] == ["sweep_out"]


@pytest.mark.parametrize("fleet", ["x", "9:", "0,5", "9:300:0", "300:9:10"])
def test_cli_sweep_bad_fleet(tmp_path, capsys, monkeypatch, fleet):
    monkeypatch.chdir(REPO)
    out = tmp_path / "sweep_out"
    code, stdout, stderr = run_cli(["sweep", "scenarios/met_growth.toml", "--fleet", fleet,
                                    "--replications", "1", "--weeks", "0.2", "--out", str(out),
                                    "--quiet"], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dronesim: error:")
    assert "--fleet" in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 6. [siting] methods resolved into docks
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frz():
    return zones_for(load_scenario(MET_BASELINE).airspace)


def sited(siting_table: dict) -> tuple[Scenario, tuple[DockSite, ...]]:
    scn = load_scenario(MET_BASELINE, {"siting": siting_table})
    return scn, sited_docks(scn, load_london(), zones_for(scn.airspace))


def test_sited_one_per_borough(london, frz):
    scn, docks = sited({"method": "one_per_borough"})
    assert docks[:3] == scn.docks
    added = docks[3:]
    # One site per borough; the sites that fall in an FRZ (Greenwich, Hillingdon, Newham) are moved
    # out of it within their borough, none is lost (no borough lies wholly inside a zone).
    assert len(docks) == 3 + N_BOROUGHS
    x, y = dock_xy(added)
    assert not frz.contains(x, y).any()
    assert len(set(london.borough_of(x, y, nearest=True).tolist())) == N_BOROUGHS
    assert all(d.drones == scn.siting.drones_per_site for d in added)
    # Without the move, some borough centroids would be inside a zone: the move is exercised.
    raw = siting.one_per_borough(london, "population")
    assert frz.contains(raw["x"].to_numpy(), raw["y"].to_numpy()).any()
    prep = prepare(scn)  # prepare resolves the same docks and accepts them
    assert len(prep.docks) == len(docks)
    assert prep.scenario.siting.method == "listed"


def test_sited_candidates_fire_stations(london, frz):
    scn, docks = sited({"method": "candidates", "candidates": ["fire_station"]})
    pool = candidate_pool(scn, london, frz)
    assert len(docks) == 3 + len(pool)
    assert [d.name for d in docks[3:]] == pool["site_id"].tolist()
    names = set(pool["name"])
    assert "Lambeth River" in names  # on the Thames, within the river tolerance
    x, y = dock_xy(docks)
    assert not frz.contains(x, y).any()
    # The pool is every fire station that is usable: in London (or on the river) and not in
    # a zone; compare with an independent filter of the full list.
    every = siting.candidate_sites(london, ("fire_station",))
    ex, ey = every["x"].to_numpy(), every["y"].to_numpy()
    gap = shapely.distance(london.outline, shapely.points(ex, ey))
    usable = ((london.borough_of(ex, ey) >= 0) | (gap <= RIVER_TOLERANCE_M)) & ~frz.contains(ex, ey)
    assert sorted(pool["site_id"]) == sorted(every.loc[usable, "site_id"])
    assert len(every) == 103 and len(pool) < len(every)  # some stations are inside FRZs
    biggin = every[every["name"] == "Biggin Hill"]
    assert len(biggin) == 1
    assert ("Biggin Hill" in names) == (not frz.contains(biggin["x"].to_numpy(),
                                                         biggin["y"].to_numpy())[0])


def test_sited_max_coverage(frz):
    scn, docks = sited({"method": "max_coverage", "sites": 10})
    assert len(docks) == 10
    assert [d.name for d in docks[:3]] == list(LISTED)
    assert len({d.name for d in docks}) == 10
    x, y = dock_xy(docks)
    assert not frz.contains(x, y).any()


@pytest.mark.parametrize("method", ["max_coverage", "p_median"])
def test_sited_too_few_sites(method):
    with pytest.raises(InputError) as err:
        sited({"method": method, "sites": 2})
    assert err.value.field == "siting.sites"
    assert "siting.sites" in str(err.value)


def test_sited_from_file(tmp_path):
    csv = tmp_path / "new_sites.csv"
    pts = [("Brixton", -0.1145, 51.4613), ("Stratford", -0.0035, 51.5416)]
    csv.write_text("name,lon,lat\n" + "".join(f"{n},{lo},{la}\n" for n, lo, la in pts))
    scn, docks = sited({"method": "file", "file": str(csv), "drones_per_site": 2})
    assert docks[:3] == scn.docks
    assert [d.name for d in docks[3:]] == ["Brixton", "Stratford"]
    assert all(d.drones == 2 for d in docks[3:])
    for d, (_, lo, la) in zip(docks[3:], pts):
        x, y = lonlat_to_bng(lo, la)
        assert d.x == pytest.approx(float(x), abs=0.01)
        assert d.y == pytest.approx(float(y), abs=0.01)
    # A relative path is read beside the scenario file.
    path = extends_baseline(tmp_path / "filed.toml",
                            '[siting]\nmethod = "file"\nfile = "new_sites.csv"\n')
    prep = prepare(load_scenario(path))
    assert prep.docks.names == (*LISTED, "Brixton", "Stratford")


def test_sited_file_errors(tmp_path):
    with pytest.raises(InputError) as err:
        sited({"method": "file", "file": str(tmp_path / "nowhere.csv")})
    assert "nowhere.csv" in str(err.value)
    with pytest.raises(InputError) as err:
        sited({"method": "file"})
    assert err.value.field == "siting.file"


def test_unknown_candidate_kind():
    with pytest.raises(InputError) as err:
        load_scenario(MET_BASELINE, {"siting": {"method": "candidates",
                                                "candidates": ["fire_station", "police_station"]}})
    assert err.value.field == "siting.candidates[1]"
    assert "police_station" in str(err.value)


# ---------------------------------------------------------------------------------------------
# 7. A dock inside a flight restriction zone
# ---------------------------------------------------------------------------------------------

HEATHROW = (-0.4614, 51.4775)  # between the runways


def test_dock_in_heathrow_frz_refused():
    d = baseline_dict()
    # The dock's own name avoids "Heathrow", so the message must name the zone.
    d["docks"].append({"name": "Airside", "lon": HEATHROW[0], "lat": HEATHROW[1], "drones": 1})
    with pytest.raises(InputError) as err:
        prepare(from_dict(d))
    assert err.value.field == "docks[3]"
    assert "docks[3]" in str(err.value)
    assert "Heathrow" in str(err.value)


def test_dock_at_heathrow_accepted_without_frz():
    d = baseline_dict(airspace={"frz": []})
    d["docks"].append({"name": "Airside", "lon": HEATHROW[0], "lat": HEATHROW[1], "drones": 1})
    prep = prepare(from_dict(d))
    assert prep.zones is None
    assert prep.docks.names[3] == "Airside"


# ---------------------------------------------------------------------------------------------
# 8. Airspace in the simulation
# ---------------------------------------------------------------------------------------------

EDGE = (-0.41, 51.513)  # just north-east of Heathrow's FRZ


def edge_scenario(**airspace) -> Scenario:
    d = baseline_dict(
        simulation={"weeks": 0.3, "replications": 1},
        drones={"max_range_m": 4000.0},
        airspace=airspace,
    )
    d["docks"] = [{"name": "Edge", "lon": EDGE[0], "lat": EDGE[1], "drones": 3}]
    d["services"]["police"]["drone_suited_share"] = [1.0, 0.0]
    return from_dict(d)


@pytest.fixture(scope="module")
def edge_runs():
    out = {}
    for mode in ("detour", "authorise"):
        prep = prepare(edge_scenario(mode=mode, authorisation_delay_s=120.0))
        res = run_replication(prep, 0)
        inc = res.incidents
        out[mode] = prep, inc[inc["drone_outcome"] == "on_scene"]
    return out


def test_edge_dock_is_outside_the_zone(frz):
    x, y = lonlat_to_bng(*EDGE)
    assert not frz.contains(float(x), float(y))[0]


def test_detour_flights_are_never_shorter_than_straight(edge_runs, frz):
    prep, on = edge_runs["detour"]
    assert len(on) > 20
    dx, dy = prep.docks.x[0], prep.docks.y[0]
    straight = np.hypot(on["x"].to_numpy() - dx, on["y"].to_numpy() - dy)
    flown = on["drone_distance_m"].to_numpy()
    assert np.all(flown >= straight - 1e-6)
    assert np.any(flown > straight + 1e-6)
    assert np.all(flown <= prep.scenario.drones.max_range_m + 1e-6)
    # Every leg whose straight line crosses the zone was flown round it.
    crosses = frz.crosses(np.full(len(on), dx), np.full(len(on), dy),
                          on["x"].to_numpy(), on["y"].to_numpy())
    assert np.all(flown[crosses] > straight[crosses])
    assert not frz.contains(on["x"].to_numpy(), on["y"].to_numpy()).any()
    assert (on["airspace_delay_s"] == 0).all()


def test_authorise_flights_straight_with_delay(edge_runs, frz):
    prep, on = edge_runs["authorise"]
    assert len(on) > 20
    dx, dy = prep.docks.x[0], prep.docks.y[0]
    ix, iy = on["x"].to_numpy(), on["y"].to_numpy()
    straight = np.hypot(ix - dx, iy - dy)
    np.testing.assert_allclose(on["drone_distance_m"].to_numpy(), straight, rtol=0, atol=1e-6)
    delay = on["airspace_delay_s"].to_numpy()
    assert set(np.unique(delay)) <= {0.0, 120.0}
    assert (delay == 120.0).any()
    restricted = (frz.crosses(np.full(len(on), dx), np.full(len(on), dy), ix, iy)
                  | frz.contains(ix, iy))
    np.testing.assert_array_equal(delay == 120.0, restricted)


@pytest.mark.parametrize("mode", ["detour", "authorise"])
def test_zone_reduces_static_coverage(mode):
    with_zone = prepare(edge_scenario(mode=mode)).static_coverage()
    without = prepare(edge_scenario(mode=mode, frz=[])).static_coverage()
    assert with_zone.area_share < without.area_share
    assert with_zone.population_share <= without.population_share
