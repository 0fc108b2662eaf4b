"""Peak memory of a sweep's set-up (dock siting, candidate matrices, one prepared scenario per
step), before any simulation.

Usage::

    python benchmarks/sweep_setup_memory.py [SCENARIO] [--fleet 9:300] [--steps 8]

It runs :func:`dronesim.experiment.sweep.sweep_factors` (what ``dronesim sweep`` does before its
first task) in this fresh process and prints the peak resident memory of the process
(``ru_maxrss``) with the resident memory right after the imports, and the seconds taken. The
target: under 0.5 GB peak for ``scenarios/met_growth.toml --fleet 9:300``. Then it computes
each step's static coverage (what the sweep's tables need once the tasks are done) and prints
the peak again.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "met_growth.toml"))
    ap.add_argument("--fleet", default="9:300")
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args(argv)

    from dronesim.experiment.sweep import parse_fleet, sweep_factors
    from dronesim.inputs.geography import load_london
    from dronesim.inputs.scenario import load_scenario

    scn = load_scenario(a.scenario)
    load_london()
    base = _rss_now_mb()
    t0 = time.perf_counter()
    sizes, factors = sweep_factors(scn, parse_fleet(a.fleet, a.steps))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"{Path(a.scenario).name} --fleet {a.fleet}: {len(factors)} steps "
          f"({', '.join(map(str, sizes))})")
    print(f"resident after imports and London  {base:8.0f} MB")
    print(f"resident after the set-up          {_rss_now_mb():8.0f} MB")
    print(f"peak resident (ru_maxrss)          {peak:8.0f} MB  (target < 512)")
    print(f"set-up wall time                   {wall:8.1f} s")
    # What the sweep's tables add after the simulation: each step's static coverage
    # (dronesim.experiment.sweep.sweep_result), the step that peaked at ~1.5 GB.
    t0 = time.perf_counter()
    for f in factors:
        f.prepared.static_coverage(("population",))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak with every step's coverage    {peak:8.0f} MB  "
          f"({time.perf_counter() - t0:.1f} s for the coverage)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
