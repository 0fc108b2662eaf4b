"""dronesim sensitivity: declared assumptions, one-at-a-time ranges on common random numbers,
Morris/Sobol screening, outputs, the HTML section and the command line."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli, tiny_scenario_dict, write_toml

from dronesim.errors import InputError
from dronesim.experiment import sensitivity as sens
from dronesim.experiment.runner import run_scenario
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.kpis import registry

pytest.importorskip("SALib")

TINY_TOML = """
name = "tiny_sens"
[simulation]
weeks = 0.1
warmup_hours = 2.0
replications = 2
seed = 7
[drones]
speed_m_s = 20.0
decision_s = 10.0
launch_overhead_s = 20.0
climb_s = 10.0
descent_s = 10.0
max_range_m = 3000.0
[[docks]]
name = "Islington"
x = 531187.0
y = 183392.0
drones = 2
[services.police]
incidents_per_week = 3000.0
spatial_weight = "crime"
time_profile = "flat"
priority_shares = [0.5, 0.5]
drone_suited_share = [1.0, 0.5]
[control_room]
pilots = 2
"""


@pytest.fixture
def tiny():
    d = tiny_scenario_dict(simulation={"weeks": 0.1, "replications": 2})
    return scenario_from_dict(d, source="<tiny>")


def _by_name(table=sens.ASSUMPTIONS):
    return {a.name: a for a in table}


# --------------------------------------------------------------------------------------------
# The declared table
# --------------------------------------------------------------------------------------------


def test_declared_assumptions_are_well_formed():
    names = [a.name for a in sens.ASSUMPTIONS]
    assert len(names) == len(set(names))
    for a in sens.ASSUMPTIONS:
        assert a.low <= a.high, a.name
        assert a.source.strip(), a.name
        assert re.fullmatch(r"[a-z0-9_]+", a.name), a.name
    for key in sens.HEADLINES:  # every headline figure is a registry figure
        registry.metric(key)


def test_docs_page_lists_the_declared_assumptions():
    page = (REPO / "docs" / "sensitivity.md").read_text(encoding="utf-8")
    assert sens.assumption_table_markdown() in page, (
        "docs/sensitivity.md is out of step with ASSUMPTIONS: paste "
        "dronesim.experiment.sensitivity.assumption_table_markdown() into it")


def test_services_wildcard_expands_and_missing_keys_are_skipped(tiny):
    chosen, skipped = sens.resolve_assumptions(tiny)
    names = {a.name for a in chosen}
    assert "police_road_time_factor" in names and "fire_road_time_factor" not in names
    assert {s["name"] for s in skipped} >= {"max_wind", "rain_tolerance"}  # weather is off
    factor = next(a for a in chosen if a.name == "police_road_time_factor")
    assert factor.key == "services.police.ground.road_time_factor"
    # The straight-line model's keys change nothing under the fitted model: skipped, and why.
    why = {s["name"]: s["reason"] for s in skipped}
    assert "police_ground_speed" not in names and "'fitted', not 'straight'" in \
        why["police_ground_speed"]
    # ... and the other way round (the condition names the same service).
    straight = sens.vary(tiny, {})
    straight = dataclasses.replace(straight, services={"police": dataclasses.replace(
        straight.services["police"], ground=dataclasses.replace(
            straight.services["police"].ground, travel_model="straight"))})
    names = {a.name for a in sens.resolve_assumptions(straight)[0]}
    assert "police_ground_speed" in names and "police_road_time_factor" not in names


def test_named_levels_assumption_rounds_to_a_level(tiny):
    a = _by_name()["rain_tolerance"]
    assert a.describe_range() == "none to moderate"
    assert [sens.vary(tiny, {a: x}).drones.rain_tolerance for x in (0.0, 0.4, 0.6, 1.0, 2.0)] \
        == ["none", "none", "light", "light", "moderate"]


def test_vary_relative_and_absolute(tiny):
    a = _by_name()
    s = sens.vary(tiny, {a["drone_speed"]: 25.0})
    assert s.drones.speed_m_s == 25.0 and s.simulation.seed == tiny.simulation.seed
    (suited,) = sens._expand(a["suited_share"], tiny)
    s = sens.vary(tiny, {suited: 0.5})
    assert s.services["police"].drone_suited_share == (0.5, 0.25)
    s = sens.vary(tiny, {a["pilots"]: 2.6})
    assert s.control_room.pilots == 3  # whole numbers rounded


# --------------------------------------------------------------------------------------------
# Bad input: one line
# --------------------------------------------------------------------------------------------


def test_unknown_assumption_name(tiny):
    with pytest.raises(InputError, match="unknown assumption 'warp_speed'"):
        sens.resolve_assumptions(tiny, chosen=["warp_speed"])


def test_range_outside_schema_bounds(tiny):
    with pytest.raises(InputError) as exc:
        sens.resolve_assumptions(tiny, chosen=["drone_speed"],
                                 ranges={"drone_speed": (10.0, 150.0)})
    assert "--assumption" in str(exc.value) and "<= 100" in str(exc.value)
    bad = (sens.Assumption("bad", "drones.climb_s", -5.0, 5.0, False, "test"),)
    with pytest.raises(InputError, match="must be >= 0"):
        sens.resolve_assumptions(tiny, table=bad)


def test_scenario_lacking_the_key_is_skipped_or_refused(tiny):
    table = (sens.Assumption("fire_speed", "services.fire.ground.speed_m_s", 0.9, 1.1, True,
                             "test"),)
    chosen, skipped = sens.resolve_assumptions(tiny, table=table)
    assert chosen == [] and skipped[0]["reason"] == "the scenario has no such key"
    with pytest.raises(InputError, match="no assumption left"):
        sens.plan_sensitivity(tiny, chosen, skipped, ("oat",))


# --------------------------------------------------------------------------------------------
# One at a time, on common random numbers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def oat_study(tiny):
    plan, results, out = sens.run_sensitivity(
        tiny, methods=("oat",), assumptions=["drone_speed", "airframe_cost"], workers=1)
    return tiny, plan, results, out


def test_oat_equals_running_the_varied_scenario(oat_study):
    tiny, plan, results, out = oat_study
    a = _by_name()["drone_speed"]
    direct = run_scenario(sens.vary(tiny, {a: a.high}), workers=1)
    head = {h["key"]: h for h in out["headlines"]}
    for key in ("drone_response_mean_s", "drone_deployments_per_week", "pilot_utilisation"):
        m = registry.metric(key)
        want = np.mean([m.value(k) for k in direct.kpis])
        got = next(o for o in head[key]["oat"] if o["assumption"] == "drone_speed")["at_high"]
        assert got == pytest.approx(want, rel=1e-12), key
    base = run_scenario(tiny, workers=1)
    m = registry.metric("drone_response_mean_s")
    assert head["drone_response_mean_s"]["base"] == pytest.approx(
        np.mean([m.value(k) for k in base.kpis]), rel=1e-12)


def test_an_assumption_that_cannot_move_a_figure_has_zero_swing(oat_study):
    _tiny, _plan, _results, out = oat_study
    head = {h["key"]: h for h in out["headlines"]}
    for key in ("drone_response_mean_s", "drone_deployments_per_week", "ground_response_mean_s"):
        o = next(o for o in head[key]["oat"] if o["assumption"] == "airframe_cost")
        assert o["swing"] == 0.0, key
    cost = next(o for o in head["cost_per_year_gbp"]["oat"] if o["assumption"] == "airframe_cost")
    assert cost["at_high"] > head["cost_per_year_gbp"]["base"] > cost["at_low"]
    speed = next(o for o in head["drone_response_mean_s"]["oat"]
                 if o["assumption"] == "drone_speed")
    assert speed["at_high"] < head["drone_response_mean_s"]["base"] < speed["at_low"]
    assert head["drone_response_mean_s"]["driver"] == "drone_speed"
    env = head["drone_response_mean_s"]["envelope"]
    assert env == [speed["at_high"], speed["at_low"]]


def test_identical_points_share_one_factor(tiny):
    a = sens.Assumption("pilots_same", "control_room.pilots", 2, 2, False, "test")
    plan = sens.plan_sensitivity(tiny, [a], [], ("oat",))
    assert len(plan.factors) == 1 and len(plan.points) == 3


# --------------------------------------------------------------------------------------------
# Screening wrappers on analytic functions
# --------------------------------------------------------------------------------------------


def test_morris_recovers_the_ranking_of_a_known_function():
    bounds = [(0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.0, 1.0)]
    x = sens.morris_sample(bounds, trajectories=10, levels=4, seed=3)
    assert x.shape == (10 * 5, 4)
    y = 10 * x[:, 0] + 3 * x[:, 1] ** 2 + 0.5 * x[:, 2]  # x3 does nothing
    r = sens.morris_analyze(bounds, x, y, levels=4, seed=3)
    assert list(np.argsort(-r["mu_star"])) == [0, 1, 2, 3]
    assert r["mu_star"][3] == 0.0
    assert r["sigma"][0] == pytest.approx(0.0, abs=1e-9)  # linear: every effect the same
    again = sens.morris_sample(bounds, trajectories=10, levels=4, seed=3)
    np.testing.assert_array_equal(x, again)  # the seed fixes the design


def test_sobol_recovers_the_ranking_of_a_known_function():
    bounds = [(0.0, 1.0), (0.0, 1.0), (0.0, 1.0)]
    x = sens.sobol_sample(bounds, samples=256, seed=5)
    y = 4 * x[:, 0] + 1 * x[:, 1]
    r = sens.sobol_analyze(bounds, y, seed=5)
    assert r["ST"][0] > r["ST"][1] > r["ST"][2]
    assert r["S1"][0] == pytest.approx(16 / 17, abs=0.1)
    assert sens.sobol_analyze(bounds, np.ones(len(x)), seed=5)["ST"].tolist() == [0, 0, 0]


# --------------------------------------------------------------------------------------------
# The command, its outputs and the HTML section
# --------------------------------------------------------------------------------------------


def test_cli_sensitivity_writes_outputs_and_report(tmp_path, capsys):
    scn = write_toml(tmp_path / "tiny.toml", TINY_TOML)
    out = tmp_path / "sens_out"
    argv = ["sensitivity", scn, "--assumption", "drone_speed", "--assumption",
            "pilot_shift_cost", "--method", "oat,morris", "--trajectories", "2",
            "--replications", "1", "--workers", "1", "--out", out, "--quiet", "--report"]
    code, stdout, stderr = run_cli(argv, capsys)
    assert code == 0, stderr
    for name in ("sensitivity.json", "sensitivity.csv", "sensitivity.md", "summary.json",
                 "manifest.json", "scenario.resolved.toml", "report.html"):
        assert (out / name).is_file(), name
    data = json.loads((out / "sensitivity.json").read_text())
    assert [a["name"] for a in data["assumptions"]] == ["drone_speed", "pilot_shift_cost"]
    assert data["morris"]["points"] == 2 * 3
    assert {h["key"] for h in data["headlines"]} >= {"drone_response_mean_s",
                                                     "cost_per_year_gbp"}
    csv = pd.read_csv(out / "sensitivity.csv")
    assert len(csv) == 2 * len(data["headlines"])
    pngs = sorted(p.name for p in (out / "plots").iterdir())
    assert "tornado_drone_response_mean_s.png" in pngs
    md = (out / "sensitivity.md").read_text()
    assert "| drone response, mean |" in md
    assert "Over each assumption's plausible range" in stdout
    html = (out / "report.html").read_text()
    assert 'id="sensitivity"' in html and 'id="sensitivity-table"' in html
    assert 'id="sensitivity-morris"' in html
    assert html.count("data:image/png;base64,") == len(pngs)
    # the same command again reuses every point (cached, resumable) and gives the same file
    first = (out / "sensitivity.json").read_text()
    code, _stdout, stderr = run_cli(argv, capsys)
    assert code == 0, stderr
    assert "reused" in stderr
    assert (out / "sensitivity.json").read_text() == first
    # dronesim report on the folder again
    code, _stdout, stderr = run_cli(["report", out, "--out", tmp_path / "again.html"], capsys)
    assert code == 0, stderr
    assert 'id="sensitivity"' in (tmp_path / "again.html").read_text()


def test_report_of_a_run_folder_includes_a_study_kept_there(tmp_path, capsys):
    from dronesim.outputs.html import build_html_report

    scn = write_toml(tmp_path / "tiny.toml", TINY_TOML)
    run = tmp_path / "run"
    code, _o, err = run_cli(["run", scn, "--replications", "1", "--workers", "1", "--out", run,
                             "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    assert 'id="sensitivity"' not in build_html_report(run)
    sens_dir = tmp_path / "s"
    code, _o, err = run_cli(["sensitivity", scn, "--assumption", "climb", "--replications",
                             "1", "--workers", "1", "--out", sens_dir, "--quiet", "--no-plots"],
                            capsys)
    assert code == 0, err
    (run / "sensitivity.json").write_bytes((sens_dir / "sensitivity.json").read_bytes())
    html = build_html_report(run)
    assert 'id="sensitivity"' in html and "climb" in html


def test_report_sensitivity_option_takes_only_a_study_of_the_same_inputs(tmp_path, capsys):
    """dronesim report RUN --sensitivity STUDY: the section of a study of the run's own scenario
    (only replications and weeks may differ); a study of other inputs is refused in one line,
    and nothing is written."""
    scn = write_toml(tmp_path / "tiny.toml", TINY_TOML)
    run = tmp_path / "run"
    code, _o, err = run_cli(["run", scn, "--replications", "2", "--workers", "1", "--out", run,
                             "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    study = tmp_path / "study"
    code, _o, err = run_cli(["sensitivity", scn, "--assumption", "climb", "--replications",
                             "1", "--weeks", "0.05", "--workers", "1", "--out", study,
                             "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    page = tmp_path / "with.html"
    code, _o, err = run_cli(["report", run, "--sensitivity", study, "--out", page], capsys)
    assert code == 0, err
    assert 'id="sensitivity"' in page.read_text() and "climb" in page.read_text()
    # A study of a scenario with another drone speed: other inputs, refused.
    other_toml = write_toml(tmp_path / "other.toml",
                            TINY_TOML.replace("speed_m_s = 20.0", "speed_m_s = 22.0"))
    other = tmp_path / "other_study"
    code, _o, err = run_cli(["sensitivity", other_toml, "--assumption", "climb",
                             "--replications", "1", "--workers", "1", "--out", other,
                             "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    bad = tmp_path / "bad.html"
    code, _o, err = run_cli(["report", run, "--sensitivity", other, "--out", bad], capsys)
    assert code == 2 and not bad.exists()
    assert len(err.strip().splitlines()) == 1 and "drones.speed_m_s" in err
    # A run folder is not a study.
    code, _o, err = run_cli(["report", run, "--sensitivity", run, "--out", bad], capsys)
    assert code == 2 and "not of dronesim sensitivity" in err and not bad.exists()
    # A study of another scenario copied beside a run's outputs is refused too.
    (run / "sensitivity.json").write_text(json.dumps(
        {**json.loads((other / "sensitivity.json").read_text()), "scenario": "elsewhere"}))
    code, _o, err = run_cli(["report", run, "--out", bad], capsys)
    assert code == 2 and "'elsewhere'" in err and not bad.exists()


@pytest.mark.parametrize("extra, field", [
    (["--assumption", "warp_speed"], "--assumption"),
    (["--assumption", "drone_speed=10:150"], "--assumption"),
    (["--assumption", "drone_speed=30:10"], "--assumption"),
    (["--method", "tornado"], "--method"),
    (["--method", "sobol", "--samples", "6"], "--samples"),
    (["--levels", "1"], "--levels"),
])
def test_cli_sensitivity_bad_input_is_one_line(tmp_path, capsys, extra, field):
    scn = write_toml(tmp_path / "tiny.toml", TINY_TOML)
    out = tmp_path / "out"
    code, _stdout, stderr = run_cli(["sensitivity", scn, "--replications", "1", "--out", out,
                                     "--quiet", *extra], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dronesim: error:") and field in lines[0]
    assert not out.exists()


def test_cli_sensitivity_refuses_a_folder_of_other_files(tmp_path, capsys):
    scn = write_toml(tmp_path / "tiny.toml", TINY_TOML)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sensitivity.json").write_text("{}")  # not dronesim's
    code, _stdout, stderr = run_cli(["sensitivity", scn, "--assumption", "climb",
                                     "--replications", "1", "--out", out, "--quiet"], capsys)
    assert code == 2, stderr
    assert (out / "sensitivity.json").read_text() == "{}"


def test_summary_words_and_markdown():
    out = {"scenario": "s", "replications": 1, "weeks": 1.0, "seed": 1,
           "assumptions": [{"name": "a"}], "skipped": [],
           "headlines": [{"key": "drone_response_mean_s", "label": "drone response, mean",
                          "unit": "s", "base": 110.0, "envelope": [80.0, 140.0],
                          "oat": [{"assumption": "a", "at_low": 140.0, "at_high": 80.0,
                                   "swing": 60.0}], "driver": "a"}]}
    text = sens.summary_text(out)
    assert "drone response, mean 1:50 (range 1:20 to 2:20; most: a (2:20 to 1:20))" in text
    assert "1 replication," in text
    assert "| drone response, mean | 1:50 | 1:20 to 2:20 | a (2:20 to 1:20) |" in \
        sens.markdown_table(out)
    assert not math.isnan(110.0)
