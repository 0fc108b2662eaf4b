"""Every scenario file in ``scenarios/`` validates against the map and runs a short
simulation."""

from __future__ import annotations

import math

import pytest
from conftest import SCENARIOS

from dronesim.engine.replication import prepare
from dronesim.experiment.runner import run_scenario
from dronesim.inputs.scenario import load_scenario

FILES = sorted(SCENARIOS.glob("*.toml"))


def test_there_are_scenarios():
    assert any(p.name == "met_baseline.toml" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_validates_and_runs(path):
    scn = load_scenario(path, {"simulation": {"weeks": 0.1, "replications": 1,
                                              "warmup_hours": 2.0}})
    prep = prepare(scn)
    assert len(prep.docks) == len(scn.docks)
    res = run_scenario(scn, workers=1)
    assert len(res.replications) == 1
    inc = res.incidents
    assert len(inc) > 0
    # Every incident gets a ground unit, except those a drone resolved alone ([value]).
    assert (inc["t_ground_arrival"].notna() | inc["drone_resolved"]).all()
    s = res.summary
    assert s["replications"] == 1
    assert s["fleet_size"] == scn.fleet_size
    assert math.isfinite(s["ground_response_s"]["mean"])
    if scn.fleet_size and (inc["drone_outcome"] == "on_scene").any():
        assert s["drone_response_s"]["mean"] > 0
