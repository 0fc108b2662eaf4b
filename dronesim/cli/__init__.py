"""The ``dronesim`` command line (thin: parsing, progress, error reporting).

Exit status: 0 done; 1 the run failed (a task raised, a worker ran out of memory or file
handles); 2 bad input, reported as one line ``dronesim: error: FILE: FIELD: PROBLEM`` before
anything is written; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Output folders follow
:mod:`dronesim.experiment.store`: nothing dronesim did not write is ever replaced or deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ..errors import InputError, input_file, one_line

if TYPE_CHECKING:
    from ..engine.prepared import Prepared
    from ..experiment.runner import Factor, TaskResult
    from ..experiment.store import OutputFolder
    from ..inputs.scenario import Scenario

#: What a command's ``write(results, t0)`` returns (see :func:`_execute`).
_Written = TypeVar("_Written")

__all__ = ["main"]

#: How a value overridden on the command line is named in an error.
CLI_LABELS = {"simulation.seed": "--seed", "simulation.replications": "--replications",
              "simulation.weeks": "--weeks", "demand.trace": "--trace",
              "demand.trace_service": "--trace-service"}
_CLI = "<command line>"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, status 2, no usage dump
        sys.stderr.write(f"dronesim: error: {_CLI}: {message}\n")
        raise SystemExit(2)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP: leave through every ``finally`` like Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: Any) -> None:
    raise _Terminated(signum)


class _Notes(logging.Handler):
    """``dronesim: note: ...`` lines on stderr; held back until the input checks have passed
    (:meth:`publish`), so a refused run prints its one error line and nothing else. (Not named
    ``release``: that is the lock method :meth:`logging.Handler.handle` calls after each
    record.)"""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.held: list[str] | None = []

    def emit(self, record: logging.LogRecord) -> None:  # called with the handler's lock held
        line = f"dronesim: note: {record.getMessage()}"
        if self.held is not None:
            self.held.append(line)
        else:
            sys.stderr.write(line + "\n")

    def publish(self) -> None:
        """Print the notes held back; later ones are printed as they come."""
        self.acquire()
        try:
            held, self.held = self.held or [], None
            for line in held:
                sys.stderr.write(line + "\n")
        finally:
            self.release()

    def drop(self) -> None:
        """Forget the notes held back (a refused run prints only its error)."""
        self.acquire()
        try:
            self.held = []
        finally:
            self.release()


def _number(kind: type[int] | type[float], low: float, inclusive: bool,
            high: float | None = None) -> Callable[[str], float]:
    """An argparse type: a whole number or a number, at least (or above) ``low``."""
    what = "a whole number" if kind is int else "a number"
    bound = f">= {low:g}" if inclusive else f"> {low:g}"

    def parse(text: str) -> float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v != v:  # nan
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if not (v >= low if inclusive else v > low):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"must be <= {high:g}, got {text}")
        return v

    return parse


_positive_int = _number(int, 1, inclusive=True)
_workers = _number(int, 1, inclusive=True, high=4096)
_non_negative_int = _number(int, 0, inclusive=True)
_positive_float = _number(float, 0, inclusive=False)
_non_negative_float = _number(float, 0, inclusive=True)


def _common(p: argparse.ArgumentParser, *, plots: bool = True) -> None:
    p.add_argument("--seed", type=_non_negative_int, default=None)
    p.add_argument("--replications", type=_positive_int, default=None)
    p.add_argument("--weeks", type=_positive_float, default=None)
    p.add_argument("--workers", type=_workers, default=None,
                   help="processes (default: one per core; capped at the cores, tasks and "
                        "memory of this machine)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the tasks on a Dask cluster: a scheduler address "
                        "(tcp://host:8786), or 'local' for a LocalCluster here")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing folder that holds other files, or results of "
                        "other inputs or another dronesim, which the run then replaces (only "
                        "dronesim's own files there are ever replaced; never into dronesim's "
                        "own folders)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module (name or .py file) that registers dispatch "
                        "policies; repeatable")
    p.add_argument("--policy-timeout", type=_non_negative_float, default=10.0,
                   metavar="SECONDS",
                   help="seconds a --plugin policy may take to decide one incident before the "
                        "run stops with an error (default 10; 0: no limit, e.g. to debug a "
                        "policy with breakpoint()); built-in policies are not timed")
    if plots:
        p.add_argument("--no-plots", action="store_true", help="skip plots/ (faster)")
    p.add_argument("--report", action="store_true",
                   help="also write report.html, a self-contained HTML report, into the folder")
    p.add_argument("--geopackage", type=Path, default=None, metavar="FILE",
                   help="also export the results as a GeoPackage for QGIS (EPSG:27700)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _version_text() -> str:
    from .._version import __version__

    return f"dronesim {__version__}"


def _cmd_init(args: argparse.Namespace) -> int:
    """Write ``scenario.toml`` and ``sites.csv`` (the package's starter templates) into a new or
    empty folder; never into a folder that holds anything."""
    from importlib import resources

    folder = Path(args.folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(_CLI, "init", f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise InputError(_CLI, "init", f"{folder} is not empty; name a new folder for the "
                                       "starter files (nothing was written)")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(_CLI, "init", f"{folder} cannot be created: {probe} is not a "
                                       "writable folder")
    templates = resources.files("dronesim") / "templates"
    texts = {name: (templates / name).read_text(encoding="utf-8")
             for name in ("scenario.toml", "sites.csv")}
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, text in texts.items():
            tmp = folder / f".{name}.tmp-{os.getpid()}"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, folder / name)
    except BaseException:
        for name in texts:
            (folder / f".{name}.tmp-{os.getpid()}").unlink(missing_ok=True)
            (folder / name).unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    print(f"wrote {folder / 'scenario.toml'} and {folder / 'sites.csv'}; edit them, then:\n"
          f"  dronesim validate {folder / 'scenario.toml'}\n"
          f"  dronesim run {folder / 'scenario.toml'} --out {folder / 'results'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dronesim", description="Drone-fleet dispatch simulator for London's "
                "blue-light services.")
    p.add_argument("--version", action="version", version=_version_text())
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ini = sub.add_parser("init", help="write a starter scenario and a sites CSV to edit")
    ini.add_argument("folder", type=Path, help="a new (or empty) folder")
    run = sub.add_parser("run", help="simulate a scenario and write its outputs")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/<scenario name>)")
    run.add_argument("--csv", action="store_true",
                     help="also write the tables as CSV into csv/ in the folder")
    run.add_argument("--trace", type=Path, default=None,
                     help="CSV of incidents replayed instead of the generators (time; x,y or "
                          "lon,lat; service; optional priority, drone_suited)")
    run.add_argument("--trace-service", default=None,
                     help="service of every trace row when the CSV has no service column")
    _common(run)
    sw = sub.add_parser("sweep", help="fleet-growth pathway with common random numbers")
    sw.add_argument("scenario", type=Path)
    sw.add_argument("--fleet", required=True,
                    help="fleet sizes: A:B (evenly spaced), A:B:STEP, or a list 9,30,60")
    sw.add_argument("--steps", type=_positive_int, default=8, help="steps for A:B (default 8)")
    sw.add_argument("--out", type=Path, default=None,
                    help="output folder (default: results/<scenario name>_sweep)")
    _common(sw)
    cmp_ = sub.add_parser("compare", help="compare scenarios against the first, paired on "
                          "common random numbers")
    cmp_.add_argument("scenarios", type=Path, nargs="+",
                      help="two or more scenario TOML files; the first is the reference")
    cmp_.add_argument("--out", type=Path, default=None,
                      help="output folder (default: results/compare_<A>_vs_<B>...)")
    _common(cmp_)
    _sensitivity_parser(sub)
    _dock_value_parser(sub)
    _siting_search_parsers(sub)
    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", type=Path)
    val.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    rep = sub.add_parser("report", help="write a self-contained HTML report of a results folder")
    rep.add_argument("results", type=Path, help="a folder written by run, sweep or compare")
    rep.add_argument("--out", type=Path, default=None,
                     help="the HTML file (default: RESULTS/report.html)")
    # playback (dronesim.outputs.playback): an animated day of one replication of a run
    rep.add_argument("--playback", action="store_true",
                     help="add an animated day of one replication (a run's folder only): "
                          "incidents, drone flights and ground arrivals, with play, speed and "
                          "a time slider")
    rep.add_argument("--playback-day", type=int, default=None, metavar="N",
                     help="the day to play, 1 = the first day after the warm-up (default: the "
                          "busiest whole day)")
    rep.add_argument("--replication", type=int, default=None, metavar="R",
                     help="the replication to play (default: the first)")
    rep.add_argument("--sensitivity", type=Path, default=None, metavar="DIR",
                     help="a 'dronesim sensitivity' folder of the run's scenario: the report "
                          "says how far each headline figure moves over its assumptions")
    exp = sub.add_parser("export", help="export a results folder as a GeoPackage for QGIS, "
                                        "or its tables as CSV")
    exp.add_argument("results", type=Path, help="a folder written by run, sweep or compare")
    exp.add_argument("--geopackage", type=Path, default=None, metavar="FILE")
    # CSV export (dronesim.outputs.csv_export): the tables beside the Parquet.
    exp.add_argument("--csv", nargs="?", const="", default=None, metavar="DIR",
                     help="write the tables as CSV into DIR (default: a csv/ folder inside "
                          "RESULTS)")
    exp.add_argument("--grid", type=_positive_float, default=100.0, metavar="METRES",
                     help="incidents are snapped to the centres of a grid this fine, so real "
                          "incident data is not republished at full precision (default 100)")
    exp.add_argument("--all-replications", action="store_true",
                     help="incidents of every replication (default: the first)")
    pol = sub.add_parser("policies", help="list the dispatch policies")
    pol.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    sub.add_parser("siting-methods", help="list the dock siting methods")
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    sim: dict[str, Any] = {}
    if getattr(args, "seed", None) is not None:
        sim["seed"] = args.seed
    if getattr(args, "replications", None) is not None:
        sim["replications"] = args.replications
    if getattr(args, "weeks", None) is not None:
        sim["weeks"] = args.weeks
    out: dict[str, Any] = {"simulation": sim} if sim else {}
    demand: dict[str, Any] = {}
    if getattr(args, "trace", None) is not None:
        input_file(args.trace, "trace file", source=_CLI, field="--trace")
        demand["trace"] = str(args.trace.resolve())
    if getattr(args, "trace_service", None) is not None:
        demand["trace_service"] = args.trace_service
    if demand:
        out["demand"] = demand
    return out


def _load(path: Path, args: argparse.Namespace) -> Scenario:
    from ..inputs.scenario import load_scenario

    scn = load_scenario(path, _overrides(args), overrides_origin=_CLI,
                        override_labels=CLI_LABELS)
    if getattr(args, "trace_service", None) is not None and not scn.demand.trace:
        raise InputError(_CLI, "--trace-service",
                         "needs --trace (or a demand.trace in the scenario)")
    return scn


@contextlib.contextmanager
def _progress(quiet: bool, what: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``progress(done, total)`` callback (None if quiet) drawing a bar on stderr with
    the tasks done and the time left; it appears once the run has started and is closed however
    the block ends."""
    if quiet:
        yield None
        return
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, desc=what, unit="task", file=sys.stderr,
                       leave=True, dynamic_ncols=True)
        else:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def _folder(given: Path | None, default: str, entries: tuple[str, ...],
            args: argparse.Namespace) -> OutputFolder:
    """The checked (not yet created) output folder: ``--out`` or ``results/<default>``."""
    from ..experiment.store import OutputFolder

    out = given if given is not None else Path("results") / default
    return OutputFolder(out, overwrite=args.overwrite, entries=entries)


def _plugins(args: argparse.Namespace) -> list[str]:
    from ..experiment.workers import load_plugins

    specs = [str(Path(s).resolve()) if s.endswith(".py") else s for s in args.plugin]
    load_plugins(specs)
    return specs


def _workers_for(args: argparse.Namespace, tasks: int) -> int:
    from ..limits import usable_cores

    if args.scheduler:
        return args.workers or usable_cores()
    return min(args.workers or usable_cores(), usable_cores(), max(1, tasks))


def _check_memory(scns: Sequence[Scenario], args: argparse.Namespace, tasks: int,
                  preps: Sequence[Prepared] = ()) -> None:
    from ..inputs.scenario import blame
    from ..limits import check_memory

    rows = [len(p.trace) if p.trace is not None else None for p in preps] or None
    try:
        check_memory(scns, workers=_workers_for(args, tasks), trace_rows=rows)
    except InputError as exc:
        scn = next(s for s in scns if s.source == exc.file)
        raise blame(exc, scn.source, scn.origins, CLI_LABELS) from None


def _finish(folder: OutputFolder, results: Sequence[TaskResult | None], what: str) -> int:
    """One line per failed task and status 1, or 0."""
    failed = [r for r in results if r is not None and not r.ok]
    for r in failed[:5]:
        sys.stderr.write(f"dronesim: error: task {r.task.key} failed: {r.error}\n")
    if failed:
        sys.stderr.write(f"dronesim: error: {len(failed)} of {len(results)} {what} failed "
                         f"(details in {folder.path}/tasks/); the rest are written. Run the "
                         "same command again to retry only the failed ones\n")
        return 1
    return 0


def _extra_outputs(args: argparse.Namespace, folder: OutputFolder) -> None:
    """Check ``--geopackage`` before the run (nothing runs to be refused at the end)."""
    gpkg = getattr(args, "geopackage", None)
    if gpkg is not None:
        from ..experiment.store import check_output_file
        from ..outputs.geopackage import is_our_geopackage

        inside = Path(gpkg).expanduser().resolve().is_relative_to(folder.path.resolve())
        if not inside:
            check_output_file(gpkg, is_our_geopackage, "GeoPackage", field="--geopackage")


def _write_extras(args: argparse.Namespace, out: Path) -> list[str]:
    """``--report`` and ``--geopackage`` after the outputs are complete; what was written."""
    written = []
    if getattr(args, "report", False):
        from ..outputs.html import write_html_report

        written.append(str(write_html_report(out)))
    if getattr(args, "geopackage", None) is not None:
        from ..outputs.geopackage import export_geopackage

        written.append(str(export_geopackage(out, args.geopackage)))
    if getattr(args, "csv", None) is True:
        from ..outputs.csv_export import export_csv

        written.append(f"{export_csv(out)}/")
    return written


def _cmd_report(args: argparse.Namespace) -> int:
    from ..outputs.html import write_html_report

    pb = None
    if args.playback or args.playback_day is not None or args.replication is not None:
        from ..outputs.playback import PlaybackOptions

        pb = PlaybackOptions(args.playback_day, args.replication)
    path = write_html_report(args.results, args.out, playback=pb, sensitivity=args.sensitivity)
    print(f"report: {path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.geopackage is None and args.csv is None:
        raise InputError(_CLI, "--geopackage", "export needs --geopackage FILE or --csv [DIR]")
    if args.geopackage is not None:
        from ..outputs.geopackage import export_geopackage

        path = export_geopackage(args.results, args.geopackage, grid_m=args.grid,
                                 all_replications=args.all_replications)
        print(f"GeoPackage: {path} (EPSG:27700; incidents snapped to a {args.grid:g} m grid)")
    if args.csv is not None:
        from ..outputs.csv_export import export_csv

        folder = export_csv(args.results, args.csv or None)
        names = sorted(p.name for p in folder.glob("*.csv"))
        print(f"CSV: {folder}/ ({', '.join(names)})")
    return 0


def _cmd_validate(args: argparse.Namespace, notes: _Notes) -> int:
    from ..experiment.runner import prepare_checked

    _plugins(args)
    scn = _load(args.scenario, args)
    prep = prepare_checked(scn, labels=CLI_LABELS)
    s = prep.scenario
    notes.publish()
    print(f"{args.scenario}: ok ({s.name}: {s.fleet_size} drones at {len(prep.docks)} docks, "
          f"services {', '.join(s.services)}, policy {s.dispatch.policy})")
    return 0


def _execute(args: argparse.Namespace, notes: _Notes, folder: OutputFolder,
             factors: Sequence[Factor], reps: int, what: str, plugins: list[str],
             write: Callable[[list[TaskResult], float], _Written], records: bool = False
             ) -> tuple[list[TaskResult], _Written, list[str], float]:
    """What run, sweep and compare share once their inputs are checked: the memory check, the
    tasks in the output folder with a progress bar, ``write(results, t0)`` (the command's own
    outputs, committed), then ``--report`` / ``--geopackage``. Returns (results, what write
    returned, extra files written, t0)."""
    from ..experiment.runner import check_stored_tasks, run_tasks

    _check_memory([f.scenario for f in factors], args, reps * len(factors),
                  [f.prepared for f in factors])
    # A folder holding tasks of other inputs or other code: refused before anything is written.
    check_stored_tasks(folder, factors, plugins=plugins)
    t0 = time.perf_counter()
    with folder, _progress(args.quiet, what) as update:
        notes.publish()  # every input check has passed, the output folder is open and locked
        results = run_tasks(factors, reps, workers=args.workers, scheduler=args.scheduler,
                            plugins=plugins, folder=folder, records=records, progress=update,
                            policy_timeout_s=args.policy_timeout)
        written = write(results, t0)
    extras = _write_extras(args, folder.path) if written is not None else []
    return results, written, extras, t0


def _outputs_line(folder: OutputFolder, names: str, extras: list[str], t0: float) -> str:
    return (f"outputs: {folder.path}/ ({names}){''.join(', ' + e for e in extras)}; "
            f"{time.perf_counter() - t0:.1f} s")


def _cmd_run(args: argparse.Namespace, argv: list[str], notes: _Notes) -> int:
    from ..experiment.runner import Factor, prepare_checked, run_result
    from ..experiment.store import RUN_ENTRIES
    from ..outputs.report import format_table, write_run

    plugins = _plugins(args)
    scn = _load(args.scenario, args)
    folder = _folder(args.out, scn.name, RUN_ENTRIES, args)
    _extra_outputs(args, folder)
    prep = prepare_checked(scn, labels=CLI_LABELS)
    factor = Factor(prep.scenario.name, prep)

    def write(results, t0):
        result = run_result(factor, results, time.perf_counter() - t0, keep_tables=False)
        write_run(result, folder, argv, plots=not args.no_plots)
        return result

    results, result, extras, t0 = _execute(args, notes, folder, [factor],
                                           prep.scenario.simulation.replications,
                                           "replications", plugins, write, records=True)
    print(format_table(result.summary))
    print(_outputs_line(folder, "summary.json, manifest.json, scenario.resolved.toml, "
                                "incidents.parquet/, missions.parquet/, tasks/"
                                + ("" if args.no_plots else ", plots/"), extras, t0))
    return _finish(folder, results, "replications")


def _cmd_sweep(args: argparse.Namespace, argv: list[str], notes: _Notes) -> int:
    from ..experiment.store import SWEEP_ENTRIES
    from ..experiment.sweep import parse_fleet, sweep_factors, sweep_result
    from ..inputs.scenario import blame
    from ..outputs.report import format_sweep, write_sweep

    sizes = parse_fleet(args.fleet, args.steps)
    plugins = _plugins(args)
    scn = _load(args.scenario, args)
    folder = _folder(args.out, f"{scn.name}_sweep", SWEEP_ENTRIES, args)
    _extra_outputs(args, folder)
    try:
        requested, factors = sweep_factors(scn, sizes)
    except InputError as exc:
        raise blame(exc, scn.source, scn.origins, CLI_LABELS) from None
    reps = scn.simulation.replications

    def write(results, t0):
        result = sweep_result(scn, requested, factors, results, reps)
        write_sweep(result, scn, folder, argv, time.perf_counter() - t0, tasks=results,
                    plots=not args.no_plots)
        return result

    results, result, extras, t0 = _execute(args, notes, folder, factors, reps, "tasks",
                                           plugins, write)
    print(format_sweep(result.summary))
    print(_outputs_line(folder, "sweep.csv, boroughs.csv, sites.csv, summary.json, tasks/"
                                + ("" if args.no_plots else ", plots/"), extras, t0))
    return _finish(folder, results, "tasks")


def _cmd_compare(args: argparse.Namespace, argv: list[str], notes: _Notes) -> int:
    from ..experiment.compare import _align, comparison_dir_name, comparison_result, scenario_labels
    from ..experiment.runner import Factor, prepare_checked
    from ..experiment.store import COMPARE_ENTRIES
    from ..outputs.report import format_comparison, write_comparison

    if len(args.scenarios) < 2:
        raise InputError(_CLI, "scenarios",
                         f"compare needs at least two scenario files, got {len(args.scenarios)}")
    plugins = _plugins(args)
    scns = [_load(p, args) for p in args.scenarios]
    labels = scenario_labels(scns)
    folder = _folder(args.out, comparison_dir_name(labels), COMPARE_ENTRIES, args)
    _extra_outputs(args, folder)
    aligned, n, cmp_notes = _align(scns, labels, None)
    factors = [Factor(lab, prepare_checked(s, labels=CLI_LABELS))
               for lab, s in zip(labels, aligned)]

    def write(results, t0):
        if any(not r.ok for r in results):  # pairs need every replication of every scenario
            return None
        result = comparison_result(factors, results, n, cmp_notes, time.perf_counter() - t0)
        write_comparison(result, folder, argv, plots=not args.no_plots, tasks=results)
        return result

    results, result, extras, t0 = _execute(args, notes, folder, factors, n, "tasks", plugins,
                                           write)
    if result is None:
        return _finish(folder, results, "tasks")
    print(format_comparison(result.summary))
    print(_outputs_line(folder, "differences.csv, values.csv, summary.json, manifest.json, "
                                "scenarios/, tasks/" + ("" if args.no_plots else ", plots/"),
                        extras, t0))
    return 0


# --------------------------------------------------------------------------------------------
# dronesim dock-value (dronesim.experiment.dock_value)
# --------------------------------------------------------------------------------------------


def _dock_value_parser(sub: Any) -> None:
    dv = sub.add_parser("dock-value", help="what closing each dock loses and adding a candidate "
                        "site gains (paired on common random numbers)")
    dv.add_argument("scenario", type=Path)
    dv.add_argument("--candidates", default=None, metavar="N|FILE",
                    help="candidate sites to add: a number N (the N best sites of the "
                         "scenario's siting.candidates kinds by marginal static coverage; "
                         "default 5; 0: none) or a CSV of sites (name, x/y or lon/lat, "
                         "optional drones)")
    dv.add_argument("--candidate-drones", type=_positive_int, default=None, metavar="N",
                    help="drones at an added site without its own count (default 3)")
    dv.add_argument("--out", type=Path, default=None,
                    help="output folder (default: results/<scenario name>_dock_value)")
    _common(dv, plots=False)


def _candidates_arg(text: str | None) -> int | Path | None:
    """``--candidates``: a whole number of sites, or a sites file that exists."""
    if text is None:
        return None
    try:
        n = int(text)
    except ValueError:
        path = Path(text)
        if not path.is_file():
            raise InputError(_CLI, "--candidates", f"{text!r} is neither a number of sites nor "
                                                   "a sites file that exists") from None
        return path
    if n < 0:
        raise InputError(_CLI, "--candidates", f"must be 0 or more, got {n}")
    return n


def _cmd_dock_value(args: argparse.Namespace, argv: list[str], notes: _Notes) -> int:
    from ..experiment.compare import comparison_result
    from ..experiment.dock_value import (
        CANDIDATE_DRONES,
        DOCK_VALUE_ENTRIES,
        dock_value_factors,
        dock_value_result,
    )
    from ..experiment.runner import safe_label
    from ..outputs.report import write_dock_value
    from ..outputs.tables import format_dock_value_table

    if args.report or args.geopackage is not None:
        raise InputError(_CLI, "--report" if args.report else "--geopackage",
                         "not available for dock-value (its outputs are tables: "
                         "dock_value.csv, summary.json)")
    plugins = _plugins(args)
    candidates = _candidates_arg(args.candidates)
    scn = _load(args.scenario, args)
    folder = _folder(args.out, safe_label(f"{scn.name}_dock_value"), DOCK_VALUE_ENTRIES, args)
    factors, variants, n, cmp_notes = dock_value_factors(
        scn, candidates, candidate_drones=args.candidate_drones or CANDIDATE_DRONES)

    def write(results, t0):
        if any(not r.ok for r in results):  # pairs need every replication of every variant
            return None
        cmp_ = comparison_result(factors, results, n, cmp_notes, time.perf_counter() - t0)
        result = dock_value_result(cmp_, variants)
        write_dock_value(result, folder, argv, tasks=results)
        return result

    results, result, extras, t0 = _execute(args, notes, folder, factors, n, "tasks", plugins,
                                           write)
    if result is None:
        return _finish(folder, results, "tasks")
    print(format_dock_value_table(result.summary))
    print(_outputs_line(folder, "dock_value.csv, summary.json, differences.csv, values.csv, "
                                "manifest.json, scenarios/, tasks/", extras, t0))
    return 0


# --------------------------------------------------------------------------------------------
# dronesim sensitivity (dronesim.experiment.sensitivity)
# --------------------------------------------------------------------------------------------


def _sensitivity_parser(sub: Any) -> None:
    sen = sub.add_parser("sensitivity", help="how far the headline figures move over the "
                         "assumptions' plausible ranges (one at a time, Morris, Sobol; common "
                         "random numbers)")
    sen.add_argument("scenario", type=Path)
    sen.add_argument("--method", default="oat",
                     help="oat (one at a time: tornado), morris, sobol, all, or a list like "
                          "oat,morris (default oat)")
    sen.add_argument("--assumption", action="append", default=[], metavar="NAME[=LOW:HIGH]",
                     help="vary only this assumption (repeatable; default every declared one), "
                          "optionally over another range")
    sen.add_argument("--trajectories", type=_positive_int, default=4,
                     help="Morris trajectories (default 4)")
    sen.add_argument("--levels", type=_number(int, 2, inclusive=True, high=20), default=4,
                     help="Morris grid levels (default 4)")
    sen.add_argument("--samples", type=_positive_int, default=8,
                     help="Sobol base samples, a power of 2 (default 8)")
    sen.add_argument("--sample-seed", type=_non_negative_int, default=20251023,
                     help="seed of the Morris and Sobol designs (default 20251023)")
    sen.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/<scenario name>_sensitivity)")
    _common(sen)


def _methods(text: str) -> tuple[str, ...]:
    from ..experiment.sensitivity import METHODS

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts == ["all"]:
        return METHODS
    for p in parts:
        if p not in METHODS:
            raise InputError(_CLI, "--method",
                             f"unknown method {p!r} (known: {', '.join(METHODS)}, all)")
    if not parts:
        raise InputError(_CLI, "--method", "name at least one method")
    return tuple(dict.fromkeys(parts))


def _cmd_sensitivity(args: argparse.Namespace, argv: list[str], notes: _Notes) -> int:
    from ..experiment import sensitivity as sens
    from ..experiment.store import SENSITIVITY_ENTRIES
    from ..inputs.scenario import blame
    from ..outputs.report import write_sensitivity

    methods = _methods(args.method)
    if args.geopackage is not None:
        raise InputError(_CLI, "--geopackage", "a sensitivity study has no map layers; export "
                                               "a run of its scenario")
    picked = [sens.parse_assumption(t) for t in args.assumption]
    names = [n for n, _ in picked]
    ranges = {n: r for n, r in picked if r is not None}
    plugins = _plugins(args)
    scn = _load(args.scenario, args)
    folder = _folder(args.out, f"{scn.name}_sensitivity", SENSITIVITY_ENTRIES, args)
    try:
        chosen, skipped = sens.resolve_assumptions(scn, sens.ASSUMPTIONS, names, ranges)
        plan = sens.plan_sensitivity(scn, chosen, skipped, methods,
                                     trajectories=args.trajectories, levels=args.levels,
                                     samples=args.samples, sample_seed=args.sample_seed)
    except InputError as exc:
        raise blame(exc, scn.source, scn.origins, CLI_LABELS) from None
    reps = scn.simulation.replications

    def write(results, t0):
        if any(not r.ok for r in results):  # every point needs every replication
            return None
        result = sens.sensitivity_result(plan, results, reps)
        write_sensitivity(result, scn, folder, argv, time.perf_counter() - t0, tasks=results,
                          plots=not args.no_plots)
        return result

    results, result, extras, t0 = _execute(args, notes, folder, plan.factors, reps, "tasks",
                                           plugins, write)
    if result is None:
        return _finish(folder, results, "tasks")
    for s in skipped:
        sys.stderr.write(f"dronesim: note: not varied: {s['name']} ({s['key']}): "
                         f"{s['reason']}\n")
    print(sens.summary_text(result))
    print(_outputs_line(folder, "sensitivity.json, sensitivity.csv, sensitivity.md, "
                                "summary.json, tasks/" + ("" if args.no_plots else ", plots/"),
                        extras, t0))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    notes = _Notes()
    logger = logging.getLogger("dronesim")
    logger.addHandler(notes)
    logger.propagate = False
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if args.command == "init":
            return _cmd_init(args)
        if args.command == "validate":
            return _cmd_validate(args, notes)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "export":
            return _cmd_export(args)
        if args.command in ("policies", "siting-methods"):
            from .catalogue import policies_text, siting_methods_text

            if args.command == "policies":
                _plugins(args)
            print(policies_text() if args.command == "policies" else siting_methods_text())
            return 0
        if args.command == "sweep":
            return _cmd_sweep(args, argv, notes)
        if args.command == "compare":
            return _cmd_compare(args, argv, notes)
        if args.command == "sensitivity":
            return _cmd_sensitivity(args, argv, notes)
        if args.command == "dock-value":
            return _cmd_dock_value(args, argv, notes)
        if args.command in ("site", "size"):
            return _cmd_siting_search(args, argv)
        return _cmd_run(args, argv, notes)
    except InputError as exc:
        notes.drop()
        sys.stderr.write(f"dronesim: error: {exc}\n")
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        sys.stderr.write("dronesim: interrupted; finished tasks are kept in the output folder "
                         "(run the same command again to finish)\n")
        return 130
    except _Terminated as exc:
        sys.stderr.write(f"dronesim: stopped by signal {exc.signum}; finished tasks are kept "
                         "in the output folder (run the same command again to finish)\n")
        return 128 + exc.signum
    except Exception as exc:  # noqa: BLE001 - the last line of defence, still one line
        from ..experiment.executors import ResourceExhausted
        from ..experiment.runner import TaskFailure

        if isinstance(exc, ResourceExhausted | TaskFailure):
            sys.stderr.write(f"dronesim: error: {str(exc).splitlines()[0]}\n")
            return 1
        if isinstance(exc, OSError):  # (writes name their file: errors.named_os_error)
            name = getattr(exc, "filename", None)
            where = f"{name}: " if name else ""
            sys.stderr.write(f"dronesim: error: {one_line(f'{where}{exc.strerror or exc}')}\n")
            return 1 if exc.errno not in (2, 13, 20, 21) else 2
        if os.environ.get("DRONESIM_DEBUG"):
            raise
        sys.stderr.write(f"dronesim: internal error: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''} (please report it; "
                         "DRONESIM_DEBUG=1 shows the traceback)\n")
        return 1
    finally:
        notes.publish()  # what report, export or an interrupted run still held (none if refused)
        logger.removeHandler(notes)
        for s, h in previous.items():
            signal.signal(s, h)


# --- dronesim site / dronesim size (dronesim.experiment.siting_search) -----------------------


def _siting_search_parsers(sub: Any) -> None:
    site = sub.add_parser("site", help="improve a solver's dock plan by simulated moves, with "
                          "a ranking-and-selection rule")
    site.add_argument("scenario", type=Path)
    site.add_argument("--fleet", type=_positive_int, required=True, help="drones in the plan")
    site.add_argument("--start", choices=("mclp",), default="mclp",
                      help="start plan: maximal coverage for the fleet (default)")
    site.add_argument("--budget", type=_positive_int, default=30, metavar="EVALS",
                      help="plan-evaluations (one plan simulated for R replications), "
                           "final stage included (default 30)")
    site.add_argument("--delta", type=_positive_float, default=None,
                      help="indifference zone of the final Kim-Nelson selection, as a share "
                           "of suited incidents (default 0.01)")
    site.add_argument("--alpha", type=_positive_float, default=None,
                      help="1 - confidence of the final selection (default 0.05)")
    size = sub.add_parser("size", help="least fleet along the nested pathway meeting a "
                          "per-borough target")
    size.add_argument("scenario", type=Path)
    size.add_argument("--target", type=_positive_float, required=True,
                      help="share of suited incidents reached within --within in every borough")
    size.add_argument("--within", type=_positive_float, default=None, metavar="SECONDS",
                      help="target time (default: the scenario's coverage.within_s)")
    size.add_argument("--fleet", default=None,
                      help="pathway: fleet sizes considered, A:B, A:B:STEP or a list (as "
                           "sweep; required); greedy: the start plan's fleet, maximal coverage "
                           "(default: the listed docks)")
    size.add_argument("--steps", type=_positive_int, default=16, help="steps for A:B")
    size.add_argument("--budget", type=_positive_int, default=12, metavar="EVALS",
                      help="plan-evaluations for the bisection (default 12) or the greedy "
                           "rounds and drops")
    size.add_argument("--method", choices=("pathway", "greedy"), default="pathway",
                      help="pathway: bisection along nested maximal coverage (default); "
                           "greedy: add docks where the target binds, then drop the unneeded")
    size.add_argument("--max-fleet", type=_positive_int, default=300,
                      help="greedy: fleet cap (default 300)")
    size.add_argument("--target-basis", choices=("absolute", "ceiling"), default="absolute",
                      help="greedy: --target as each borough's share (absolute) or as a "
                           "fraction of its ceiling")
    size.add_argument("--screen", type=_positive_int, default=3,
                      help="greedy: candidate docks simulated for the worst borough a round")
    for p in (site, size):
        p.add_argument("--seed", type=_non_negative_int, default=None)
        p.add_argument("--replications", type=_positive_int, default=None,
                       help="replications per plan-evaluation (default: the scenario's)")
        p.add_argument("--weeks", type=_positive_float, default=None)
        p.add_argument("--out", type=Path, default=None,
                       help="output folder (default: results/<scenario name>_site or _size)")
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--quiet", action="store_true", help="no progress lines")


def _cmd_siting_search(args: argparse.Namespace, argv: list[str]) -> int:
    import json

    from ..experiment import siting_search as ss
    from ..experiment.store import SITE_ENTRIES, SIZE_ENTRIES
    from ..experiment.sweep import parse_fleet
    from ..inputs.scenario import blame

    scn = _load(args.scenario, args)
    reps = scn.simulation.replications
    if reps < 2:
        raise InputError(_CLI, "--replications", f"must be >= 2 for a paired interval; got "
                                                 f"{reps}")
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    if args.command == "site":
        folder = _folder(args.out, f"{scn.name}_site", SITE_ENTRIES, args)
        try:
            space = ss.search_space(scn)
            result = ss.site_search(space, args.fleet, budget=args.budget, replications=reps,
                                    progress=say,
                                    delta=ss.DELTA if args.delta is None else args.delta,
                                    alpha=ss.ALPHA if args.alpha is None else args.alpha)
        except InputError as exc:
            raise blame(exc, scn.source, scn.origins, CLI_LABELS) from None
        with folder:
            ss.write_search(result, folder, argv)
        s = result.summary
        brief = {k: s[k] for k in ("fleet", "evaluations", "best_minus_start",
                                   "interval_excludes_zero", "best_minus_start_fresh")}
        for which in ("start", "best"):  # sites: in search.json and sites.csv
            brief[which] = {k: v for k, v in s[which].items() if k != "sites"}
        print(json.dumps(brief, indent=2, default=str))
    else:
        if not args.target <= 1.0:
            raise InputError(_CLI, "--target", f"must be a share in (0, 1]; got {args.target}")
        from ..experiment import sizing

        within = args.within if args.within is not None else scn.coverage.within_s
        if args.method == "pathway":
            if args.fleet is None:
                raise InputError(_CLI, "--fleet", "the pathway method needs the fleet sizes "
                                                  "considered (A:B, A:B:STEP or a list)")
            fleets = parse_fleet(args.fleet, args.steps)
        else:
            start = None
            if args.fleet is not None:
                if not args.fleet.isdigit() or int(args.fleet) < 1:
                    raise InputError(_CLI, "--fleet", "with --method greedy, one fleet size "
                                                      f"(the start plan); got {args.fleet!r}")
                start = int(args.fleet)
        folder = _folder(args.out, f"{scn.name}_size", SIZE_ENTRIES, args)
        try:
            if args.method == "pathway":
                size = ss.size_search(scn, fleets, target=args.target, within_s=within,
                                      replications=reps, budget=args.budget, progress=say)
                size = sizing.add_ceiling(size, scn, within_s=within, replications=reps)
            else:
                size = sizing.size_greedy(scn, target=args.target, within_s=within,
                                          start_fleet=start, replications=reps,
                                          budget=args.budget, max_fleet=args.max_fleet,
                                          basis=args.target_basis, screen=args.screen,
                                          progress=say)
        except InputError as exc:
            raise blame(exc, scn.source, scn.origins, CLI_LABELS) from None
        with folder:
            ss.write_size(size, folder, argv)
        s = size.summary
        plan = {k: v for k, v in s["plan"].items() if k != "docks"}  # docks: in size.json
        print(json.dumps({"feasible": s["feasible"], "least_fleet": s.get("least_fleet"),
                          "plan": plan, "gap": s.get("gap"), "note": s["note"],
                          "ceiling": {k: v for k, v in s.get("ceiling", {}).items()
                                      if k in ("london", "grounded_share",
                                               "late_launch_share", "reach_radius_m")}},
                         indent=2, default=str))
        print("binding boroughs: " + ", ".join(f"{b['name']} {b['share']:.3f}"
                                               for b in s["binding_boroughs"]))
        if s.get("infeasible_boroughs"):
            print("ceiling below target: " + ", ".join(
                f"{b['name']} {b['ceiling']:.3f}" for b in s["infeasible_boroughs"]))
    print(f"outputs: {folder.path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
