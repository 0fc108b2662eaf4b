"""The experiment runner: factors x replications as tasks, on any executor, resumable.

``dronesim run``, ``sweep`` and ``compare`` all come down to the same thing: a list of *factors*
(resolved scenarios: a run has one, a sweep one per fleet size, a comparison one per scenario),
each simulated for replications ``0 .. R-1``. This module expands them explicitly into tasks and
runs the tasks on an executor chosen at call time (:mod:`dronesim.experiment.executors`: in-process,
a local process pool, or Dask).

* **Seeds.** Task ``(factor, r)`` draws from the streams keyed by the factor's seed and ``r``
  (:mod:`dronesim.inputs.streams`), never by the worker or the order of execution, so any executor
  gives bit-for-bit the same tables. Factors sharing a seed see the same incidents (common random
  numbers).
* **Resolved scenarios.** A factor is prepared (and its dock siting solved) once, here; workers
  receive the resolved scenario (every dock listed), so nothing is re-optimised per task, and
  each worker prepares a factor once for all its tasks.
* **Summaries in the workers.** A task returns its replication's KPIs (a few kilobytes,
  :func:`task_kpis`), and with an output folder writes its record tables as Parquet parts
  itself; the parent never holds the incident tables of a command-line run.
* **Resumable.** With an :class:`~dronesim.experiment.store.OutputFolder`, each finished task is
  kept at once (``tasks/<key>.json`` and its Parquet parts), so the same command run again after an
  interruption runs only the tasks that are missing. A task's key holds a digest of its factor's
  identity (:mod:`dronesim.experiment.identity`: the resolved scenario, the content of every input
  file, data file and plugin, and dronesim's own code), so a re-run on other inputs never reuses old
  tasks; a folder holding tasks of other inputs is refused, naming what changed, unless
  ``--overwrite`` is given (:func:`check_stored_tasks`). What was reused is said in a note.
* **Failures.** A task that raises is recorded with its error (``on_error="record"``) and the
  others go on; the command then reports the failures and a re-run retries them. Running out of
  memory, disk space or file handles ends the run
  (:class:`~dronesim.experiment.executors.ResourceExhausted`, naming the file that could not be
  written), and so does a user policy taking longer than ``policy_timeout_s`` to decide one incident
  (:class:`TaskFailure`; :mod:`dronesim.dispatch.watchdog`).
"""

from __future__ import annotations

import errno
import json
import logging
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dispatch.watchdog import DEFAULT_TIMEOUT_S, PolicyTimeout, decision_time_limit
from ..engine.aggregates import Aggregates
from ..engine.prepared import Prepared
from ..engine.replication import ReplicationResult, prepare, run_replication
from ..engine.sinks import Observer, Sink
from ..errors import InputError, naming
from ..inputs.scenario import Scenario, blame, check_fleet, scenario_from_dict, scenario_to_dict
from ..kpis import registry
from ..kpis import statistics as metrics
from ..limits import cap_workers, check_memory, estimate_memory
from .executors import ResourceExhausted, make_executor
from .identity import TASK_FORMAT, Identity, describe_change, task_identity
from .store import OutputFolder
from .workers import load_plugins

__all__ = ["Factor", "Task", "TaskResult", "RunResult", "run_tasks", "run_scenario",
           "summarise", "task_kpis", "prepare_checked", "TaskFailure", "execute_task",
           "safe_label", "check_stored_tasks"]

log = logging.getLogger("dronesim")

_FATAL_ERRNO = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOSPC}


def safe_label(text: str) -> str:
    """A label as a file-name part: letters, digits and ``- _ .``; anything else becomes ``_``."""
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".")
    return out or "_"


def prepare_checked(scn: Scenario, data_dir: str | Path | None = None,
                    labels: dict[str, str] | None = None) -> Prepared:
    """:func:`dronesim.engine.replication.prepare`, with errors re-addressed to the file that set
    the value (a parent through ``extends``, the command line), and the sited fleet checked."""
    try:
        prep = prepare(scn, data_dir)
        check_fleet(prep.scenario, sited=True)
        return prep
    except InputError as exc:
        raise blame(exc, scn.source, scn.origins, labels) from None


@dataclass(frozen=True)
class Factor:
    """One resolved scenario of an experiment, with a unique label."""

    label: str
    prepared: Prepared

    @property
    def scenario(self) -> Scenario:
        return self.prepared.scenario


@dataclass(frozen=True)
class Task:
    index: int
    factor: int
    replication: int
    key: str


@dataclass(eq=False)
class TaskResult:
    """What one task gave: its KPIs, or its error."""

    task: Task
    ok: bool
    kpis: dict[str, Any] | None = None
    error: str | None = None
    wall_s: float = 0.0
    resumed: bool = False
    replication: ReplicationResult | None = None  # with the tables, when kept in memory

    @property
    def ran_kpis(self) -> dict[str, Any]:
        """The KPIs of a task that ran (``ok``: a task that ran always has them)."""
        assert self.kpis is not None, f"task {self.task.key} has no KPIs ({self.error})"
        return self.kpis


class TaskFailure(RuntimeError):
    """Raised by the Python API when a task failed and ``on_error="raise"``."""


# --------------------------------------------------------------------------------------------
# What a task computes (in the worker)
# --------------------------------------------------------------------------------------------


def task_kpis(prep: Prepared, res: ReplicationResult) -> dict[str, Any]:
    """The KPIs of one replication, computed where it ran (a few kilobytes): the running
    aggregates of its records (:meth:`dronesim.engine.aggregates.Aggregates.kpis`: the response
    figures, ``suited_within_target``, ``by_service``,
    ``per_borough``, ``demand_fingerprint``) plus ``pilots``, ``fleet_size``,
    ``ground_units`` and the cost, value and equity figures of
    :func:`dronesim.experiment.derived.derived_kpis`. Deterministic: the same task gives the same
    KPIs on any executor."""
    from .derived import derived_kpis

    k = dict(res.kpis)
    k["pilots"] = res.pilots
    k["fleet_size"] = res.fleet_size
    k["ground_units"] = dict(res.ground_units)
    k.update(derived_kpis(prep, k))  # costs, value, equity (dronesim.experiment.derived)
    grounded = k.get("grounded_hours_per_week")
    if grounded is not None and "per_dock" in k:  # weather and night ground every dock at once
        k["per_dock"] = [{**row, "grounded_drone_hours_per_week": grounded * float(n)}
                         for row, n in zip(k["per_dock"], prep.docks.drones)]
    return k


_PREPARED: dict[str, Prepared] = {}
_CACHE_FACTORS = 8


def _prepared(payload: dict[str, Any]) -> Prepared:
    """The factor's prepared scenario, once per worker process (resolved: nothing re-sited)."""
    key = payload["factor_key"]
    prep = _PREPARED.get(key)
    if prep is None:
        scn = scenario_from_dict(payload["scenario"], source=payload["source"])
        prep = prepare(scn, payload["data_dir"])
        while len(_PREPARED) >= _CACHE_FACTORS:  # a long-lived (Dask) worker: keep a few
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = prep
    return prep


def _sink(payload: dict[str, Any], scratch: Path) -> Sink | None:
    """Where the task's records go: the Parquet files it was given, a scratch folder whose files
    travel back as bytes (a remote worker), memory (tables kept), or nowhere."""
    from ..engine.sinks import NullSink, ParquetSink

    rec = payload.get("records")
    if rec is not None:
        if rec:
            return ParquetSink(rec["incidents"], rec["missions"])
        return ParquetSink(scratch / "incidents.parquet", scratch / "missions.parquet")
    return None if payload.get("keep_tables") else NullSink()


def task_observers(prep: Prepared) -> list[Observer]:
    """What counts a task's KPIs from its record chunks: the running aggregates (every engine
    KPI, :class:`dronesim.engine.aggregates.Aggregates`). A new family of figures counted from
    the records is a new observer added here."""
    return [Aggregates(prep)]


def execute_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one task (in a worker): simulate the replication, compute its KPIs, write its
    records. Errors come back as values (``ok`` false), except when ``payload["raise"]``. A
    user policy's decisions are timed (``payload["policy_timeout_s"]``,
    :mod:`dronesim.dispatch.watchdog`); one that takes too long ends the run."""
    t0 = time.perf_counter()
    sink = None
    try:
        if payload.get("plugins"):
            load_plugins(payload["plugins"])
        prep = _prepared(payload)
        with tempfile.TemporaryDirectory(prefix="dronesim-task-") as tmp:
            sink = _sink(payload, Path(tmp))
            with decision_time_limit(payload.get("policy_timeout_s")):
                res = run_replication(prep, payload["replication"], sink=sink,
                                      observers=task_observers(prep))
            out: dict[str, Any] = {"ok": True, "kpis": task_kpis(prep, res)}
            if payload.get("records") == {}:  # a remote worker: the files travel as bytes
                out["parquet"] = {name: (Path(tmp) / f"{name}.parquet").read_bytes()
                                  for name in ("incidents", "missions")}
        if payload.get("keep_tables"):
            out["replication"] = res
        out["wall_s"] = time.perf_counter() - t0
        return out
    except BaseException as exc:
        abort = getattr(sink, "abort", None)
        if abort is not None:  # the record files' writers closed now, quietly
            abort()
        if not isinstance(exc, Exception):
            raise
        out = _error(exc, t0)
        if payload.get("raise") and not out.get("fatal"):
            raise
        return out


def _error(exc: Exception, t0: float) -> dict[str, Any]:
    """A task's error as a value: ``fatal`` (the run ends) for a policy that took too long and
    for a worker out of memory, disk space or file handles; else a failed task."""
    wall = time.perf_counter() - t0
    if isinstance(exc, PolicyTimeout):
        return {"ok": False, "fatal": True, "timeout": True, "wall_s": wall, "error": str(exc)}
    if isinstance(exc, MemoryError):
        return {"ok": False, "fatal": True, "wall_s": wall,
                "error": "ran out of memory in a worker (MemoryError); try fewer --workers "
                         "or a shorter run"}
    if isinstance(exc, OSError) and exc.errno in _FATAL_ERRNO:
        what = {errno.EMFILE: "file handles", errno.ENFILE: "file handles",
                errno.ENOMEM: "memory"}.get(exc.errno, "disk space")
        where = f" writing {exc.filename}" if exc.filename and what == "disk space" else ""
        return {"ok": False, "fatal": True, "wall_s": wall,
                "error": f"a worker ran out of {what}{where} ({exc.strerror})"}
    return _failure(exc, t0)


def _failure(exc: BaseException, t0: float) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(), "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------------------------
# Running tasks (in the parent)
# --------------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _identities(factors: Sequence[Factor], data_dir: str | None, plugins: Sequence[str]
                ) -> list[Identity]:
    """Each factor's identity (:mod:`dronesim.experiment.identity`)."""
    return [task_identity(f.scenario, data_dir, plugins) for f in factors]


def plan_tasks(factors: Sequence[Factor], replications: int, data_dir: str | None = None,
               plugins: Sequence[str] = (), identities: Sequence[Identity] | None = None
               ) -> list[Task]:
    """Factors x replications, in that order; each task keyed by its factor's identity."""
    ids = identities if identities is not None else _identities(factors, data_dir, plugins)
    tasks: list[Task] = []
    for f, factor in enumerate(factors):
        digest = ids[f].digest[:12]
        for r in range(replications):
            tasks.append(Task(len(tasks), f, r, f"{safe_label(factor.label)}-r{r:04d}-{digest}"))
    return tasks


def _task_files(key: str, records: bool) -> dict[str, str]:
    files = {"task": f"tasks/{key}.json"}
    if records:
        files["incidents"] = f"incidents.parquet/{key}.parquet"
        files["missions"] = f"missions.parquet/{key}.parquet"
    return files


def _load_stored(folder: OutputFolder, task: Task, records: bool, identity: Identity
                 ) -> TaskResult | None:
    """A task finished by an earlier run on this folder with the same identity, if all its
    files are intact."""
    files = _task_files(task.key, records)
    if not all(folder.owns(rel) for rel in files.values()):
        return None
    try:
        data = json.loads((folder.path / files["task"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("format") != TASK_FORMAT
            or data.get("key") != task.key or not data.get("ok")
            or (data.get("identity") or {}).get("digest") != identity.digest):
        return None
    return TaskResult(task, True, data["kpis"], None, float(data.get("wall_s", 0.0)), True)


def _stored_records(folder: OutputFolder) -> list[dict[str, Any]]:
    """The task records (``tasks/*.json``) dronesim kept in ``folder``, unchanged since."""
    out = []
    for rel in sorted(folder.recorded()):
        if not (rel.startswith("tasks/") and rel.endswith(".json") and rel.count("/") == 1):
            continue
        if not folder.owns(rel):
            continue
        try:
            data = json.loads((folder.path / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        out.append(data if isinstance(data, dict) else {})
    return out


def check_stored_tasks(folder: OutputFolder, factors: Sequence[Factor], *,
                       plugins: Sequence[str] = (), data_dir: str | Path | None = None,
                       identities: Sequence[Identity] | None = None) -> None:
    """Refuse (one :class:`~dronesim.errors.InputError` on ``--out``) a folder holding task
    records of other inputs or other code than ``factors`` run with ``plugins``, naming what
    changed, unless the folder was opened with ``overwrite`` (the run then replaces them).
    Records of the same inputs (an interrupted run, fewer replications) are fine. Reads only."""
    if folder.overwrite or not folder.path.is_dir():
        return
    dd = None if data_dir is None else str(data_dir)
    ids = identities if identities is not None else _identities(factors, dd, plugins)
    by_digest = {i.digest for i in ids}
    by_label = {f.label: i for f, i in zip(factors, ids)}
    changes: list[str] = []
    for data in _stored_records(folder):
        old = data.get("identity") if isinstance(data.get("identity"), dict) else None
        if old is not None and data.get("format") == TASK_FORMAT and old.get("digest") in by_digest:
            continue
        parts = old.get("parts") if old is not None else {"format": data.get("format")}
        same = by_label.get(str(data.get("label")))
        options = [same] if same is not None else ids
        found = min((describe_change(parts, i.parts) for i in options), key=len)
        changes.extend(c for c in found if c not in changes)
    if changes:
        shown = ", ".join(changes[:4]) + (f" and {len(changes) - 4} more" if len(changes) > 4
                                          else "")
        raise InputError("<command line>", folder.field,
                         f"{folder.path} holds results of other inputs: {shown}; pass "
                         "--overwrite to replace them, or name another folder")


def run_tasks(factors: Sequence[Factor], replications: int, *, workers: int | None = None,
              scheduler: str | None = None, plugins: Sequence[str] = (),
              folder: OutputFolder | None = None, records: bool = False,
              keep_tables: bool = False, on_error: str = "record",
              data_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None,
              policy_timeout_s: float | None = DEFAULT_TIMEOUT_S) -> list[TaskResult]:
    """Run every task of ``factors`` x ``replications``; results in task order.

    Parameters
    ----------
    workers, scheduler
        The executor: a Dask scheduler address (or ``"local"``), else a process pool of
        ``workers`` (capped by cores, tasks and memory, with a note when capped), else
        in-process. ``workers=None``: one per core.
    folder
        An open output folder: finished tasks are kept there as they finish and reused when
        the same tasks are run again (resume). ``records=True`` also keeps each task's incident
        and mission tables as Parquet parts (``incidents.parquet/<key>.parquet``).
    keep_tables
        Return each replication's tables in memory (``TaskResult.replication``): the Python API.
    on_error
        ``"record"``: a failed task is recorded and the others go on; ``"raise"``: the first
        failure raises (:class:`TaskFailure`, or the task's own exception in-process).
    progress
        Called as ``progress(done, total)``; finished tasks found in ``folder`` count as done.
    policy_timeout_s
        Seconds a user policy (not a built-in) may take to decide one incident; a longer
        decision ends the run with :class:`TaskFailure` (None or 0: no limit; see
        :mod:`dronesim.dispatch.watchdog`). Results never depend on it.
    """
    dd = None if data_dir is None else str(data_dir)
    if plugins:  # here too (inline tasks use the parent's registry), and hashed below
        load_plugins(plugins)
    ids = _identities(factors, dd, plugins)
    tasks = plan_tasks(factors, replications, dd, plugins, ids)
    results: list[TaskResult | None] = [None] * len(tasks)
    if folder is not None and not keep_tables:
        check_stored_tasks(folder, factors, identities=ids)
        for t in tasks:
            results[t.index] = _load_stored(folder, t, records, ids[t.factor])
    todo = [t for t in tasks if results[t.index] is None]
    total = len(tasks)
    done = total - len(todo)
    if done and folder is not None:
        log.warning(f"reused {done} of {total} {'replications' if len(factors) == 1 else 'tasks'}"
                    f" from an earlier run in {folder.path}")
    if progress:
        progress(done, total)
    if not todo:
        return results  # type: ignore[return-value]
    per_worker = max(estimate_memory(f.scenario, keep_tables=keep_tables).per_worker_bytes
                     for f in factors)
    n, note = cap_workers(workers, len(todo), per_worker) if not scheduler else (workers or 1, "")
    if note:
        log.warning(note)
    plain = {f: (scenario_to_dict(factors[f].scenario), ids[f].digest[:12])
             for f in {t.factor for t in todo}}
    inline = not scheduler and n <= 1
    remote = bool(scheduler) and scheduler != "local"
    payloads = []
    for t in todo:
        scn_plain, digest = plain[t.factor]
        p = {"scenario": scn_plain, "source": factors[t.factor].scenario.source,
             "data_dir": dd, "replication": t.replication, "factor_key": digest,
             "plugins": list(plugins) if not inline else [], "keep_tables": keep_tables,
             "raise": on_error == "raise" and inline, "policy_timeout_s": policy_timeout_s}
        if records and folder is not None:
            p["records"] = ({} if remote else {
                name: str(folder.partial / f"{t.key}.{name}.parquet")
                for name in ("incidents", "missions")})
        payloads.append(p)
    # The parent's prepared factors: used in-process, and inherited by forked workers, so
    # neither rebuilds them (a fork server, spawn or Dask worker prepares each factor once).
    mine = {digest: factors[f].prepared for f, (_, digest) in plain.items()}
    _PREPARED.update(mine)

    def on_result(j: int, out: dict[str, Any]) -> None:
        nonlocal done
        t = todo[j]
        if out.get("fatal"):
            kind = TaskFailure if out.get("timeout") else ResourceExhausted
            raise kind(f"replication {t.replication} of {factors[t.factor].label}: "
                       f"{out['error']}")
        r = TaskResult(t, bool(out["ok"]), out.get("kpis"), out.get("error"),
                       float(out.get("wall_s", 0.0)), False, out.get("replication"))
        if not r.ok and on_error == "raise":
            raise TaskFailure(f"replication {t.replication} of {factors[t.factor].label} "
                              f"failed: {r.error}\n{out.get('traceback', '')}")
        if folder is not None:
            _keep(folder, t, r, out, records, factors[t.factor].label, ids[t.factor])
        results[t.index] = r
        done += 1
        if progress:
            progress(done, total)

    try:
        with make_executor(n, scheduler, plugins) as ex:
            ex.run(execute_task, payloads, on_result)
    finally:
        for digest in mine:
            _PREPARED.pop(digest, None)
    return results  # type: ignore[return-value]


def _keep(folder: OutputFolder, t: Task, r: TaskResult, out: dict[str, Any], records: bool,
          label: str, identity: Identity) -> None:
    """Keep a finished task in the output folder at once (see the module docstring), with its
    identity (to reuse it only for the same inputs, and to say what changed otherwise)."""
    files = _task_files(t.key, records)
    body = {"format": TASK_FORMAT, "key": t.key, "label": label, "factor": t.factor,
            "replication": t.replication, "ok": r.ok, "wall_s": r.wall_s,
            "error": r.error, "traceback": out.get("traceback"), "kpis": _jsonable(r.kpis),
            "identity": {"digest": identity.digest, "parts": identity.parts}}
    staged: dict[str, Path] = {}
    if r.ok and records:
        for name in ("incidents", "missions"):
            src = folder.partial / f"{t.key}.{name}.parquet"
            blob = out.get("parquet", {}).get(name)
            if blob is not None:  # a remote worker sent the bytes
                with naming(src):
                    src.write_bytes(blob)
            staged[files[name]] = src
    tmp = folder.partial / f"{t.key}.json"
    with naming(tmp):  # a full disk names the file
        tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    staged[files["task"]] = tmp
    folder.keep(staged)


def task_files(results: Sequence[TaskResult], records: bool) -> list[str]:
    """Relative paths of every file the given tasks keep in an output folder."""
    return [rel for r in results if r is not None
            for rel in _task_files(r.task.key, records and r.ok).values()]


# --------------------------------------------------------------------------------------------
# Summaries from per-replication KPIs
# --------------------------------------------------------------------------------------------


def _borough_summary(kpis: Sequence[dict[str, Any]], codes: Sequence[str],
                     names: Sequence[str]) -> list[dict[str, Any]]:
    """Per-borough figures combined across replications (mean and 95% interval): the
    response blocks and the figures :mod:`dronesim.kpis.registry` declares per borough."""

    rows = []
    for b, (code, name) in enumerate(zip(codes, names)):
        per = [k["per_borough"][b] for k in kpis if k["per_borough"][b]["incidents_per_week"] > 0]
        drone = [p["drone"] for p in per]
        ground = [p["ground"] for p in per]
        row: dict[str, Any] = {
            "gss_code": code,
            "name": name,
            "incidents_per_week": float(np.mean([p["incidents_per_week"] for p in per]))
            if per else 0.0,
            "drone_response_s": metrics.response_block(drone) if drone else None,
            "ground_response_s": metrics.response_block(ground) if ground else None,
        }
        for m in registry.borough_metrics():
            if not kpis or m.present(kpis[0]["per_borough"][b]):
                row[m.key] = metrics.metric_block(m, [m.value(p) for p in per])
        rows.append(row)
    return rows


def _dock_summary(prep: Prepared, kpis: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-dock figures combined across replications (mean and 95% interval): name, position
    (EPSG:27700), drones, the drone response block and the figures
    :data:`dronesim.kpis.registry.DOCK_METRICS` declares."""
    docks = prep.docks
    rows = []
    for d, name in enumerate(docks.names):
        per = [k["per_dock"][d] for k in kpis]
        row: dict[str, Any] = {"name": name, "x": float(docks.x[d]), "y": float(docks.y[d]),
                               "drones": int(docks.drones[d]),
                               "drone_response_s": metrics.response_block(
                                   [p["drone"] for p in per])}
        for m in registry.DOCK_METRICS:
            if per and m.present(per[0]):
                row[m.key] = metrics.metric_block(m, [m.value(p) for p in per])
        rows.append(row)
    return rows


def summarise(prep: Prepared, kpis: Sequence[dict[str, Any]], *,
              failed: Sequence[str] = ()) -> dict[str, Any]:
    """The ``summary.json`` contract (see README, "Outputs"), from per-replication KPIs."""
    scn = prep.scenario
    cov = prep.static_coverage()
    combined = metrics.combine(kpis)
    summary: dict[str, Any] = {
        "scenario": scn.name,
        "replications": len(kpis),
        "seed": scn.simulation.seed,
        # With a trace the window is the trace's (simulation.weeks is ignored).
        "weeks": (scn.simulation.weeks if prep.trace is None
                  else (prep.horizon_s - prep.warmup_s) / (7 * 86_400.0)),
        "warmup_hours": scn.simulation.warmup_hours,
        "fleet_size": scn.fleet_size,
        "dock_count": len(prep.docks),
        "pilots": scn.control_room.pilots_for(scn.fleet_size),
        "ground_units": kpis[0]["ground_units"] if kpis else {},
        "policy": scn.dispatch.policy,
        # Year of the money figures (issue 17; 0: each price as entered in the scenario).
        "price_year": scn.costs.price_year,
        **combined,
        "coverage": {
            "within_s": scn.coverage.within_s,
            "radius_m": cov.radius_m,
            "area_share": cov.area_share,
            "population_share": cov.population_share,
            "demand_share": cov.demand_share,
            "boroughs_covered": cov.boroughs_covered,
            "borough_population_share_threshold": scn.coverage.borough_population_share,
        },
        "per_service": {name: metrics.combine([k["by_service"][name] for k in kpis])
                        for name in (scn.services if len(scn.services) > 1 else ())},
        "per_borough": _borough_summary(kpis, list(prep.london.borough_codes),
                                        list(prep.london.borough_names)),
    }
    if failed:
        summary["failed_replications"] = list(failed)
    cov_b = cov.per_borough.set_index("gss_code")
    for row in summary["per_borough"]:
        c = cov_b.loc[row["gss_code"]]
        row["coverage_area_share"] = float(c["area_share"])
        row["coverage_population_share"] = float(c["population_share"])
    from .derived import equity_summary

    summary["equity"] = equity_summary(prep, summary["per_borough"])
    if kpis and all("per_dock" in k for k in kpis):  # each dock's share of the work
        summary["per_dock"] = _dock_summary(prep, kpis)
    if kpis and "per_airframe" in kpis[0]:  # mixed fleets: the work of each airframe type
        summary["per_airframe"] = {
            name: {m.key: metrics.metric_block(m, [m.value(k["per_airframe"][name]) for k in kpis])
                   for m in registry.AIRFRAME_METRICS}
            for name in kpis[0]["per_airframe"]}
    return summary


@dataclass(eq=False)
class RunResult:
    """Everything one scenario run produced.

    ``incidents``, ``missions`` and ``replications`` (each replication's tables) are held only
    when the run kept its tables in memory (the Python API); a command-line run streams them to
    Parquet in its output folder and keeps the per-replication ``kpis``.
    """

    prepared: Prepared
    tasks: list[TaskResult]
    kpis: list[dict[str, Any]]
    summary: dict[str, Any]
    wall_s: float
    replications: list[ReplicationResult] = field(default_factory=list)
    incidents: pd.DataFrame | None = None
    missions: pd.DataFrame | None = None

    @property
    def scenario(self) -> Scenario:
        return self.prepared.scenario

    @property
    def failures(self) -> list[TaskResult]:
        return [t for t in self.tasks if not t.ok]


def _gather_tables(results: Sequence[TaskResult]) -> tuple[list[ReplicationResult],
                                                            pd.DataFrame, pd.DataFrame]:
    reps = [r.replication for r in results if r.ok and r.replication is not None]
    incidents = pd.concat([r.incidents for r in reps], ignore_index=True)
    start = 0
    for r in reps:  # keep one copy: each replication's table becomes a slice of the whole
        assert r.incidents is not None  # a replication run with its tables kept
        n = len(r.incidents)
        r.incidents = incidents.iloc[start:start + n]
        start += n
    missions = pd.concat([r.missions for r in reps], ignore_index=True)
    return reps, incidents, missions


def run_result(factor: Factor, results: Sequence[TaskResult], wall_s: float,
               keep_tables: bool) -> RunResult:
    """A :class:`RunResult` from one factor's task results (successful ones summarised)."""
    ok = [r for r in results if r.ok]
    if not ok:
        first = next((r.error for r in results if r.error), "no replication ran")
        raise TaskFailure(f"{factor.label}: every replication failed ({first})")
    failed = [f"replication {r.task.replication}: {r.error}" for r in results if not r.ok]
    kpis = [r.ran_kpis for r in ok]
    summary = summarise(factor.prepared, kpis, failed=failed)
    reps, inc, mis = _gather_tables(ok) if keep_tables else ([], None, None)
    return RunResult(factor.prepared, list(results), kpis, summary, wall_s, reps, inc, mis)


def run_scenario(scn: Scenario, *, replications: int | None = None, workers: int | None = None,
                 data_dir: str | Path | None = None, scheduler: str | None = None,
                 plugins: Sequence[str] = (),
                 progress: Callable[[int, int], None] | None = None,
                 policy_timeout_s: float | None = DEFAULT_TIMEOUT_S) -> RunResult:
    """Run all replications of a scenario and summarise them (the Python API: tables kept in
    memory, the first failure raised).

    Parameters
    ----------
    replications
        Overrides ``simulation.replications``.
    workers
        Processes to use; default one per core, at most one per replication. 1 runs in-process.
    scheduler
        A Dask scheduler address, or ``"local"`` for a LocalCluster.
    plugins
        Modules (names, or ``.py`` files) registering dispatch policies: imported here and in
        every worker (:func:`dronesim.experiment.workers.load_plugins`).
    progress
        Called as ``progress(done, total)`` after each replication.
    policy_timeout_s
        Seconds a user policy may take to decide one incident (None or 0: no limit); see
        :func:`run_tasks`.
    """
    wall0 = time.perf_counter()
    n = replications or scn.simulation.replications
    load_plugins(plugins)  # in this process too: a plugin's policy runs inline as in a pool
    prep = prepare_checked(scn, data_dir)
    check_memory([prep.scenario], workers=workers or 1, keep_tables=True,
                 trace_rows=[len(prep.trace) if prep.trace is not None else None])
    factor = Factor(prep.scenario.name, prep)
    results = run_tasks([factor], n, workers=workers, scheduler=scheduler, plugins=plugins,
                        keep_tables=True, on_error="raise", data_dir=data_dir,
                        progress=progress, policy_timeout_s=policy_timeout_s)
    return run_result(factor, results, time.perf_counter() - wall0, keep_tables=True)
