"""Sub-packages whose submodules load on first use (PEP 562 module ``__getattr__``).

Each sub-package's ``__init__`` names its submodules in ``__all__`` and sets
``__getattr__ = submodules(__name__, __all__)``: ``dronesim.engine.fleet`` then imports the
fleet module when first read, so importing a sub-package imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType

__all__ = ["submodules"]


def submodules(package: str, names: Iterable[str]) -> Callable[[str], ModuleType]:
    """A module ``__getattr__`` for ``package`` that imports each of ``names`` on first use."""
    known = frozenset(names)

    def __getattr__(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
