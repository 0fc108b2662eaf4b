"""What is measured: the KPI registry (:mod:`.registry`), statistics over records and
replications (:mod:`.statistics`), and the cost and value formulas (:mod:`.costs`,
:mod:`.value`). Sits below the engine: imports only :mod:`dronesim.inputs` and itself.

Submodules load on first use (``dronesim.kpis.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["registry", "statistics", "costs", "value"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
