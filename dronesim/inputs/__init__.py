"""What goes into a run: the scenario file and its schema, random streams, the London map
and the data sources read from it, demand generation, weather, daylight and airspace.
Imports nothing of dronesim but :mod:`dronesim.errors`, :mod:`dronesim.limits` and itself.

Submodules load on first use (``dronesim.inputs.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["scenario", "streams", "geography", "sources", "demand", "weather", "daylight",
           "airspace"]

__getattr__ = submodules(__name__, __all__)
