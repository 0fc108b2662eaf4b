"""Processes: workers die with the command (kill -9, Ctrl-C, SIGTERM), --workers is capped with a
note, user policies from --plugin run in worker processes, and a worker that runs out of memory
or file handles ends the run with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MET_BASELINE, SCENARIOS

DRONESIM = Path(sys.executable).with_name("dronesim")
PLUGIN = '''
import errno
from dronesim import Decline, register_policy

@register_policy("decline_all")
class DeclineAll:
    def decide(self, incident, fleet, now):
        return Decline("plugin")

@register_policy("out_of_memory")
class OutOfMemory:
    def decide(self, incident, fleet, now):
        raise MemoryError

@register_policy("out_of_files")
class OutOfFiles:
    def decide(self, incident, fleet, now):
        raise OSError(errno.EMFILE, "Too many open files")
'''


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if _state(p) not in (None, "Z", "X")}


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(DRONESIM), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_workers(p: subprocess.Popen, n: int, timeout: float = 90.0) -> set[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        kids = _alive(_descendants(p.pid))
        if len(kids) >= n:
            time.sleep(1.0)  # let them get into a task
            return _alive(_descendants(p.pid))
        if p.poll() is not None:
            raise AssertionError(f"dronesim ended early: {p.communicate()}")
        time.sleep(0.2)
    raise AssertionError("workers did not start")


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        left = _alive(pids)
        if not left:
            return set()
        time.sleep(0.1)
    return _alive(pids)


SWEEP = ["sweep", str(SCENARIOS / "met_growth.toml"), "--fleet", "9,12", "--replications", "3",
         "--weeks", "2", "--workers", "2", "--quiet"]


def test_kill_9_leaves_no_process(tmp_path):
    p = _start([*SWEEP, "--out", str(tmp_path / "out")], tmp_path)
    workers = _wait_for_workers(p, 2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    assert _gone_within(workers, 5.0) == set()


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_workers_in_one_line(tmp_path, sig, code):
    out = tmp_path / "out"
    p = _start([*SWEEP, "--out", str(out)], tmp_path)
    workers = _wait_for_workers(p, 2)
    if sig == signal.SIGINT:
        os.killpg(p.pid, sig)  # Ctrl-C reaches the whole process group
    else:
        os.kill(p.pid, sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert _gone_within(workers, 5.0) == set()
    state = out / ".dronesim"
    assert not list(state.glob("staging-*")) if state.exists() else True


def test_workers_capped_with_a_note(tmp_path):
    r = subprocess.run([str(DRONESIM), "run", str(MET_BASELINE), "--replications", "2",
                        "--weeks", "0.05", "--workers", "64", "--quiet", "--no-plots",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith("dronesim: note: ")]
    assert len(notes) == 1 and "--workers 64 capped at" in notes[0], r.stderr


def _plugin(tmp_path: Path) -> Path:
    path = tmp_path / "my_policies.py"
    path.write_text(PLUGIN)
    return path


def _policy_scenario(tmp_path: Path, policy: str) -> Path:
    path = tmp_path / f"{policy}.toml"
    path.write_text(f'extends = "{MET_BASELINE.as_posix()}"\nname = "{policy}"\n'
                    f'[dispatch]\npolicy = "{policy}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["file", "module"])
def test_plugin_policy_runs_in_worker_processes(tmp_path, how):
    plugin = _plugin(tmp_path)
    spec = str(plugin) if how == "file" else "my_policies"
    out = tmp_path / "out"
    r = subprocess.run([str(DRONESIM), "run", str(_policy_scenario(tmp_path, "decline_all")),
                        "--replications", "2", "--weeks", "0.1", "--workers", "2", "--quiet",
                        "--no-plots", "--plugin", spec, "--out", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["policy"] == "decline_all"
    assert s["drone_deployments_per_week"]["mean"] == 0
    assert s["declined_per_week"]["mean"] > 0


def test_scenario_files_alone_never_import_code(tmp_path):
    _plugin(tmp_path)  # importable from the folder, but not named on the command line
    r = subprocess.run([str(DRONESIM), "validate",
                        str(_policy_scenario(tmp_path, "decline_all"))],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2 and "unknown policy 'decline_all'" in r.stderr


@pytest.mark.parametrize("policy,words", [("out_of_memory", "out of memory"),
                                          ("out_of_files", "file handles")])
def test_worker_out_of_resources_ends_the_run_in_one_line(tmp_path, policy, words):
    r = subprocess.run([str(DRONESIM), "run", str(_policy_scenario(tmp_path, policy)),
                        "--replications", "2", "--weeks", "0.1", "--workers", "2", "--quiet",
                        "--no-plots", "--plugin", str(_plugin(tmp_path)),
                        "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert words in r.stderr
