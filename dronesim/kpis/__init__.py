"""What is measured: the KPI registry (:mod:`.registry`), statistics over records and
replications (:mod:`.statistics`), and the cost and value formulas (:mod:`.costs`,
:mod:`.value`). Sits below the engine: imports only :mod:`dronesim.inputs` and itself.

Submodules load on first use (``dronesim.kpis.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["registry", "statistics", "costs", "value"]

__getattr__ = submodules(__name__, __all__)
