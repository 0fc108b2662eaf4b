"""Dispatch policies: the protocol, the decisions, the built-ins and the name registry."""

from .base import (
    CHARGING,
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
from .policies import (
    BenefitThreshold,
    CoveragePreserving,
    EarliestArrival,
    GroundOnly,
    NearestIdle,
    PriorityReserve,
)
from .registry import available_policies, make_policy, register_policy

__all__ = [
    "CHARGING", "READY", "RETURNING", "Decision", "Decline", "Dispatch", "DispatchPolicy",
    "FleetSnapshot", "IncidentView", "PolicyContext", "Queue",
    "BenefitThreshold", "CoveragePreserving", "EarliestArrival", "GroundOnly", "NearestIdle",
    "PriorityReserve",
    "available_policies", "make_policy", "register_policy",
]
