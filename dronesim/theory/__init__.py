"""Checks against theory: queueing formulas (:mod:`.queueing`), output analysis (warm-up,
replications; :mod:`.output_analysis`) and verification of the model against them
(:mod:`.verification`).

Submodules load on first use (``dronesim.theory.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["queueing", "output_analysis", "verification"]

__getattr__ = submodules(__name__, __all__)
