"""Where the docks go: the dock network (:mod:`.sites`), the siting solvers (:mod:`.solvers`:
maximal coverage, p-median, set cover) and static coverage of a network (:mod:`.coverage`).
Imports only :mod:`dronesim.inputs`, :mod:`dronesim.errors` and itself.

Submodules load on first use (``dronesim.siting.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["sites", "solvers", "coverage"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
