"""Ground travel-time models (dronesim.inputs.travel): straight, fitted, matrix, graph; the
engine's one road-time path; bad travel files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import MET_BASELINE, run_cli, tiny_scenario_dict, write_toml
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.engine.ground import travel_time_s
from dronesim.errors import InputError
from dronesim.inputs.geography import default_data_dir
from dronesim.inputs.scenario import GroundSpec, scenario_from_dict
from dronesim.inputs.travel import (
    FittedTravel,
    GraphTravel,
    MatrixTravel,
    StraightTravel,
    hour_of_week_bucket,
    kolesar_s,
    make_travel_model,
    read_fit,
)

DATA = default_data_dir()
TABLE = read_fit(str(DATA))
# Points whose bank is known: Trafalgar Square and Chelsea (north), Elephant and Castle and
# Battersea (south).
NORTH = [(530000.0, 180500.0), (527500.0, 178000.0)]
SOUTH = [(532000.0, 179000.0), (528900.0, 177400.0)]
coord_x = st.floats(520000, 545000)
coord_y = st.floats(170000, 190000)


@pytest.fixture(scope="module")
def fitted() -> FittedTravel:
    return FittedTravel(TABLE, DATA)


# --- straight ---------------------------------------------------------------------------------
@given(d=st.floats(0, 50_000), c=st.floats(1, 5), v=st.floats(0.5, 100), f=st.floats(0, 5),
       turn=st.floats(0, 600))
def test_straight_is_the_old_formula_bit_for_bit(d, c, v, f, turn):
    model = StraightTravel(c, v)
    old = c * d / v * f  # the engine's formula before the travel models
    assert model.drive_s(d, 0.0, 0.0, d, 0.0, 1.0) * f == old
    assert turn + model.drive_s(d, 0.0, 0.0, d, 0.0, 1.0) * f == travel_time_s(d, turn, c, v, f)


# --- fitted -----------------------------------------------------------------------------------
def test_fitted_reproduces_the_table(fitted):
    """The model's time is the table's formula, worked here from the JSON's own numbers."""
    rng = np.random.default_rng(3)
    x0, y0 = rng.uniform(525000, 540000, 50), rng.uniform(172000, 186000, 50)
    x1, y1 = rng.uniform(525000, 540000, 50), rng.uniform(172000, 186000, 50)
    t = rng.uniform(0, 7 * 86400, 50)
    a, v, r = TABLE["accel_m_s2"], TABLE["cruise_m_s"], TABLE["river_s"]
    got = fitted.time_s(x0, y0, x1, y1, t)
    for k in range(50):
        d = math.hypot(x1[k] - x0[k], y1[k] - y0[k])
        curve = 2 * math.sqrt(d / a) if d <= v * v / a else v / a + d / v
        cross = fitted.banks.of(x0[k], y0[k]) != fitted.banks.of(x1[k], y1[k])
        day, hour = divmod(int(t[k] // 3600), 24)
        h = TABLE["hour_factor"][hour + (24 if day >= 5 else 0)]
        want = TABLE["overhead_s"] + h * (curve + r * cross)
        assert got[k] == pytest.approx(want, rel=1e-12)


@given(x0=coord_x, y0=coord_y, x1=coord_x, y1=coord_y, t=st.floats(0, 7 * 86400 - 1),
       k=st.floats(0.5, 2.0))
def test_road_time_factor_scales_the_whole_fitted_drive(fitted, x0, y0, x1, y1, t, k):
    """ground.road_time_factor multiplies every fitted road time (overhead, curve, river) by
    itself; at 1.0 every bit is the fit's."""
    scaled = FittedTravel(TABLE, DATA, (), k)
    same = FittedTravel(TABLE, DATA, (), 1.0)
    base = fitted.time_s(x0, y0, x1, y1, t)
    assert same.time_s(x0, y0, x1, y1, t) == base
    assert scaled.time_s(x0, y0, x1, y1, t) == pytest.approx(k * base, rel=1e-12)


def test_fitted_borough_factor_scales_the_drive():
    codes = tuple(TABLE["borough_factor"])
    model = FittedTravel(TABLE, DATA, codes)
    k = codes.index(min(codes, key=lambda c: TABLE["borough_factor"][c]))
    base = model.time_s(530000, 180500, 531000, 181500, 3600.0)
    mine = model.time_s(530000, 180500, 531000, 181500, 3600.0, borough=k)
    assert mine == pytest.approx(TABLE["overhead_s"] + (base - TABLE["overhead_s"])
                                 * TABLE["borough_factor"][codes[k]], rel=1e-12)
    assert mine < base


def test_hour_buckets():
    assert hour_of_week_bucket(0.0) == 0  # Monday 00:00
    assert hour_of_week_bucket(4 * 86400 + 23 * 3600 + 59) == 23  # Friday 23:59
    assert hour_of_week_bucket(5 * 86400) == 24  # Saturday 00:00
    assert hour_of_week_bucket(7 * 86400 + 3600) == 1  # the next Monday 01:00


def test_kolesar_curve_is_continuous_with_its_slope_at_the_critical_distance():
    a, v = TABLE["accel_m_s2"], TABLE["cruise_m_s"]
    dc = v * v / a
    eps = 1e-3
    below, at, above = kolesar_s([dc - eps, dc, dc + eps], a, v)
    assert below == pytest.approx(at, abs=1e-3) and above == pytest.approx(at, abs=1e-3)
    slope_lo = (at - below) / eps
    slope_hi = (above - at) / eps
    assert slope_lo == pytest.approx(1 / v, rel=1e-3) and slope_hi == pytest.approx(1 / v, rel=1e-6)
    assert kolesar_s(0.0, a, v) == 0.0
    assert kolesar_s(4 * dc, a, v) == pytest.approx(v / a + 4 * dc / v)


def test_river_term_applies_only_across_the_river(fitted):
    assert TABLE["river_s"] > 0
    for (nx, ny) in NORTH:
        assert fitted.banks.of(nx, ny) == 1
    for (sx, sy) in SOUTH:
        assert fitted.banks.of(sx, sy) == 0
    (ax, ay), (bx, by) = NORTH
    (cx, cy), (dx, dy) = SOUTH
    d_same = math.hypot(bx - ax, by - ay)
    d_cross = math.hypot(cx - ax, cy - ay)
    same = fitted.drive_s(d_same, ax, ay, bx, by, 1.0)
    cross = fitted.drive_s(d_cross, ax, ay, cx, cy, 1.0)
    assert same == pytest.approx(TABLE["overhead_s"] + float(kolesar_s(
        d_same, TABLE["accel_m_s2"], TABLE["cruise_m_s"])), rel=1e-12)
    assert cross == pytest.approx(TABLE["overhead_s"] + float(kolesar_s(
        d_cross, TABLE["accel_m_s2"], TABLE["cruise_m_s"])) + TABLE["river_s"], rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(x0=coord_x, y0=coord_y, x1=coord_x, y1=coord_y, t=st.floats(0, 7 * 86400 - 1))
def test_fitted_swapping_ends_gives_the_same_time(fitted, x0, y0, x1, y1, t):
    assert fitted.time_s(x0, y0, x1, y1, t) == fitted.time_s(x1, y1, x0, y0, t)


@settings(max_examples=100, deadline=None)
@given(x0=coord_x, y0=coord_y, ang=st.floats(0, 2 * math.pi), d1=st.floats(0, 20_000),
       extra=st.floats(1, 20_000))
def test_fitted_time_increases_with_distance_on_one_bank(fitted, x0, y0, ang, d1, extra):
    d2 = d1 + extra
    x1, y1 = x0 + d1 * math.cos(ang), y0 + d1 * math.sin(ang)
    x2, y2 = x0 + d2 * math.cos(ang), y0 + d2 * math.sin(ang)
    b = fitted.banks
    if not b.of(x0, y0) == b.of(x1, y1) == b.of(x2, y2):
        return
    assert fitted.drive_s(d1, x0, y0, x1, y1, 1.0) < fitted.drive_s(d2, x0, y0, x2, y2, 1.0)


# --- matrix -----------------------------------------------------------------------------------
def _matrix(tmp: Path, rows: list[tuple], header: str = "from_x,from_y,to_x,to_y,time_s",
            name: str = "m.csv") -> Path:
    p = tmp / name
    p.write_text(header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return p


A, B = (530000.0, 180000.0), (531000.0, 180000.0)
MATRIX_ROWS = [(*A, *A, 30), (*A, *B, 200), (*B, *A, 250), (*B, *B, 40)]


def test_matrix_by_hand(tmp_path):
    m = MatrixTravel(_matrix(tmp_path, MATRIX_ROWS))
    assert m.drive_s(0, 530100, 180050, 530900, 179990, 1.0) == 200  # A -> B by nearest cells
    assert m.drive_s(0, 530900, 180000, 530100, 180000, 1.0) == 250  # B -> A (not symmetric)
    assert m.drive_s(0, 529000, 180000, 529500, 180000, 1.0) == 30   # both nearest A
    assert list(m.time_s([A[0], B[0]], [A[1], B[1]], B[0], B[1], factor=2.0)) == [400, 80]


def test_matrix_parquet(tmp_path):
    import pandas as pd

    p = tmp_path / "m.parquet"
    pd.DataFrame(MATRIX_ROWS, columns=list(MatrixTravel.COLUMNS)).to_parquet(p)
    assert MatrixTravel(p).drive_s(0, *A, *B, 1.0) == 200


@pytest.mark.parametrize("rows,header,field,problem", [
    (MATRIX_ROWS, "from_x,from_y,to_x,to_y,time_s,speed", "speed", "unknown column"),
    ([r[:4] for r in MATRIX_ROWS], "from_x,from_y,to_x,to_y", "time_s", "missing column"),
    ([*MATRIX_ROWS[:3], (*B, *B, -5)], None, "time_s", "row 5: negative time -5"),
    ([(-0.12, 51.5, -0.1, 51.5, 60)], None, "from_x", "longitude/latitude"),
    (MATRIX_ROWS[:3], None, "time_s", "every origin needs every destination"),
])
def test_bad_matrix_files(tmp_path, rows, header, field, problem):
    p = _matrix(tmp_path, rows, *([header] if header else []))
    with pytest.raises(InputError) as ei:
        MatrixTravel(p)
    assert ei.value.file == str(p) and ei.value.field == field and problem in ei.value.problem
    assert "\n" not in str(ei.value)


def test_missing_travel_file(tmp_path):
    with pytest.raises(InputError) as ei:
        MatrixTravel(tmp_path / "nope.csv")
    assert "nope.csv" in str(ei.value) and "\n" not in str(ei.value)


# --- graph ------------------------------------------------------------------------------------
def _graph(tmp: Path, crs: str = "EPSG:27700", lonlat: bool = False) -> Path:
    nx = pytest.importorskip("networkx")
    g = nx.MultiDiGraph(crs=crs)
    # A square of 1 km sides: 1 -> 2 -> 3 fast (60 s + speed 36 km/h over 1 km = 100 s),
    # 1 -> 4 -> 3 slow (maxspeed 18 km/h: 200 s each), 1 -> 3 direct 500 s.
    pts = {1: (530000, 180000), 2: (531000, 180000), 3: (531000, 181000), 4: (530000, 181000)}
    for n, (x, y) in pts.items():
        g.add_node(n, x=(x - 530000) / 1e5 if lonlat else x, y=51.5 if lonlat else y)
    g.add_edge(1, 2, length=1000.0, travel_time=60.0)
    g.add_edge(2, 3, length=1000.0, speed_kph=36.0)
    g.add_edge(1, 4, length=1000.0, maxspeed="18")
    g.add_edge(4, 3, length=1000.0, maxspeed="18 mph")
    g.add_edge(1, 3, length=1414.0, travel_time=500.0)
    p = tmp / "roads.graphml"
    nx.write_graphml(g, p)
    return p


def test_graph_shortest_paths_by_hand(tmp_path):
    m = GraphTravel(_graph(tmp_path))
    assert m.drive_s(0, 530010, 179990, 531020, 181000, 1.0) == pytest.approx(160.0)  # 1-2-3
    assert m.drive_s(0, 530000, 180000, 530000, 181000, 1.0) == pytest.approx(200.0)  # 1-4
    assert m.drive_s(0, 531000, 181000, 530000, 180000, 1.0) == math.inf  # one-way streets
    assert m.drive_s(0, 530000, 180000, 530000, 180000, 1.0) == 0.0


def test_graph_in_degrees_is_refused(tmp_path):
    with pytest.raises(InputError) as ei:
        GraphTravel(_graph(tmp_path, crs="epsg:4326", lonlat=True))
    assert ei.value.field == "crs" and "EPSG:27700" in ei.value.problem
    with pytest.raises(InputError) as ei:
        GraphTravel(_graph(tmp_path, crs="", lonlat=True))
    assert ei.value.field == "x" and "longitude/latitude" in ei.value.problem


# --- scenario and engine ----------------------------------------------------------------------
def test_matrix_or_graph_needs_a_file():
    with pytest.raises(InputError) as ei:
        scenario_from_dict(tiny_scenario_dict(services={"police": {"ground": {
            "travel_model": "graph"}}}), source="s.toml")
    assert ei.value.field == "services.police.ground.travel_file"


def test_make_travel_model_by_name(tmp_path):
    assert isinstance(make_travel_model(GroundSpec(), DATA), FittedTravel)
    s = make_travel_model(GroundSpec(travel_model="straight", circuity=1.5, speed_m_s=10.0), DATA)
    assert isinstance(s, StraightTravel) and s.drive_s(100.0, 0, 0, 0, 0, 1.0) == 15.0
    _matrix(tmp_path, MATRIX_ROWS)
    m = make_travel_model(GroundSpec(travel_model="matrix", travel_file="m.csv"), DATA,
                          base=tmp_path)
    assert isinstance(m, MatrixTravel)


def test_engine_drives_through_the_travel_model(tmp_path):
    """Every ground leg goes through the model: a matrix of one constant time gives every
    incident attendance = turnout + that time exactly."""
    from dronesim.engine.replication import prepare, run_replication

    cells = [(x, y) for x in range(500000, 566000, 6000) for y in range(155000, 206000, 6000)]
    rows = [(*a, *b, 345) for a in cells for b in cells]
    _matrix(tmp_path, rows)
    scn = scenario_from_dict(tiny_scenario_dict(services={"police": {"ground": {
        "travel_model": "matrix", "travel_file": "m.csv", "turnout_s": 30.0, "travel_cv": 0.0,
        "turnout_cv": 0.0}}}), source=str(tmp_path / "s.toml"))
    df = run_replication(prepare(scn), 0).incidents
    att = (df["t_ground_arrival"] - df["t_ground_dispatch"]).dropna()
    assert len(att) > 100
    assert np.allclose(att, 375.0, atol=1e-6)


def _station_choice(model) -> int:
    """StationForce._nearest_idle for one incident at Trafalgar Square (north bank) with two idle
    stations: Elephant and Castle (south, 2.5 km) and one in Hyde Park (north, 2.6 km)."""
    from types import SimpleNamespace

    from dronesim.engine.ground import StationForce

    sx, sy = [532000.0, 527500.0], [179000.0, 181300.0]
    x, y = 530000.0, 180500.0
    d = [math.hypot(a - x, b - y) for a, b in zip(sx, sy)]
    force = SimpleNamespace(n_idle=2, idle=[[0], [1]], _cand=[[0, 1]], _cdist=[d], _x=[x],
                            _y=[y], travel=model, _drive=model.drive_s, _scale=[1.0], _sx=sx,
                            _sy=sy)
    return StationForce._nearest_idle(force, 0)[0]


def test_fitted_station_choice_avoids_crossing_the_river(fitted):
    assert fitted.banks.of(532000.0, 179000.0) == 0 and fitted.banks.of(527500.0, 181300.0) == 1
    assert _station_choice(StraightTravel(1.4, 18.0)) == 0  # nearest by straight line
    assert _station_choice(fitted) == 1  # the same bank, 0.1 km farther


def test_bad_travel_file_via_the_cli_exits_2(tmp_path, capsys):
    bad = _matrix(tmp_path, [*MATRIX_ROWS[:3], (*B, *B, -5)])
    scn = write_toml(tmp_path / "s.toml", f'extends = "{MET_BASELINE.as_posix()}"\n'
                     '[services.police.ground]\ntravel_model = "matrix"\n'
                     'travel_file = "m.csv"\n')
    code, _out, err = run_cli(["validate", str(scn)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0] == f"dronesim: error: {bad}: time_s: row 5: negative time -5"


def test_fit_table_is_small_and_documented():
    text = (DATA / "calibration" / "ground_travel_fit.json").read_text()
    table = json.loads(text)
    assert len(text) < 10_000 and table["n"] > 9000 and len(table["borough_factor"]) == 33
    assert "ground_travel_fit.json" in (DATA / "README.md").read_text()
