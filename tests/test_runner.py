"""The experiment runner: every executor gives the same tables bit for bit; a sweep killed
part-way and run again loses no finished task and repeats none; a task that raises is recorded
and the others finish."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SCENARIOS

DRONESIM = Path(sys.executable).with_name("dronesim")
GROWTH = SCENARIOS / "met_growth.toml"
SWEEP = ["sweep", str(GROWTH), "--fleet", "9,12", "--replications", "2", "--weeks", "0.2",
         "--quiet"]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _dronesim(*args: str, cwd: Path | None = None, timeout: float = 600
              ) -> subprocess.CompletedProcess:
    return subprocess.run([str(DRONESIM), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("executors")
    outs = {}
    for name, extra in (("inline", ["--workers", "1"]), ("pool", ["--workers", "2"]),
                        ("dask", ["--workers", "2", "--scheduler", "local"])):
        out = root / name
        r = _dronesim(*SWEEP, *extra, "--out", str(out))
        assert r.returncode == 0, r.stderr
        outs[name] = out
    return outs


@pytest.mark.parametrize("other", ["pool", "dask"])
def test_executors_give_identical_tables(sweeps, other):
    a, b = sweeps["inline"], sweeps[other]
    for name in ("sweep.csv", "boroughs.csv", "sites.csv", "summary.json"):
        assert _sha(a / name) == _sha(b / name), name
    ka = {p.name: json.loads(p.read_text())["kpis"] for p in (a / "tasks").glob("*.json")}
    kb = {p.name: json.loads(p.read_text())["kpis"] for p in (b / "tasks").glob("*.json")}
    assert ka == kb and len(ka) == 4


def test_run_parts_identical_across_executors(tmp_path):
    args = ["run", str(SCENARIOS / "met_baseline.toml"), "--replications", "2", "--weeks",
            "0.1", "--quiet", "--no-plots"]
    digests = []
    for extra in (["--workers", "1"], ["--workers", "2"], ["--scheduler", "local",
                                                             "--workers", "2"]):
        out = tmp_path / str(len(digests))
        r = _dronesim(*args, *extra, "--out", str(out))
        assert r.returncode == 0, r.stderr
        digests.append({p.relative_to(out).as_posix(): _sha(p)
                        for p in [*out.glob("*.parquet/*.parquet"), out / "summary.json"]})
    assert digests[0] == digests[1] == digests[2]
    assert len(digests[0]) == 5


def test_killed_sweep_resumes_without_losing_or_repeating_tasks(tmp_path, sweeps):
    out = tmp_path / "out"
    cmd = [*SWEEP, "--workers", "1", "--out", str(out)]
    p = subprocess.Popen([str(DRONESIM), *cmd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    while len(list((out / "tasks").glob("*.json"))) < 2:
        assert p.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() - t0 < 300
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    kept = {f.name: _sha(f) for f in (out / "tasks").glob("*.json")}
    assert 2 <= len(kept) < 4
    assert not (out / "manifest.json").exists()  # not complete
    r = _dronesim(*cmd)
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["resumed_tasks"] == len(kept)  # every finished task kept, none run again ...
    for name, digest in kept.items():
        assert _sha(out / "tasks" / name) == digest  # ... and untouched
    assert len(list((out / "tasks").glob("*.json"))) == 4
    # The same tables as a sweep that was never interrupted.
    for name in ("sweep.csv", "boroughs.csv", "summary.json"):
        assert _sha(out / name) == _sha(sweeps["inline"] / name), name


PLUGIN = '''
from dronesim import register_policy
from dronesim.dispatch import EarliestArrival

@register_policy("fails_above_ten")
class FailsAboveTen(EarliestArrival):
    """Raises for fleets above ten drones: one sweep step fails, the other does not."""
    def decide(self, incident, fleet, now):
        if fleet.fleet_size > 10:
            raise ValueError("deliberate failure for a large fleet")
        return super().decide(incident, fleet, now)
'''


def test_failed_task_is_recorded_and_the_others_finish(tmp_path):
    (tmp_path / "failing.py").write_text(PLUGIN)
    scn = tmp_path / "s.toml"
    # The growth scenario itself, with its parent by absolute path and the failing policy.
    text = GROWTH.read_text(encoding="utf-8").replace(
        'extends = "met_baseline.toml"',
        f'extends = "{(SCENARIOS / "met_baseline.toml").as_posix()}"')
    scn.write_text(text.replace('name = "met_growth"', 'name = "failing"')
                   + '\n[dispatch]\npolicy = "fails_above_ten"\n', encoding="utf-8")
    out = tmp_path / "out"
    r = _dronesim("sweep", str(scn), "--fleet", "9,12", "--replications", "2", "--weeks",
                  "0.2", "--quiet", "--workers", "2", "--plugin", "failing.py",
                  "--out", str(out), cwd=tmp_path)
    assert r.returncode == 1
    assert "2 of 4 tasks failed" in r.stderr and "Traceback" not in r.stderr
    tasks = [json.loads(p.read_text()) for p in sorted((out / "tasks").glob("*.json"))]
    assert [t["ok"] for t in tasks] == [True, True, False, False]
    assert all("deliberate failure" in t["error"] for t in tasks if not t["ok"])
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["failed_tasks"]) == 2
    assert [s["fleet_size"] for s in summary["steps"]] == [9]
