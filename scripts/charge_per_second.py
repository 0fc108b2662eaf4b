"""Charge drained per airborne second and per mission of one or more scenarios: for comparing
the wind holds (docs/wind.md, "Holding the ground speed on the Met service").

Usage: python scripts/charge_per_second.py SCENARIO.toml ... [--weeks 2] [--replications 2]

For each scenario it runs the replications in-process (seed as in the file) and prints the
charge the drones' own missions drained (``battery_launch_s - battery_landed_s``; relief legs
and pre-empted legs left out) over their airborne time (launch to landing, hovering on scene
included), and per mission in minutes. Changes no file.
"""

from __future__ import annotations

import argparse

from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.scenario import load_scenario


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--weeks", type=float, default=2.0)
    ap.add_argument("--replications", type=int, default=2)
    args = ap.parse_args(argv)
    for path in args.scenarios:
        scn = load_scenario(path, {"simulation": {"weeks": args.weeks}})
        prep = prepare(scn)
        used = air = n = 0.0
        for rep in range(args.replications):
            m = run_replication(prep, rep).missions
            m = m[~m["redirected"] & ~m["relief"]]
            used += float((m["battery_launch_s"] - m["battery_landed_s"]).sum())
            air += float((m["t_landed"] - m["t_launch"]).sum())
            n += len(m)
        print(f"{scn.name}: {used / air:.3f} s of charge per airborne second, "
              f"{used / n / 60:.2f} min of charge per mission ({int(n)} missions)")


if __name__ == "__main__":
    main()
