"""A small golden table guards against silent drift of the model's headline figures.

The run: the Met baseline (frozen as ``tests/golden/met_baseline_small.toml``, so that a
deliberate recalibration of ``scenarios/met_baseline.toml`` does not trip this test but any change
in the model code does), 0.5 weeks, 2 replications, the file's seed. The figures are in
``tests/golden/met_baseline_small.csv`` (plain CSV, full float precision).

After an intended change of results, regenerate both files and review the diff::

    DRONESIM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest
from conftest import GOLDEN_DIR, MET_BASELINE

from dronesim.engine.records import DRONE_OUTCOMES
from dronesim.experiment.runner import run_scenario
from dronesim.inputs.scenario import dump_scenario_toml, load_scenario
from dronesim.kpis.statistics import in_window

SCENARIO = GOLDEN_DIR / "met_baseline_small.toml"
TABLE = GOLDEN_DIR / "met_baseline_small.csv"
REGEN = os.environ.get("DRONESIM_REGEN_GOLDEN") == "1"
REL = 1e-9


def _headline(path: Path) -> dict[str, float]:
    scn = load_scenario(path)
    res = run_scenario(scn, workers=1)
    s = res.summary
    prep = res.prepared
    w = in_window(res.incidents, prep.warmup_s, prep.horizon_s)
    rows: dict[str, float] = {
        "incidents": len(res.incidents),
        "incidents_in_window": len(w),
        "missions": len(res.missions),
        "drone_response_mean_s": s["drone_response_s"]["mean"],
        "drone_response_median_s": s["drone_response_s"]["median"],
        "drone_response_p90_s": s["drone_response_s"]["p90"],
        "ground_response_mean_s": s["ground_response_s"]["mean"],
        "ground_response_p90_s": s["ground_response_s"]["p90"],
        "drone_deployments_per_week": s["drone_deployments_per_week"]["mean"],
        "p_drone_first": s["p_drone_first"]["mean"],
        "drone_utilisation": s["drone_utilisation"]["mean"],
        "pilot_utilisation": s["pilot_utilisation"]["mean"],
        "coverage_area_share": s["coverage"]["area_share"],
        "coverage_population_share": s["coverage"]["population_share"],
    }
    counts = res.incidents["drone_outcome"].astype(str).value_counts()
    for name in DRONE_OUTCOMES:
        rows[f"outcome_{name}"] = int(counts.get(name, 0))
    return rows


def _write() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    scn = load_scenario(MET_BASELINE, {"simulation": {"weeks": 0.5, "replications": 2}})
    SCENARIO.write_text(dump_scenario_toml(scn).replace(
        f"from {scn.source}", "from scenarios/met_baseline.toml (weeks 0.5, 2 replications)"))
    rows = _headline(SCENARIO)
    with TABLE.open("w", newline="") as fh:
        fh.write("# Golden headline figures of tests/golden/met_baseline_small.toml.\n"
                 "# Regenerate: DRONESIM_REGEN_GOLDEN=1 .venv/bin/python -m pytest "
                 "tests/test_golden.py\n")
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["metric", "value"])
        for k, v in rows.items():
            wr.writerow([k, repr(float(v)) if isinstance(v, float) else v])


def _read() -> dict[str, float]:
    with TABLE.open(newline="") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    return {r["metric"]: float(r["value"]) for r in csv.DictReader(lines)}


@pytest.fixture(scope="module")
def golden() -> dict[str, float]:
    if REGEN:
        _write()
    if not TABLE.is_file() or not SCENARIO.is_file():
        pytest.fail(f"{TABLE} missing: run with DRONESIM_REGEN_GOLDEN=1 to create it")
    return _read()


def test_golden_headline_figures(golden):
    got = _headline(SCENARIO)
    missing = set(golden) - set(got)
    assert not missing, f"metrics gone: {sorted(missing)}; regenerate the golden table"
    # An outcome category added to the model since the table was made must not occur here.
    for k in set(got) - set(golden):
        assert k.startswith("outcome_") and got[k] == 0, f"new metric {k}: regenerate"
    drift = []
    for k, want in golden.items():
        have = float(got[k])
        same = (math.isnan(want) and math.isnan(have)) or have == pytest.approx(want, rel=REL)
        if not same:
            drift.append(f"{k}: golden {want!r}, now {have!r}")
    assert not drift, "silent drift:\n" + "\n".join(drift)


def test_golden_table_is_plausible(golden):
    # The stored figures are the Met baseline's: they must look like it (MODEL.md anchors),
    # so a broken run cannot be frozen as golden unnoticed.
    assert 60 < golden["drone_response_mean_s"] < 240
    assert golden["ground_response_mean_s"] > golden["drone_response_mean_s"]
    assert 50 < golden["drone_deployments_per_week"] < 500
    assert golden["missions"] == golden["outcome_on_scene"]
    assert sum(v for k, v in golden.items() if k.startswith("outcome_")) == golden["incidents"]


def test_frozen_scenario_matches_the_baseline_shape():
    scn = load_scenario(SCENARIO)
    assert scn.simulation.weeks == 0.5 and scn.simulation.replications == 2
    assert scn.fleet_size == 9 and len(scn.docks) == 3
