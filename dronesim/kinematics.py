"""Drone kinematics and battery arithmetic: each formula once, as small pure functions.

A layer of its own just above :mod:`dronesim.inputs` (it reads
:class:`~dronesim.inputs.scenario.DroneSpec` values) and below :mod:`dronesim.siting` and
:mod:`dronesim.engine`, which both call it: the siting code for a dock's reach, the engine for
every flight time, charge need, on-scene budget and charging wait.

Units: seconds, metres, metres per second; a charge is counted in seconds of flight (a full
battery holds ``endurance_s``), a charging rate in seconds of flight gained per second at the
dock (``inf``: instant). Assumptions, as the engine models a flight: a leg is climb, straight
cruise at one speed, descent (launch overhead and the decision excluded); the flight home
takes as long as the flight out; the battery drains one second of charge per second airborne
(hovering on scene included); charging is linear.

Floating point: every function keeps the exact order of operations the engine has always
used (``a + b + c`` is ``(a + b) + c``, not ``a + (b + c)``), so results are bit for bit
those of the inline expressions it replaced. The functions take scalars or numpy arrays
alike (plain arithmetic broadcasts); the engine's hot loops bind them to a local name once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .inputs.scenario import DroneSpec

__all__ = ["leg_s", "charge_needed_s", "flight_time_s", "battery_needed_s", "spare_charge_s",
           "charge_wait_s", "charge_rate", "reach_radius_m", "arrival_at", "preempt_charge_s"]

#: A float or an array of floats (the functions broadcast).
F = TypeVar("F", float, np.ndarray)


def leg_s(distance_m: F, speed_m_s: float | np.ndarray, climb_s: float, descent_s: float) -> F:
    """Time (s) of one leg of ``distance_m`` (m): climb + cruise at ``speed_m_s`` (m/s) +
    descent. Launch overhead excluded; out and back take the same time."""
    return climb_s + distance_m / speed_m_s + descent_s  # type: ignore[return-value]


def charge_needed_s(distance_m: F, speed_m_s: float | np.ndarray, climb_s: float,
                    descent_s: float, min_on_scene_s: float, reserve_s: float) -> F:
    """Charge (s of flight) a dispatch over ``distance_m`` needs: the leg out, the leg back
    (as long), the minimum stay on scene and the reserve kept in hand on landing.

    It is ``2 * leg_s(...) + min_on_scene_s + reserve_s``, with :func:`leg_s` written out so
    that the engine's scans pay one call per candidate dock (the result is the same bit for
    bit: tests/test_kinematics.py)."""
    return (2 * (climb_s + distance_m / speed_m_s + descent_s)  # type: ignore[return-value]
            + min_on_scene_s + reserve_s)


def flight_time_s(distance_m: np.ndarray | float, spec: DroneSpec) -> np.ndarray | float:
    """Dock-to-scene flight time of the ``[drones]`` airframe (:func:`leg_s`)."""
    return leg_s(np.asarray(distance_m), spec.speed_m_s, spec.climb_s, spec.descent_s)


def battery_needed_s(distance_m: np.ndarray | float, spec: DroneSpec) -> np.ndarray | float:
    """Charge a dispatch of the ``[drones]`` airframe over ``distance_m`` must have
    (:func:`charge_needed_s`)."""
    return charge_needed_s(np.asarray(distance_m), spec.speed_m_s, spec.climb_s,
                           spec.descent_s, spec.min_on_scene_s, spec.reserve_s)


def spare_charge_s(battery_s: float, out_s: float, back_s: float, reserve_s: float) -> float:
    """Charge left for time on scene (may be negative): battery at launch less the flight
    out, the flight back and the reserve. The latest leave is the arrival plus
    ``max(0, spare)``."""
    return battery_s - out_s - back_s - reserve_s


def charge_wait_s(need_s: float, battery_s: float, rate: float) -> float:
    """Time (s) at the dock to charge from ``battery_s`` up to ``need_s`` at ``rate``."""
    return (need_s - battery_s) / rate


def charge_rate(endurance_s: float, recharge_full_s: float) -> float:
    """Charging rate (s of flight per s at the dock): a full charge in ``recharge_full_s``;
    ``inf`` (instant) when that is 0."""
    return endurance_s / recharge_full_s if recharge_full_s > 0 else math.inf


def reach_radius_m(spec: DroneSpec, within_s: float) -> float:
    """Distance (m) a drone covers from a dock within the call-to-scene budget ``within_s``:
    the budget less decision, launch overhead, climb and descent, at cruise speed, capped by
    ``max_range_m``."""
    fixed = spec.decision_s + spec.launch_overhead_s + spec.climb_s + spec.descent_s
    return float(min(spec.max_range_m, max(0.0, within_s - fixed) * spec.speed_m_s))


def arrival_at(t_ready: np.ndarray, delay_s: np.ndarray | float, overhead_s: float,
               climb_s: float, distance_m: np.ndarray, speed_m_s: np.ndarray | float,
               descent_s: float) -> np.ndarray:
    """Predicted on-scene time of a drone that could launch at ``t_ready``: plus the
    authorisation delay, launch overhead and the leg (summed left to right, as the snapshot
    always has: not ``t + (climb + cruise + descent)``)."""
    return np.asarray(t_ready + delay_s + overhead_s
                      + climb_s + distance_m / speed_m_s + descent_s)


def preempt_charge_s(hop_m: float, home_m: float, speed_m_s: float, spec: DroneSpec) -> float:
    """Charge a drone on scene needs to be redirected: the straight hop (already airborne, no
    climb or descent), the minimum stay, the leg home from the new scene and the reserve."""
    return (hop_m / speed_m_s + spec.min_on_scene_s
            + leg_s(home_m, speed_m_s, spec.climb_s, spec.descent_s) + spec.reserve_s)
