"""Fingerprints of what every shipped scenario gives: for checking that a refactor changes no
result, bit for bit.

For each ``scenarios/*.toml`` it runs a short simulation through the Python API (2
replications, half a week after the warm-up, in-process) and prints one line: the scenario, a
SHA-256 of its ``summary`` (JSON with sorted keys, wall times left out) and one of its incident
and mission tables (column names, dtypes and every value, by pandas' row hashing). Run it before
and after a change and compare the two outputs with ``diff``::

    .venv/bin/python benchmarks/fingerprint.py > before.txt
    ... change ...
    .venv/bin/python benchmarks/fingerprint.py > after.txt && diff before.txt after.txt

(The fingerprints depend on the platform's floating point and library versions: compare runs
made on one machine with one environment.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _table_digest(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    plain = df.copy()
    for c in plain.columns:
        if isinstance(plain[c].dtype, pd.CategoricalDtype):
            plain[c] = plain[c].astype(object)
    h.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint(path: Path, weeks: float, replications: int) -> str:
    import dronesim

    scn = dronesim.load_scenario(path, {"simulation": {"weeks": weeks,
                                                       "replications": replications}})
    res = dronesim.run_scenario(scn, workers=1)
    summary = json.dumps(res.summary, sort_keys=True, default=str)
    return (f"{path.name:40s} summary {hashlib.sha256(summary.encode()).hexdigest()[:16]} "
            f"incidents {_table_digest(res.incidents)} missions {_table_digest(res.missions)} "
            f"rows {len(res.incidents)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", type=Path,
                    help="scenario files (default: every scenarios/*.toml)")
    ap.add_argument("--weeks", type=float, default=0.5)
    ap.add_argument("--replications", type=int, default=2)
    args = ap.parse_args(argv)
    paths = args.scenarios or sorted((REPO / "scenarios").glob("*.toml"))
    for p in paths:
        print(fingerprint(p, args.weeks, args.replications), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
