"""The ``dronesim`` command line (thin: parsing, progress, error reporting).

Bad input exits with status 2 and one line ``dronesim: error: FILE: FIELD: PROBLEM``; nothing is
written to the output folder unless the whole run succeeds.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, no usage dump
        sys.stderr.write(f"dronesim: error: <command line>: {message}\n")
        raise SystemExit(2)


def _number(kind: type, low: float, inclusive: bool):
    """An argparse type: a whole number or a number, at least (or above) ``low``."""
    what = "a whole number" if kind is int else "a number"
    bound = f">= {low:g}" if inclusive else f"> {low:g}"

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (v >= low if inclusive else v > low):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return v

    return parse


_positive_int = _number(int, 1, inclusive=True)
_non_negative_int = _number(int, 0, inclusive=True)
_positive_float = _number(float, 0, inclusive=False)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dronesim", description="Drone-fleet dispatch simulator for London's "
                "blue-light services.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and write its outputs")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: results/<scenario name>)")
    run.add_argument("--seed", type=_non_negative_int, default=None)
    run.add_argument("--replications", type=_positive_int, default=None)
    run.add_argument("--weeks", type=_positive_float, default=None)
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="processes (default: one per core)")
    run.add_argument("--trace", type=Path, default=None,
                     help="CSV of incidents replayed instead of the generators (time; x,y or "
                          "lon,lat; service; optional priority, drone_suited)")
    run.add_argument("--trace-service", default=None,
                     help="service of every trace row when the CSV has no service column")
    run.add_argument("--no-plots", action="store_true", help="skip plots/ (faster)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    sw = sub.add_parser("sweep", help="fleet-growth pathway with common random numbers")
    sw.add_argument("scenario", type=Path)
    sw.add_argument("--fleet", required=True,
                    help="fleet sizes: A:B (evenly spaced), A:B:STEP, or a list 9,30,60")
    sw.add_argument("--steps", type=_positive_int, default=8, help="steps for A:B (default 8)")
    sw.add_argument("--out", type=Path, default=None,
                    help="output folder (default: results/<scenario name>_sweep)")
    sw.add_argument("--seed", type=_non_negative_int, default=None)
    sw.add_argument("--replications", type=_positive_int, default=None)
    sw.add_argument("--weeks", type=_positive_float, default=None)
    sw.add_argument("--workers", type=_positive_int, default=None)
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    cmp_ = sub.add_parser("compare", help="compare scenarios against the first, paired on "
                          "common random numbers")
    cmp_.add_argument("scenarios", type=Path, nargs="+",
                      help="two or more scenario TOML files; the first is the reference")
    cmp_.add_argument("--out", type=Path, default=None,
                      help="output folder (default: results/compare_<A>_vs_<B>...)")
    cmp_.add_argument("--seed", type=_non_negative_int, default=None)
    cmp_.add_argument("--replications", type=_positive_int, default=None)
    cmp_.add_argument("--weeks", type=_positive_float, default=None)
    cmp_.add_argument("--workers", type=_positive_int, default=None,
                      help="processes per scenario (default: one per core)")
    cmp_.add_argument("--no-plots", action="store_true", help="skip plots/ (faster)")
    cmp_.add_argument("--quiet", action="store_true", help="no progress bar")
    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", type=Path)
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
        if not args.trace.is_file():
            raise InputError(args.trace, "", "trace file not found (--trace)")
        demand["trace"] = str(args.trace.resolve())
    if getattr(args, "trace_service", None) is not None:
        demand["trace_service"] = args.trace_service
    if demand:
        out["demand"] = demand
    return out


@contextlib.contextmanager
def _progress(quiet: bool, what: str):
    """Yield a ``progress(done, total)`` callback (None if quiet) drawing a bar on stderr.

    The bar appears at the first completed run, so input errors found before any run starts
    leave nothing on stderr but their one line; it is closed however the block ends.
    """
    if quiet:
        yield None
        return
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=what, unit="run", file=sys.stderr, leave=True)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def _out_dir(given: Path | None, default: str) -> Path:
    """The output folder: ``--out`` or ``results/<default>``; refused if it is a file."""
    out = given or Path("results") / default
    if out.exists() and not out.is_dir():
        raise InputError("<command line>", "--out", f"{out} exists and is not a folder")
    return out


def _cmd_validate(args: argparse.Namespace) -> int:
    from .model import prepare
    from .scenario import load_scenario

    scn = load_scenario(args.scenario)
    prep = prepare(scn)
    print(f"{args.scenario}: ok ({scn.name}: {scn.fleet_size} drones at {len(prep.docks)} docks, "
          f"services {', '.join(scn.services)}, policy {scn.dispatch.policy})")
    return 0


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from .experiment import run_scenario
    from .report import format_table, write_run
    from .scenario import load_scenario

    from .model import prepare

    scn = load_scenario(args.scenario, _overrides(args))
    out = _out_dir(args.out, scn.name)
    prepare(scn)  # every check against the map before any run starts
    with _progress(args.quiet, "replications") as update:
        result = run_scenario(scn, workers=args.workers, progress=update)
    write_run(result, out, argv, plots=not args.no_plots)
    print(format_table(result.summary))
    print(f"outputs: {out}/ (incidents.parquet, missions.parquet, summary.json, manifest.json, "
          f"scenario.resolved.toml, plots/); {result.wall_s:.1f} s")
    return 0


def _cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    import time

    from .model import prepare
    from .report import format_sweep, write_sweep
    from .scenario import load_scenario
    from .sweep import parse_fleet, run_sweep

    sizes = parse_fleet(args.fleet, args.steps)
    scn = load_scenario(args.scenario, _overrides(args))
    out = _out_dir(args.out, f"{scn.name}_sweep")
    prepare(scn)
    t0 = time.perf_counter()
    with _progress(args.quiet, "runs") as update:
        result = run_sweep(scn, sizes, workers=args.workers, progress=update)
    write_sweep(result, scn, out, argv, time.perf_counter() - t0)
    print(format_sweep(result.summary))
    print(f"outputs: {out}/ (sweep.csv, boroughs.csv, sites.csv, summary.json, plots/); "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from .compare import compare_scenarios, scenario_labels
    from .report import comparison_dir_name, format_comparison, write_comparison
    from .scenario import load_scenario

    if len(args.scenarios) < 2:
        raise InputError("<command line>", "scenarios",
                         f"compare needs at least two scenario files, got {len(args.scenarios)}")
    scns = [load_scenario(p, _overrides(args)) for p in args.scenarios]
    labels = scenario_labels(scns)
    out = _out_dir(args.out, comparison_dir_name(labels))
    # compare_scenarios checks every scenario against the map before the first run.
    with _progress(args.quiet, "runs") as update:
        result = compare_scenarios(scns, workers=args.workers, labels=labels, progress=update)
    write_comparison(result, out, argv, plots=not args.no_plots)
    print(format_comparison(result.summary))
    print(f"outputs: {out}/ (differences.csv, values.csv, summary.json, manifest.json, "
          f"scenarios/{'' if args.no_plots else ', plots/'}); {result.wall_s:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _cmd_validate(args)
        if args.command == "sweep":
            return _cmd_sweep(args, argv)
        if args.command == "compare":
            return _cmd_compare(args, argv)
        return _cmd_run(args, argv)
    except InputError as exc:
        sys.stderr.write(f"dronesim: error: {exc}\n")
        return 2
    except OSError as exc:
        name = getattr(exc, "filename", None) or ""
        sys.stderr.write(f"dronesim: error: {name}: {exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("dronesim: interrupted; no outputs written\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
