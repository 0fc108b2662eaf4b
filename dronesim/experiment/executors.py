"""Where tasks run: in this process, in a local process pool, or on a Dask cluster.

All three take a picklable task function and a list of payloads, run them, and hand each result
back with its payload's index as soon as it is done; the caller assembles results by index, so
the outcome never depends on which executor ran the tasks or in which order they finished.

* :class:`InlineExecutor`: one task after the other, in this process.
* :class:`ProcessExecutor`: a :class:`concurrent.futures.ProcessPoolExecutor` whose workers die
  with this process and ignore Ctrl-C (:mod:`dronesim.experiment.workers`). Workers are forked when
  this process has no other thread (cheap: the loaded map is shared copy-on-write), else started by
  a fork server. A worker killed by the system (out of memory) ends the run with one line.
* :class:`DaskExecutor`: ``distributed.Client`` on an existing scheduler (``--scheduler
  tcp://host:8786``) or on a ``LocalCluster`` started here (``--scheduler local``), whose nannies
  and workers then also die with this process. Plugin files are uploaded to the workers. Dask is
  an optional dependency (``pip install 'dronesim[dask]'``). On 2 local cores a process pool is
  faster (../shared/design/PERFORMANCE.md: 92-97% against 81-87% parallel efficiency); Dask is
  for a real cluster.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..errors import InputError
from .workers import die_with_parent, init_worker

__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "DaskExecutor", "ResourceExhausted",
           "make_executor"]

OnResult = Callable[[int, Any], None]


class ResourceExhausted(RuntimeError):
    """A worker ran out of memory or file handles, or was killed: the run ends (one line)."""


class Executor:
    """Runs payloads through a task function; see the module docstring."""

    name = "executor"
    workers = 1

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any], on_result: OnResult
            ) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name}, {self.workers} worker{'s' if self.workers > 1 else ''}"


class InlineExecutor(Executor):
    """Tasks one after the other in this process."""

    name = "in-process"

    def run(self, fn, payloads, on_result):
        for i, p in enumerate(payloads):
            on_result(i, fn(p))


def _fork_is_safe() -> bool:
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


class ProcessExecutor(Executor):
    """A local process pool (see the module docstring)."""

    name = "process pool"

    def __init__(self, workers: int, plugins: Sequence[str] = ()) -> None:
        self.workers = int(workers)
        self.plugins = tuple(plugins)
        self._pool: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        method = "fork" if _fork_is_safe() else "forkserver"
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=mp.get_context(method),
            initializer=init_worker, initargs=(os.getpid(), self.plugins))
        return self._pool

    def run(self, fn, payloads, on_result):
        pool = self._pool or self._start()
        futures = {pool.submit(fn, p): i for i, p in enumerate(payloads)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=futures.__getitem__):
                    on_result(futures[fut], fut.result())
        except BrokenProcessPool:
            raise ResourceExhausted("a worker process died (killed by the system, most likely "
                                    "out of memory); try fewer --workers or a shorter run"
                                    ) from None
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # a worker in the middle of a task is not waited for
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=5)


def _watch_parent_remote() -> int:
    """Run in each Dask worker and nanny of a LocalCluster: exit when the parent goes."""
    die_with_parent()
    return os.getpid()


class DaskExecutor(Executor):
    """Tasks on a Dask cluster (see the module docstring)."""

    name = "dask"

    def __init__(self, address: str, workers: int, plugins: Sequence[str] = ()) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("<command line>", "--scheduler",
                             "Dask is not installed (pip install 'dronesim[dask]')") from None
        self.address = address
        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            self.client.run(_watch_parent_remote, nanny=True)
            self.client.run(_watch_parent_remote)
        else:
            try:
                self.client = Client(address, timeout="15s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError("<command line>", "--scheduler",
                                 f"cannot reach the Dask scheduler at {address} ({exc})") from None
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        for spec in plugins:
            if spec.endswith(".py"):
                self.client.upload_file(str(Path(spec).expanduser()))
        self.where = "LocalCluster" if self.cluster is not None else address

    def describe(self) -> str:
        return f"dask ({self.where}), {self.workers} worker{'s' if self.workers > 1 else ''}"

    def run(self, fn, payloads, on_result):
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:8]
        futures = [self.client.submit(fn, p, pure=False, key=f"dronesim-{run_id}-{i}")
                   for i, p in enumerate(payloads)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except Exception as exc:  # the worker itself died (KilledWorker, ...)
                    raise ResourceExhausted(f"a Dask worker failed ({type(exc).__name__}: "
                                            f"{exc})") from None
                on_result(index[fut.key], result)
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def make_executor(workers: int, scheduler: str | None = None, plugins: Sequence[str] = ()
                  ) -> Executor:
    """The executor for ``--workers`` / ``--scheduler``: Dask when a scheduler is named, a
    process pool for more than one worker, else in-process."""
    if scheduler:
        return DaskExecutor(scheduler, workers, plugins)
    if workers > 1:
        return ProcessExecutor(workers, plugins)
    return InlineExecutor()
