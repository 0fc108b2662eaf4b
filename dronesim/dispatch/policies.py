"""Built-in dispatch policies.

Each policy is registered under a name that scenario files use in ``[dispatch] policy``; its
constructor's keyword arguments are the scenario's ``[dispatch.params]``. Constructors validate
their parameters and raise :class:`ValueError` (reported to the user as an input error naming the
scenario file). Policies only read the snapshot; ties are broken by the lowest drone id so that
every decision is deterministic.

========================  ==================================================================
``earliest_arrival``      earliest predicted arrival, charging and returning drones included
``nearest_idle``          the READY drone at the nearest dock (closest-idle rule)
``priority_reserve``      keep ``reserve`` idle drones for urgent incidents
``benefit_threshold``     send only if the drone beats the ground response by ``margin_s``
``coverage_preserving``   among near-earliest READY drones, the one whose absence costs least
                          expected coverage (MEXCLP, Daskin 1983)
``ground_only``           never send a drone (the no-drone baseline)
========================  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import (
    READY,
    RETURNING,
    Decision,
    Decline,
    Dispatch,
    DispatchPolicy,
    FleetSnapshot,
    IncidentView,
    PolicyContext,
    Queue,
)
from .registry import available_policies, make_policy, register_policy

__all__ = [
    "EarliestArrival",
    "NearestIdle",
    "PriorityReserve",
    "BenefitThreshold",
    "CoveragePreserving",
    "GroundOnly",
]


# --- helpers ---------------------------------------------------------------------------------
_QUEUE = Queue()  # decisions are frozen values: one instance serves every decision
_DISPATCH: dict[int, Dispatch] = {}  # likewise, one Dispatch per drone id


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, not nan")
    return value


def _earliest(arrival: np.ndarray, drone: np.ndarray, rows: np.ndarray | None = None
              ) -> int | None:
    """Row with the earliest finite arrival (ties: lowest drone id), optionally among ``rows``."""
    if rows is None:
        rows = np.arange(arrival.size)
    rows = rows[np.isfinite(arrival[rows])]
    if rows.size == 0:
        return None
    best = rows[arrival[rows] == arrival[rows].min()]
    return int(best[np.argmin(drone[best])])


# --- policies --------------------------------------------------------------------------------
@register_policy("earliest_arrival")
class EarliestArrival:
    """The drone predicted to reach the scene first.

    Counts drones charging at their dock and, if ``include_returning``, drones flying home (booked
    to launch again on landing). If no candidate exists the incident queues for the next free
    drone. With ``max_response_s`` set, a drone predicted to arrive later than that after the
    call is not sent (``Decline("too_slow")``). Ties go to the first candidate row (nearest dock,
    then lowest drone id).

    Source: the closest-idle rule, the benchmark of emergency-vehicle dispatch (e.g. Jagtenberg,
    Bhulai & van der Mei 2017, Health Care Management Science 20:517-531), taken by predicted
    arrival time and extended to drones that will soon be free (charging, or flying home and
    booked on landing); that extension is this model's assumption.
    """

    def __init__(self, include_returning: bool = True, max_response_s: float = math.inf) -> None:
        if not isinstance(include_returning, bool | np.bool_):
            raise ValueError(f"include_returning must be true or false, got {include_returning!r}")
        max_response_s = _real("max_response_s", max_response_s)
        if max_response_s <= 0:
            raise ValueError("max_response_s must be > 0")
        self.include_returning = bool(include_returning)
        self.max_response_s = max_response_s

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        arrival = fleet.arrival_at
        if not self.include_returning:
            arrival = np.where(fleet.status == RETURNING, np.inf, arrival)
        if arrival.size == 0 or not np.isfinite(arrival).any():
            return Queue()
        k = int(np.argmin(arrival))
        if arrival[k] - incident.t_call > self.max_response_s:
            return Decline("too_slow")
        return Dispatch(int(fleet.drone[k]))


@register_policy("nearest_idle")
class NearestIdle:
    """The READY drone at the nearest dock, by straight-line distance to the incident.

    Only drones at a dock with enough charge now (status READY) are considered; ties (drones at
    the same dock, or docks at equal distance) go to the lowest drone id. With no READY candidate
    the incident queues and is offered the next drone that becomes free.

    Source: the closest-idle rule, common dispatch practice and the benchmark of the dispatch
    literature (e.g. Jagtenberg, Bhulai & van der Mei 2017, Health Care Management Science
    20:517-531).
    """

    #: Queues whenever no candidate is READY: the model need not ask again while no drone is
    #: idle (see :class:`~dronesim.dispatch.DispatchPolicy`).
    ready_only = True
    #: decide is exactly "nearest_ready, else Queue": the model runs the rule itself, without a
    #: snapshot (see :func:`~dronesim.dispatch.base.picks_nearest_ready`).
    nearest_ready_only = True

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        # The snapshot answers this without building its arrays (FleetSnapshot.nearest_ready).
        d = fleet.nearest_ready()
        if d is None:
            return _QUEUE
        return _DISPATCH.get(d) or _DISPATCH.setdefault(d, Dispatch(d))


@register_policy("priority_reserve")
class PriorityReserve:
    """Hold back ``reserve`` idle drones for urgent incidents.

    An incident with ``priority <= reserve_priority`` (1 = most urgent) follows the ``base``
    policy. A less urgent incident gets a drone (chosen by ``base``) only while more than
    ``reserve`` drones are idle at docks fleet-wide (``FleetSnapshot.fleet_ready``, charged or
    not); otherwise ``Decline("reserved")``. ``base`` names any registered policy;
    ``base_params`` are its parameters.

    Source: a reservation (cutoff) rule for priority classes, as in trunk-reservation control of
    loss systems; in emergency dispatch, priority-aware rules that keep units free for urgent
    calls (e.g. Bandara, Mayorga & McLay 2014, Journal of the Operational Research Society
    65:572-587, who find that dispatching by call priority raises patient survival).
    """

    def __init__(self, reserve: int = 1, reserve_priority: int = 1,
                 base: str = "earliest_arrival",
                 base_params: Mapping[str, Any] | None = None) -> None:
        self.reserve = _whole("reserve", reserve, 0)
        self.reserve_priority = _whole("reserve_priority", reserve_priority, 1)
        if not isinstance(base, str):
            raise ValueError(f"base must be a policy name, got {base!r}")
        if base == "priority_reserve":
            raise ValueError("base cannot be priority_reserve itself")
        if base not in available_policies():
            raise ValueError(f"unknown base policy {base!r} "
                             f"(known: {', '.join(available_policies())})")
        if base_params is not None and not isinstance(base_params, Mapping):
            raise ValueError(f"base_params must be a table, got {base_params!r}")
        try:
            self.base: DispatchPolicy = make_policy(base, base_params, "<priority_reserve.base>")
        except ValueError as exc:  # InputError from the base's own checks
            raise ValueError(f"base policy {base!r}: {exc}") from None
        bind = getattr(self.base, "bind", None)  # optional in the protocol
        if callable(bind):
            self.bind = bind  # only when the base needs the context

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        if incident.priority > self.reserve_priority and fleet.fleet_ready <= self.reserve:
            return Decline("reserved")
        return self.base.decide(incident, fleet, now)


@register_policy("benefit_threshold")
class BenefitThreshold:
    """Send the earliest-arriving drone only if it beats the ground response by ``margin_s``.

    The drone is the one :class:`EarliestArrival` would pick (charging and returning drones
    included). It is sent if ``incident.ground_estimate - arrival >= margin_s``, or when the
    ground arrival cannot be predicted (``ground_estimate`` is NaN: no unit free yet, so a drone
    is assumed useful); otherwise ``Decline("no_benefit")``. With no candidate the incident
    queues, and the test is made again when a drone becomes free.

    Source: the "drone first" condition of MODEL.md (a drone is of use when it is on scene before
    the first ground unit); drone networks are sized by the time a drone gains over the ground
    response in e.g. Boutilier et al. 2017, Circulation, "Optimizing a drone network to deliver
    automated external defibrillators" (1-3 minutes ahead of the median 911 response).
    """

    def __init__(self, margin_s: float = 60.0) -> None:
        self.margin_s = _real("margin_s", margin_s)
        self._earliest = EarliestArrival()

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        decision = self._earliest.decide(incident, fleet, now)
        if not isinstance(decision, Dispatch):
            return decision
        g = incident.ground_estimate
        if math.isnan(g):
            return decision
        k = int(np.flatnonzero(fleet.drone == decision.drone)[0])
        if g - float(fleet.arrival_at[k]) >= self.margin_s:
            return decision
        return Decline("no_benefit")


@register_policy("coverage_preserving")
class CoveragePreserving:
    """Among near-earliest READY drones, send the one whose absence loses least coverage.

    Candidates are READY drones predicted to arrive within ``slack_s`` of the earliest READY
    arrival. With ``n_j`` idle drones covering demand point ``j`` (``cover.T @ dock_idle``) and
    each idle drone busy with probability ``q = busy_fraction``, the expected covered demand is
    ``sum_j w_j (1 - q**n_j)``; taking one drone from dock ``k`` loses
    ``sum_{j covered by k} w_j (1 - q) q**(n_j - 1)``. The drone at the dock with the smallest
    loss goes (ties: earliest arrival, then lowest drone id). With no READY candidate it falls
    back to the earliest arrival among all candidates (or queues). Until ``bind`` has given it a
    :class:`PolicyContext` it behaves like ``earliest_arrival``.

    Source: the maximum expected covering location problem (MEXCLP; Daskin 1983, Transportation
    Science 17:48-70) and its use as a dispatch rule (Jagtenberg, Bhulai & van der Mei 2017,
    Health Care Management Science 20:517-531; benchmarked as "DMEXCLP" in Jagtenberg, van den
    Berg & van der Mei 2017, European Journal of Operational Research 258:715-725).
    """

    def __init__(self, busy_fraction: float = 0.05, slack_s: float = 30.0) -> None:
        q = _real("busy_fraction", busy_fraction)
        if not 0.0 <= q < 1.0:
            raise ValueError(f"busy_fraction must be within [0, 1), got {q:g}")
        slack = _real("slack_s", slack_s)
        if not 0.0 <= slack < math.inf:
            raise ValueError(f"slack_s must be >= 0 and finite, got {slack:g}")
        self.busy_fraction = q
        self.slack_s = slack
        self.context: PolicyContext | None = None
        self._fallback = EarliestArrival()

    def bind(self, context: PolicyContext) -> None:
        """Keep the scenario's coverage matrix and demand weights."""
        from scipy import sparse

        cover = sparse.csr_matrix(context.cover)
        w = np.asarray(context.demand_w, float)
        if cover.shape[1] != w.size:
            raise ValueError(f"cover has {cover.shape[1]} demand points, demand_w {w.size}")
        self.context = context
        self._cover = cover
        self._cover_t = cover.T.tocsr()
        self._w = w

    def loss(self, dock_idle: np.ndarray) -> np.ndarray:
        """Expected coverage lost by taking one idle drone from each dock (one value per dock)."""
        idle = np.asarray(dock_idle, np.int64)
        if idle.size != self._cover.shape[0]:
            raise ValueError(f"dock_idle has {idle.size} docks, the coverage matrix "
                             f"{self._cover.shape[0]}")
        n = np.asarray(self._cover_t @ idle).ravel()
        q = self.busy_fraction
        # q**(n-1) with q = 0 is 1 for n = 1 (the only drone) and 0 otherwise.
        marginal = np.where(n >= 1, self._w * (1.0 - q) * np.power(q, np.maximum(n - 1, 0)), 0.0)
        return np.asarray(self._cover @ marginal).ravel()

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        if self.context is None:
            return self._fallback.decide(incident, fleet, now)
        ready = np.flatnonzero(fleet.status == READY)
        first = _earliest(fleet.arrival_at, fleet.drone, ready)
        if first is None:
            k = _earliest(fleet.arrival_at, fleet.drone)
            return Queue() if k is None else Dispatch(int(fleet.drone[k]))
        near = ready[fleet.arrival_at[ready] <= fleet.arrival_at[first] + self.slack_s]
        lost = self.loss(fleet.dock_idle)[fleet.dock[near]]
        best = near[lost <= lost.min()]
        k = _earliest(fleet.arrival_at, fleet.drone, best)
        return Dispatch(int(fleet.drone[k]))


@register_policy("ground_only")
class GroundOnly:
    """Never send a drone: ``Decline("ground_only")`` for every incident.

    Source: the counterfactual of MODEL.md (response officers alone), against which time saved
    and "drone first" are measured.
    """

    def decide(self, incident: IncidentView, fleet: FleetSnapshot, now: float) -> Decision:
        return Decline("ground_only")
