"""Running scenarios: the runner (:mod:`.runner`: replications, tasks, results), executors
and worker plug-ins, run identity, the result store (:mod:`.store`: output-folder
safety), derived per-replication KPIs (:mod:`.derived`: costs, value, equity), sweeps,
comparisons and calibration.

Submodules load on first use (``dronesim.experiment.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["runner", "executors", "workers", "identity", "store", "derived", "sweep", "compare",
           "calibration"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
