"""The moonshot, measured: what 100 fleet sizes x 10 replications x a year of the Met costs.

Runs a small slice of that sweep (a few fleet sizes from 9 to 300, one replication each, a year
of weeks) on a Dask ``LocalCluster`` with 1 worker and again with 2, and prints:

* each task's time (``tasks/*.json`` ``wall_s``: one fleet size, one replication, the simulated
  year, in a worker; the first task of a worker includes loading the prepared scenario);
* the scaling from 1 to 2 workers: wall time of the slice, speed-up and efficiency
  (speed-up / workers);
* the estimate for the whole question: the task time, interpolated linearly between the
  measured fleet sizes, summed over the 100 fleet sizes of
  ``--fleet 9:300 --steps 100``, times 10 replications, divided by N workers at the measured
  efficiency (1 for N = 1), plus the measured serial set-up of the command (siting, planning,
  summarising), for N = 2 and N = 32.

Usage (about 3-4 minutes on 2 cores; nothing else should run meanwhile)::

    .venv/bin/python benchmarks/moonshot.py                 # 4 fleet sizes, 52 weeks
    .venv/bin/python benchmarks/moonshot.py --weeks 13      # quicker, a quarter year
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FULL_SIZES = np.linspace(9, 300, 100).round().astype(int)  # --fleet 9:300 --steps 100
FULL_REPLICATIONS = 10


def _sweep(fleet: str, weeks: int, workers: int, out: Path) -> tuple[float, dict[int, float]]:
    """Run the slice; (command wall seconds, {fleet size: task seconds})."""
    exe = str(Path(sys.executable).with_name("dronesim"))  # the venv's console script
    cmd = [exe, "sweep", "scenarios/met_growth.toml", "--fleet", fleet, "--replications", "1",
           "--weeks", str(weeks), "--scheduler", "local",
           "--workers", str(workers), "--out", str(out), "--no-plots", "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    tasks: dict[int, float] = {}
    for f in sorted((out / "tasks").glob("*.json")):
        d = json.loads(f.read_text())
        size = int(d["label"].rsplit("fleet", 1)[1])
        tasks[size] = float(d["wall_s"])
    return wall, tasks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=52, help="simulated weeks per task (52)")
    ap.add_argument("--fleet", default="9,105,200,300",
                    help="fleet sizes of the slice (default 9,105,200,300)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dronesim-moonshot-"))
    try:
        wall1, tasks1 = _sweep(args.fleet, args.weeks, 1, tmp / "w1")
        wall2, tasks2 = _sweep(args.fleet, args.weeks, 2, tmp / "w2")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sizes = sorted(tasks1)
    t1 = np.array([tasks1[s] for s in sizes])
    t2 = np.array([tasks2[s] for s in sizes])
    print(f"slice: fleet {args.fleet}, 1 replication, {args.weeks} weeks a task, LocalCluster")
    print(f"{'fleet':>6} {'task s (1 worker)':>18} {'task s (2 workers)':>19}")
    for s, a, b in zip(sizes, t1, t2):
        print(f"{s:>6} {a:>18.1f} {b:>19.1f}")
    serial = wall1 - t1.sum()  # the command's own work around the tasks, 1 worker
    speedup = wall1 / wall2
    eff = speedup / 2
    print(f"command wall: 1 worker {wall1:.1f} s, 2 workers {wall2:.1f} s: speed-up "
          f"{speedup:.2f}x, efficiency {eff:.0%} (serial set-up and summary {serial:.1f} s)")
    per_task = np.interp(FULL_SIZES, sizes, t1)  # piecewise linear between measured sizes
    scale = 52 / args.weeks
    core_s = float(per_task.sum()) * FULL_REPLICATIONS * scale
    print(f"task time interpolated over the 100 fleet sizes: mean {per_task.mean():.1f} s "
          f"({args.weeks} weeks); the full question (100 sizes x {FULL_REPLICATIONS} "
          f"replications x 52 weeks): "
          f"{core_s / 3600:.2f} core-hours of tasks")
    for n in (1, 2, 32):
        e = 1.0 if n == 1 else eff
        hours = (core_s / (n * e) + serial) / 3600
        print(f"  on {n:>2} worker{'s' if n > 1 else ' '}: {hours:.2f} h"
              + (f" (at the measured {eff:.0%} efficiency)" if n > 1 else ""))


if __name__ == "__main__":
    main()
