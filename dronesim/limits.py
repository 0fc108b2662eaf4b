"""What a run costs in memory and processes, checked before it starts.

Every numeric bound of the schema (:mod:`dronesim.inputs.scenario`) is finite, but their product is
not small. Before any simulation starts, :func:`check_memory` estimates the peak memory of the
run, compares it with the memory this machine has available, and refuses (one line, exit 2) a
run that cannot fit, stating the largest that does.

What a run holds (measured with ``benchmarks/bench.py --only memory,year`` and
``resource.getrusage`` on CPython 3.11, Linux; see README, "Memory"):

* a process holding the London data and the libraries: about 300 MB (``PROCESS_BASE_BYTES``);
* while a replication runs, the incidents in play: demand is drawn a week at a time and records
  leave in chunks once final (:mod:`dronesim.inputs.demand`, :mod:`dronesim.engine.records`), so
  a run holds about two weeks of incidents at once (at least ``MIN_HELD`` of them) whatever its
  length, at about ``BYTES_PER_HELD`` each (inputs, record columns, the chunk being written),
  plus 24 bytes per candidate dock of each drone-suited one. A replayed trace is held whole
  (``BYTES_PER_TRACE_ROW``);
* when the caller keeps the tables in memory (the Python API, ``keep_tables``): every incident
  of every replication (``BYTES_PER_KEPT_INCIDENT``). The command line streams tables to Parquet
  and keeps summaries, so its memory does not grow with the run's length.

``DRONESIM_MEMORY_LIMIT`` (bytes, or with a suffix: ``1.5G``, ``800M``) caps the memory dronesim
assumes it may use, for shared machines and for tests.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import InputError

__all__ = ["available_memory_bytes", "usable_cores", "incidents_per_replication",
           "MemoryEstimate", "estimate_memory", "check_memory", "check_trace_rows",
           "cap_workers", "format_bytes"]

PROCESS_BASE_BYTES = 300e6
#: Incidents in play during a replication: two weeks of demand, at least this many.
MIN_HELD = 12_000
#: Measured: the London year (63,500 incidents a week) peaks at 0.61 GB holding 128,000.
BYTES_PER_HELD = 2_500.0
BYTES_PER_CANDIDATE = 24.0
BYTES_PER_TRACE_ROW = 150.0
BYTES_PER_KEPT_INCIDENT = 700.0
#: Share of the available memory a run may plan to use (the rest: the OS, other programs,
#: allocator slack).
HEADROOM = 0.8


# What the estimate reads of a scenario (:class:`dronesim.inputs.scenario.Scenario`), as
# protocols: this module sits below ``inputs`` and may not import it.
class _ServiceSize(Protocol):
    @property
    def incidents_per_week(self) -> float: ...
    @property
    def uses_drones(self) -> bool: ...
    @property
    def priority_shares(self) -> Sequence[float]: ...
    @property
    def drone_suited_share(self) -> Sequence[float]: ...


class _SimulationSize(Protocol):
    @property
    def weeks(self) -> float: ...
    @property
    def warmup_hours(self) -> float: ...
    @property
    def replications(self) -> int: ...


class _DispatchSize(Protocol):
    @property
    def candidate_docks(self) -> int: ...


class ScenarioSize(Protocol):
    """The parts of a scenario that size a run."""

    @property
    def source(self) -> str: ...
    @property
    def simulation(self) -> _SimulationSize: ...
    @property
    def services(self) -> Mapping[str, _ServiceSize]: ...
    @property
    def dispatch(self) -> _DispatchSize: ...


_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def format_bytes(n: float) -> str:
    """``1.2 GB``, ``350 MB``: decimal units, as people read them."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 10 * size else f"{n / size:,.0f} {unit}"
    return f"{n:.0f} B"


def _env_limit() -> float | None:
    text = os.environ.get("DRONESIM_MEMORY_LIMIT", "").strip().upper().removesuffix("B")
    if not text:
        return None
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([KMGT]?)", text)
    if not m:
        raise InputError("DRONESIM_MEMORY_LIMIT", "", f"expected bytes like 2G or 800M, got "
                                                      f"{os.environ['DRONESIM_MEMORY_LIMIT']!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _cgroup_limit() -> float | None:
    for path, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                        "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            raw = Path(path).read_text().strip()
            if raw == "max":
                return None
            limit = float(raw)
            if limit > 1e17:  # "no limit" in cgroup v1
                return None
            return max(0.0, limit - float(Path(used).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory_bytes() -> float:
    """Memory this run may use: ``MemAvailable``, the cgroup's remaining limit and
    ``DRONESIM_MEMORY_LIMIT``, whichever is least."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(float(line.split()[1]) * 1024)
                break
    except OSError:
        pass
    for v in (_cgroup_limit(), _env_limit()):
        if v is not None:
            found.append(v)
    if not found:  # not Linux: assume the physical memory
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            found.append(8e9)
    return min(found)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def incidents_per_replication(scn: ScenarioSize, trace_rows: int | None = None) -> float:
    """Expected incidents one replication holds: every service over warm-up and window (or the
    trace's rows)."""
    if trace_rows is not None:
        return float(trace_rows)
    sim = scn.simulation
    weeks = sim.weeks + sim.warmup_hours / 168.0
    return sum(s.incidents_per_week for s in scn.services.values()) * weeks


def _suited_share(scn: ScenarioSize) -> float:
    share = 0.0
    total = sum(s.incidents_per_week for s in scn.services.values()) or 1.0
    for s in scn.services.values():
        if s.uses_drones:
            suited = sum(p * q for p, q in zip(s.priority_shares, s.drone_suited_share))
            share += s.incidents_per_week / total * suited
    return share


def _per_held(scn: ScenarioSize) -> float:
    return BYTES_PER_HELD + _suited_share(scn) * scn.dispatch.candidate_docks * BYTES_PER_CANDIDATE


def _held(scn: ScenarioSize, trace_rows: int | None) -> float:
    """Incidents in play at once during a replication (see the module docstring)."""
    if trace_rows is not None:
        weekly = trace_rows / max(scn.simulation.weeks, 1.0)
    else:
        weekly = sum(s.incidents_per_week for s in scn.services.values())
    return max(float(MIN_HELD), 2.0 * weekly)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a run, as estimated before it starts."""

    incidents: float  # per replication
    held: float  # in play at once
    per_worker_bytes: float  # one process running one replication
    parent_bytes: float  # the process gathering results
    workers: int
    available_bytes: float

    @property
    def total_bytes(self) -> float:
        extra = self.workers if self.workers > 1 else 0
        return self.parent_bytes + extra * self.per_worker_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= HEADROOM * self.available_bytes


def estimate_memory(scn: ScenarioSize, *, workers: int = 1, replications: int | None = None,
                    keep_tables: bool = False, trace_rows: int | None = None) -> MemoryEstimate:
    """Estimate the peak memory of running ``scn`` (see the module docstring for the model)."""
    n = incidents_per_replication(scn, trace_rows)
    held = _held(scn, trace_rows)
    reps = replications or scn.simulation.replications
    one = (PROCESS_BASE_BYTES + held * _per_held(scn)
           + (trace_rows or 0) * BYTES_PER_TRACE_ROW
           + (n * BYTES_PER_KEPT_INCIDENT if keep_tables else 0.0))
    kept = n * BYTES_PER_KEPT_INCIDENT * reps * 2 if keep_tables else 0.0  # x2: concatenation
    parent = (one if workers <= 1 else PROCESS_BASE_BYTES) + kept
    return MemoryEstimate(n, held, one, parent, workers, available_memory_bytes())


def cap_workers(requested: int | None, tasks: int, per_worker_bytes: float) -> tuple[int, str]:
    """Worker processes to use and, when fewer than asked, a one-line note saying why.

    At most one per usable core, one per task, and as many as fit in the available memory
    next to the parent process. ``requested=None`` means as many as sensible, without a note.
    """
    cores = usable_cores()
    room = HEADROOM * available_memory_bytes() - PROCESS_BASE_BYTES
    by_memory = max(1, int(room // max(per_worker_bytes, 1.0)))
    want = requested if requested is not None else cores
    n = max(1, min(want, cores, max(tasks, 1), by_memory))
    note = ""
    if requested is not None and n < requested:
        why = []
        if n == cores:
            why.append(f"{cores} usable core{'s' if cores > 1 else ''}")
        if n == by_memory and by_memory < min(cores, tasks):
            why.append(f"memory for {by_memory} ({format_bytes(per_worker_bytes)} each)")
        if n == tasks and tasks < cores:
            why.append(f"{tasks} task{'s' if tasks > 1 else ''}")
        note = f"--workers {requested} capped at {n} ({', '.join(why) or 'this machine'})"
    return n, note


def _largest_trace(scn: ScenarioSize, room: float) -> float:
    """Most trace rows one process can replay in ``room`` bytes (beyond the process base)."""
    return max(0.0, room / (BYTES_PER_TRACE_ROW + 2 * _per_held(scn)))


def check_trace_rows(scn: ScenarioSize, path: str | Path, rows: int) -> None:
    """Refuse, before it is parsed, a trace whose rows cannot fit even in one process.

    ``rows`` is an upper bound counted cheaply (the file's lines less the heading), so a trace
    refused here is one :func:`check_memory` would refuse after the parse, without the time and
    memory of parsing it. The error names the trace file, the rows, the memory they would need
    and the largest trace that fits.
    """
    est = estimate_memory(scn, workers=1, trace_rows=rows)
    if est.fits:
        return
    budget = HEADROOM * est.available_bytes
    largest = _largest_trace(scn, budget - PROCESS_BASE_BYTES)
    raise InputError(path, "", f"{rows:,} rows (lines counted before reading) would need about "
                               f"{format_bytes(est.total_bytes)} to replay, more than the "
                               f"{format_bytes(budget)} this machine can give it; the largest "
                               f"trace that fits is about {math.floor(largest):,} incidents: "
                               "split it")


def check_memory(scenarios: Sequence[ScenarioSize], *, workers: int = 1, keep_tables: bool = False,
                 trace_rows: Sequence[int | None] | None = None) -> None:
    """Refuse, before anything runs, a run that cannot fit in this machine's memory.

    The error names the scenario file and the field that drives the size (the busiest
    service's ``incidents_per_week`` for a streamed run, ``simulation.weeks`` when the tables are
    kept in memory, ``demand.trace`` for a replayed trace), the estimate, the memory available
    and the largest run that fits.
    """
    rows = list(trace_rows) if trace_rows is not None else [None] * len(scenarios)
    procs = max(1, workers)
    for scn, tr in zip(scenarios, rows):
        est = estimate_memory(scn, workers=workers, keep_tables=keep_tables, trace_rows=tr)
        if est.fits:
            continue
        budget = HEADROOM * est.available_bytes
        room = budget / procs - PROCESS_BASE_BYTES
        need = f"about {format_bytes(est.total_bytes)} with {procs} process" \
               f"{'es' if procs > 1 else ''}, more than the {format_bytes(budget)} this " \
               "machine can give it"
        if tr is not None:
            largest = _largest_trace(scn, room)
            raise InputError(scn.source, "demand.trace",
                             f"replaying {tr:,} incidents would need {need}; the largest trace "
                             f"that fits is about {math.floor(largest):,} incidents")
        if keep_tables:
            per = _per_held(scn) / 10 + BYTES_PER_KEPT_INCIDENT * (
                1 + 2 * scn.simulation.replications / procs)
            largest = max(0.0, room / per)
            rate = sum(s.incidents_per_week for s in scn.services.values())
            weeks = (f"; at {rate:,.0f} incidents a week that is about "
                     f"{max(0.0, largest / rate - scn.simulation.warmup_hours / 168):.1f} weeks"
                     if rate > 0 else "")
            raise InputError(scn.source, "simulation.weeks",
                             f"keeping {est.incidents:,.0f} incidents a replication in memory "
                             f"would need {need}; the largest run that fits is about "
                             f"{math.floor(largest):,} incidents per replication{weeks} (the "
                             "command line streams its tables and needs far less)")
        busiest = max(scn.services, key=lambda k: scn.services[k].incidents_per_week)
        largest = max(0.0, room / _per_held(scn) / 2)
        raise InputError(scn.source, f"services.{busiest}.incidents_per_week",
                         f"a replication holds about two weeks of incidents at once "
                         f"({est.held:,.0f}), which would need {need}; the largest demand that "
                         f"fits is about {math.floor(largest):,} incidents a week in all "
                         "(the run's length does not matter: records are streamed)")
