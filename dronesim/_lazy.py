"""Sub-packages whose submodules load on first use (PEP 562 module ``__getattr__``).

Each sub-package's ``__init__`` names its submodules in ``__all__`` and sets
``__getattr__ = submodules(__name__, __all__)``: ``dronesim.engine.fleet`` then imports the
fleet module when first read, so importing a sub-package imports nothing heavy.

:func:`module` does the same for a third-party library a module uses only on some paths
(``stats = module("scipy.stats")`` at module level): the library is imported when one of its
attributes is first read, so a command that never takes that path never pays for the import
(scipy.stats alone costs about 0.8 s; ``tests/test_layering.py`` checks what ``dronesim run``
imports).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

__all__ = ["submodules", "module"]


def submodules(package: str, names: Iterable[str]) -> Callable[[str], ModuleType]:
    """A module ``__getattr__`` for ``package`` that imports each of ``names`` on first use."""
    known = frozenset(names)

    def __getattr__(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


class _Module:
    """A stand-in for a module, imported on first attribute access (then cached here)."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        mod = self._module
        if mod is None:
            mod = self._module = importlib.import_module(self._name)
        return getattr(mod, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not yet imported"
        return f"<lazy module {self._name!r} ({state})>"


def module(name: str) -> Any:
    """Module ``name``, imported when one of its attributes is first read."""
    return _Module(name)
