"""The model's simulation kernel: SimPy's environment with a callback scheduler and the
pre-sorted timeline walk (moved out of :mod:`dronesim.engine.replication`, which every engine
module needed it from)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

import simpy

__all__ = ["Kernel"]


class _Event:
    """The smallest object SimPy's kernel can process: its callbacks, and an argument."""

    __slots__ = ("callbacks", "arg")
    callbacks: Sequence[Callable[[Any], None]]  # (shared by hot paths: only read)
    arg: Any
    _ok = True  # the model's events never fail (a class value: one store less per event)


class Kernel(simpy.Environment):
    """SimPy's environment with two additions for an event-economical model.

    * :meth:`at` schedules a plain callback at an absolute time (one small object, no
      ``Process`` and no ``Timeout`` wrapper). Hot paths that schedule many events of one kind
      push ``(t, NORMAL, next(_eid), event)`` themselves with a :attr:`Call` whose
      ``callbacks`` list they share (the kernel only reads it).
    * :meth:`walk` runs a pre-sorted timeline of moments known in advance (incident arrivals)
      against the kernel's own queue: before each moment, every kernel event due at or before
      it is processed, then the clock is set to it and its handler called. The known moments
      never enter the kernel's heap (../shared/design/PERFORMANCE.md, technique 3).

    The model's hot paths read the clock as ``_now`` (what SimPy's ``now`` property returns).
    """

    #: The event type :meth:`at` schedules (for hot paths that push events themselves).
    Call = _Event

    def at(self, t: float, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``callback(event)`` at time ``t`` (``event.arg`` is ``arg``)."""
        ev = _Event()
        ev.callbacks = [callback]
        ev.arg = arg
        # 1: SimPy's NORMAL priority. (SimPy types its queue for its own Event; the kernel
        # only reads ``callbacks`` and ``_ok``, which this stand-in has.)
        heapq.heappush(self._queue, (t, 1, next(self._eid), ev))  # type: ignore[misc]

    def walk(self, times: list[float], kinds: list[int], keys: list[int],
             handlers: Sequence[Callable[[int], None]]) -> None:
        """For each moment in time order: process due kernel events, then
        ``handlers[kind](key)`` at that time."""
        queue = self._queue
        pop = heapq.heappop
        for t, kind, key in zip(times, kinds, keys):
            while queue and queue[0][0] <= t:
                # SimPy's Environment.step, inline (the model's events never fail).
                self._now, _, _, event = pop(queue)
                # (SimPy's Event.callbacks is not Optional, yet None marks a processed event:
                # its own Environment.step ignores the same assignment.)
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                for callback in callbacks:
                    callback(event)
                if not event._ok:
                    raise event._value
            self._now = t
            handlers[kind](key)
