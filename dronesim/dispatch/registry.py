"""Policies by name. Scenario files name a registered policy; they never import code.

Add your own::

    from dronesim.dispatch import register_policy, Dispatch, Decline

    @register_policy("my_policy")
    class MyPolicy:
        def __init__(self, margin_s: float = 0.0): ...
        def decide(self, incident, fleet, now): ...

Parameters come from the scenario's ``[dispatch.params]`` table as keyword arguments. Each
``decide`` of a policy that is not built in must return within ``--policy-timeout`` seconds
(default 10; :mod:`dronesim.dispatch.watchdog`), or the run stops with one line naming the
policy and the incident.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InputError
from .base import DispatchPolicy

__all__ = ["register_policy", "make_policy", "available_policies"]

_REGISTRY: dict[str, type] = {}


def register_policy(name: str) -> Callable[[type], type]:
    """Class decorator: make a policy available to scenario files under ``name``."""

    def deco(cls: type) -> type:
        if not callable(getattr(cls, "decide", None)):
            raise TypeError(f"policy {cls.__name__} has no decide(incident, fleet, now) method")
        _REGISTRY[name] = cls
        return cls

    return deco


def available_policies() -> list[str]:
    return sorted(_REGISTRY)


def make_policy(name: str, params: Mapping[str, Any] | None = None, source: str = "<memory>"
                ) -> DispatchPolicy:
    """Instantiate a registered policy, with parameter errors reported as input errors."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise InputError(source, "dispatch.policy",
                         f"unknown policy {name!r} (known: {', '.join(available_policies())})")
    params = dict(params or {})
    sig = inspect.signature(cls)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    for key in params:
        if key not in sig.parameters and not accepts_any:
            known = ", ".join(p for p in sig.parameters if p != "self") or "none"
            raise InputError(source, f"dispatch.params.{key}",
                             f"unknown parameter for policy {name!r} (known: {known})")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise InputError(source, "dispatch.params", f"{name}: {exc}") from None
