"""What a replication's drones cost and are worth, and how evenly they serve London: figures
derived from one replication's KPIs (issue 9, item 7), declared in :mod:`dronesim.kpis.registry`.

Nothing here changes a simulated event. :func:`derived_kpis` runs where the replication ran
(:func:`dronesim.experiment.runner.task_kpis`) on its KPIs
(:meth:`dronesim.engine.aggregates.Aggregates.kpis`) and the scenario; the summary then combines the
figures across replications like any other (mean and Student-t 95% interval). :func:`equity_summary`
names the worst borough from the combined per-borough figures.

Costs (:mod:`dronesim.kpis.costs`, ``[costs]``; every default there an assumption or a Home Office
on-cost, see that module)
---------------------------------------------------------------------------------------------
* ``cost_per_year_gbp``: airframes (one per drone, at its ``[[airframes]]`` type's ``cost_gbp``
  when set) and docks (one dock per drone: dock-drone systems such as the DJI Dock 2/3 house one
  drone each; an assumption for sites listed with several drones) written off over their life,
  maintenance, remote pilots on shift (the control room's pilots, times the mean share on duty
  of its ``shift_pattern``; ``[costs] pilots_per_shift`` overrides) and flight hours (the
  replication's airborne time, scaled to a year).
* ``cost_per_deployment_gbp``: the year's cost over the year's drone deployments (the measured
  window's deployments scaled to a year).
* ``cost_per_minute_saved_gbp``: the year's cost over the minutes by which drones reached
  incidents before the first ground unit, in a year: ``time_saved_s`` (the mean of ground
  arrival less drone arrival, on incidents a drone reached and a ground unit attended) times the
  number of those incidents. NaN when no time is saved.

Value (:mod:`dronesim.kpis.value`, ``[value]``)
------------------------------------------
* ``officer_deployments_avoided_per_week``: incidents the drone resolved alone, so no officer was
  sent (counted by the engine, ``drone_resolved_per_week``; present when ``[value]
  drone_resolved_share`` is set).
* ``officer_hours_freed_per_week``: those deployments times the officer hours one deployment
  takes in the same replication (dispatch to clear: travel plus time on scene, the mean over
  the deployments made), one officer per unit (assumption).

Equity (:mod:`dronesim.kpis.value`; per borough, over boroughs with drone-suited incidents)
-----------------------------------------------------------------------------------
* ``equity_worst_share``: the lowest per-borough share of suited incidents reached within the
  target (its definition: :mod:`dronesim.kpis.statistics`; unreached ones count as not reached),
  and ``equity_spread`` (highest minus lowest) and ``equity_gini`` (Gini coefficient weighted by
  borough population) of the same figure.
* ``population_share_missing_target``: the share of London's population living in boroughs whose
  mean drone response is above ``[value] target_response_s`` or where no drone reached anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inputs.demand import WEEK_S
from ..inputs.prices import uprate
from ..kpis import costs, value

if TYPE_CHECKING:
    from ..engine.prepared import Prepared

__all__ = ["derived_kpis", "borough_population", "equity_summary", "pilots_on_duty",
           "airframe_prices"]


def borough_population(prep: Prepared) -> np.ndarray:
    """Population of each borough (ONS 2022 mid-year estimates of its small areas)."""
    cache = prep.__dict__.setdefault("_borough_population", {})
    if "pop" not in cache:
        london = prep.london
        cache["pop"] = np.bincount(london.lsoa_borough, weights=london.weights("population"),
                                   minlength=london.n_boroughs)
    return cache["pop"]


def pilots_on_duty(prep: Prepared) -> float:
    """Mean number of pilots on duty: the room's pilots times the mean share of its shift
    pattern (each hour rounded as :class:`dronesim.engine.infrastructure.ControlRoom` does)."""
    scn = prep.scenario
    cr = scn.control_room
    if scn.sharing.pilots == "separate":
        rooms = [cr.pilots_by_service.get(s, 1) for s in scn.services]
    else:
        rooms = [cr.pilots_for(scn.fleet_size)]
    if not cr.shift_pattern:
        return float(sum(rooms))
    return float(sum(np.mean([round(p * share) for share in cr.shift_pattern]) for p in rooms))


def airframe_prices(prep: Prepared) -> list[float] | None:
    """Purchase price of each drone by its dock's airframe type (None: every drone at the
    ``[costs]`` price)."""
    scn = prep.scenario
    types = {a.name: a for a in scn.airframes}
    if not any(d.airframe for d in scn.docks):
        return None
    out: list[float] = []
    for d in scn.docks:
        a = types.get(d.airframe)
        price = a.cost_gbp if a is not None and not math.isnan(a.cost_gbp) \
            else scn.costs.airframe_cost_gbp
        out += [price] * d.drones
    return out


def derived_kpis(prep: Prepared, k: Mapping[str, Any]) -> dict[str, Any]:
    """Cost, value and equity figures of one replication (see the module docstring)."""
    scn = prep.scenario
    span = prep.horizon_s - prep.warmup_s
    weeks = span / WEEK_S
    fleet = int(k.get("fleet_size", scn.fleet_size))
    out: dict[str, Any] = {}

    # --- costs -----------------------------------------------------------------------------
    util = k.get("drone_utilisation")
    air_h = (util * fleet * span / 3600.0) if util is not None and util == util else 0.0
    out["flight_hours_per_week"] = air_h / weeks
    cost = costs.annual_cost(scn.costs, airframes=fleet, docks=fleet,
                             pilots_per_shift=pilots_on_duty(prep),
                             flight_hours_per_year=costs.per_year(air_h, span),
                             airframe_costs_gbp=airframe_prices(prep))
    out["cost_per_year_gbp"] = cost.total_gbp
    for item, v in cost.as_dict().items():
        if item != "total_gbp":
            out[f"cost_{item}"] = v
    deployments_year = k["drone_deployments_per_week"] * costs.YEAR_S / WEEK_S
    out["cost_per_deployment_gbp"] = costs.cost_per_deployment(cost.total_gbp,
                                                               deployments_year)
    saved, n_saved = k.get("time_saved_s"), k["ground_on_drone_incidents"]["n"]
    minutes = (saved * n_saved / 60.0) if saved is not None and saved == saved else 0.0
    out["minutes_saved_per_week"] = minutes / weeks
    out["cost_per_minute_saved_gbp"] = costs.cost_per_minute_saved(
        cost.total_gbp, costs.per_year(minutes, span))

    # --- value -------------------------------------------------------------------------------
    if "drone_resolved_per_week" in k:
        avoided = k["drone_resolved_per_week"]
        busy = k.get("ground_busy_s")
        hours = value.officer_hours_per_deployment(busy, 0.0) if busy == busy and \
            busy is not None else math.nan
        out["officer_deployments_avoided_per_week"] = avoided
        out["officer_hours_freed_per_week"] = (value.officer_hours_freed(avoided, hours)
                                               if hours == hours else math.nan)
        out["officer_time_freed_gbp_per_year"] = value.officer_cost_saved(
            out["officer_hours_freed_per_week"] * costs.YEAR_S / WEEK_S,
            uprate(scn.value.officer_cost_per_hour_gbp, scn.value.officer_cost_price_year,
                   scn.costs.price_year))

    # --- equity ------------------------------------------------------------------------------
    pop = borough_population(prep)
    share = {}
    drone_mean = {}
    weights = {}
    for b, row in enumerate(k["per_borough"]):
        code = row["gss_code"]
        drone_mean[code] = row["drone"]["mean"] if row["drone"]["n"] else math.nan
        weights[code] = float(pop[b])
        if row.get("suited"):
            share[code] = row["suited_within_share"]
    if share:
        codes = list(share)
        vals = np.array([share[c] for c in codes], float)
        out["equity_worst_share"] = float(np.nanmin(vals))
        sp = value.spread(share)
        out["equity_spread"] = sp.max_minus_min
        w = np.array([weights[c] for c in codes])
        out["equity_gini"] = value.gini(vals, w) if np.all(vals >= 0) and w.sum() > 0 \
            else math.nan
    out["population_share_missing_target"] = value.share_population_missing_target(
        drone_mean, weights, scn.value.target_response_s)
    return out


def equity_summary(prep: Prepared, per_borough: list[dict[str, Any]]) -> dict[str, Any]:
    """The worst-served borough and the boroughs missing the target, from the per-borough
    figures combined across replications (``summary.json`` ``equity``)."""
    scn = prep.scenario
    shares = {r["name"]: r["suited_within_target"]["mean"] for r in per_borough
              if isinstance(r.get("suited_within_target"), Mapping)
              and r["suited_within_target"]["mean"] is not None
              and r["suited_within_target"]["mean"] == r["suited_within_target"]["mean"]}
    out: dict[str, Any] = {"target_response_s": scn.value.target_response_s,
                           "definition": "per borough: share of drone-suited incidents reached "
                                         "within the coverage target; missing the target: "
                                         "mean drone response above target_response_s, or no "
                                         "drone reached anyone"}
    if shares:
        worst, v = value.worst_borough(shares, higher_is_worse=False)
        out["worst_borough"] = worst
        out["worst_borough_share"] = v
    t = scn.value.target_response_s
    missing = []
    for r in per_borough:
        d = r.get("drone_response_s")
        m = d.get("mean") if d else None
        if m is None or m != m or m > t:
            missing.append(r["name"])
    out["boroughs_missing_target"] = missing
    return out
