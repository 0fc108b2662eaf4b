"""CSV export (dronesim.outputs.csv_export, ``dronesim export RESULTS --csv [DIR]``): the CSV
tables read back to the values of the Parquet tables and summary; they go into ``csv/`` by the
commit protocol (recorded in the manifest, replaced on a second export, rolled forward after
``kill -9``), or into a folder of their own; a user's file, a folder inside the results folder
other than ``csv/``, and forged records naming paths outside the folder are refused with
nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, snapshot

from dronesim.errors import InputError
from dronesim.experiment.store import record_problem
from dronesim.outputs.csv_export import export_csv, flatten_blocks

DRONESIM = Path(sys.executable).with_name("dronesim")


def _digest(p: Path) -> dict:
    data = p.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def run_copy(tmp_path, results_folders):
    out = tmp_path / "run"
    shutil.copytree(results_folders["run"], out)
    return out


def _same_as_parquet(csv: Path, parquet: Path) -> None:
    want = pd.read_parquet(parquet).reset_index(drop=True)
    got = pd.read_csv(csv)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    for c in want.columns:
        w = want[c]
        if isinstance(w.dtype, pd.CategoricalDtype) or w.dtype == object or \
                pd.api.types.is_string_dtype(w.dtype):
            got_s = got[c].astype(object).fillna("").astype(str).tolist()
            assert got_s == w.astype(str).fillna("").tolist(), c
        elif pd.api.types.is_bool_dtype(w.dtype):
            assert got[c].astype(bool).tolist() == w.tolist(), c
        else:  # every digit written: the same doubles and integers, NaN where NaN
            np.testing.assert_array_equal(got[c].to_numpy(float), w.to_numpy(float), err_msg=c)


def test_csv_round_trips_to_the_parquet_values(run_copy):
    folder = export_csv(run_copy)
    assert folder == run_copy.resolve() / "csv"
    _same_as_parquet(folder / "incidents.csv", run_copy / "incidents.parquet")
    _same_as_parquet(folder / "missions.csv", run_copy / "missions.parquet")
    summary = json.loads((run_copy / "summary.json").read_text())
    boroughs = pd.read_csv(folder / "per_borough.csv")
    assert boroughs["gss_code"].tolist() == [b["gss_code"] for b in summary["per_borough"]]
    want = [b["p_drone_first"]["mean"] for b in summary["per_borough"]]
    np.testing.assert_array_equal(boroughs["p_drone_first"].to_numpy(float),
                                  np.array([np.nan if v is None else v for v in want], float))
    top = pd.read_csv(folder / "exposure_top_cells.csv")
    assert len(top) == 10 and {"borough", "passes_per_week", "lmax_dba"} <= set(top.columns)
    # recorded in the manifest with their digests
    man = json.loads((run_copy / "manifest.json").read_text())
    csv_files = sorted(p.name for p in folder.iterdir())
    assert sorted(r.split("/", 1)[1] for r in man["files"] if r.startswith("csv/")) == csv_files
    for name in csv_files:
        assert man["files"][f"csv/{name}"] == _digest(folder / name)
    # a second export replaces dronesim's own files (and the folder stays a results folder)
    export_csv(run_copy)
    assert json.loads((run_copy / "manifest.json").read_text())["files"] == man["files"]
    assert not (run_copy / ".dronesim" / "intent.json").exists()


def test_flatten_blocks():
    rows = [{"name": "a", "x": {"mean": 1.5, "ci95_mean": [1.0, 2.0]},
             "r": {"mean": 3.0, "p90": 4.0}, "skip": [1, 2]}]
    assert flatten_blocks(rows).to_dict("records") == [
        {"name": "a", "x": 1.5, "x_ci_low": 1.0, "x_ci_high": 2.0, "r_mean": 3.0,
         "r_p90": 4.0}]


def test_sweep_steps_as_csv(tmp_path, results_folders):
    out = export_csv(results_folders["sweep"], tmp_path / "sweep_csv")
    steps = pd.read_csv(out / "sweep_steps.csv")
    summary = json.loads((results_folders["sweep"] / "summary.json").read_text())
    assert steps["fleet_size"].tolist() == [s["fleet_size"] for s in summary["steps"]]
    assert json.loads((out / "manifest.json").read_text())["kind"] == "csv_export"


@pytest.mark.parametrize("rel", ["csv/incidents.csv", "csv/exposure_top_cells.csv",
                                 "incidents.csv", "exposure_summary.csv"])
def test_csv_names_are_dronesim_names(rel):
    assert record_problem(rel) is None


@pytest.mark.parametrize("rel", ["csv/../../notes.csv", "csv/sub/a.csv", "csv/a.txt",
                                 "csv/.hidden.csv", "/tmp/a.csv", "notes.csv"])
def test_forged_csv_records_are_refused(run_copy, tmp_path, rel):
    assert record_problem(rel) is not None
    victim = tmp_path / "notes.csv"
    victim.write_text("the victim's table\n")
    man = json.loads((run_copy / "manifest.json").read_text())
    man["files"][rel] = _digest(victim)
    (run_copy / "manifest.json").write_text(json.dumps(man))
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="manifest.json"):
        export_csv(run_copy)
    assert snapshot(tmp_path) == before  # nothing deleted, nothing written


@pytest.mark.parametrize("name", ["mine.txt", "incidents.csv"])
def test_a_users_file_in_csv_is_refused(run_copy, name):
    (run_copy / "csv").mkdir()
    (run_copy / "csv" / name).write_text("my own table\n")
    before = snapshot(run_copy)
    with pytest.raises(InputError, match=f"csv/{name} was not written by dronesim"):
        export_csv(run_copy)
    assert snapshot(run_copy) == before


def test_a_folder_with_a_users_file_is_refused(run_copy, tmp_path):
    other = tmp_path / "tables"
    other.mkdir()
    (other / "budget.xlsx").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="already holds files dronesim did not write"):
        export_csv(run_copy, other)
    with pytest.raises(InputError, match="only into csv/"):
        export_csv(run_copy, run_copy / "plots")
    assert snapshot(tmp_path) == before


def test_cli_export_csv(run_copy, capsys):
    code, out, err = run_cli(["export", run_copy, "--csv"], capsys)
    assert code == 0, err
    assert out.startswith(f"CSV: {run_copy.resolve()}/csv/ (") and "incidents.csv" in out
    code, _, err = run_cli(["export", run_copy], capsys)
    assert code == 2 and "--geopackage FILE or --csv" in err


@pytest.mark.parametrize("fault", ["add-intent", "add-placed", "add-manifest"])
def test_kill_9_while_exporting_csv_rolls_forward(run_copy, fault):
    env = {**os.environ, "DRONESIM_FAULT": fault}
    r = subprocess.run([str(DRONESIM), "export", str(run_copy), "--csv"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    env.pop("DRONESIM_FAULT")
    r = subprocess.run([str(DRONESIM), "export", str(run_copy), "--csv"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    man = json.loads((run_copy / "manifest.json").read_text())
    for rel, rec in man["files"].items():
        assert _digest(run_copy / rel) == rec, rel
    on_disk = sorted(p.relative_to(run_copy).as_posix() for p in (run_copy / "csv").iterdir())
    assert sorted(r for r in man["files"] if r.startswith("csv/")) == on_disk


def test_run_with_csv_writes_the_tables_once_the_outputs_are_complete(tmp_path, capsys):
    from conftest import SCENARIOS

    out = tmp_path / "run"
    code, stdout, err = run_cli(["run", SCENARIOS / "met_baseline_weather_free.toml", "--weeks",
                                 "0.05", "--replications", "1", "--no-plots", "--quiet",
                                 "--workers", "1", "--csv", "--out", out], capsys)
    assert code == 0, err
    assert f"{out.resolve()}/csv/" in stdout
    man = json.loads((out / "manifest.json").read_text())
    assert "csv/incidents.csv" in man["files"] and "csv/missions.csv" in man["files"]
    _same_as_parquet(out / "csv" / "missions.csv", out / "missions.parquet")
