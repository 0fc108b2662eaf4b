"""Output folders under attack and under kill -9.

* Records that drive deletion (a manifest, the ledger, an intent) are never trusted: a folder
  prepared by someone else, listing a path outside it (``..``, absolute, through a symbolic
  link) or a name dronesim never writes, with the right size and SHA-256, is refused in one line
  before anything runs, and nothing anywhere is deleted or changed.
* The commit protocol survives ``kill -9`` at every step (``DRONESIM_FAULT``, a test hook in
  :mod:`dronesim.experiment.store`): the same command run again exits 0 and leaves the same
  files as a run that was never interrupted.
* dronesim never writes into its own folders (the package, the checkout's data/, scenarios/, ...),
  ``--overwrite`` or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import MET_BASELINE, REPO, SCENARIOS, run_cli, snapshot

from dronesim.errors import InputError
from dronesim.experiment.store import (
    FAULT_STEPS,
    STATE_DIR,
    check_output_file,
    check_output_path,
    record_problem,
)

DRONESIM = Path(sys.executable).with_name("dronesim")
RUN = ["run", str(MET_BASELINE), "--weeks", "0.05", "--workers", "1", "--quiet"]
SWEEP = ["sweep", str(SCENARIOS / "met_growth.toml"), "--fleet", "9,12", "--replications", "1",
         "--weeks", "0.05", "--workers", "1", "--quiet", "--no-plots"]


def _digest(p: Path) -> dict:
    data = p.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ---------------------------------------------------------------------------------------------
# The one list of names a record may hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", [
    "summary.json", "scenario.resolved.toml", "sweep.csv", "boroughs.csv", "sites.csv",
    "differences.csv", "values.csv", "plots/boroughs.png", "plots/forest_police.png",
    "scenarios/shared.resolved.toml", "tasks/met_baseline-r0000-0e71c913986b.json",
    "incidents.parquet/met_baseline-r0000-0e71c913986b.parquet",
    "missions.parquet/a-r0001-abc.parquet", "report.html", "my map.gpkg", "R.HTML"])
def test_names_dronesim_writes_are_accepted(rel):
    assert record_problem(rel) is None


@pytest.mark.parametrize("rel,why", [
    ("../victim/notes.txt", "'..'"), ("/home/user/notes.txt", "absolute"),
    ("tasks/../../x", "'..'"), ("tasks/./a.json", "normalised"), ("tasks//a.json", "normalised"),
    ("plots/", "normalised"), ("plots\\a.png", "backslash"), ("plots/a\x00.png", "control"),
    ("notes.txt", "not a file dronesim writes"), ("manifest.json", "not a file"),
    (".dronesim/ledger.jsonl", "not a file"), ("plots/a.txt", "not a file"),
    ("plots/sub/a.png", "not a file"), ("tasks/.hidden.json", "not a file"),
    ("sub/report.html", "not a file"), (".report.html", "not a file"), ("", "not a relative"),
    (3, "not a relative")])
def test_other_paths_are_refused(rel, why):
    assert why in record_problem(rel)


# ---------------------------------------------------------------------------------------------
# Forged records: manifest, ledger, intent
# ---------------------------------------------------------------------------------------------


def _forge(out: Path, victim: Path, kind: str, case: str) -> str:
    """Prepare ``out`` as a shared folder whose ``kind`` record lists a victim file by the path
    ``case`` (with its correct size and hash); returns the recorded path."""
    vdir = victim.parent
    out.mkdir()
    if case == "dotdot":
        rel = os.path.relpath(victim, out)
        assert rel.startswith("../")
    elif case == "absolute":
        rel = str(victim)
    elif case == "symlinked_folder":
        (vdir / "boroughs.png").write_bytes(b"the victim's picture")
        victim = vdir / "boroughs.png"
        (out / "plots").symlink_to(vdir, target_is_directory=True)
        rel = "plots/boroughs.png"
    elif case == "tasks_dotdot":
        (out / "tasks").mkdir()
        rel = "tasks/../../" + os.path.relpath(victim, out.parent)
    else:  # "unknown": a user's file inside the folder, a name dronesim never writes
        victim = out / "notes.txt"
        victim.write_text("my notes, inside the results folder")
        rel = "notes.txt"
    digest = _digest(victim)
    if kind == "manifest":
        (out / "manifest.json").write_text(json.dumps({"dronesim_output": 1,
                                                       "files": {rel: digest}}))
    else:
        state = out / STATE_DIR
        state.mkdir()
        (state / "owner.json").write_text('{"dronesim_output": 1}')
        if kind == "ledger":
            (state / "ledger.jsonl").write_text(json.dumps({"path": rel, **digest}) + "\n")
        else:
            (state / "intent.json").write_text(json.dumps(
                {"dronesim_output": 1, "op": "commit", "place": {rel: digest}, "delete": {},
                 "manifest": None}))
    return rel


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlinked_folder", "tasks_dotdot",
                                  "unknown"])
@pytest.mark.parametrize("kind", ["manifest", "ledger", "intent"])
def test_forged_record_refuses_and_deletes_nothing(tmp_path, capsys, kind, case):
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "notes.txt").write_text("the victim's notes")
    (tmp_path / "x").write_text("another victim, next to the folder")
    out = tmp_path / "shared"
    rel = _forge(out, victim_dir / "notes.txt" if case != "tasks_dotdot" else tmp_path / "x",
                 kind, case)
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        code, _, err = run_cli([*RUN, "--replications", "1", "--no-plots", "--out", out,
                                *extra], capsys)
        assert code == 2, err
        assert len(err.splitlines()) == 1 and err.startswith("dronesim: error: "), err
        record = {"manifest": "manifest.json", "ledger": "ledger.jsonl",
                  "intent": "intent.json"}[kind]
        assert record in err and repr(rel) in err, err
        assert snapshot(tmp_path) == before  # nothing deleted, nothing written, anywhere


@pytest.mark.parametrize("link", ["state_folder", "ledger"])
def test_symbolic_links_in_the_state_folder_are_refused(tmp_path, capsys, link):
    """``.dronesim`` (or its ledger) a link to elsewhere: writing the run's state through it
    would append to, or clear, someone else's files."""
    victim = tmp_path / "victim"
    (victim / "partial").mkdir(parents=True)
    (victim / "partial" / "important.txt").write_text("not dronesim's")
    (victim / "owner.json").write_text('{"dronesim_output": 1}')
    (victim / "diary.txt").write_text("dear diary\n")
    out = tmp_path / "shared"
    out.mkdir()
    if link == "state_folder":
        (out / STATE_DIR).symlink_to(victim, target_is_directory=True)
    else:
        (out / STATE_DIR).mkdir()
        (out / STATE_DIR / "owner.json").write_text('{"dronesim_output": 1}')
        (out / STATE_DIR / "ledger.jsonl").symlink_to(victim / "diary.txt")
    before = snapshot(tmp_path)
    code, _, err = run_cli([*RUN, "--replications", "1", "--no-plots", "--out", out,
                            "--overwrite"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "is a symbolic link, which dronesim never makes" in err
    assert snapshot(tmp_path) == before


def test_forged_manifest_refused_by_report_too(tmp_path, results_folders):
    """``dronesim report`` into a copied results folder whose manifest was doctored."""
    from dronesim.outputs.html import write_html_report

    victim = tmp_path / "notes.txt"
    victim.write_text("the victim's notes")
    out = tmp_path / "copy"
    shutil.copytree(results_folders["run1"], out)
    man = json.loads((out / "manifest.json").read_text())
    man["files"]["../notes.txt"] = _digest(victim)
    (out / "manifest.json").write_text(json.dumps(man))
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=r"manifest.json: files: '\.\./notes\.txt' leads out"):
        write_html_report(out)
    assert snapshot(tmp_path) == before


def test_report_only_at_the_top_of_a_results_folder(tmp_path, results_folders):
    from dronesim.outputs.html import write_html_report

    out = tmp_path / "copy"
    shutil.copytree(results_folders["run1"], out)
    (out / "sub").mkdir()
    before = snapshot(out)
    for name in ("sub/r.html", "notes.txt"):
        with pytest.raises(InputError, match="only a top-level file ending .html or .gpkg"):
            write_html_report(out, out / name)
    assert snapshot(out) == before


# ---------------------------------------------------------------------------------------------
# The project's own folders
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["data", "scenarios", "dronesim", "data/new_run", "tests",
                                   ".", "dronesim/dispatch"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_outputs_never_go_into_the_project(capsys, where, overwrite):
    target = (REPO / where).resolve()
    parent = target if target.exists() else target.parent
    before = sorted(p.name for p in parent.iterdir())
    code, _, err = run_cli([*RUN, "--replications", "1", "--no-plots", "--out", target,
                            *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "dronesim never writes its outputs there" in err, err
    assert sorted(p.name for p in parent.iterdir()) == before
    assert not target.exists() or where != "data/new_run"


def test_results_inside_the_checkout_stay_allowed(tmp_path):
    assert check_output_path(REPO / "results" / "never_created_by_this_test") == "new"
    with pytest.raises(InputError, match="dronesim checkout's own data/ folder"):
        check_output_file(REPO / "data" / "report.html", lambda p: True, "report")
    with pytest.raises(InputError, match="inside the dronesim package"):
        check_output_path(REPO / "dronesim" / "out", overwrite=True)


# ---------------------------------------------------------------------------------------------
# kill -9 at every step of the commit protocol
# ---------------------------------------------------------------------------------------------


def _dronesim(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DRONESIM_FAULT", None)
    if fault:
        env["DRONESIM_FAULT"] = fault
    return subprocess.run([str(DRONESIM), *args], capture_output=True, text=True, env=env,
                          timeout=600)


#: Manifest fields that differ between two uninterrupted runs (times, the command, resumes).
_VARYING = {"wall_time_s", "replication_wall_time_s", "resumed_replications", "resumed_tasks",
            "command"}


def _tree(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() + ("/" if p.is_dir() else "")
                  for p in d.rglob("*"))


def _assert_same_outputs(got: Path, ref: Path) -> None:
    """The same files, bit for bit, except what legitimately differs between two uninterrupted
    runs: the manifest's times and command, and each task record's wall time."""
    assert _tree(got) == _tree(ref)  # no .dronesim, no stray or missing file or folder
    for rel in _tree(ref):
        if rel.endswith("/"):
            continue
        a, b = got / rel, ref / rel
        if rel == "manifest.json":
            ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
            for rec_rel, rec in ma["files"].items():  # the manifest tells the truth
                assert _digest(got / rec_rel) == rec, rec_rel
            fa, fb = ma.pop("files"), mb.pop("files")
            assert sorted(fa) == sorted(fb)
            assert {k: v for k, v in fa.items() if not k.startswith("tasks/")} == \
                   {k: v for k, v in fb.items() if not k.startswith("tasks/")}
            assert {k: v for k, v in ma.items() if k not in _VARYING} == \
                   {k: v for k, v in mb.items() if k not in _VARYING}
        elif rel.startswith("tasks/"):
            ta, tb = json.loads(a.read_text()), json.loads(b.read_text())
            ta.pop("wall_s"), tb.pop("wall_s")
            assert ta == tb, rel
        elif rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
            assert a.read_bytes() == b.read_bytes(), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel


#: name -> (command, the state the killed command starts from)
COMMANDS = {
    "run": [*RUN, "--replications", "2", "--no-plots"],
    "run_plots": [*RUN, "--replications", "2"],
    "run3": [*RUN, "--replications", "3", "--no-plots"],
    "sweep": SWEEP,
}


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """Each command run once, uninterrupted, into a fresh folder."""
    root = tmp_path_factory.mktemp("references")
    refs = {}
    for name, argv in COMMANDS.items():
        out = root / name
        r = _dronesim([*argv, "--out", str(out)])
        assert r.returncode == 0, r.stderr
        refs[name] = out
    return refs


# (command, fault, the reference folder the killed run starts from, or None for a new folder)
FAULTS = [
    ("run", "keep-intent", None),
    ("run", "keep-placed", None),
    ("run", "keep-placed:2", None),    # in the middle of the first task's three files
    ("run", "keep-placed:4", None),    # the second task's first file
    ("run", "keep-recorded", None),
    ("run", "keep-recorded:2", None),
    ("run", "commit-intent", None),
    ("run", "commit-placed", None),
    ("run", "commit-recorded", None),
    ("run", "commit-before-manifest", None),
    ("run", "commit-manifest", None),
    ("run", "commit-cleanup", None),
    ("run_plots", "commit-placed", None),    # plots/boroughs.png in place, nothing recorded
    ("run_plots", "commit-placed:3", None),
    ("run", "commit-deleted", "run3"),    # a 3-replication folder re-run with 2: stale parts
    ("run", "commit-deleted:2", "run3"),
    ("sweep", "keep-placed", None),
    ("sweep", "commit-placed:2", None),
]


def test_every_step_is_under_test():
    tested = {fault.partition(":")[0] for _, fault, _ in FAULTS} | {
        f"add-{s}" for s in ("intent", "placed", "manifest")}
    assert tested == set(FAULT_STEPS)


@pytest.mark.parametrize("command,fault,start", FAULTS,
                         ids=[f"{c}-{f}" + (f"-over-{s}" if s else "") for c, f, s in FAULTS])
def test_kill_9_at_every_step_resumes_to_the_same_files(tmp_path, references, command, fault,
                                                        start):
    out = tmp_path / "out"
    if start is not None:
        shutil.copytree(references[start], out)
    argv = [*COMMANDS[command], "--out", str(out)]
    r = _dronesim(argv, fault)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    assert (out / STATE_DIR).is_dir()  # killed part-way: the run's state is there
    r = _dronesim(argv)
    assert r.returncode == 0, r.stderr
    # Nothing but the note of what was reused from the killed run (when a task had finished).
    for line in r.stderr.splitlines():
        assert re.fullmatch(r"dronesim: note: reused \d+ of \d+ (replications|tasks) from an "
                            r"earlier run in .*", line), line
    _assert_same_outputs(out, references[command])


@pytest.mark.parametrize("fault", ["add-intent", "add-placed", "add-manifest"])
def test_kill_9_while_adding_a_report(tmp_path, references, fault):
    out = tmp_path / "out"
    shutil.copytree(references["run"], out)
    r = _dronesim(["report", str(out)], fault)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    r = _dronesim(["report", str(out)])  # the report written again, over the placed one
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["files"]["report.html"] == _digest(out / "report.html")
    assert _tree(out) == sorted([*_tree(references["run"]), "report.html"])
    for rel, rec in man["files"].items():
        assert _digest(out / rel) == rec, rel
    # ... and the run re-run on that folder: the report (of the old outputs, recorded as
    # dronesim's own by the roll-forward) is stale and removed, as after any re-run.
    r = _dronesim([*COMMANDS["run"], "--out", str(out)])
    assert r.returncode == 0, r.stderr
    _assert_same_outputs(out, references["run"])
