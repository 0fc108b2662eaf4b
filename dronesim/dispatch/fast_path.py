"""The closest-idle fast path: a named strategy beside its policy (:class:`NearestIdle`).

A policy whose ``decide`` is the closest-idle rule (``nearest_ready_only``, see
:func:`~dronesim.dispatch.base.picks_nearest_ready`) is decided inside the engine, without a
snapshot, incident view or decision object: by the flat candidate lists of the nearest docks
(``Fleet.decide_first``), by the one closest-idle scan (``Fleet.nearest_ready``) otherwise,
and with the common mission start inline (``Fleet.send``). :meth:`FastPath.applies` is THE
predicate that says when: it owns every condition, and it is an allow-list, so a feature it
does not know (a new field of :class:`dronesim.engine.features.Features`) turns the fast path
off until a test proves the two paths equal under it (tests/test_fast_path.py).

A user policy's promise is checked, not trusted, when ``DRONESIM_CHECK_FAST_PATH=1`` (or the
engine is asked to check): the engine then also asks the policy itself (its ``decide`` with a
snapshot) at every fast decision and raises :class:`FastPathMismatch` at the first
disagreement.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from .base import Decision, Dispatch, Queue, picks_nearest_ready

__all__ = ["FastPath", "FastPathMismatch", "check_requested", "CHECK_ENV"]

#: The environment switch that checks a policy's fast-path promise at every decision.
CHECK_ENV = "DRONESIM_CHECK_FAST_PATH"


class _Features(Protocol):
    @property
    def on(self) -> frozenset[str]: ...


class FastPathMismatch(RuntimeError):
    """A policy that claims the closest-idle rule (``nearest_ready_only``) decided otherwise."""


def check_requested() -> bool:
    """True when ``DRONESIM_CHECK_FAST_PATH`` is set to 1 (or true/yes)."""
    return os.environ.get(CHECK_ENV, "").strip().lower() in ("1", "true", "yes")


class FastPath:
    """The closest-idle fast path (see the module docstring)."""

    name = "closest_idle"

    #: Features under which the fast path is proven equal to the policy seam, bit for bit
    #: (each by a case of tests/test_fast_path.py). Any other feature turns it off.
    ALLOWED: frozenset[str] = frozenset({
        "airspace_management", "preemption", "dedicated_airframes", "refuse_outside",
        "queue_limit", "pilot_shifts", "exponential_loiter", "ground_response",
        "drone_resolution", "mutual_aid", "conveyance",
    })
    #: Features that stop only the flat candidate lists (which need rows in distance order),
    #: not the decision without a snapshot nor the mission's inline start.
    ROW_ORDER: frozenset[str] = frozenset({"authorised_legs"})

    @staticmethod
    def promised(policy: Any) -> bool:
        """The policy promises the closest-idle rule (``nearest_ready_only``)."""
        return picks_nearest_ready(policy)

    @classmethod
    def applies(cls, features: _Features, policy: Any) -> bool:
        """THE predicate: the flat fast path (decisions from the nearest docks' flat lists)
        is taken for ``policy`` under ``features``."""
        return cls.promised(policy) and features.on <= cls.ALLOWED

    @classmethod
    def starts_inline(cls, features: _Features) -> bool:
        """A closest-idle mission may start inline (``Fleet.send``'s common case): the
        allowed features, and rows in any order."""
        return features.on <= cls.ALLOWED | cls.ROW_ORDER

    @staticmethod
    def agrees(decision: Decision, nearest: int | None) -> bool:
        """The policy's ``decision`` is the closest-idle rule's (``nearest``: the nearest READY
        drone, None if there is none)."""
        if nearest is None:
            return type(decision) is Queue or isinstance(decision, Queue)
        return isinstance(decision, Dispatch) and int(decision.drone) == nearest

    @staticmethod
    def mismatch(policy: Any, incident: int, now: float, decision: Any,
                 nearest: int | None) -> FastPathMismatch:
        rule = "Queue()" if nearest is None else f"Dispatch(drone={nearest})"
        return FastPathMismatch(
            f"policy {type(policy).__name__} declares nearest_ready_only = True (the "
            f"closest-idle rule) but for incident {incident} at t={now:g} s it decided "
            f"{decision!r} where the rule gives {rule}; remove nearest_ready_only from the "
            f"class or make decide the rule ({CHECK_ENV}=1 checked this)")
