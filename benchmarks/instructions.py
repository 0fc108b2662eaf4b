"""Instructions a dronesim run costs, counted by cachegrind: a figure that does not swing with
the machine's load, for comparing two versions of the engine when wall times cannot.

Usage::

    python benchmarks/instructions.py [--fleet 9] [--calls 20000] [--ground]
                                      [--model dronesim|simpy|heapq]

It runs the benchmark case (:mod:`benchmarks.workload`, the same calls as ``make bench``) under
``valgrind --tool=cachegrind`` twice, once with one replication and once with three, both after
the same set-up, and prints the difference over two: the instructions (and first-level data
cache misses) of one ``run_replication``, set-up, imports and interpreter start excluded. Each
count takes a few minutes (valgrind runs the interpreter about 50 times slower). Needs valgrind.

``--ground`` counts the ground-on workload (the Met baseline's police patrol units, as users run
dronesim); ``--model simpy`` / ``heapq`` counts one run of a reference model on the same case
(the ground-aware one with ``--ground``), so ratios of instruction counts compare the models
without the machine's load.

Measured this way (20,000 calls), the changes of 3 December 2026 took a 9-drone run from 781 M
to 679 M instructions and a 200-drone run from 912 M to 820 M.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COUNT = re.compile(r"^==\d+== (I +refs|D1 +misses):\s+([\d,]+)", re.M)


MODELS = ("dronesim", "simpy", "heapq")


def child(fleet: int, calls: int, runs: int, ground: bool = False,
          model: str = "dronesim") -> None:
    """The benchmark case prepared, then ``runs`` runs of the model (what valgrind counts)."""
    from benchmarks import ref_heapq, ref_heapq_ground, ref_simpy, ref_simpy_ground
    from benchmarks.adapter import Dronesim, detect
    from benchmarks.workload import make_case, make_fleet, make_workload

    case = make_case(make_workload(calls, ground=ground), make_fleet(fleet))
    if model != "dronesim":
        ref = {("simpy", False): ref_simpy, ("simpy", True): ref_simpy_ground,
               ("heapq", False): ref_heapq, ("heapq", True): ref_heapq_ground}[model, ground]
        for _ in range(runs):
            ref.run(case)
        return
    ds = Dronesim(case, detect())
    for _ in range(runs):
        ds.run()
    ds.close()


def counted(fleet: int, calls: int, runs: int, ground: bool = False,
            model: str = "dronesim") -> dict[str, int]:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--child", str(runs), "--fleet", str(fleet),
         "--calls", str(calls), "--model", model, *(["--ground"] if ground else [])],
        capture_output=True, text=True, check=True)
    found = {m.group(1).split()[0]: int(m.group(2).replace(",", ""))
             for m in COUNT.finditer(out.stderr)}
    if set(found) != {"I", "D1"}:
        raise RuntimeError(f"no counts in valgrind's output:\n{out.stderr[-2000:]}")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/instructions.py",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--fleet", type=int, default=9, help="drones (default 9)")
    ap.add_argument("--calls", type=int, default=20_000, help="calls (default 20,000)")
    ap.add_argument("--ground", action="store_true",
                    help="the ground-on workload (Met baseline police patrol units)")
    ap.add_argument("--model", choices=MODELS, default="dronesim",
                    help="model counted (default dronesim)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.fleet, args.calls, args.child, args.ground, args.model)
        return 0
    if shutil.which("valgrind") is None:
        print("benchmarks/instructions.py: valgrind is not installed (apt install valgrind)",
              file=sys.stderr)
        return 2
    one, three = (counted(args.fleet, args.calls, k, args.ground, args.model) for k in (1, 3))
    ins, miss = (three["I"] - one["I"]) / 2, (three["D1"] - one["D1"]) / 2
    what = "run_replication" if args.model == "dronesim" else f"{args.model} reference run"
    print(f"{args.model}, {'ground on' if args.ground else 'drones only'}, "
          f"{args.fleet} drones, {args.calls:,} calls: one {what} costs "
          f"{ins / 1e6:,.0f} M instructions ({ins / args.calls:,.0f} an incident) and "
          f"{miss / 1e3:,.0f} k L1 data misses (cachegrind, 3 runs minus 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
