"""The discrete-event engine of one replication: the kernel (:mod:`.kernel`), the prepared
scenario (:mod:`.prepared`), fleet, ground forces, infrastructure, relief, availability,
the drone dispatcher, the records and their sinks, running aggregates, and the assembly
(:mod:`.replication`: :func:`~.replication.prepare`, :func:`~.replication.run_replication`).
Imports nothing from experiment, outputs or cli.

Submodules load on first use (``dronesim.engine.<submodule>``), so importing this package
imports nothing heavy.
"""

from __future__ import annotations

from .._lazy import submodules

__all__ = ["kernel", "prepared", "features", "fleet", "ground", "infrastructure", "relief",
           "availability", "records", "sinks", "aggregates", "dispatcher", "replication"]

__getattr__ = submodules(__name__, __all__)
