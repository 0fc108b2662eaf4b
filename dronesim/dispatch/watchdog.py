"""A time limit on each decision of a user's dispatch policy.

A policy from ``--plugin`` that never returns (an endless loop, a wait on something that never
comes) would hang the run. While a task runs (:func:`decision_time_limit`, entered by
:func:`dronesim.experiment.runner.execute_task`), each call of such a policy's ``decide`` is
timed with ``SIGALRM`` (:func:`signal.setitimer`), armed just before the call and disarmed just
after: when a decision takes longer than the limit, the signal handler raises in the policy's
own code, and the call ends with :class:`PolicyTimeout` naming the policy, the incident and
the simulated time.

* Only user code is timed (:func:`runs_user_code`): the built-in policies are left untouched, so
  they pay nothing per decision. A user policy pays two ``setitimer`` calls per decision.
* The timer changes no result: it never fires before the limit, and the simulation reads no
  clock.
* Signals reach the main thread only: the limit applies where tasks run in a process's main
  thread (the command line's own process with one worker, and every worker of a process pool).
  Elsewhere (a Dask worker's thread, the Python API called from a thread), or when the program
  already uses ``SIGALRM`` or a real-time interval timer, there is no limit.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["PolicyTimeout", "DEFAULT_TIMEOUT_S", "decision_time_limit", "active_limit",
           "runs_user_code", "DecisionLimit"]

#: Seconds a user policy may take to decide one incident (``--policy-timeout``).
DEFAULT_TIMEOUT_S = 10.0


class PolicyTimeout(RuntimeError):
    """A user policy took longer than the limit to decide one incident."""


class _Expired(BaseException):
    """Raised by the alarm inside the policy (a BaseException: ``except Exception`` in the
    policy does not swallow it)."""


class DecisionLimit:
    """The limit of one task: wraps a policy's ``decide`` (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.deciding = False
        self.expired = False

    def _alarm(self, _signum: int, _frame: Any) -> None:
        if self.deciding:  # (an alarm just after the decision ended is ignored)
            self.expired = True
            raise _Expired

    def wrap(self, decide: Callable, name: str) -> Callable:
        """``decide`` timed: a call longer than the limit raises :class:`PolicyTimeout`."""
        seconds = self.seconds
        setitimer, real = signal.setitimer, signal.ITIMER_REAL

        def timed(incident: Any, fleet: Any, now: float) -> Any:
            self.deciding, self.expired = True, False
            try:
                # Fires again every `seconds` should the policy swallow the first alarm.
                setitimer(real, seconds, seconds)
                decision = decide(incident, fleet, now)
            except BaseException:
                if not self.expired:
                    raise
            finally:
                self.deciding = False
                setitimer(real, 0)
            if self.expired:
                raise PolicyTimeout(
                    f"policy {name!r} took longer than {seconds:g} s to decide incident "
                    f"{incident.index} (t={now:.1f} s); raise --policy-timeout (0: no limit) "
                    "or fix the policy") from None
            return decision

        return timed


_ACTIVE: DecisionLimit | None = None


def active_limit() -> DecisionLimit | None:
    """The limit of the task running in this thread, if any."""
    return _ACTIVE if threading.current_thread() is threading.main_thread() else None


@contextlib.contextmanager
def decision_time_limit(seconds: float | None) -> Iterator[DecisionLimit | None]:
    """Time each decision of a user policy made inside the block (``None``, 0 or infinity: no
    limit). The previous ``SIGALRM`` handler is restored on leaving."""
    global _ACTIVE
    usable = (seconds is not None and 0 < seconds < math.inf and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread() and _ACTIVE is None
              and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN)
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield None
        return
    limit = DecisionLimit(seconds)  # type: ignore[arg-type]
    previous = signal.signal(signal.SIGALRM, limit._alarm)
    _ACTIVE = limit
    try:
        yield limit
    finally:
        _ACTIVE = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def runs_user_code(policy: Any) -> bool:
    """True if deciding may run code that is not dronesim's: a policy defined outside
    dronesim (a plugin's, or a subclass of a built-in), one whose ``decide`` was replaced, or a
    built-in that wraps such a policy (``priority_reserve`` with a plugin's base)."""
    if not type(policy).__module__.startswith("dronesim."):
        return True
    attrs = getattr(policy, "__dict__", {})
    if "decide" in attrs:
        return True
    return any(runs_user_code(v) for v in attrs.values()
               if not isinstance(v, type) and callable(getattr(v, "decide", None)))
