"""A run that cannot go on ends in one line: a user policy that never decides (the per-decision
time limit, ``--policy-timeout``), a full disk (the file named, no ``Exception ignored``
noise from pyarrow's writers, nothing half-written left), and the command line's notes (held
back until the input checks pass; a log record from another thread never blocks)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import MET_BASELINE, SCENARIOS, run_cli

DRONESIM = Path(sys.executable).with_name("dronesim")

STUCK = '''
import time
from dronesim import register_policy
from dronesim.dispatch import EarliestArrival

@register_policy("stuck_loop")
class StuckLoop:
    def decide(self, incident, fleet, now):
        while True:  # pure Python: interrupted between bytecodes
            pass

@register_policy("stuck_sleep")
class StuckSleep:
    def decide(self, incident, fleet, now):
        time.sleep(3600)  # a blocking call: interrupted too

@register_policy("user_earliest")
class UserEarliest(EarliestArrival):
    """A well-behaved plugin policy (the built-in's decisions, as user code)."""
    def decide(self, incident, fleet, now):
        return super().decide(incident, fleet, now)
'''

#: The disk fills up: the real writers run (pyarrow's ParquetWriter, Python's files), only the
#: bytes past DISKFULL_BYTES are refused by the "disk" with ENOSPC, in every process.
DISK_FULL = '''
import builtins, errno, io, os
import pyarrow.parquet as pq

_LEFT = [int(os.environ["DISKFULL_BYTES"])]


class _Full(io.FileIO):
    def write(self, b):
        if len(b) > _LEFT[0]:
            _LEFT[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        _LEFT[0] -= len(b)
        return super().write(b)


_writer_init = pq.ParquetWriter.__init__


def _parquet_writer(self, where, schema, *args, **kwargs):
    _writer_init(self, _Full(os.fspath(where), "wb"), schema, *args, **kwargs)


_open = io.open


def _full_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
               closefd=True, opener=None):
    # Files dronesim writes inside an output folder's .dronesim/ (partial, staged, ledger).
    if (isinstance(file, str | os.PathLike) and any(c in mode for c in "wax")
            and f"{os.sep}.dronesim{os.sep}" in os.fspath(file)):
        raw = _Full(os.fspath(file), next(c for c in mode if c in "wax"))
        buf = io.BufferedWriter(raw)
        if "b" in mode:
            return buf
        return io.TextIOWrapper(buf, encoding=encoding or "utf-8", errors=errors,
                                newline=newline)
    return _open(file, mode, buffering, encoding, errors, newline, closefd, opener)


pq.ParquetWriter.__init__ = _parquet_writer
io.open = builtins.open = _full_open
'''


def _scenario(tmp_path: Path, policy: str) -> Path:
    path = tmp_path / f"{policy}.toml"
    path.write_text(f'extends = "{MET_BASELINE.as_posix()}"\nname = "{policy}"\n'
                    f'[dispatch]\npolicy = "{policy}"\n', encoding="utf-8")
    return path


def _plugin(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- A: the per-decision time limit -------------------------------------------------------------


@pytest.mark.parametrize("policy,workers", [("stuck_loop", "1"), ("stuck_loop", "2"),
                                            ("stuck_sleep", "1")])
def test_policy_that_never_decides_ends_the_run_in_one_line(tmp_path, policy, workers):
    """Kind: timeout. The old code hung here (the subprocess timeout fails the test)."""
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = subprocess.run([str(DRONESIM), "run", str(_scenario(tmp_path, policy)),
                        "--replications", "2", "--weeks", "0.05", "--workers", workers,
                        "--quiet", "--no-plots", "--plugin",
                        str(_plugin(tmp_path, "stuck.py", STUCK)),
                        "--policy-timeout", "0.5", "--out", str(out)],
                       capture_output=True, text=True, timeout=90)
    wall = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("dronesim: error: replication ") and f"of {policy}: " in lines[0]
    assert f"policy {policy!r} took longer than 0.5 s to decide incident " in lines[0]
    assert "--policy-timeout" in lines[0]
    assert wall < 45, wall
    assert not out.exists()  # nothing finished: the folder it created is gone


def test_policy_timeout_is_checked_on_the_command_line(capsys):
    """Kind: input-refusal."""
    for bad in ("-1", "nan", "ten"):
        code, _, err = run_cli(["run", MET_BASELINE, "--policy-timeout", bad], capsys)
        assert code == 2 and err.count("\n") == 1 and "--policy-timeout" in err, err
        assert ("must be >= 0" if bad == "-1" else "expected a number") in err, err


def test_only_user_code_is_timed():
    """Built-in policies pay nothing per decision: they are never wrapped."""
    from dronesim.dispatch import make_policy, register_policy
    from dronesim.dispatch.policies import EarliestArrival
    from dronesim.dispatch.watchdog import runs_user_code

    for name in ("earliest_arrival", "nearest_idle", "priority_reserve", "benefit_threshold",
                 "coverage_preserving", "ground_only"):
        assert not runs_user_code(make_policy(name)), name

    @register_policy("test_watchdog_user")
    class Mine(EarliestArrival):
        def decide(self, incident, fleet, now):
            return super().decide(incident, fleet, now)

    assert runs_user_code(Mine())
    assert runs_user_code(make_policy("priority_reserve", {"base": "test_watchdog_user"}))
    replaced = EarliestArrival()
    replaced.decide = lambda incident, fleet, now: None
    assert runs_user_code(replaced)


@pytest.mark.parametrize("policy,wrapped", [("earliest_arrival", 0), ("user_earliest", 1)])
def test_the_limit_changes_no_result(tmp_path, tiny_scenario, monkeypatch, policy, wrapped):
    """Kind: timeout. The same seed gives the same tables with the limit on or off; only a user
    policy's decide is wrapped (one wrap per replication)."""
    import dronesim.dispatch.watchdog as watchdog
    from dronesim.dispatch.watchdog import decision_time_limit
    from dronesim.engine.replication import prepare, run_replication

    sys.path.insert(0, str(tmp_path))
    try:
        _plugin(tmp_path, "limits_plugin.py", STUCK)
        __import__("limits_plugin")
    finally:
        sys.path.remove(str(tmp_path))
    prep = prepare(tiny_scenario(dispatch={"policy": policy}))
    calls = []
    wrap = watchdog.DecisionLimit.wrap
    monkeypatch.setattr(watchdog.DecisionLimit, "wrap",
                        lambda self, decide, name: calls.append(name) or wrap(self, decide, name))
    free = run_replication(prep, 0)
    with decision_time_limit(30.0) as limit:
        assert limit is not None
        timed = run_replication(prep, 0)
    assert len(calls) == wrapped
    assert free.incidents.equals(timed.incidents) and free.missions.equals(timed.missions)
    assert len(free.missions) > 0


def test_the_limit_restores_the_alarm_handler():
    import signal

    from dronesim.dispatch.watchdog import active_limit, decision_time_limit

    before = signal.getsignal(signal.SIGALRM)
    with decision_time_limit(5.0) as limit:
        assert active_limit() is limit and signal.getsignal(signal.SIGALRM) != before
    assert signal.getsignal(signal.SIGALRM) == before and active_limit() is None
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    with decision_time_limit(0) as off:
        assert off is None and active_limit() is None


# --- B: a full disk -----------------------------------------------------------------------------


@pytest.mark.parametrize("command,workers,budget", [
    ("run", "1", "20000"), ("run", "2", "20000"), ("sweep", "1", "3000"),
    ("sweep", "2", "3000")])
def test_disk_full_ends_in_one_line_naming_the_file(tmp_path, command, workers, budget):
    """Kind: disk-full. Old code: nine lines of ``Exception ignored in ParquetWriter.__del__``
    before the error (run), or ``error: : No space left on device`` naming no file (sweep)."""
    import os

    out = tmp_path / "out"
    if command == "run":
        args = ["run", str(MET_BASELINE), "--weeks", "0.2"]
    else:
        args = ["sweep", str(SCENARIOS / "met_growth.toml"), "--fleet", "9,30", "--weeks", "0.1"]
    r = subprocess.run([str(DRONESIM), *args, "--replications", "2", "--workers", workers,
                        "--quiet", "--no-plots", "--plugin",
                        str(_plugin(tmp_path, "diskfull.py", DISK_FULL)), "--out", str(out)],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DISKFULL_BYTES": budget})
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr
    assert "No space left on device" in lines[0]
    assert f"{out}/.dronesim/partial/" in lines[0], lines[0]  # the file, by its full path
    assert ": :" not in lines[0]
    assert not out.exists()  # nothing finished, nothing half-written: the folder is gone


def test_disk_full_in_an_existing_folder_leaves_it_as_it_was(tmp_path):
    """Kind: disk-full. A folder that held a user's file: the same file, nothing else, after."""
    import os

    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    r = subprocess.run([str(DRONESIM), "run", str(MET_BASELINE), "--weeks", "0.2",
                        "--replications", "1", "--workers", "1", "--quiet", "--no-plots",
                        "--overwrite", "--plugin", str(_plugin(tmp_path, "diskfull.py", DISK_FULL)),
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DISKFULL_BYTES": "20000"})
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["mine.txt"]


def test_parquet_sink_abort_leaves_nothing_for_del(tmp_path):
    """A writer whose footer cannot be written is closed by the sink and has nothing left to
    do when collected (no ``Exception ignored`` at exit)."""
    code = f'''
import errno, io, os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import pandas as pd
import pyarrow.parquet as pq
from dronesim.engine.sinks import ParquetSink

class Full(io.FileIO):
    full = False
    def write(self, b):
        if Full.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)

init = pq.ParquetWriter.__init__
pq.ParquetWriter.__init__ = (
    lambda self, where, schema, **kw: init(self, Full(os.fspath(where), "wb"), schema, **kw))
sink = ParquetSink({str(tmp_path / "i.parquet")!r}, {str(tmp_path / "m.parquet")!r})
import pyarrow as pa
sink._table = lambda which, df: pa.Table.from_pandas(df, preserve_index=False)  # frames here
sink._write(0, pd.DataFrame({{"a": [1, 2]}}))
sink._write(1, pd.DataFrame({{"a": [1, 2]}}))
Full.full = True
try:
    sink.close()
except OSError as exc:
    print(exc.errno, exc.filename)
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == f"28 {tmp_path / 'i.parquet'}", r.stdout + r.stderr
    assert r.stderr == "", r.stderr


# --- C: notes -----------------------------------------------------------------------------------


def test_a_note_from_another_thread_does_not_block():
    """Kind: deadlock. ``_Notes`` once defined ``release()``, overriding the handler's lock
    release: the first record left the lock taken, and a record from another thread waited
    forever."""
    from dronesim.cli import _Notes

    notes = _Notes()
    logger = logging.getLogger("dronesim.test_notes")
    logger.addHandler(notes)
    logger.propagate = False
    try:
        logger.warning("first")
        t = threading.Thread(target=logger.warning, args=("second",), daemon=True)
        t.start()
        t.join(timeout=5)
        assert not t.is_alive(), "a note from a second thread blocked"
        assert notes.held == ["dronesim: note: first", "dronesim: note: second"]
    finally:
        logger.removeHandler(notes)


def test_notes_are_held_until_published(capsys):
    from dronesim.cli import _Notes

    notes = _Notes()
    logger = logging.getLogger("dronesim.test_notes_held")
    logger.addHandler(notes)
    logger.propagate = False
    try:
        logger.warning("one")
        logger.warning("two")
        assert capsys.readouterr().err == ""
        notes.publish()
        assert capsys.readouterr().err == "dronesim: note: one\ndronesim: note: two\n"
        logger.warning("three")
        assert capsys.readouterr().err == "dronesim: note: three\n"
    finally:
        logger.removeHandler(notes)


@pytest.mark.parametrize("refusal", ["zone_over_a_dock", "folder_locked"])
def test_a_refusal_after_a_note_prints_one_line(tmp_path, capsys, refusal):
    """Kind: input-refusal. A no-fly file in WGS84 gives a reprojection note; the run is then
    refused (a dock inside the zone, or another run holds the output folder's lock): only the
    error is printed. The old code printed the note too."""
    import fcntl
    import json
    import os

    import geopandas as gpd
    import shapely

    zones = tmp_path / "zones.geojson"
    box = ((-0.14, 51.50, -0.12, 51.51) if refusal == "zone_over_a_dock"
           else (-0.28, 51.44, -0.275, 51.445))  # West End dock; Richmond Park
    gpd.GeoDataFrame({"name": ["z0"]}, geometry=[shapely.box(*box)],
                     crs="EPSG:4326").to_file(zones)
    scn = tmp_path / "s.toml"
    scn.write_text(f'extends = "{MET_BASELINE.as_posix()}"\nname = "zoned"\n'
                   f'[airspace]\nno_fly_files = ["{zones.as_posix()}"]\n', encoding="utf-8")
    out = tmp_path / "out"
    (out / ".dronesim").mkdir(parents=True)
    (out / ".dronesim" / "owner.json").write_text(json.dumps({"dronesim_output": 1}))
    fd = os.open(out / ".dronesim" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run is writing the folder
        code, _, err = run_cli(["run", scn, "--weeks", "0.05", "--replications", "1",
                                "--quiet", "--no-plots", "--out", out], capsys)
    finally:
        os.close(fd)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("dronesim: error: "), err
    assert ("being written by another dronesim run" in err if refusal == "folder_locked"
            else "inside the no-fly zone" in err), err
    if refusal == "folder_locked":  # the same scenario accepted: the note is printed
        code, _, err = run_cli(["validate", scn], capsys)
        assert code == 0 and "dronesim: note: " in err and "reprojected" in err, err
