"""The discrete-event engine of one replication: the kernel (:mod:`.kernel`), the prepared
scenario (:mod:`.prepared`), fleet, ground forces, infrastructure, relief, availability,
the drone dispatcher, the records and their sinks, running aggregates, and the assembly
(:mod:`.replication`: :func:`~.replication.prepare`, :func:`~.replication.run_replication`).
Imports nothing from experiment, outputs or cli.

Submodules load on first use (``dronesim.engine.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["kernel", "prepared", "fleet", "ground", "infrastructure", "relief", "availability",
           "records", "sinks", "aggregates", "dispatcher", "replication"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
