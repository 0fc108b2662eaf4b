"""Checks against theory: queueing formulas (:mod:`.queueing`), output analysis (warm-up,
replications; :mod:`.output_analysis`) and verification of the model against them
(:mod:`.verification`).

Submodules load on first use (``dronesim.theory.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["queueing", "output_analysis", "verification"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
