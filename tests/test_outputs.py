"""Output folders: dronesim never deletes or overwrites a file it did not write.

A folder holding a user's files is refused without --overwrite, and with it the user's files are
never touched, run after run; dronesim's own files are recognised by their recorded digests, so
a file the user changed is no longer dronesim's; interrupted runs keep their finished tasks, clear
their staging, and a re-run resumes; created folders follow the umask.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from conftest import MET_BASELINE, run_cli

from dronesim.errors import InputError
from dronesim.experiment.store import STATE_DIR, OutputFolder, check_output_path

ARGS = ["--weeks", "0.05", "--workers", "1", "--quiet", "--no-plots"]


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _run(capsys, out: Path, *extra: str, reps: int = 2) -> tuple[int, str]:
    code, _, err = run_cli(["run", MET_BASELINE, *ARGS, "--replications", str(reps),
                            "--out", out, *extra], capsys)
    return code, err


def test_users_files_survive_every_run(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "thesis.docx").write_bytes(b"years of work")
    (out / "notes" / "n.txt").write_text("notes")
    before = {p: _digest(p) for p in out.rglob("*") if p.is_file()}
    code, err = _run(capsys, out)  # refused: the folder holds the user's files
    assert code == 2 and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes", "thesis.docx"]
    for extra_reps in (2, 3, 1):  # --overwrite, then re-runs that change what dronesim writes
        code, err = _run(capsys, out, "--overwrite", reps=extra_reps)
        assert code == 0, err
        assert {p: _digest(p) for p in before} == before
        assert len(list((out / "incidents.parquet").glob("*.parquet"))) == extra_reps
        manifest = json.loads((out / "manifest.json").read_text())
        assert "thesis.docx" not in manifest["files"]
        assert not (out / STATE_DIR).exists()


def test_own_folder_rerun_replaces_only_own_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(capsys, out)[0] == 0
    (out / "my_notes.txt").write_text("added by the user afterwards")
    code, err = _run(capsys, out, reps=1)  # own folder: no --overwrite needed
    assert code == 0, err
    assert (out / "my_notes.txt").read_text() == "added by the user afterwards"
    # The second replication's part from the first run is dronesim's own, and stale: gone.
    assert len(list((out / "incidents.parquet").glob("*.parquet"))) == 1
    files = json.loads((out / "manifest.json").read_text())["files"]
    for rel, rec in files.items():
        assert _digest(out / rel) == rec["sha256"], rel


def test_file_changed_by_the_user_is_no_longer_dronesims(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(capsys, out)[0] == 0
    (out / "summary.json").write_text('{"edited": "by hand"}')
    code, err = _run(capsys, out)
    assert code == 2 and "summary.json has changed since dronesim wrote it" in err
    assert (out / "summary.json").read_text() == '{"edited": "by hand"}'
    code, err = _run(capsys, out, "--overwrite")  # --overwrite does not change that
    assert code == 2
    assert (out / "summary.json").read_text() == '{"edited": "by hand"}'


def test_interrupted_run_keeps_finished_tasks_and_resumes(tmp_path, capsys, monkeypatch):
    import dronesim.experiment.runner as ex

    out = tmp_path / "run"
    real = ex.execute_task
    calls = []

    def stop_after_first(payload):
        if calls:
            raise KeyboardInterrupt  # Ctrl-C while the second replication runs
        calls.append(payload["replication"])
        return real(payload)

    monkeypatch.setattr(ex, "execute_task", stop_after_first)
    code, err = _run(capsys, out, reps=3)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    kept = sorted(p.name for p in (out / "tasks").glob("*.json"))
    assert len(kept) == 1
    state = out / STATE_DIR
    assert not list(state.glob("staging-*")) and not (state / "partial").exists()
    monkeypatch.setattr(ex, "execute_task", real)
    ran = []
    monkeypatch.setattr(ex, "execute_task", lambda p: ran.append(p["replication"]) or real(p))
    code, err = _run(capsys, out, reps=3)
    assert code == 0, err
    assert sorted(ran) == [1, 2]  # only the missing replications ran again
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed_replications"] == 1 and manifest["replications"] == 3


def test_failed_run_in_new_folder_leaves_nothing(tmp_path, capsys, monkeypatch):
    import dronesim.experiment.runner as ex

    def boom(payload):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex, "execute_task", boom)
    out = tmp_path / "new" / "deeper"
    code, _ = _run(capsys, out)
    assert code == 130
    assert not (tmp_path / "new").exists()  # created by the run, nothing kept: removed


def test_stale_staging_of_a_killed_run_is_cleared(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(capsys, out)[0] == 0
    stale = out / STATE_DIR / "staging-99999"
    stale.mkdir(parents=True)
    (stale / "summary.json").write_text("half written")
    (out / STATE_DIR / "owner.json").write_text('{"dronesim_output": 1}')
    assert _run(capsys, out)[0] == 0
    assert not (out / STATE_DIR).exists()


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_outputs_follow_the_umask(tmp_path, capsys, mask):
    old = os.umask(mask)
    try:
        out = tmp_path / "run"
        assert _run(capsys, out, reps=1)[0] == 0
    finally:
        os.umask(old)
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert mode == want, (p, oct(mode), oct(want))


def test_check_output_path_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_output_path(tmp_path / "fresh") == "new"
    (tmp_path / "empty").mkdir()
    assert check_output_path(tmp_path / "empty") == "new"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="did not write"):
        check_output_path(tmp_path / "full")
    assert check_output_path(tmp_path / "full", overwrite=True) == "foreign"
    with pytest.raises(InputError, match="current folder"):
        check_output_path(Path("."))
    (tmp_path / "file").write_text("f")
    with pytest.raises(InputError, match="inside"):
        check_output_path(tmp_path / "file" / "a" / "b")


def test_commit_refuses_to_replace_a_file_that_appeared(tmp_path):
    """A file the user puts in place during the run is not replaced at commit."""
    folder = OutputFolder(tmp_path / "out", overwrite=False, entries=("summary.json",))
    with folder:
        (folder.staging / "summary.json").write_text("{}")
        (folder.path / "summary.json").write_text("the user's")
        with pytest.raises(InputError, match="not written by dronesim"):
            folder.commit({})
    assert (tmp_path / "out" / "summary.json").read_text() == "the user's"
