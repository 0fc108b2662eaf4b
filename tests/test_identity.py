"""A task's identity covers everything that decides its result, so a re-run never serves old
results: an edited plugin, changed trace rows or other dronesim code are never reused; a folder
holding tasks of other inputs is refused in one line naming what changed (nothing written or
deleted), and with --overwrite the figures are a fresh run's; the same inputs are reused and
the console says how many; every file-bearing scenario field is hashed by content."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import MET_BASELINE, SCENARIOS, run_cli, tiny_scenario_dict

from dronesim.experiment import identity
from dronesim.inputs.scenario import Scenario, scenario_from_dict

ARGS = ["--weeks", "0.05", "--workers", "1", "--quiet", "--no-plots"]

ACCEPT = '''
from dronesim import register_policy
from dronesim.dispatch import EarliestArrival

@register_policy("identity_test_policy")
class Policy(EarliestArrival):
    """Dispatches as the default policy does."""
'''
DECLINE = '''
from dronesim import Decline, register_policy

@register_policy("identity_test_policy")
class Policy:
    """Declines every call."""
    def decide(self, incident, fleet, now):
        return Decline("plugin")
'''


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _deployments(out: Path) -> float:
    return json.loads((out / "summary.json").read_text())["drone_deployments_per_week"]["mean"]


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _refused(code: int, err: str, out: Path, before: dict[str, str], *names: str) -> None:
    """Refused in one line on --out, naming what changed; the folder untouched."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dronesim: error: <command line>: --out: ")
    assert f"{out} holds results of other inputs" in err and "--overwrite" in err
    for name in names:
        assert name in err
    assert _tree(out) == before


# --------------------------------------------------------------------------------------------
# Changed inputs are never reused (stale-reuse)
# --------------------------------------------------------------------------------------------


def test_edited_plugin_policy_is_never_reused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "identity_plugin_a.py"
    plugin.write_text(ACCEPT)
    scn = tmp_path / "s.toml"
    scn.write_text(f'extends = "{MET_BASELINE.as_posix()}"\nname = "mine"\n'
                   '[dispatch]\npolicy = "identity_test_policy"\n')
    run = ["run", scn, *ARGS, "--replications", "2", "--plugin", plugin.name]
    out = tmp_path / "out"
    code, _, err = run_cli([*run, "--out", out], capsys)
    assert code == 0, err
    assert _deployments(out) > 0
    before = _tree(out)
    plugin.write_text(DECLINE)  # the same command, the policy now declines every call
    code, _, err = run_cli([*run, "--out", out], capsys)
    _refused(code, err, out, before, "the plugin identity_plugin_a (identity_plugin_a.py) changed")
    code, _, err = run_cli([*run, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert "reused" not in err
    assert _deployments(out) == 0.0
    fresh = tmp_path / "fresh"
    assert run_cli([*run, "--out", fresh], capsys)[0] == 0
    assert _summary(out) == _summary(fresh)
    assert sorted(p.name for p in (out / "tasks").iterdir()) == \
        sorted(p.name for p in (fresh / "tasks").iterdir())  # the old tasks are gone


def _trace(path: Path, days: int) -> Path:
    """A police trace of a few calls a day in Islington, over ``days`` days."""
    rows = [f"{d * 86_400 + h * 3600},531187,183392,police\n" for d in range(days)
            for h in range(2, 24, 3)]
    path.write_text("time,x,y,service\n" + "".join(rows), encoding="utf-8")
    return path


def test_changed_trace_rows_are_never_reused(tmp_path, capsys):
    trace = _trace(tmp_path / "calls.csv", 2)
    scn = tmp_path / "s.toml"
    scn.write_text(f'extends = "{MET_BASELINE.as_posix()}"\nname = "traced"\n'
                   '[simulation]\nwarmup_hours = 1.0\n[demand]\ntrace = "calls.csv"\n')
    run = ["run", scn, *ARGS, "--replications", "2"]
    out = tmp_path / "out"
    assert run_cli([*run, "--out", out], capsys)[0] == 0
    weeks_before = _summary(out)["weeks"]
    before = _tree(out)
    _trace(trace, 3)  # more rows, a longer horizon
    code, _, err = run_cli([*run, "--out", out], capsys)
    _refused(code, err, out, before, "the trace demand.trace (calls.csv) changed")
    code, _, err = run_cli([*run, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    fresh = tmp_path / "fresh"
    assert run_cli([*run, "--out", fresh], capsys)[0] == 0
    # The horizon and the figures come from the same run: a fresh one's.
    assert _summary(out)["weeks"] > weeks_before
    assert _summary(out) == _summary(fresh)


def test_other_dronesim_code_is_never_reused(tmp_path, capsys, monkeypatch):
    run = ["run", MET_BASELINE, *ARGS, "--replications", "2"]
    out = tmp_path / "out"
    assert run_cli([*run, "--out", out], capsys)[0] == 0
    first = _summary(out)
    before = _tree(out)
    # Another dronesim (as if a .py file of the package had been edited).
    monkeypatch.setattr(identity, "code_digest", lambda: "0" * 64)
    code, _, err = run_cli([*run, "--out", out], capsys)
    _refused(code, err, out, before, "dronesim's code changed")
    code, _, err = run_cli([*run, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert "reused" not in err
    assert _summary(out) == first  # run again (the code is in fact the same), not reused
    man = json.loads((out / "manifest.json").read_text())
    assert man["resumed_replications"] == 0
    assert len(list((out / "tasks").glob("*.json"))) == 2  # the old tasks replaced


def test_tasks_of_an_earlier_task_format_are_refused(tmp_path, capsys):
    run = ["run", MET_BASELINE, *ARGS, "--replications", "1"]
    out = tmp_path / "out"
    assert run_cli([*run, "--out", out], capsys)[0] == 0
    # What dronesim 0.1.0 wrote (task format 2, no identity): rewritten and re-recorded here
    # as if dronesim had written it, since only dronesim's own files count.
    from dronesim.experiment.store import file_digest

    task = next((out / "tasks").glob("*.json"))
    body = json.loads(task.read_text())
    body["format"] = 2
    del body["identity"]
    task.write_text(json.dumps(body))
    man = json.loads((out / "manifest.json").read_text())
    man["files"][f"tasks/{task.name}"] = file_digest(task)
    (out / "manifest.json").write_text(json.dumps(man))
    code, _, err = run_cli([*run, "--out", out], capsys)
    _refused(code, err, out, _tree(out), "dronesim's code changed", "task format 2")


# --------------------------------------------------------------------------------------------
# The same inputs are reused, and the console says so
# --------------------------------------------------------------------------------------------

SAME = {
    "run": (["run", MET_BASELINE, *ARGS, "--replications", "2"], "2 of 2 replications"),
    "sweep": (["sweep", SCENARIOS / "met_growth.toml", "--fleet", "9,12", "--replications", "1",
               *ARGS], "2 of 2 tasks"),
    "compare": (["compare", SCENARIOS / "bluelight_separate.toml",
                 SCENARIOS / "bluelight_shared.toml", "--replications", "1", *ARGS],
                "2 of 2 tasks"),
}


@pytest.mark.parametrize("kind", list(SAME))
def test_same_inputs_are_reused_and_the_console_says_so(tmp_path, capsys, kind):
    argv, said = SAME[kind]
    out = tmp_path / "out"
    code, _, err = run_cli([*argv, "--out", out], capsys)
    assert code == 0, err
    assert "reused" not in err
    tasks = _tree(out / "tasks")
    code, _, err = run_cli([*argv, "--out", out], capsys)
    assert code == 0, err
    assert f"dronesim: note: reused {said} from an earlier run in {out}\n" in err
    assert _tree(out / "tasks") == tasks


def test_interrupted_run_resumes_and_says_what_it_reused(tmp_path, capsys, monkeypatch):
    import dronesim.experiment.runner as ex

    real = ex.execute_task
    calls = []

    def stop_after_first(payload):
        if calls:
            raise KeyboardInterrupt
        calls.append(payload["replication"])
        return real(payload)

    monkeypatch.setattr(ex, "execute_task", stop_after_first)
    run = ["run", MET_BASELINE, *ARGS, "--replications", "3"]
    out = tmp_path / "out"
    assert run_cli([*run, "--out", out], capsys)[0] == 130
    ran = []
    monkeypatch.setattr(ex, "execute_task", lambda p: ran.append(p["replication"]) or real(p))
    code, _, err = run_cli([*run, "--out", out], capsys)
    assert code == 0, err
    assert sorted(ran) == [1, 2]
    assert f"dronesim: note: reused 1 of 3 replications from an earlier run in {out}" in err


def test_more_replications_reuse_the_earlier_ones(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(["run", MET_BASELINE, *ARGS, "--replications", "1", "--out", out],
                   capsys)[0] == 0
    code, _, err = run_cli(["run", MET_BASELINE, *ARGS, "--replications", "2", "--out", out],
                           capsys)
    assert code == 0, err
    assert "reused 1 of 2 replications" in err


def test_changed_scenario_value_is_named(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(["run", MET_BASELINE, *ARGS, "--replications", "1", "--seed", "1",
                    "--out", out], capsys)[0] == 0
    before = _tree(out)
    code, _, err = run_cli(["run", MET_BASELINE, *ARGS, "--replications", "1", "--seed", "2",
                            "--out", out], capsys)
    _refused(code, err, out, before, "the scenario value simulation.seed changed (1 -> 2)")


# --------------------------------------------------------------------------------------------
# What the identity covers
# --------------------------------------------------------------------------------------------


def _file_fields(cls: type, prefix: str = "") -> set[str]:
    """Dotted names of every scenario field that names files (by its name: ``file``, ``files``,
    ``*_file(s)``, ``trace``, ``path``), found by walking the scenario's dataclasses."""
    import re

    out = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if isinstance(a, type)]
        for t in [tp, *inner]:
            if dataclasses.is_dataclass(t):
                out |= _file_fields(t, f"{prefix}{f.name}.")
        if re.search(r"(^|_)(file|files|trace|traces|path|paths)$", f.name):
            out.add(prefix + f.name)
    return out


def test_every_file_field_of_the_scenario_is_in_the_identity():
    fields = _file_fields(Scenario)
    assert fields == {f"{s}.{k}" for s, k in identity.PATH_FIELDS}


FILE_VALUES = {
    "demand.trace": ({"demand": {"trace": "f.csv", "trace_service": "police"}}, "demand.trace"),
    "siting.file": ({"siting": {"method": "file", "file": "f.csv"}}, "siting.file"),
    "airspace.no_fly_files": ({"airspace": {"no_fly_files": ["f.csv"]}},
                              "airspace.no_fly_files[0]"),
    "connectivity.files": ({"connectivity": {"files": {"police": "f.csv"}}},
                           "connectivity.files.police"),
    "services.ground.travel_file": ({"services": {"police": {"ground": {
        "travel_model": "matrix", "travel_file": "f.csv"}}}},
        "services.police.ground.travel_file"),
}


@pytest.mark.parametrize("field", sorted(FILE_VALUES))
def test_each_input_file_counts_by_content_not_by_name(tmp_path, field):
    assert set(FILE_VALUES) == {f"{s}.{k}" for s, k in identity.PATH_FIELDS}
    over, role = FILE_VALUES[field]
    scn_file = tmp_path / "s.toml"
    scn = scenario_from_dict(tiny_scenario_dict(**over), source=str(scn_file))
    f = tmp_path / "f.csv"
    f.write_text("one\n")
    files = identity.input_files(scn)
    assert files == {role: f}
    a = identity.task_identity(scn)
    f.write_text("two\n")
    b = identity.task_identity(scn)
    assert a.digest != b.digest
    assert any(role in c and "changed" in c for c in identity.describe_change(a.parts, b.parts))
    # The same bytes under another name and folder: the same identity.
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "g.csv").write_text("two\n")
    moved = _with_file(over, str(other / "g.csv"))
    c = identity.task_identity(scenario_from_dict(tiny_scenario_dict(**moved),
                                                  source=str(scn_file)))
    assert c.digest == b.digest


def _with_file(over: Mapping, name: str) -> dict:
    def swap(v):
        if v == "f.csv":
            return name
        if isinstance(v, Mapping):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    return swap(over)


def test_identity_covers_code_data_plugins_not_replications(tmp_path, monkeypatch):
    scn = scenario_from_dict(tiny_scenario_dict())
    base = identity.task_identity(scn)
    more = scenario_from_dict(tiny_scenario_dict(simulation={"replications": 9}))
    assert identity.task_identity(more).digest == base.digest
    seed = scenario_from_dict(tiny_scenario_dict(simulation={"seed": 8}))
    assert identity.task_identity(seed).digest != base.digest
    plugin = tmp_path / "identity_plugin_b.py"
    plugin.write_text("X = 1\n")
    with_plugin = identity.task_identity(scn, plugins=[str(plugin)])
    assert with_plugin.digest != base.digest
    plugin.write_text("X = 2\n")
    assert identity.task_identity(scn, plugins=[str(plugin)]).digest != with_plugin.digest
    # A copy of the data folder with one file changed.
    import shutil

    from dronesim.inputs.geography import default_data_dir

    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    assert identity.task_identity(scn, data).digest == base.digest  # the same bytes
    with open(data / "calibration" / "met_bcu.csv", "a") as fh:
        fh.write("\n")
    changed = identity.task_identity(scn, data)
    assert changed.digest != base.digest
    assert identity.describe_change(base.parts, changed.parts) == [
        "the data file calibration/met_bcu.csv changed"]
    monkeypatch.setattr(identity, "code_digest", lambda: "1" * 64)
    assert identity.task_identity(scn).digest != base.digest


def test_code_digest_covers_every_module_of_the_package():
    import dronesim

    root = Path(dronesim.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py"), key=lambda q: q.relative_to(root).as_posix()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    assert identity.code_digest() == h.hexdigest()
    assert any(p.parent.name == "dispatch" for p in root.rglob("*.py"))


# --------------------------------------------------------------------------------------------
# The Python API: a plugin's policy runs in the calling process too
# --------------------------------------------------------------------------------------------


def test_run_scenario_loads_plugins_in_the_calling_process(tmp_path):
    from dronesim import run_scenario

    plugin = tmp_path / "identity_plugin_api.py"
    plugin.write_text(DECLINE.replace("identity_test_policy", "identity_api_decline"))
    scn = scenario_from_dict(tiny_scenario_dict(dispatch={"policy": "identity_api_decline"}))
    res = run_scenario(scn, replications=1, workers=1, plugins=[str(plugin)])
    assert res.summary["drone_deployments_per_week"]["mean"] == 0.0
    assert res.summary["incidents_per_week"]["mean"] > 0
