"""What ``dronesim run`` costs around the simulation: the whole command against the simulation
alone, on a trace of 100,000 calls.

Usage::

    python benchmarks/command_overhead.py [--calls 100000] [--repeats 2] [--keep DIR]

It writes a police trace CSV (ISO date-times, EPSG:27700 metres, service, priority) drawn from
the weather-free Met baseline's own generator, and a scenario replaying it (one replication).
Then, alternating so that load from other processes falls on both alike, it times

* the simulation alone, in this process: :func:`dronesim.engine.replication.run_replication`
  of the prepared scenario with the task's observers (the running aggregates) and no record
  sink, as :func:`dronesim.experiment.runner.execute_task` runs it minus the Parquet writer;
  ``prepare`` (trace read, siting) is timed apart and printed;
* the whole command, ``dronesim run SCENARIO --out DIR --workers 1 --quiet --no-plots`` in a
  fresh Python process (imports, trace read, simulation, Parquet, summary), wall time;
* the seconds the command spends importing (``python -X importtime``, every top-level import
  it made, the ones made on first use inside functions included).

It prints each figure's best of ``--repeats`` in CPU seconds (user + system; wall beside it) and
the ratio command / simulation (the target: under 2). Figures are printed, never asserted: the
machine is shared and wall times are noisy; the ratio is of two timings taken in the same
minute.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "met_baseline_weather_free.toml"


def make_trace(folder: Path, calls: int) -> Path:
    """A ``calls``-row police trace and a scenario replaying it; returns the scenario file."""
    import pandas as pd

    from dronesim.inputs.demand import generate_incidents
    from dronesim.inputs.geography import load_london
    from dronesim.inputs.scenario import load_scenario
    from dronesim.inputs.streams import Streams

    scn = load_scenario(BASE)
    london = load_london()
    per_week = sum(s.incidents_per_week for s in scn.services.values())
    weeks = calls / per_week * 1.05
    inc = generate_incidents(scn, london, Streams(scn.simulation.seed, 0), weeks * 7 * 86_400.0)
    n = min(calls, len(inc))
    start = pd.Timestamp("2024-01-01 00:00:00")  # a Monday
    times = (start + pd.to_timedelta(np.round(inc.t_call[:n]), unit="s")).strftime(
        "%Y-%m-%dT%H:%M:%S")
    df = pd.DataFrame({"time": times, "x": np.round(inc.x[:n], 1), "y": np.round(inc.y[:n], 1),
                       "service": np.asarray(inc.service_names)[inc.service[:n]],
                       "priority": inc.priority[:n]})
    trace = folder / "trace.csv"
    df.to_csv(trace, index=False)
    scenario = folder / "replay.toml"
    # The weather-free baseline's own text (extends goes one level only), replaying the trace.
    text = BASE.read_text(encoding="utf-8")
    text = text.replace('extends = "met_baseline.toml"',
                        f'extends = "{BASE.parent / "met_baseline.toml"}"')
    text = text.replace('name = "met_baseline_weather_free"', 'name = "replay"')
    scenario.write_text(text + "\n[simulation]\nreplications = 1\nwarmup_hours = 0\n\n"
                        f'[demand]\ntrace = "{trace}"\n', encoding="utf-8")
    return scenario


def time_simulation(scenario: Path) -> tuple[float, float, float, int]:
    """(prepare CPU seconds, run_replication CPU and wall seconds, incidents) in this
    process."""
    from dronesim.engine.replication import prepare, run_replication
    from dronesim.engine.sinks import NullSink
    from dronesim.experiment.runner import task_observers
    from dronesim.inputs.scenario import load_scenario

    scn = load_scenario(scenario)
    t0 = time.process_time()
    prep = prepare(scn)
    tp = time.process_time() - t0
    # A first replication untimed: what it imports on first use (the engine's optional parts)
    # is the command's import cost, not the simulation's.
    run_replication(prep, 0, sink=NullSink(), observers=task_observers(prep))
    t1, w1 = time.process_time(), time.perf_counter()
    res = run_replication(prep, 0, sink=NullSink(), observers=task_observers(prep))
    t2, w2 = time.process_time(), time.perf_counter()
    del res
    return tp, t2 - t1, w2 - w1, len(prep.trace) if prep.trace is not None else 0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    return env


def _child(cmd: list[str], **kw: Any) -> tuple[float, float]:
    """(CPU, wall) seconds of a child process: CPU (user + system) is what the comparison
    uses, as it hardly depends on what else the machine runs; wall is printed beside it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env(), **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime), wall


def time_command(scenario: Path, out: Path) -> tuple[float, float]:
    """(CPU, wall) seconds of ``dronesim run`` in a fresh process (one worker, no plots)."""
    cmd = [sys.executable, "-c", "import sys; from dronesim.cli import main; "
           "raise SystemExit(main())", "run", str(scenario), "--out", str(out),
           "--workers", "1", "--quiet", "--no-plots", "--overwrite"]
    return _child(cmd, stdout=subprocess.DEVNULL)


def time_imports(scenario: Path, out: Path) -> float:
    """Seconds ``dronesim run`` spends importing (``python -X importtime``: the sum of the
    top-level imports' cumulative times, every import the command made, wherever it made
    it)."""
    cmd = [sys.executable, "-X", "importtime", "-c", "import sys; from dronesim.cli import main; "
           "raise SystemExit(main())", "run", str(scenario), "--out", str(out),
           "--workers", "1", "--quiet", "--no-plots", "--overwrite"]
    err = subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True).stderr
    total_us = 0
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name[1:].startswith(" "):  # top level
            total_us += int(cumulative)
    return total_us / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the trace here and keep it (reused when there)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dronesim-overhead-") as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        scenario = folder / "replay.toml"
        if not (a.keep and scenario.is_file() and (folder / "trace.csv").is_file()):
            scenario = make_trace(folder, a.calls)
        sims, walls, preps, cmds, cmd_walls, imps = [], [], [], [], [], []
        for r in range(a.repeats):
            c, cw = time_command(scenario, Path(tmp) / f"out{r}")
            cmds.append(c)
            cmd_walls.append(cw)
            p, s, sw, n = time_simulation(scenario)
            preps.append(p)
            sims.append(s)
            walls.append(sw)
            imps.append(time_imports(scenario, Path(tmp) / f"imp{r}"))
        sim, cmd = min(sims), min(cmds)
        print(f"calls in trace             {a.calls:,} (incidents simulated: {n:,})")
        print(f"CPU seconds, best of {a.repeats} (wall beside: noisier on a shared machine)")
        print(f"imports (-X importtime)    {min(imps):6.2f}   (wall, every import of the command)")
        print(f"prepare (trace, siting)    {min(preps):6.2f}")
        print(f"simulation alone           {sim:6.2f}   wall {min(walls):6.2f}  (run_replication)")
        print(f"dronesim run (whole)       {cmd:6.2f}   wall {min(cmd_walls):6.2f}  (new process)")
        print(f"around the simulation      {cmd - sim:6.2f}")
        print(f"ratio command / simulation {cmd / sim:6.2f}   wall "
              f"{min(cmd_walls) / min(walls):6.2f}  (target < 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
