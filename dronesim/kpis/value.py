"""What drones are worth and who they serve: officer workload avoided and equity across boroughs.
Pure functions on per-incident or per-borough figures; nothing here runs a simulation.

What this module owns
---------------------
* Value: :func:`draw_drone_resolved` (which drone-attended incidents the drone resolves with no
  officer sent, a Bernoulli draw per incident with a share per priority, from a named stream),
  :func:`officer_deployments_avoided`, :func:`officer_hours_per_deployment`,
  :func:`officer_hours_freed`, :func:`officer_cost_saved`.
* Equity: :func:`worst_borough`, :func:`spread` (max - min, coefficient of variation, Gini),
  :func:`gini` (optionally population-weighted) and :func:`share_population_missing_target`.

Sources and figures (defaults live in :class:`dronesim.inputs.scenario.ValueSpec`)
--------------------------------------------------------------------------
* Drone-resolved share: US drone-as-first-responder programmes with dedicated pilots are
  "clearing 15%-40% of calls before officers arrive" (F. Reber, "Staffing your Drone as First
  Responder (DFR) program", Police1, 2025; the author works for a DFR vendor). No share has been
  published for the Met's DFR service; the default is therefore no resolution at all (today's
  behaviour), and a scenario that sets a share must say it is an assumption within that range.
* Officer time: the ground model's time on scene (``on_scene_mean_s``, 45 minutes in the Met
  baseline, an assumption there) plus the travel the avoided deployment would have taken.
* Officer cost: GBP 36.51 per hour worked, Home Office on-cost of a sergeant or constable (PQ
  216460, 4 December 2014).

Definitions
-----------
* A deployment is avoided when a drone reaches the scene and resolves the incident, so no
  ground unit is sent (the engine's rule, phase 2); only incidents the drone attends count.
* Gini coefficient: mean absolute difference over all pairs of boroughs divided by twice the
  mean (0 = every borough equal; with weights, pairs are weighted by both boroughs' weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "draw_drone_resolved",
    "officer_deployments_avoided",
    "officer_hours_per_deployment",
    "officer_hours_freed",
    "officer_cost_saved",
    "Spread",
    "worst_borough",
    "spread",
    "gini",
    "share_population_missing_target",
]


# --- value -------------------------------------------------------------------------------------

def draw_drone_resolved(rng: np.random.Generator, priority: np.ndarray,
                        shares: Sequence[float]) -> np.ndarray:
    """For each incident, whether a drone on scene resolves it alone (no officer sent).

    One uniform per incident is drawn whatever the shares, so changing a share changes which
    incidents are resolved but not the numbers any later incident draws (common random numbers
    across scenarios).

    Parameters
    ----------
    rng
        The replication's stream for this draw (e.g. ``streams["drone_resolved"]``).
    priority
        Priority of each incident, 1 = most urgent (as in :mod:`dronesim.inputs.demand`).
    shares
        Share resolved by the drone for each priority, in order.
    """
    p = np.asarray(priority)
    s = np.asarray(shares, dtype=float)
    if s.size == 0:
        raise ValueError("shares needs one share per priority")
    if np.any((s < 0) | (s > 1)):
        raise ValueError(f"shares must be within [0, 1]; got {list(s)}")
    if p.size and (p.min() < 1 or p.max() > s.size):
        raise ValueError(f"priorities must be within 1..{s.size}")
    u = rng.random(p.size)
    return u < s[p - 1] if p.size else np.zeros(0, dtype=bool)


def officer_deployments_avoided(attended_by_priority: Sequence[float],
                                shares: Sequence[float]) -> float:
    """Expected officer deployments avoided: drone-attended incidents of each priority times the
    share the drone resolves alone."""
    a = np.asarray(attended_by_priority, dtype=float)
    s = np.asarray(shares, dtype=float)
    if a.shape != s.shape:
        raise ValueError(f"one count per share: got {a.size} counts, {s.size} shares")
    if np.any(a < 0) or np.any((s < 0) | (s > 1)):
        raise ValueError("counts must be >= 0 and shares within [0, 1]")
    return float(np.dot(a, s))


def officer_hours_per_deployment(on_scene_mean_s: float, travel_mean_s: float,
                                 officers_per_unit: float = 1.0) -> float:
    """Officer hours one deployment takes: travel to the scene and time there, per officer."""
    if min(on_scene_mean_s, travel_mean_s, officers_per_unit) < 0:
        raise ValueError("times and officers must be >= 0")
    return officers_per_unit * (on_scene_mean_s + travel_mean_s) / 3600.0


def officer_hours_freed(deployments_avoided: float, hours_per_deployment: float) -> float:
    """Officer hours freed by the deployments avoided."""
    if deployments_avoided < 0 or hours_per_deployment < 0:
        raise ValueError("deployments and hours must be >= 0")
    return deployments_avoided * hours_per_deployment


def officer_cost_saved(hours_freed: float, cost_per_hour_gbp: float) -> float:
    """Officer time freed valued at the on-cost per hour (time redeployed, not cash saved)."""
    return hours_freed * cost_per_hour_gbp


# --- equity ------------------------------------------------------------------------------------

def _arrays(values: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    keys = list(values)
    v = np.array([values[k] for k in keys], dtype=float)
    if v.size == 0:
        raise ValueError("no boroughs given")
    return keys, v


def worst_borough(values: Mapping[str, float], *, higher_is_worse: bool = True
                  ) -> tuple[str, float]:
    """The borough with the worst figure (e.g. the highest mean response time; with
    ``higher_is_worse=False`` the lowest coverage). NaN figures (no incidents) are skipped;
    ties go to the first borough in the mapping's order."""
    keys, v = _arrays(values)
    ok = ~np.isnan(v)
    if not ok.any():
        raise ValueError("every borough's figure is NaN")
    score = np.where(ok, v if higher_is_worse else -v, -np.inf)
    k = int(np.argmax(score))
    return keys[k], float(v[k])


def gini(values: Sequence[float] | np.ndarray,
         weights: Sequence[float] | np.ndarray | None = None) -> float:
    """Gini coefficient of non-negative figures (e.g. drone coverage per borough), optionally
    weighted (e.g. by population). 0 when all are equal; NaN when all are zero."""
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.shape != w.shape or x.size == 0:
        raise ValueError("one weight per value, at least one value")
    if np.any(x < 0) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("values and weights must be >= 0, weights not all zero")
    mean = np.dot(w, x) / w.sum()
    if mean == 0:
        return math.nan
    diff = np.abs(x[:, None] - x[None, :])
    return float((w[:, None] * w[None, :] * diff).sum() / (2 * w.sum() ** 2 * mean))


@dataclass(frozen=True)
class Spread:
    """Spread of a figure across boroughs."""

    max_minus_min: float
    cv: float  # standard deviation / mean (population, unweighted)
    gini: float


def spread(values: Mapping[str, float]) -> Spread:
    """Max - min, coefficient of variation and Gini across boroughs (NaN figures skipped)."""
    _, v = _arrays(values)
    v = v[~np.isnan(v)]
    if v.size == 0:
        raise ValueError("every borough's figure is NaN")
    mean = float(v.mean())
    cv = float(v.std() / mean) if mean != 0 else math.nan
    return Spread(max_minus_min=float(v.max() - v.min()), cv=cv,
                  gini=gini(v) if np.all(v >= 0) else math.nan)


def share_population_missing_target(values: Mapping[str, float],
                                    population: Mapping[str, float], target: float, *,
                                    higher_is_worse: bool = True) -> float:
    """Share of the population living in boroughs whose figure misses ``target`` (above it for
    a response time; below it for a coverage share with ``higher_is_worse=False``). Boroughs
    with a NaN figure count as missing it (no drone reached them)."""
    keys, v = _arrays(values)
    missing = [k for k in population if k not in values]
    if missing:
        raise ValueError(f"no figure for {', '.join(missing[:3])}")
    pop = np.array([population[k] for k in keys], dtype=float)
    if np.any(pop < 0) or not pop.sum() > 0:
        raise ValueError("population must be >= 0 and not all zero")
    miss = np.isnan(v) | ((v > target) if higher_is_worse else (v < target))
    total = sum(population.values())
    return float(pop[miss].sum() / total)
