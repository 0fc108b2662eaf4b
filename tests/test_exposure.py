"""Overflight exposure (dronesim.outputs.exposure): a straight pass over a known grid counts
each cell crossed once and spreads the leg time over them; a hover adds to the cells within
200 m; the level at a cell by hand; tracks from mission records (out, hover, back, a redirected
leg's start, a detour around a no-fly zone); per-head figures by hand; and on a real run, the
minutes over the grid add up to the flight time of every leg."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.inputs.airspace import NoFlyZones
from dronesim.outputs.exposure import (
    CRUISE_ALTITUDE_M,
    EVENT_THRESHOLD_DBA,
    HOVER_ALTITUDE_M,
    SOURCE_LEVEL_1M_DBA,
    SOURCE_SOUND_POWER_DBA,
    Track,
    borough_exposure,
    exposure_grid,
    flight_tracks,
    results_exposure,
    segment_cells,
    sound_level_dba,
)


def _cell(grid: pd.DataFrame, ix: int, iy: int) -> pd.Series:
    row = grid[(grid["ix"] == ix) & (grid["iy"] == iy)]
    assert len(row) == 1, (ix, iy)
    return row.iloc[0]


def test_source_level_is_the_c2_limit_spread_spherically():
    # EU 2019/945 Part 15: 81 + 18.5 lg(3998 / 900) dB(A); at 1 m, less 10 lg(4 pi).
    assert SOURCE_SOUND_POWER_DBA == pytest.approx(92.98, abs=0.01)
    assert SOURCE_LEVEL_1M_DBA == pytest.approx(92.98 - 10.99, abs=0.01)
    assert float(sound_level_dba(100.0)) == pytest.approx(SOURCE_LEVEL_1M_DBA - 40.0)


def test_straight_pass_counts_each_cell_once_and_spreads_the_leg_time():
    # 950 m east along y = 50 (through the cell centres), 60 s cruise, no climb or descent.
    tr = Track(np.array([[0.0, 50.0], [950.0, 50.0]]), cruise_s=60.0)
    g = exposure_grid([tr])
    assert sorted(g["ix"]) == list(range(10)) and set(g["iy"]) == {0}
    assert (g["passes"] == 1).all()
    assert g["minutes"].sum() == pytest.approx(1.0)
    # Each full cell holds 100 m of the 950 m: 100 / 950 of the minute; the last 50 m.
    assert _cell(g, 3, 0)["minutes"] == pytest.approx(100 / 950)
    assert _cell(g, 9, 0)["minutes"] == pytest.approx(50 / 950)
    # Directly below the track at cruise height: the source level less 20 lg(60 m).
    assert _cell(g, 4, 0)["lmax_dba"] == pytest.approx(
        SOURCE_LEVEL_1M_DBA - 20 * math.log10(CRUISE_ALTITUDE_M))
    assert (g["hover_minutes"] == 0).all()


def test_a_pass_reentering_a_cell_counts_once_and_two_passes_twice():
    zigzag = np.array([[10.0, 10.0], [150.0, 10.0], [150.0, 90.0], [20.0, 90.0]])
    g = exposure_grid([Track(zigzag, cruise_s=30.0), Track(zigzag[::-1], cruise_s=30.0)])
    assert _cell(g, 0, 0)["passes"] == 2  # entered twice by each pass, counted once each
    assert _cell(g, 1, 0)["passes"] == 2
    assert g["minutes"].sum() == pytest.approx(1.0)


def test_level_at_an_offset_cell_by_hand_and_the_event_threshold():
    # Track along y = 80: the centres of row 0 are 30 m to the side.
    g = exposure_grid([Track(np.array([[0.0, 80.0], [299.0, 80.0]]), cruise_s=15.0)],
                      threshold_dba=SOURCE_LEVEL_1M_DBA - 20 * math.log10(66.0))
    r = math.hypot(30.0, CRUISE_ALTITUDE_M)  # 67.1 m
    assert _cell(g, 1, 0)["lmax_dba"] == pytest.approx(SOURCE_LEVEL_1M_DBA
                                                       - 20 * math.log10(r))
    assert (g["events"] == 0).all()  # 67.1 m is farther than the 66 m the threshold needs
    g2 = exposure_grid([Track(np.array([[0.0, 80.0], [299.0, 80.0]]), cruise_s=15.0)],
                       threshold_dba=SOURCE_LEVEL_1M_DBA - 20 * math.log10(68.0))
    assert (g2["events"] == 1).all()


def test_hover_adds_to_the_cells_within_200_m():
    hover = Track(np.array([[1050.0, 1050.0]]), start_s=600.0, hover=True)
    g = exposure_grid([hover])
    near = g[g["hover_minutes"] > 0]
    # Centres within 200 m of (1050, 1050): the cell itself, 4 at 100 m, 4 at 141 m, 4 at
    # 200 m (the 8 at 224 m are out).
    assert len(near) == 13
    assert near["hover_minutes"].tolist() == pytest.approx([10.0] * 13)
    assert g["minutes"].sum() == pytest.approx(10.0)
    assert _cell(g, 10, 10)["minutes"] == pytest.approx(10.0)
    assert (g["passes"] == 0).all()
    assert _cell(g, 10, 10)["lmax_dba"] == pytest.approx(
        SOURCE_LEVEL_1M_DBA - 20 * math.log10(HOVER_ALTITUDE_M))
    assert _cell(g, 12, 10)["lmax_dba"] == pytest.approx(
        SOURCE_LEVEL_1M_DBA - 20 * math.log10(math.hypot(200.0, HOVER_ALTITUDE_M)))
    assert EVENT_THRESHOLD_DBA == 45.0
    assert _cell(g, 10, 10)["events"] == 1 and _cell(g, 12, 10)["events"] == 0


@settings(max_examples=60, deadline=None)
@given(st.floats(-5e3, 5e3), st.floats(-5e3, 5e3), st.floats(-5e3, 5e3), st.floats(-5e3, 5e3))
def test_segment_pieces_add_up_to_its_length_in_adjacent_cells(x0, y0, x1, y1):
    ix, iy, piece = segment_cells(x0, y0, x1, y1)
    assert piece.sum() == pytest.approx(math.hypot(x1 - x0, y1 - y0), abs=1e-6)
    # consecutive pieces are in neighbouring cells (a corner crossing may skip diagonally)
    if ix.size > 1:
        assert (np.abs(np.diff(ix)) <= 1).all() and (np.abs(np.diff(iy)) <= 1).all()
    assert (ix[0], iy[0]) == (math.floor(x0 / 100), math.floor(y0 / 100)) or piece[0] < 1e-6


def _missions(rows):
    cols = ("replication", "drone_id", "dock_id", "incident", "t_launch", "t_on_scene",
            "t_leave", "t_landed", "redirected")
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_tracks_out_hover_back_and_a_redirected_leg_starting_at_its_scene():
    docks = np.array([[0.0, 0.0]])
    inc = pd.DataFrame({"replication": [0, 0], "incident_id": [7, 8],
                        "x": [1000.0, 1000.0], "y": [0.0, 500.0]})
    m = _missions([(0, 0, 0, 7, 100.0, 170.0, 470.0, 0.0, True),
                   (0, 0, 0, 8, 470.0, 520.0, 820.0, 900.0, False)])
    m.loc[0, "t_landed"] = 470.0  # a redirected leg ends when the drone flies on
    tr = flight_tracks(m, inc, docks, climb_s=10.0, descent_s=10.0)
    kinds = [("hover" if t.hover else "pass", tuple(t.path[0]), tuple(t.path[-1])) for t in tr]
    assert kinds == [("pass", (0.0, 0.0), (1000.0, 0.0)), ("hover", (1000.0, 0.0), (1000.0, 0.0)),
                     ("pass", (1000.0, 0.0), (1000.0, 500.0)),  # from the first scene
                     ("hover", (1000.0, 500.0), (1000.0, 500.0)),
                     ("pass", (1000.0, 500.0), (0.0, 0.0))]  # home to the dock
    assert [t.seconds for t in tr] == pytest.approx([70.0, 300.0, 50.0, 300.0, 80.0])
    assert (tr[0].start_s, tr[0].cruise_s, tr[0].end_s) == (10.0, 50.0, 10.0)
    assert sum(t.seconds for t in tr) == pytest.approx(370.0 + 430.0)


def test_detour_tracks_follow_the_router_around_a_no_fly_zone():
    zone = NoFlyZones([shapely.box(400.0, -300.0, 600.0, 300.0)])
    docks = np.array([[0.0, 0.0]])
    inc = pd.DataFrame({"replication": [0], "incident_id": [1], "x": [1000.0], "y": [0.0]})
    m = _missions([(0, 0, 0, 1, 0.0, 60.0, 120.0, 180.0, False)])
    straight = flight_tracks(m, inc, docks, climb_s=0.0, descent_s=0.0, zones=zone,
                             mode="authorise")
    detour = flight_tracks(m, inc, docks, climb_s=0.0, descent_s=0.0, zones=zone,
                           mode="detour")
    assert len(straight[0].path) == 2
    path = detour[0].path
    assert len(path) > 2
    length = float(np.hypot(*np.diff(path, axis=0).T).sum())
    assert length == pytest.approx(zone.router(25.0).route_length(0.0, 0.0, 1000.0, 0.0))
    assert not shapely.LineString(path).intersects(shapely.box(401, -299, 599, 299))
    # the way back is the same path reversed
    np.testing.assert_allclose(detour[-1].path, path[::-1])
    g = exposure_grid(detour)
    assert g["minutes"].sum() == pytest.approx(3.0)
    assert g[(g["ix"] == 5) & (g["iy"] == 0)].empty  # nothing flew over the zone's middle


def test_per_head_figures_by_hand_on_a_toy_population():
    grid = pd.DataFrame({"passes": [4.0, 2.0, 1.0], "minutes": [2.0, 1.0, 0.5],
                         "events": [3.0, 1.0, 5.0]})
    borough = np.array([0, 0, 1])
    residents = np.array([100.0, 50.0, 10.0])
    b = borough_exposure(grid, borough, residents, ["A", "B"], ["a", "b"],
                         np.array([1000.0, 2000.0]), per_week=0.5)
    # borough a: events heard (3 x 100 + 1 x 50) / 1000 residents x 1000, halved = 175
    assert b["events_per_1000_residents"].tolist() == pytest.approx([175.0, 12.5])
    assert b["passes_per_week"].tolist() == pytest.approx([3.0, 0.5])
    assert b["overflown_cells"].tolist() == [2.0, 1.0]


def test_conservation_on_a_real_run(results_folders):
    res = results_exposure(results_folders["run"])
    import json

    s = json.loads((results_folders["run"] / "summary.json").read_text())
    total = res.grid["minutes_per_week"].sum() * s["replications"] * s["weeks"]
    assert res.flight_minutes > 0
    assert total == pytest.approx(res.flight_minutes, rel=1e-9)
    assert len(res.top) == 10
    assert res.top["passes_per_week"].is_monotonic_decreasing
    assert set(res.summary) >= {"overflown_area_share", "max_cell_overflights_per_week",
                                "worst_borough_events_per_1000_residents"}
    assert res.summary["max_cell_overflights_per_week"]["mean"] > 0
    assert (res.top["borough"] != "").all()


def test_report_has_the_exposure_layer_toggle_and_the_top_cells(results_folders):
    import re

    from dronesim.outputs.html import build_html_report

    page = build_html_report(results_folders["run"])
    grid = results_exposure(results_folders["run"]).grid
    layer = re.search(r'<g id="layer-exposure"[^>]*>(.*?)</g>', page, re.S)
    assert layer is not None
    assert layer.group(1).count("<rect ") == len(grid)
    assert 'data-layer="exposure"' in page
    table = re.search(r'id="exposure-table".*?</table>', page, re.S)
    assert table is not None and table.group(0).count("<tr") == 11  # heading + 10 cells
