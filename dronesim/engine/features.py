"""Which features of a scenario are on, decided once from the prepared scenario.

The engine, its running aggregates (which figures are counted) and the availability processes
read :class:`Features` instead of re-deciding from the scenario (or from which objects they
happened to attach), and the closest-idle fast path
(:class:`dronesim.dispatch.fast_path.FastPath`) is chosen from it by one predicate that
allows only the features it is proven equal under. A new feature is a new field here; until
it is added to the fast path's allow-list (with a test in tests/test_fast_path.py proving the
two paths equal) it turns the fast path off, and tests/test_fast_path.py fails until the new
field is classified either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Features"]


@dataclass(frozen=True)
class Features:
    """The scenario's features that change which drone goes, whether it flies or how a
    mission runs (each True when on)."""

    #: Weather grounding or a night rule ("not_allowed", "slower"): dronesim.engine.availability.
    grounding: bool = False
    #: Weather or a night rule that forbids flight: hours in which the fleet is grounded (a
    #: part of ``grounding``; the "slower" night rule only slows flights).
    grounded_hours: bool = False
    #: Faults, maintenance, dock failures or rosters (duty holds): availability.Duty.
    duty: bool = False
    #: Faults in flight (``faults.failures_per_flight_hour``): missions ended by a fault (a
    #: part of ``duty``).
    flight_faults: bool = False
    #: Relief drones (dronesim.engine.relief).
    relief: bool = False
    #: Airframe types per dock (``[[airframes]]``: mixed fleets).
    airframe_types: bool = False
    #: Restriction zones flown through with authorisation: candidate rows in flight-time (not
    #: distance) order.
    authorised_legs: bool = False
    #: Airspace management: sector caps or an authorisation latency.
    airspace_management: bool = False
    #: Pre-emption of a drone on scene at a lower-ranked incident.
    preemption: bool = False
    #: Drones dedicated to their service (``sharing.airframes`` not pooled).
    dedicated_airframes: bool = False
    #: Flights outside the connectivity footprint refused.
    refuse_outside: bool = False
    #: A finite ``max_queue_wait_s``.
    queue_limit: bool = False
    #: A pilot shift pattern.
    pilot_shifts: bool = False
    #: Exponential loiter (task time) instead of "until the ground unit arrives".
    exponential_loiter: bool = False
    #: Some service sends a ground response.
    ground_response: bool = False
    #: Drones resolving incidents alone (``[value] drone_resolved_share``).
    drone_resolution: bool = False
    #: Ground mutual aid between boroughs.
    mutual_aid: bool = False
    #: Ambulance conveyance to hospital and handover (dronesim.engine.conveyance).
    conveyance: bool = False
    #: Some per-leg effect (the "slower" night rule, wind on flight, ...): flight legs timed by
    #: dronesim.engine.legs.Legs (the list of effects and this predicate live there).
    per_leg: bool = False
    #: A charging curve other than linear: CC-CV (``[drones] charging = "cccv"``) or battery
    #: swaps at some dock (``[[docks]] swap_s``): dronesim.engine.fleet.CurvedFleet.
    charging_curve: bool = False

    @classmethod
    def of(cls, prep: Any) -> Features:
        """The features of a prepared scenario (:class:`dronesim.engine.prepared.Prepared`)."""
        from .legs import any_on as legs_any_on  # (its inputs import scipy: deferred)

        scn = prep.scenario
        f, r = scn.faults, scn.rosters
        am = scn.airspace_management
        zones = prep.zones
        return cls(
            grounding=bool(scn.weather.enabled or scn.night.rule in ("not_allowed", "slower")),
            grounded_hours=bool(scn.weather.enabled or scn.night.rule == "not_allowed"),
            duty=bool(f.failures_per_flight_hour > 0 or f.maintenance_every_flight_hours > 0
                      or f.dock_failures_per_year > 0 or r.drone_pattern or r.dock_hours),
            flight_faults=f.failures_per_flight_hour > 0,
            relief=bool(scn.relief.enabled and scn.drones.loiter == "until_ground"),
            airframe_types=bool(scn.airframes),
            authorised_legs=not (zones is None or len(zones) == 0
                                 or scn.airspace.mode != "authorise"),
            airspace_management=bool(am.sector_m > 0 or am.delay_separate_s > 0
                                     or am.delay_shared_s > 0),
            preemption=bool(scn.sharing.preemption and scn.sharing.airframes == "pooled"),
            dedicated_airframes=scn.sharing.airframes != "pooled",
            refuse_outside=prep.connectivity.outside == "refuse",
            queue_limit=math.isfinite(scn.dispatch.max_queue_wait_s),
            pilot_shifts=bool(scn.control_room.shift_pattern),
            exponential_loiter=scn.drones.loiter == "exponential",
            ground_response=any(s.ground.base != "none" for s in scn.services.values()),
            drone_resolution=any(shares and any(shares)
                                 for shares in scn.value.drone_resolved_share.values()),
            mutual_aid=any(s.ground.mutual_aid != "off" for s in scn.services.values()),
            conveyance=any(s.ground.conveys for s in scn.services.values()),
            per_leg=legs_any_on(scn),
            charging_curve=bool(scn.drones.charging != "linear"
                                or any(d.swap_s > 0 for d in scn.docks)),
        )

    @property
    def on(self) -> frozenset[str]:
        """The names of the features that are on."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name))
