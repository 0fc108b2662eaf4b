"""Benchmark: simulation throughput and memory, printed as figures (not asserted).

Usage: python benchmarks/bench_model.py [--weeks W]

Measures one replication of the Met baseline (London-wide police demand, 9 drones) and of a
large fleet (200 drones at 100 fire stations outside the restriction zones, drone-suited share raised so drones fly a lot), reporting
incidents simulated per second, drone missions per second, peak resident memory, and the
replication-level parallel efficiency of the process pool on this machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import time

import pandas as pd

from dronesim.airspace import london_frz
from dronesim.experiment import run_scenario
from dronesim.geography import default_data_dir
from dronesim.model import prepare, run_replication
from dronesim.scenario import DockSite, load_scenario


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(label: str, scn, reps: int = 2) -> float:
    prep = prepare(scn)
    run_replication(prep, 0)  # warm caches
    t0 = time.perf_counter()
    n_inc = n_mis = 0
    for r in range(reps):
        res = run_replication(prep, r)
        n_inc += len(res.incidents)
        n_mis += len(res.missions)
    dt = time.perf_counter() - t0
    print(f"{label:38} {n_inc / dt:>10,.0f} incidents/s {n_mis / dt:>9,.0f} missions/s "
          f"({dt / reps:.2f} s per replication of {n_inc // reps:,} incidents)")
    return dt / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weeks", type=float, default=4.0)
    args = ap.parse_args()
    base = load_scenario("scenarios/met_baseline.toml",
                         {"simulation": {"weeks": args.weeks}})
    print(f"cores: {os.cpu_count()}; simulated weeks per replication: {args.weeks:g}")
    bench("met_baseline (9 drones, 3 docks)", base)
    sites = pd.read_csv(default_data_dir() / "sites" / "candidate_sites.csv")
    fire = sites[sites["kind"] == "fire_station"]
    fire = fire[~london_frz().contains(fire["x"].to_numpy(), fire["y"].to_numpy())].head(100)
    docks = tuple(DockSite(name=r.site_id, x=float(r.x), y=float(r.y), drones=2)
                  for r in fire.itertuples())
    police = dataclasses.replace(base.services["police"], drone_suited_share=(0.5, 0.1))
    big = dataclasses.replace(base, docks=docks, services={"police": police})
    bench("200 drones at 100 fire stations", big)
    print(f"peak resident memory: {_peak_rss_mb():,.0f} MB")
    reps = 4
    t0 = time.perf_counter()
    run_scenario(base, replications=reps, workers=1)
    seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_scenario(base, replications=reps, workers=2)
    par = time.perf_counter() - t0
    print(f"{reps} replications: sequential {seq:.1f} s, 2 processes {par:.1f} s, "
          f"parallel efficiency {seq / par / 2:.0%}")


if __name__ == "__main__":
    main()
