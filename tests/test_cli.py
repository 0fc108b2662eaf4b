"""The command line: ``validate`` and ``run`` end to end (in-process and as a real subprocess),
the output contract of a run folder, and bad input: status 2, exactly one line on stderr naming
the file and the field, no traceback, and no output folder written."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import MET_BASELINE, SCENARIOS, extends_baseline, run_cli, write_toml

from dronesim.cli import main
from dronesim.inputs.scenario import load_scenario, scenario_to_dict

DRONESIM = Path(sys.executable).with_name("dronesim")  # the console script beside python
RUN_ARGS = ["--replications", "2", "--weeks", "0.25"]


# --------------------------------------------------------------------------------------------
# One real run, shared by the contract tests
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("cli") / "out"
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(["run", str(MET_BASELINE), *RUN_ARGS, "--out", str(out)])
    return out, code, so.getvalue(), se.getvalue()


def test_run_succeeds(run_dir):
    out, code, stdout, stderr = run_dir
    assert code == 0, stderr
    assert "drone response" in stdout
    assert str(out) in stdout
    assert "Traceback" not in stderr


def test_run_writes_every_output(run_dir):
    out = run_dir[0]
    for name in ("summary.json", "manifest.json", "scenario.resolved.toml"):
        assert (out / name).is_file(), name
    # Record tables: one Parquet part per replication, written as each replication finished.
    for name in ("incidents.parquet", "missions.parquet"):
        parts = sorted((out / name).glob("*.parquet"))
        assert len(parts) == 2, name
    assert len(list((out / "tasks").glob("*.json"))) == 2
    pngs = sorted((out / "plots").glob("*.png"))
    assert pngs
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing half-written left beside the output folder.
    assert [p.name for p in out.parent.iterdir()] == ["out"]


def test_incident_and_mission_tables(run_dir):
    out = run_dir[0]
    inc = pd.read_parquet(out / "incidents.parquet")
    mis = pd.read_parquet(out / "missions.parquet")
    assert sorted(inc["replication"].unique()) == [0, 1]
    for col in ("incident_id", "t_call", "x", "y", "gss_code", "service", "priority",
                "drone_outcome", "t_drone_on_scene", "t_ground_arrival", "drone_response_s",
                "ground_response_s"):
        assert col in inc.columns, col
    assert len(mis) == (inc["drone_outcome"] == "on_scene").sum()
    assert set(mis["replication"]) <= {0, 1}


def test_summary_contract(run_dir):
    out = run_dir[0]
    s = json.loads((out / "summary.json").read_text())
    for key in ("drone_response_s", "ground_response_s"):
        block = s[key]
        for k in ("mean", "median", "p90", "ci95_mean"):
            assert k in block, f"{key}.{k}"
        assert isinstance(block["mean"], float) and block["mean"] > 0
        lo, hi = block["ci95_mean"]
        assert lo <= block["mean"] <= hi
    assert s["ground_response_s"]["mean"] > s["drone_response_s"]["mean"]
    assert s["drone_deployments_per_week"]["mean"] > 0
    assert 0 <= s["p_drone_first"]["mean"] <= 1
    assert s["fleet_size"] == 9
    assert s["dock_count"] == 3
    cov = s["coverage"]
    assert cov["within_s"] == 120.0
    assert 0 < cov["area_share"] < 1 and 0 < cov["population_share"] < 1
    assert s["replications"] == 2
    assert s["seed"] == load_scenario(MET_BASELINE).simulation.seed
    assert s["weeks"] == 0.25
    rows = s["per_borough"]
    assert isinstance(rows, list) and len(rows) == 33
    assert [r["gss_code"] for r in rows] == [f"E090000{k:02d}" for k in range(1, 34)]
    for r in rows:
        for k in ("gss_code", "name", "drone_response_s", "ground_response_s"):
            assert k in r
    # Police demand follows Met recorded crime, which has none in the City of London (policed
    # by the City of London Police): no incidents there; every other borough has a ground
    # response.
    for r in rows:
        if r["gss_code"] == "E09000001":
            assert r["incidents_per_week"] == 0 and r["ground_response_s"] is None
        else:
            assert r["incidents_per_week"] > 0 and r["ground_response_s"]["mean"] > 0
    islington = next(r for r in rows if r["gss_code"] == "E09000019")
    assert islington["name"] == "Islington"
    assert islington["drone_response_s"]["mean"] > 0


def test_manifest(run_dir):
    out = run_dir[0]
    m = json.loads((out / "manifest.json").read_text())
    assert m["seed"] == load_scenario(MET_BASELINE).simulation.seed
    assert m["python"].count(".") == 2
    assert isinstance(m["packages"], dict)
    for p in ("numpy", "simpy", "pandas"):
        assert m["packages"][p]
    assert m["wall_time_s"] > 0
    assert m["replications"] == 2


def test_resolved_scenario_loads_back(run_dir):
    out = run_dir[0]
    again = load_scenario(out / "scenario.resolved.toml")
    want = load_scenario(MET_BASELINE, {"simulation": {"replications": 2, "weeks": 0.25}})
    assert scenario_to_dict(again) == scenario_to_dict(want)


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------


def test_validate_ok(capsys):
    code, out, err = run_cli(["validate", MET_BASELINE], capsys)
    assert code == 0, err
    assert "ok" in out and "9 drones at 3 docks" in out
    assert err == ""


def test_validate_subprocess():
    r = subprocess.run([str(DRONESIM), "validate", str(MET_BASELINE)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


# --------------------------------------------------------------------------------------------
# A real subprocess run
# --------------------------------------------------------------------------------------------


def test_run_subprocess(tmp_path):
    out = tmp_path / "sub"
    r = subprocess.run([str(DRONESIM), "run", str(MET_BASELINE), "--replications", "1",
                        "--weeks", "0.1", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --quiet: no progress bar
    assert len(list((out / "incidents.parquet").glob("*.parquet"))) == 1
    assert json.loads((out / "summary.json").read_text())["replications"] == 1


def test_bad_input_subprocess(tmp_path):
    path = extends_baseline(tmp_path / "bad.toml", "[drones]\nwingspan_m = 1.0\n")
    out = tmp_path / "out"
    r = subprocess.run([str(DRONESIM), "run", str(path), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n")
    assert "Traceback" not in r.stderr
    assert str(path) in r.stderr and "drones.wingspan_m" in r.stderr
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Bad input: status 2, one line, file and field named, nothing written
# --------------------------------------------------------------------------------------------


def _bad_cases(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (command line, strings the one error line must contain)."""
    malformed = write_toml(tmp / "malformed.toml", "[drones\nspeed_m_s = 20\n")
    unknown = extends_baseline(tmp / "unknown.toml", "[drones]\nwingspan_m = 1.0\n")
    negative = extends_baseline(tmp / "negative.toml", "[drones]\nspeed_m_s = -20.0\n")
    paris = extends_baseline(tmp / "paris.toml",
                             "[[docks]]\nname = 'Paris'\nlon = 2.35\nlat = 48.85\n")
    policy = extends_baseline(tmp / "policy.toml", "[dispatch]\npolicy = 'fastest_horse'\n")
    param = extends_baseline(tmp / "param.toml", "[dispatch.params]\ngreed = 3\n")
    missing = tmp / "missing.toml"
    short = ["--weeks", "0.05", "--replications", "1"]
    return {
        "malformed_toml": (["run", malformed, *short], [str(malformed), "TOML"]),
        "unknown_key": (["run", unknown, *short], [str(unknown), "drones.wingspan_m"]),
        "negative_speed": (["run", negative, *short], [str(negative), "drones.speed_m_s"]),
        "dock_outside_london": (["run", paris, *short], [str(paris), "docks[0]", "Paris"]),
        "missing_file": (["run", missing, *short], [str(missing), "not found"]),
        "replications_zero": (["run", MET_BASELINE, "--replications", "0"],
                              ["<command line>", "--replications"]),
        "replications_text": (["run", MET_BASELINE, "--replications", "x"],
                              ["<command line>", "--replications"]),
        "weeks_negative": (["run", MET_BASELINE, "--weeks", "-1"], ["--weeks"]),
        "unknown_policy": (["run", policy, *short], [str(policy), "dispatch.policy"]),
        "unknown_policy_param": (["run", param, *short],
                                 [str(param), "dispatch.params.greed"]),
        "validate_unknown_key": (["validate", unknown], [str(unknown), "drones.wingspan_m"]),
        "validate_outside": (["validate", paris], [str(paris), "docks[0]"]),
        "trace_service_without_trace": (["run", MET_BASELINE, "--trace-service", "police",
                                         *short],
                                        ["<command line>: --trace-service: needs --trace"]),
    }


BAD = ["malformed_toml", "unknown_key", "negative_speed", "dock_outside_london", "missing_file",
       "replications_zero", "replications_text", "weeks_negative", "unknown_policy",
       "unknown_policy_param", "validate_unknown_key", "validate_outside",
       "trace_service_without_trace"]


def _assert_one_error_line(err: str, must: list[str]) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("dronesim: error: ")
    for m in must:
        assert m in lines[0], f"{m!r} not in {lines[0]!r}"


@pytest.mark.parametrize("case", BAD)
def test_bad_input(tmp_path, capsys, case):
    argv, must = _bad_cases(tmp_path)[case]
    out = tmp_path / "out"
    if argv[0] == "run":
        argv = [*argv, "--out", out]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 2
    _assert_one_error_line(err, must)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp folders


@pytest.mark.parametrize("case", ["negative_speed", "dock_outside_london"])
def test_bad_input_leaves_existing_folder_unchanged(tmp_path, capsys, case):
    argv, must = _bad_cases(tmp_path)[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    # --overwrite lets the run use a folder holding other files, so the input error is reached.
    code, _, err = run_cli([*argv, "--out", out, "--overwrite"], capsys)
    assert code == 2
    _assert_one_error_line(err, must)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "earlier results"


def test_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("not a folder")
    code, _, err = run_cli(["run", MET_BASELINE, "--weeks", "0.05", "--replications", "1",
                            "--out", out], capsys)
    assert code == 2
    _assert_one_error_line(err, ["--out"])
    assert out.read_text() == "not a folder"


def test_no_command(capsys):
    code, _, err = run_cli([], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# The printed table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds,text", [
    (0.0, "0:00"), (59.4, "0:59"), (59.6, "1:00"), (119.5, "2:00"), (479.6, "8:00"),
    (540.0, "9:00"), (3599.7, "60:00"), (-114.0, "-1:54"), (None, "-"), (float("nan"), "-"),
])
def test_minutes_seconds_format(seconds, text):
    # The run table prints response times as m:ss; a value just under a whole minute must round
    # up to the next minute ("8:00"), never print as "7:60".
    from dronesim.outputs.report import _mmss

    assert _mmss(seconds) == text


def test_no_plots_flag(tmp_path, capsys):
    # The (hidden) --no-plots option is accepted, so it must skip the plots.
    out = tmp_path / "np"
    code, _, err = run_cli(["run", MET_BASELINE, "--replications", "1", "--weeks", "0.05",
                            "--workers", "1", "--quiet", "--no-plots", "--out", out], capsys)
    assert code == 0, err
    assert (out / "summary.json").is_file()
    assert not (out / "plots").exists()


def test_no_plots_flag_on_sweep(tmp_path, capsys):
    # --no-plots is one of the common options (README): sweep takes it too.
    out = tmp_path / "sw"
    code, _, err = run_cli(["sweep", SCENARIOS / "met_growth.toml", "--fleet", "9,15",
                            "--replications", "1", "--weeks", "0.05", "--workers", "1",
                            "--quiet", "--no-plots", "--out", out], capsys)
    assert code == 0, err
    assert (out / "sweep.csv").is_file() and (out / "summary.json").is_file()
    assert not (out / "plots").exists()


# --------------------------------------------------------------------------------------------
# report, export, policies, siting-methods, --report and --geopackage
# --------------------------------------------------------------------------------------------


def test_run_with_report_and_geopackage(tmp_path, capsys):
    import pyogrio

    out = tmp_path / "r"
    code, stdout, err = run_cli(["run", MET_BASELINE, "--replications", "1", "--weeks", "0.05",
                                 "--workers", "1", "--quiet", "--no-plots", "--out", out,
                                 "--report", "--geopackage", out / "r.gpkg"], capsys)
    assert code == 0, err
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "incidents" in [name for name, _ in pyogrio.list_layers(out / "r.gpkg")]
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert "report.html" in files and "r.gpkg" in files  # dronesim's own from now on
    # Written again by the report command: its own file, replaced.
    code, stdout, err = run_cli(["report", out], capsys)
    assert code == 0 and "report.html" in stdout
    # Edited by the user: no longer dronesim's, never replaced.
    (out / "report.html").write_text("<p>my notes</p>")
    code, _, err = run_cli(["report", out], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "not written by dronesim" in err
    assert (out / "report.html").read_text() == "<p>my notes</p>"


def test_geopackage_elsewhere_is_checked_before_the_run(tmp_path, capsys):
    (tmp_path / "mine.gpkg").write_text("a user's file")
    code, _, err = run_cli(["run", MET_BASELINE, "--replications", "1", "--weeks", "0.05",
                            "--quiet", "--out", tmp_path / "r",
                            "--geopackage", tmp_path / "mine.gpkg"], capsys)
    assert code == 2 and "--geopackage" in err and "not written by dronesim" in err
    assert not (tmp_path / "r").exists()  # refused before anything ran
    assert (tmp_path / "mine.gpkg").read_text() == "a user's file"


def test_export_command(run_dir, tmp_path, capsys):
    import pyogrio

    code, stdout, err = run_cli(["export", run_dir[0], "--geopackage", tmp_path / "x.gpkg",
                                 "--grid", "250"], capsys)
    assert code == 0, err
    info = pyogrio.read_info(tmp_path / "x.gpkg", layer="incidents")
    assert "27700" in info["crs"]
    code, _, err = run_cli(["export", tmp_path, "--geopackage", tmp_path / "y.gpkg"], capsys)
    assert code == 2 and len(err.splitlines()) == 1  # not a results folder


def test_listings(capsys):
    code, out, _ = run_cli(["policies"], capsys)
    assert code == 0 and "nearest_idle" in out and "earliest_arrival" in out
    code, out, _ = run_cli(["siting-methods"], capsys)
    assert code == 0 and "max_coverage" in out and "hex_grid" in out


def test_trace_service_with_a_trace_is_used(tmp_path, capsys):
    """The refusal of ``--trace-service`` alone leaves its use with ``--trace`` working."""
    trace = tmp_path / "t.csv"
    trace.write_text("time,x,y\n0,531187,183392\n90000,531187,183392\n91000,532500,165500\n",
                     encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_cli(["run", MET_BASELINE, "--trace", trace, "--trace-service", "police",
                            "--weeks", "0.05", "--replications", "1", "--no-plots", "--quiet",
                            "--out", out], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["incidents_per_week"]["mean"] > 0  # without --trace-service: "missing column"
