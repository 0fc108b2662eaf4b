"""Costs of a drone service: pure functions from a ``[costs]`` section and a run's figures.

What this module owns
---------------------
:func:`annual_cost` (a :class:`CostBreakdown` per year: airframes and docks written off
straight-line over their life, maintenance, remote pilots on shift, flight hours),
:func:`cost_per_deployment` and :func:`cost_per_minute_saved`. Nothing here changes a simulated
event; the engine's figures (deployments, flight hours, minutes saved, over the measured
horizon) are scaled to a year by :func:`per_year`.

Sources and figures (defaults live in :class:`dronesim.inputs.scenario.CostSpec`)
------------------------------------------------------------------------
* Remote pilot: GBP 292 per 8-hour pilot-shift = 8 x GBP 36.51, the Home Office "on cost" of a
  police sergeant or constable per hour worked (wage, pension, tax, premises, transport and
  training; answer to PQ 216460, 4 December 2014, 2014 prices). The Met's DFR pilots are
  "specially trained operators" in the control room; pricing them as constables is an
  assumption.
* Airframe GBP 15,000 written off over 3 years, dock GBP 20,000 over 5 years, maintenance GBP
  1,500 per airframe and GBP 2,000 per dock a year, GBP 5 per flight hour (batteries,
  propellers, connectivity): ASSUMPTIONS. No UK price for a dock-drone system was found here;
  the airframe figure is within the USD 7,500 to 30,000+ range Dallas Police gave for its
  preferred systems in 2018 (thermal camera models USD 10,000-15,000), which it expected to
  last about 400 flight hours.
* Shifts: 3 eight-hour shifts a day, 24/7 (assumption; the Met runs DFR from its control room).
* Price years (issue 17): the pilot on-cost is at 2014 prices (``pilot_price_year``), the
  equipment assumptions at 2025 prices (``equipment_price_year``); with ``price_year`` set, every
  item is uprated to that year's prices by the ratio of ONS CPIH annual index values
  (:mod:`dronesim.inputs.prices`). ``price_year = 0`` keeps each price as entered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..inputs.prices import uprate_factor
from ..inputs.scenario import CostSpec

__all__ = ["CostBreakdown", "annual_cost", "per_year", "cost_per_deployment",
           "cost_per_minute_saved", "YEAR_S"]

YEAR_S = 365.25 * 86_400.0


@dataclass(frozen=True)
class CostBreakdown:
    """Cost per year, GBP, by item."""

    airframes_gbp: float
    docks_gbp: float
    maintenance_gbp: float
    pilots_gbp: float
    flight_hours_gbp: float

    @property
    def total_gbp(self) -> float:
        return (self.airframes_gbp + self.docks_gbp + self.maintenance_gbp + self.pilots_gbp
                + self.flight_hours_gbp)

    def as_dict(self) -> dict[str, float]:
        return {"airframes_gbp": self.airframes_gbp, "docks_gbp": self.docks_gbp,
                "maintenance_gbp": self.maintenance_gbp, "pilots_gbp": self.pilots_gbp,
                "flight_hours_gbp": self.flight_hours_gbp, "total_gbp": self.total_gbp}


def _check_count(name: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


def annual_cost(spec: CostSpec, *, airframes: int, docks: int, pilots_per_shift: float,
                flight_hours_per_year: float,
                airframe_costs_gbp: list[float] | None = None) -> CostBreakdown:
    """Cost of running the service for a year.

    Parameters
    ----------
    spec
        The ``[costs]`` section.
    airframes, docks
        Fleet size and number of docks.
    pilots_per_shift
        Pilots on duty (``spec.pilots_per_shift`` overrides it when > 0); a shift pattern's
        mean number on duty may be given.
    flight_hours_per_year
        Fleet flight hours a year (scale a run's hours with :func:`per_year`).
    airframe_costs_gbp
        Per-airframe purchase prices for a mixed fleet (one per airframe); default: every
        airframe at ``spec.airframe_cost_gbp``.
    """
    for name, v in (("airframes", airframes), ("docks", docks),
                    ("pilots_per_shift", pilots_per_shift),
                    ("flight_hours_per_year", flight_hours_per_year)):
        _check_count(name, v)
    if airframe_costs_gbp is not None:
        if len(airframe_costs_gbp) != airframes:
            raise ValueError(f"airframe_costs_gbp needs one price per airframe ({airframes}); "
                             f"got {len(airframe_costs_gbp)}")
        capital = float(sum(airframe_costs_gbp))
    else:
        capital = airframes * spec.airframe_cost_gbp
    pilots = spec.pilots_per_shift if spec.pilots_per_shift > 0 else pilots_per_shift
    eq = uprate_factor(spec.equipment_price_year, spec.price_year)
    pilot = uprate_factor(spec.pilot_price_year, spec.price_year)
    return CostBreakdown(
        airframes_gbp=eq * capital / spec.airframe_life_years,
        docks_gbp=eq * docks * spec.dock_cost_gbp / spec.dock_life_years,
        maintenance_gbp=eq * (airframes * spec.maintenance_per_airframe_year_gbp
                              + docks * spec.maintenance_per_dock_year_gbp),
        pilots_gbp=pilot * pilots * spec.shifts_per_day * 365.25 * spec.cost_per_pilot_shift_gbp,
        flight_hours_gbp=eq * flight_hours_per_year * spec.cost_per_flight_hour_gbp,
    )


def per_year(value: float, horizon_s: float) -> float:
    """A total over a measured horizon of ``horizon_s`` seconds, scaled to a year."""
    if not horizon_s > 0:
        raise ValueError(f"horizon_s must be > 0; got {horizon_s!r}")
    return value * YEAR_S / horizon_s


def cost_per_deployment(annual_gbp: float, deployments_per_year: float) -> float:
    """Cost per drone deployment; NaN when there are none (undefined, not zero)."""
    return annual_gbp / deployments_per_year if deployments_per_year > 0 else math.nan


def cost_per_minute_saved(annual_gbp: float, minutes_saved_per_year: float) -> float:
    """Cost per minute of earlier arrival on scene (drone before the first ground unit); NaN
    when no time is saved."""
    return annual_gbp / minutes_saved_per_year if minutes_saved_per_year > 0 else math.nan
