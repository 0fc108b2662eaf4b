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
(hovering on scene included); charging is linear. Options, each off by default (docs/wind.md):
wind acting on flight (``[weather] wind_on_flight``: :func:`wind_leg_s`, out and back then
differ; with ``wind_hold = "ground_speed"``, :func:`held_leg_s`: the ground speed held and the
charge drained by rotor power), a constant-current / constant-voltage charging curve
(:func:`cccv_charge_s`) and battery swaps (dronesim.engine.fleet.CurvedFleet).

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
           "charge_wait_s", "charge_rate", "reach_radius_m", "arrival_at", "preempt_charge_s",
           "preempt_legs_charge_s",
           "ground_speed_m_s", "wind_leg_s", "worst_heading_speed_m_s",
           "rotor_power_w", "leg_charge_s", "held_leg_s", "cccv_charge_s", "cccv_wait_s"]

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
    return preempt_legs_charge_s(hop_m / speed_m_s,
                                 leg_s(home_m, speed_m_s, spec.climb_s, spec.descent_s), spec)


def preempt_legs_charge_s(hop_s: float, home_s: float, spec: DroneSpec) -> float:
    """:func:`preempt_charge_s` from the two legs' times: the hop, the minimum stay, the leg
    home and the reserve (summed in that order)."""
    return hop_s + spec.min_on_scene_s + home_s + spec.reserve_s


# --- wind acting on flight ([weather] wind_on_flight) ------------------------------------------
# Off by default: the functions above are then the whole model. With the feature on, every leg
# the engine times goes through wind_leg_s (the hourly wind vector:
# dronesim.inputs.weather.flight_wind), and a dispatch's charge is judged at
# worst_heading_speed_m_s (dronesim.engine.availability.Grounding, dronesim.engine.fleet).


def ground_speed_m_s(airspeed_m_s: float, ux: float, uy: float, wind_e: float,
                     wind_n: float) -> float:
    """Ground speed (m/s) along the unit track ``(ux, uy)`` (east, north) of a drone holding
    ``airspeed_m_s`` with its heading corrected to stay on the track, in the wind
    ``(wind_e, wind_n)``: the wind triangle, ``sqrt(v_a^2 - w_cross^2) + w_along``.

    0 when the leg cannot be flown: the cross wind is at least the airspeed, or a head wind
    at least the airspeed leaves no progress (standard navigation; e.g. Dorling et al. 2017
    and the vehicle-routing literature with wind use the same triangle)."""
    along = wind_e * ux + wind_n * uy
    cross = wind_n * ux - wind_e * uy
    c2 = cross * cross
    v2 = airspeed_m_s * airspeed_m_s
    if c2 >= v2:
        return 0.0
    g = math.sqrt(v2 - c2) + along
    return g if g > 0.0 else 0.0


def wind_leg_s(distance_m: float, airspeed_m_s: float, ux: float, uy: float, wind_e: float,
               wind_n: float, climb_s: float, descent_s: float) -> float:
    """Time (s) of one leg in wind: climb + ``distance_m`` at the ground speed of
    :func:`ground_speed_m_s` along the unit track ``(ux, uy)`` + descent; ``inf`` when the
    leg cannot be flown. Climb and descent keep their calm times (vertical flight). A leg of
    no length is climb + descent. In calm air it is :func:`leg_s` bit for bit."""
    if distance_m == 0.0:
        return climb_s + 0.0 + descent_s
    if wind_e == 0.0 and wind_n == 0.0:
        return climb_s + distance_m / airspeed_m_s + descent_s
    g = ground_speed_m_s(airspeed_m_s, ux, uy, wind_e, wind_n)
    if g <= 0.0:
        return math.inf
    return climb_s + distance_m / g + descent_s


def worst_heading_speed_m_s(airspeed_m_s: float, wind_m_s: float) -> float:
    """The speed at which a calm round trip takes as long as the longest round trip in a wind
    of ``wind_m_s``, over every heading: the wind along the track, out and back
    ``d/(v-w) + d/(v+w) = 2 d v / (v^2 - w^2)`` (a cross wind gives ``2 d / sqrt(v^2 - w^2)``,
    shorter by the factor ``sqrt(v^2 - w^2) / v``), so ``(v^2 - w^2) / v``. A dispatch's charge
    judged at this speed (:func:`charge_needed_s`) covers the round trip whatever the scene's
    bearing. A tiny positive speed (no dispatch has the charge) when ``w >= v``."""
    v = airspeed_m_s
    eff = (v * v - wind_m_s * wind_m_s) / v
    return eff if eff > 1e-9 else 1e-9


#: Parameters of the rotary-wing propulsion power model of Zeng, Xu and Zhang (2019), "Energy
#: minimization for wireless communication with rotary-wing UAV", IEEE Trans. Wireless Commun.
#: 18(4): 2329-2345, eq. (12) and Table I: blade profile power P0 (W), induced power in hover
#: Pi (W), rotor tip speed U_tip (m/s), mean induced velocity in hover v0 (m/s), fuselage drag
#: ratio d0, air density rho (kg/m3), rotor solidity s, rotor disc area A (m2). The model is
#: the standard helicopter-theory form (blade profile, induced and parasite power) also used
#: for multirotors (Liu et al. 2017, "A power consumption model for multi-rotor small UAVs",
#: IEEE Robot. Autom. Lett. 2(1)); only its SHAPE is used here (powers are normalised).
ROTOR_POWER = {"P0": 79.8563, "Pi": 88.6279, "U_tip": 120.0, "v0": 4.03, "d0": 0.6,
               "rho": 1.225, "s": 0.05, "A": 0.503}


def rotor_power_w(airspeed_m_s: F) -> F:
    """Propulsion power (W) of level flight at ``airspeed_m_s`` (Zeng, Xu and Zhang 2019,
    eq. 12, :data:`ROTOR_POWER`): ``P0 (1 + 3 V^2 / U_tip^2) + Pi (sqrt(1 + V^4 / (4 v0^4)) -
    V^2 / (2 v0^2))^(1/2) + d0 rho s A V^3 / 2``. Power depends on the AIRSPEED: in wind a
    drone holding its airspeed draws the same power; what a head wind costs is time."""
    p = ROTOR_POWER
    v2 = np.asarray(airspeed_m_s, float) ** 2
    out = (p["P0"] * (1.0 + 3.0 * v2 / p["U_tip"] ** 2)
           + p["Pi"] * np.sqrt(np.sqrt(1.0 + v2 * v2 / (4.0 * p["v0"] ** 4))
                               - v2 / (2.0 * p["v0"] ** 2))
           + 0.5 * p["d0"] * p["rho"] * p["s"] * p["A"] * v2 * np.sqrt(v2))
    return out if out.ndim else float(out)  # type: ignore[return-value]


def leg_charge_s(leg_time_s: float, airspeed_m_s: float, cruise_m_s: float) -> float:
    """Charge (s of flight) a leg of ``leg_time_s`` flown at ``airspeed_m_s`` drains: the
    time x ``P(airspeed) / P(cruise)`` (:func:`rotor_power_w`), so a calm cruise drains one
    second per second (the model's battery unit). At the cruise airspeed, in any wind, it is
    the leg's time: a head wind costs charge through the longer leg (energy per metre
    ``P / v_ground``), a tail wind saves it."""
    if airspeed_m_s == cruise_m_s:
        return leg_time_s
    return leg_time_s * float(rotor_power_w(airspeed_m_s) / rotor_power_w(cruise_m_s))


def held_leg_s(distance_m: float, cruise_m_s: float, max_airspeed_m_s: float, ux: float,
               uy: float, wind_e: float, wind_n: float, climb_s: float,
               descent_s: float) -> tuple[float, float]:
    """``(time, charge)`` (s; s of flight at cruise power) of one leg flown holding the cruise
    GROUND speed along the unit track ``(ux, uy)`` in the wind ``(wind_e, wind_n)``
    (``[weather] wind_hold = "ground_speed"``). The air vector is the ground vector less the
    wind, so the airspeed needed is ``|cruise u - w|``; up to ``max_airspeed_m_s`` the leg is
    flown at that airspeed and the cruise ground speed, beyond it at ``max_airspeed_m_s`` with
    the ground speed of the wind triangle (:func:`ground_speed_m_s`; ``inf``: it cannot be
    flown). The cruise part drains :func:`leg_charge_s` at the airspeed flown, so a head wind
    costs charge per SECOND (the rotor power at the higher airspeed) rather than time; climb
    and descent keep their calm times and drain one second per second. ``max_airspeed_m_s``
    below the cruise speed is taken as the cruise speed."""
    if distance_m == 0.0:
        return climb_s + 0.0 + descent_s, climb_s + 0.0 + descent_s
    vmax = max_airspeed_m_s if max_airspeed_m_s > cruise_m_s else cruise_m_s
    air = math.hypot(cruise_m_s * ux - wind_e, cruise_m_s * uy - wind_n)
    if air <= vmax:
        cruise_s = distance_m / cruise_m_s
    else:
        g = ground_speed_m_s(vmax, ux, uy, wind_e, wind_n)
        if g <= 0.0:
            return math.inf, math.inf
        air, cruise_s = vmax, distance_m / g
    return (climb_s + cruise_s + descent_s,
            climb_s + leg_charge_s(cruise_s, air, cruise_m_s) + descent_s)


# --- charging curve ([drones] charging = "cccv") -----------------------------------------------


def cccv_charge_s(battery_s: float, dt_s: float, endurance_s: float, rate: float,
                  knee: float = 0.8, cutoff: float = 0.05) -> float:
    """Charge (s of flight) after ``dt_s`` at the dock from ``battery_s``, on a constant-
    current / constant-voltage curve: linear at ``rate`` up to ``knee x endurance_s`` (the CC
    stage), then the current decays exponentially (the CV stage) until it falls to ``cutoff``
    x the CC current, when the charger stops and the battery is full. The CV stage's charge is
    ``full - gap (exp(-t / tau) - cutoff) / (1 - cutoff)`` with ``gap = (1 - knee) x
    endurance`` and ``tau = gap / (rate (1 - cutoff))`` (the slope continuous at the knee), so
    it lasts ``tau ln(1 / cutoff)``. Sources for the shape: Battery University BU-409
    "Charging Lithium-ion" (CC to about 70-80% of capacity, then CV with the current falling
    until a cut-off of 3-5% of the rated current ends the charge). ``knee = 1`` is the
    linear charge."""
    full = endurance_s
    k = knee * full
    if rate == math.inf:
        return full
    if battery_s < k:
        t_k = (k - battery_s) / rate
        if dt_s <= t_k:
            return battery_s + dt_s * rate
        battery_s, dt_s = k, dt_s - t_k
    if battery_s >= full:
        return full
    gap = full - k
    tau = gap / (rate * (1.0 - cutoff))
    # Time already spent in CV to be at battery_s, then on from there.
    x = (full - battery_s) / gap * (1.0 - cutoff) + cutoff  # = exp(-t0 / tau)
    x *= math.exp(-dt_s / tau)
    if x <= cutoff:
        return full
    return full - gap * (x - cutoff) / (1.0 - cutoff)


def cccv_wait_s(need_s: float, battery_s: float, endurance_s: float, rate: float,
                knee: float = 0.8, cutoff: float = 0.05) -> float:
    """Time (s) at the dock to charge from ``battery_s`` up to ``need_s`` on the curve of
    :func:`cccv_charge_s` (its inverse)."""
    if need_s <= battery_s or rate == math.inf:
        return 0.0
    full = endurance_s
    k = knee * full
    t = 0.0
    if battery_s < k:
        if need_s <= k:
            return (need_s - battery_s) / rate
        t = (k - battery_s) / rate
        battery_s = k
    gap = full - k
    tau = gap / (rate * (1.0 - cutoff))
    x0 = (full - battery_s) / gap * (1.0 - cutoff) + cutoff
    x1 = (full - min(need_s, full)) / gap * (1.0 - cutoff) + cutoff
    return t + tau * math.log(x0 / x1)
