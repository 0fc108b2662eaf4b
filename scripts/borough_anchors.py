"""Per-borough officer figures of the Met baseline beside the published I-grade anchors, with
mutual aid off and on (issue 9, "ground realism").

Usage: python scripts/borough_anchors.py [--replications 5] [--weeks 4] [--csv FILE]

Runs three scenarios on the same incidents (common random numbers):

* ``off``: scenarios/met_baseline.toml (patrol cars confined to their borough);
* ``neighbours``: the baseline with mutual aid from neighbouring boroughs after 5 minutes
  (call handling as calibrated without it);
* ``bcu``: scenarios/met_mutual_aid.toml (cars pooled within each Basic Command Unit, call
  handling recalibrated to the 9-minute mean).

and prints :func:`dronesim.experiment.calibration.met_anchor_table` (published I-grade figures of
``data/calibration/met_response_anchors.csv`` beside the model's priority-1 figures, then the
boroughs with the highest all-calls mean) with times as m:ss. Changes no file, except the new
``--csv`` file asked for (an existing file is refused before the runs, never overwritten).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dronesim.errors import InputError
from dronesim.experiment.calibration import met_anchor_table
from dronesim.experiment.runner import run_scenario
from dronesim.experiment.store import check_output_file, write_output_file
from dronesim.inputs.scenario import load_scenario
from dronesim.outputs.tables import mmss

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=5)
    ap.add_argument("--weeks", type=float, default=4.0)
    ap.add_argument("--csv", help="also write the table here")
    args = ap.parse_args()
    if args.csv:
        try:  # before the runs: a file of the user's is never replaced
            check_output_file(args.csv, lambda p: False, "anchor table", "--csv")
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
    over = {"simulation": {"weeks": args.weeks}}
    runs = {
        "off": load_scenario(ROOT / "scenarios/met_baseline.toml", over),
        "neighbours": load_scenario(ROOT / "scenarios/met_baseline.toml", {
            **over, "services": {"police": {"ground": {"mutual_aid": "neighbours",
                                                       "mutual_aid_delay_s": 300.0}}}}),
        "bcu": load_scenario(ROOT / "scenarios/met_mutual_aid.toml", over),
    }
    summaries = {k: run_scenario(s, replications=args.replications).summary
                 for k, s in runs.items()}
    for k, s in summaries.items():
        g = s["ground_response_s"]
        print(f"{k:<11} officer mean {mmss(g['mean'])} (P90 {mmss(g['p90'])}), I-grade "
              f"{mmss(s['ground_priority1_mean_s']['mean'])}, I-grade within 15 min "
              f"{s['ground_priority1_within_900']['mean']:.1%}"
              + (f", mutual aid {s['mutual_aid_share']['mean']:.1%} of responses"
                 if "mutual_aid_share" in s else ""))
    table = met_anchor_table(summaries)
    print()
    head = f"{'area':<22}{'period':<22}{'measure':<32}{'published':>10}" + "".join(
        f"{k:>12}" for k in summaries)
    print(head)
    for row in table.itertuples(index=False):
        r = row._asdict()

        def show(v: float | None, unit: str = r["unit"]) -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return "-"
            return mmss(v) if unit == "s" else f"{v:.1%}"

        print(f"{r['area']:<22}{r['period']:<22}{r['measure']:<32}{show(r['published']):>10}"
              + "".join(f"{show(r[k]):>12}" for k in summaries))
    if args.csv:
        write_output_file(args.csv, lambda tmp: table.to_csv(tmp, index=False),
                          lambda p: False, "anchor table", "--csv")


if __name__ == "__main__":
    main()
