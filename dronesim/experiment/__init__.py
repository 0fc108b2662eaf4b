"""Running scenarios: the runner (:mod:`.runner`: replications, tasks, results), executors
and worker plug-ins, run identity, the result store (:mod:`.store`: output-folder
safety), derived per-replication KPIs (:mod:`.derived`: costs, value, equity), sweeps,
comparisons and calibration.

Submodules load on first use (``dronesim.experiment.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["runner", "executors", "workers", "identity", "store", "derived", "sweep", "compare",
           "calibration"]

__getattr__ = submodules(__name__, __all__)
