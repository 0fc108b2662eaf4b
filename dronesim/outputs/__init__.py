"""Writing and reading results: tables, plots and figures, the run/sweep/compare report
(:mod:`.report`), the HTML report (:mod:`.html`), the GeoPackage export
(:mod:`.geopackage`) and reading a results folder (:mod:`.results`). Does not import
the cli.

Submodules load on first use (``dronesim.outputs.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["tables", "plots", "figures", "report", "html", "geopackage", "results"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
