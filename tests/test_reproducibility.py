"""Reproducibility: the same seed gives identical outputs (two CLI runs, byte for byte), the
process pool gives the same tables as a sequential run, and a different seed differs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import MET_BASELINE

from dronesim.engine.replication import prepare, run_replication
from dronesim.experiment.runner import run_scenario
from dronesim.inputs.scenario import load_scenario

ARGS = ["--replications", "2", "--weeks", "0.2", "--quiet", "--no-plots"]


def _sha(path: Path) -> str:
    """Digest of a file, or of every file of a folder (a Parquet dataset) in name order."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    import contextlib
    import io

    from dronesim.cli import main

    root = tmp_path_factory.mktemp("repro")
    runs = {}
    # "a" uses the default process pool, "b" runs in-process: the files must still be equal.
    for name, extra in (("a", []), ("b", ["--workers", "1"]),
                        ("other_seed", ["--seed", "99", "--workers", "1"])):
        out = root / name
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["run", str(MET_BASELINE), *ARGS, *extra, "--out", str(out)]) == 0
        runs[name] = out
    return runs


def test_same_seed_identical_files(cli_runs):
    a, b = cli_runs["a"], cli_runs["b"]
    for name in ("incidents.parquet", "missions.parquet", "summary.json",
                 "scenario.resolved.toml"):
        assert _sha(a / name) == _sha(b / name), name
    # Each task's stored KPIs are identical too (only its wall time differs).
    for ta in sorted((a / "tasks").glob("*.json")):
        ka = json.loads(ta.read_text())
        kb = json.loads((b / "tasks" / ta.name).read_text())
        assert ka["kpis"] == kb["kpis"] and ka["key"] == kb["key"]
    pd.testing.assert_frame_equal(pd.read_parquet(a / "incidents.parquet"),
                                  pd.read_parquet(b / "incidents.parquet"))


def test_different_seed_differs(cli_runs):
    a, c = cli_runs["a"], cli_runs["other_seed"]
    ia = pd.read_parquet(a / "incidents.parquet")
    ic = pd.read_parquet(c / "incidents.parquet")
    assert len(ia) != len(ic) or not ia["t_call"].equals(ic["t_call"])
    assert json.loads((c / "summary.json").read_text())["seed"] == 99
    assert json.loads((c / "manifest.json").read_text())["seed"] == 99


def test_cli_matches_api(cli_runs):
    scn = load_scenario(MET_BASELINE, {"simulation": {"weeks": 0.2, "replications": 2}})
    res = run_scenario(scn, workers=1)
    from_cli = pd.read_parquet(cli_runs["a"] / "incidents.parquet")
    pd.testing.assert_frame_equal(from_cli, res.incidents.reset_index(drop=True))


def test_parallel_equals_sequential():
    scn = load_scenario(MET_BASELINE, {"simulation": {"weeks": 0.2}})
    seq = run_scenario(scn, replications=2, workers=1)
    par = run_scenario(scn, replications=2, workers=2)
    pd.testing.assert_frame_equal(seq.incidents, par.incidents)
    pd.testing.assert_frame_equal(seq.missions, par.missions)
    assert json.dumps(seq.summary, sort_keys=True, default=str) == \
        json.dumps(par.summary, sort_keys=True, default=str)
    assert sorted(seq.incidents["replication"].unique()) == [0, 1]


def test_replication_does_not_depend_on_what_ran_before(tiny_scenario):
    # Replication 1 run alone equals replication 1 run after replication 0 (no hidden state
    # carried between replications of one prepared scenario).
    prep = prepare(tiny_scenario())
    alone = run_replication(prep, 1)
    run_replication(prep, 0)
    after = run_replication(prep, 1)
    pd.testing.assert_frame_equal(alone.incidents, after.incidents)
    pd.testing.assert_frame_equal(alone.missions, after.missions)
    # And a fresh prepare of the same scenario gives the same again.
    again = run_replication(prepare(tiny_scenario()), 1)
    pd.testing.assert_frame_equal(alone.incidents, again.incidents)


def test_replications_differ(tiny_scenario):
    prep = prepare(tiny_scenario())
    r0, r1 = run_replication(prep, 0), run_replication(prep, 1)
    assert not r0.incidents["t_call"].equals(r1.incidents["t_call"])
