"""Measurements that need a fresh process; run by :mod:`benchmarks.bench`, one JSON line out.

``python -m benchmarks.probe memory --calls N --fleet F``
    Builds the benchmark case of N calls, prepares dronesim, then resets the process's peak
    resident size (``/proc/self/clear_refs``) and runs one replication, streaming records to
    Parquet when the engine offers it. Reports resident memory before the run, the peak during it
    and what is still resident after it (result kept alive). The harness runs N and 4N and divides
    the difference by 3N: fixed costs (interpreter, map, imports) cancel, what grows with the
    run's length remains. Inputs built before the run (the harness's arrays, a trace file read
    by ``prepare``) are not counted; what dronesim builds during the run is.

``python -m benchmarks.probe year --weeks W``
    One replication of ``scenarios/london_three_services.toml`` through ``dronesim run`` itself
    (records streamed to Parquet, as a user runs it). The parent process measures wall time and
    peak resident memory of the whole process (``wait4``); this reports the simulated incidents
    and the split of time.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory(calls: int, fleet: int) -> dict:
    from .adapter import Dronesim, detect, make_sink
    from .workload import make_case, make_fleet, make_workload

    features = detect()
    case = make_case(make_workload(calls), make_fleet(fleet))
    with tempfile.TemporaryDirectory(prefix="dronesim-bench-mem-") as tmp:
        ds = Dronesim(case, features, Path(tmp))
        sink = make_sink(features, Path(tmp) / "records") if features.streaming else None
        gc.collect()
        before = _status_kb("VmRSS")
        reset = _reset_peak()
        t0 = time.perf_counter()
        res = ds.run(sink=sink)
        wall = time.perf_counter() - t0
        peak = _status_kb("VmHWM")
        gc.collect()
        after = _status_kb("VmRSS")
        if sink is not None and callable(getattr(sink, "close", None)):
            sink.close()
        out = {"calls": calls, "fleet": fleet, "rss_before_kb": before, "peak_kb": peak,
               "rss_after_kb": after, "peak_reset": reset, "run_s": wall, "mode": ds.mode,
               "records": "parquet" if sink is not None else "in memory"}
        del res
        ds.close()
    return out


def year(weeks: float) -> dict:
    """One replication of the London year through the command line's own path (``dronesim run
    ... --workers 1 --no-plots``): demand drawn week by week, records streamed to Parquet parts,
    KPIs from running aggregates, outputs committed. Nothing is held but what the run holds."""
    import contextlib
    import io

    from dronesim.cli import main as dronesim_main

    from .workload import LONDON_YEAR

    with tempfile.TemporaryDirectory(prefix="dronesim-bench-year-") as tmp:
        out = Path(tmp) / "year"
        t0 = time.perf_counter()
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = dronesim_main(["run", str(LONDON_YEAR), "--weeks", str(weeks),
                                  "--replications", "1", "--workers", "1", "--no-plots",
                                  "--quiet", "--out", str(out)])
        wall = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"dronesim run failed ({code}): {err.getvalue().strip()}")
        task = json.loads(next((out / "tasks").glob("*.json")).read_text())
        summary = json.loads((out / "summary.json").read_text())
    return {"weeks": weeks, "incidents": task["kpis"].get("n_incidents"), "api_s": wall,
            "simulate_s": task["wall_s"],
            "drone_mean_s": summary.get("drone_response_s", {}).get("mean")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.probe")
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--calls", type=int, required=True)
    m.add_argument("--fleet", type=int, required=True)
    y = sub.add_parser("year")
    y.add_argument("--weeks", type=float, required=True)
    args = ap.parse_args(argv)
    out = memory(args.calls, args.fleet) if args.what == "memory" else year(args.weeks)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
