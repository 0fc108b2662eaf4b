"""What goes into a run: the scenario file and its schema, random streams, the London map
and the data sources read from it, demand generation, weather, daylight and airspace.
Imports nothing of dronesim but :mod:`dronesim.errors`, :mod:`dronesim.limits` and itself.

Submodules load on first use (``dronesim.inputs.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["scenario", "streams", "geography", "sources", "demand", "weather", "daylight",
           "airspace"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
