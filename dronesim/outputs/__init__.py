"""Writing and reading results: tables, plots and figures, the run/sweep/compare report
(:mod:`.report`), the HTML report (:mod:`.html`), the GeoPackage export
(:mod:`.geopackage`) and reading a results folder (:mod:`.results`). Does not import
the cli.

Submodules load on first use (``dronesim.outputs.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["tables", "plots", "figures", "report", "html", "geopackage", "results"]

__getattr__ = submodules(__name__, __all__)
