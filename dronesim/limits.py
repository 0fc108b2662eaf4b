"""What a run costs in memory and processes, checked before it starts.

Every numeric bound of the schema (:mod:`dronesim.scenario`) is finite, but their product is
not small: 1,000,000 incidents a week for 520 weeks would be half a billion incidents. So before
any simulation starts, :func:`check_memory` estimates the peak memory of the run from the number
of incidents a replication holds and the number of processes, compares it with the memory this
machine has available, and refuses (one line, exit 2) a run that cannot fit, stating the largest
run that does.

The figures (measured with ``benchmarks/bench.py --only memory`` and ``resource.getrusage`` on
CPython 3.11, Linux; see README, "Memory"):

* a process holding the London data and the libraries: about 300 MB (``PROCESS_BASE_BYTES``);
* per incident of one replication while it runs: the pre-generated inputs and the record columns
  (``BYTES_PER_INCIDENT``), plus, for each drone-suited incident, its candidate docks (index,
  flight length, airspace delay: 24 bytes a candidate);
* per incident kept after the replication, when the caller asks for the tables in memory (the
  Python API, ``keep_tables``): the incident table (``BYTES_PER_KEPT_INCIDENT``). The command line
  streams tables to Parquet instead and keeps only summaries.

``DRONESIM_MEMORY_LIMIT`` (bytes, or with a suffix: ``1.5G``, ``800M``) caps the memory dronesim
assumes it may use, for shared machines and for tests.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

__all__ = ["available_memory_bytes", "usable_cores", "incidents_per_replication",
           "MemoryEstimate", "estimate_memory", "check_memory", "cap_workers", "format_bytes"]

PROCESS_BASE_BYTES = 300e6
BYTES_PER_INCIDENT = 1_000.0
BYTES_PER_CANDIDATE = 24.0
BYTES_PER_KEPT_INCIDENT = 700.0
#: Share of the available memory a run may plan to use (the rest: the OS, other programs,
#: allocator slack).
HEADROOM = 0.8

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


def incidents_per_replication(scn, trace_rows: int | None = None) -> float:
    """Expected incidents one replication holds: every service over warm-up and window (or the
    trace's rows)."""
    if trace_rows is not None:
        return float(trace_rows)
    sim = scn.simulation
    weeks = sim.weeks + sim.warmup_hours / 168.0
    return sum(s.incidents_per_week for s in scn.services.values()) * weeks


def _suited_share(scn) -> float:
    share = 0.0
    total = sum(s.incidents_per_week for s in scn.services.values()) or 1.0
    for s in scn.services.values():
        if s.uses_drones:
            suited = sum(p * q for p, q in zip(s.priority_shares, s.drone_suited_share))
            share += s.incidents_per_week / total * suited
    return share


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a run, as estimated before it starts."""

    incidents: float  # per replication
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


def _per_incident(scn) -> float:
    return BYTES_PER_INCIDENT + _suited_share(scn) * scn.dispatch.candidate_docks \
        * BYTES_PER_CANDIDATE


def estimate_memory(scn, *, workers: int = 1, replications: int | None = None,
                    keep_tables: bool = False, trace_rows: int | None = None) -> MemoryEstimate:
    """Estimate the peak memory of running ``scn`` (see the module docstring for the model)."""
    n = incidents_per_replication(scn, trace_rows)
    reps = replications or scn.simulation.replications
    one = PROCESS_BASE_BYTES + n * _per_incident(scn)
    kept = n * BYTES_PER_KEPT_INCIDENT * reps * 2 if keep_tables else 0.0  # x2: concatenation
    parent = (one if workers <= 1 else PROCESS_BASE_BYTES) + kept
    return MemoryEstimate(n, one, parent, workers, available_memory_bytes())


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


def check_memory(scenarios: Sequence, *, workers: int = 1, keep_tables: bool = False,
                 trace_rows: Sequence[int | None] | None = None) -> None:
    """Refuse, before anything runs, a run that cannot fit in this machine's memory.

    The error names the scenario file and ``simulation.weeks`` (the usual lever), the estimate,
    the memory available and the largest run that fits.
    """
    rows = list(trace_rows) if trace_rows is not None else [None] * len(scenarios)
    for scn, tr in zip(scenarios, rows):
        est = estimate_memory(scn, workers=workers, keep_tables=keep_tables, trace_rows=tr)
        if est.fits:
            continue
        budget = HEADROOM * est.available_bytes
        procs = max(1, workers)
        per = _per_incident(scn) + (BYTES_PER_KEPT_INCIDENT * 2 * scn.simulation.replications
                                    / procs if keep_tables else 0.0)
        largest = max(0.0, (budget / procs - PROCESS_BASE_BYTES) / per)
        rate = sum(s.incidents_per_week for s in scn.services.values())
        weeks = (f"; at {rate:,.0f} incidents a week that is about "
                 f"{max(0.0, largest / rate - scn.simulation.warmup_hours / 168):.1f} weeks"
                 if rate > 0 and tr is None else "")
        field = "simulation.weeks" if tr is None else "demand.trace"
        raise InputError(
            scn.source, field,
            f"a replication would hold about {est.incidents:,.0f} incidents and the run need "
            f"about {format_bytes(est.total_bytes)} with {procs} process"
            f"{'es' if procs > 1 else ''}, more than the {format_bytes(budget)} this machine "
            f"can give it; the largest run that fits is about {math.floor(largest):,} "
            f"incidents per replication{weeks}")
