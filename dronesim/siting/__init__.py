"""Where the docks go: the dock network (:mod:`.sites`), the siting solvers (:mod:`.solvers`:
maximal coverage, p-median, set cover) and static coverage of a network (:mod:`.coverage`).
Imports only :mod:`dronesim.inputs`, :mod:`dronesim.errors` and itself.

Submodules load on first use (``dronesim.siting.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["sites", "solvers", "coverage"]

__getattr__ = submodules(__name__, __all__)
