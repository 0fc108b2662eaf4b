"""The ground side's sided road legs (TravelModel.sided): a road leg takes the sides (Thames
banks) kept for its two ends instead of looking the points up, and must give the same times,
bit for bit, as the general drive_s."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_scenario_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.engine import ground
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.geography import default_data_dir
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.inputs.travel import FittedTravel, StraightTravel, read_fit

DATA = default_data_dir()
FITTED = FittedTravel(read_fit(str(DATA)), DATA)
B = FITTED.banks
# The bank grid and one kilometre around it (its edges, where truncation and flooring differ).
grid_x = st.floats(B.x0 - 1000.0, B.x0 + B.nx * 100.0 + 1000.0)
grid_y = st.floats(B.y0 - 1000.0, B.y0 + B.ny * 100.0 + 1000.0)
# Around the bank grid's lower-left edges, within one cell.
edge_x = st.floats(B.x0 - 150.0, B.x0 + 150.0)
edge_y = st.floats(B.y0 - 150.0, B.y0 + 150.0)


@settings(max_examples=300, deadline=None)
@given(xs=st.lists(st.one_of(grid_x, edge_x), min_size=1, max_size=40),
       ys=st.lists(st.one_of(grid_y, edge_y), min_size=40, max_size=40))
def test_sides_of_many_points_equal_side_of_each(xs, ys):
    """The per-chunk precomputation (sides) equals the per-point lookup (side = banks.of),
    also within a cell of the grid's edges."""
    ys = ys[:len(xs)]
    got = FITTED.sides(np.array(xs), np.array(ys)).tolist()
    assert got == [FITTED.side(x, y) for x, y in zip(xs, ys)]
    assert got == [B.of(x, y) for x, y in zip(xs, ys)]


def test_sides_follow_truncation_just_outside_the_grid():
    """Within a cell below or left of the grid int() truncates to row or column 0 where floor
    gives -1: sides follows of (the engine's lookup), not of_many. The grid's bottom-left cell
    is north (1), its top-left cell south (0)."""
    cells = np.frombuffer(B.cells, np.uint8).reshape(B.ny, B.nx)
    assert cells[0, 0] == 1 and cells[B.ny - 1, 0] == 0
    xs = np.array([B.x0 + 50.0, B.x0 - 50.0])
    ys = np.array([B.y0 - 50.0, B.y0 + (B.ny - 0.5) * 100.0])
    assert FITTED.sides(xs, ys).tolist() == [1, 0] == [B.of(x, y) for x, y in zip(xs, ys)]
    assert B.of_many(xs, ys).tolist() == [0, 1]  # (flooring: the other bank)


@settings(max_examples=300, deadline=None)
@given(x0=grid_x, y0=grid_y, x1=grid_x, y1=grid_y, scale=st.floats(0.3, 3.0))
def test_sided_drive_equals_drive_bit_for_bit(x0, y0, x1, y1, scale):
    d = math.sqrt((x0 - x1) ** 2 + (y0 - y1) ** 2)
    for model in (FITTED, StraightTravel(1.4, 9.0)):
        assert model.sided
        fast = model.sided_s(d, model.side(x0, y0), model.side(x1, y1), scale)
        assert fast == model.drive_s(d, x0, y0, x1, y1, scale)


def _scenario():
    """Police patrolling with mutual aid, ambulances conveying to hospital, fire pumps at
    stations: every ground leg kind, all on the fitted road model (the default)."""
    amb = {"incidents_per_week": 3000.0, "spatial_weight": "las", "time_profile": "flat",
           "priority_shares": [0.3, 0.7], "drone_suited_share": [0.0, 0.0],
           "ground": {"base": "patrol", "on_scene_mean_s": 2400.0, "staffing_utilisation": 0.4,
                      "conveyance_share": [0.7, 0.4]}}
    fire = {"incidents_per_week": 2000.0, "spatial_weight": "lfb_sample",
            "time_profile": "flat", "priority_shares": [1.0], "drone_suited_share": [0.0],
            "uses_drones": False, "ground": {"base": "stations"}}
    police = {"ground": {"mutual_aid": "neighbours", "mutual_aid_delay_s": 120.0,
                         "staffing_utilisation": 0.5}}
    d = tiny_scenario_dict(services={"police": police, "ambulance": amb, "fire": fire})
    d["simulation"]["weeks"] = 0.3
    return scenario_from_dict(d, source="<tiny>")


def _digest(df: pd.DataFrame) -> str:
    plain = df.copy()
    for c in plain.columns:
        if isinstance(plain[c].dtype, pd.CategoricalDtype):
            plain[c] = plain[c].astype(object)
    return hashlib.sha256(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes()
                          ).hexdigest()


@pytest.fixture(scope="module")
def sided_run():
    """One replication with sided legs, and the forces it made."""
    made: list = []
    init = ground.GroundForce.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        made.append(self)

    mp = pytest.MonkeyPatch()
    mp.setattr(ground.GroundForce, "__init__", spy)
    try:
        res = run_replication(prepare(_scenario()), 0)
    finally:
        mp.undo()
    return res, made


def test_records_equal_with_and_without_sided_legs(sided_run, monkeypatch):
    res, _ = sided_run
    inc = res.incidents
    assert inc["conveyed"].fillna(0).sum() > 20 and inc["mutual_aid_from"].notna().any()
    assert inc["ground_unit"].notna().sum() > 1000
    monkeypatch.setattr(FittedTravel, "sided", False)  # the general path: banks looked up
    slow = run_replication(prepare(_scenario()), 0)
    pd.testing.assert_frame_equal(inc, slow.incidents, check_exact=True)
    assert _digest(inc) == _digest(slow.incidents)
    assert _digest(res.missions) == _digest(slow.missions)


def test_each_unit_keeps_the_side_of_where_it_is(sided_run):
    """After a run (units moved to incidents and hospitals) every unit's kept side is the
    side of its position."""
    _, forces = sided_run
    assert len(forces) == 2 and all(isinstance(f.travel, FittedTravel) for f in forces)
    for f in forces:
        assert f.uside == [f.travel.side(x, y) for x, y in zip(f.ux, f.uy)]
        assert 0 < sum(f.uside) < f.size  # units on both banks
