"""Sensitivity of the headline figures to the assumptions behind them, on common random numbers.

Many inputs of a scenario are assumptions rather than measurements: fixed delays of a drone
flight, the share of calls suited to a drone, the pilots on duty, weather limits, prices. This
module says how far each headline figure moves when each assumption moves over a plausible
range, so a reader can tell a robust figure from an assumption in disguise.

* **The assumptions** are declared once, in :data:`ASSUMPTIONS` (a table: scenario key path, a
  plausible low and high, relative to the scenario's own value (``x0.8``-``x1.2``) or absolute,
  and the source or reason for that range). Adding one is adding a row. A key the scenario lacks
  (``services.fire...`` in a police-only scenario), a feature that is off (weather limits with
  ``weather.enabled = false``) or a relative range on a zero value is skipped, and the skip is
  said in the output. ``services.*`` expands to each service of the scenario.
* **One at a time** (a tornado): each assumption at its low and its high, everything else at the
  scenario's value. The swing of a figure is ``|f(high) - f(low)|``; its envelope is the lowest
  and highest value over every assumption's low and high (one at a time, not jointly).
* **Global screening**: Morris elementary effects (``mu*``: the mean absolute effect of an
  assumption, in the figure's unit per step of the range; ``sigma``: its spread, large where the
  assumption interacts with others or acts non-linearly; Morris 1991, Campolongo et al. 2007) and,
  for small budgets, Sobol indices (first-order ``S1`` and total ``ST`` with 95% bootstrap
  intervals; Saltelli et al. 2010), both from SALib with a fixed sample seed, so the same command
  gives the same points. Whole-number keys (pilots) are rounded at each point.
* **Common random numbers**: every point (a *factor* of the experiment runner) runs with the
  scenario's seed, replication ``r`` drawing from the same streams, so differences between points
  are the assumptions' effect and not sampling noise in demand. The points run through
  :func:`dronesim.experiment.runner.run_tasks`, so they are cached and resumable in the output
  folder like a sweep's steps; identical points (a rounded whole number at its base) run once.

A figure is the mean over replications of its per-replication value as
:mod:`dronesim.kpis.registry` declares it (:data:`HEADLINES`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..inputs.scenario import Scenario, scenario_from_dict, scenario_to_dict
from ..kpis import registry
from .runner import Factor, TaskResult, prepare_checked

__all__ = ["Assumption", "ASSUMPTIONS", "HEADLINES", "METHODS", "Plan", "plan_sensitivity",
           "sensitivity_result", "run_sensitivity", "resolve_assumptions", "parse_assumption",
           "vary",
           "morris_sample", "morris_analyze", "sobol_sample", "sobol_analyze", "summary_text",
           "markdown_table", "assumption_table_markdown"]

_SRC = "<sensitivity>"
METHODS = ("oat", "morris", "sobol")

#: The headline figures, by registry key (:mod:`dronesim.kpis.registry`), in table order.
HEADLINES: tuple[str, ...] = (
    "drone_response_mean_s", "suited_within_target", "drone_deployments_per_week",
    "ground_response_mean_s", "minutes_saved_per_week", "pilot_utilisation",
    "cost_per_year_gbp", "cost_per_deployment_gbp")


@dataclass(frozen=True)
class Assumption:
    """One assumption and its plausible range.

    ``relative``: ``low`` and ``high`` multiply the scenario's own value (every element of an
    array); else they are the values themselves, in the key's unit. ``levels``: a key that
    takes one of these names (in order); ``low`` and ``high`` are positions in it, and the
    screening designs round a point to the nearest level. ``requires``: a key that must be
    true (or non-empty) for this key to change anything, or ``key=value``: a key that must
    hold that value (else the assumption is skipped); ``services.*`` in it is the same service.
    """

    name: str
    key: str
    low: float
    high: float
    relative: bool
    source: str
    requires: str = ""
    levels: tuple[str, ...] = ()

    def describe_range(self) -> str:
        if self.levels:
            return f"{self.levels[int(self.low)]} to {self.levels[int(self.high)]}"
        if self.relative:
            return f"x{self.low:g} to x{self.high:g}"
        return f"{self.low:g} to {self.high:g}"


def _rel(name: str, key: str, low: float, high: float, source: str, requires: str = ""
         ) -> Assumption:
    return Assumption(name, key, low, high, True, source, requires)


def _abs(name: str, key: str, low: float, high: float, source: str, requires: str = ""
         ) -> Assumption:
    return Assumption(name, key, low, high, False, source, requires)


def _levels(name: str, key: str, levels: tuple[str, ...], low: str, high: str, source: str,
            requires: str = "") -> Assumption:
    return Assumption(name, key, float(levels.index(low)), float(levels.index(high)), False,
                      source, requires, levels)


#: The declared assumptions: one row each (name, scenario key, low, high, source). Add a row to
#: add one; ``services.*`` expands to each service of the scenario (``police_ground_speed``...).
#: docs/sensitivity.md shows this table (tests/test_sensitivity.py keeps the two in step).
ASSUMPTIONS: tuple[Assumption, ...] = (
    # --- drone flight: fixed delays and cruise ------------------------------------------------
    _abs("drone_speed", "drones.speed_m_s", 18.0, 27.0,
         "Chu et al. 2021 / DFR vendor specs: cruise 18-27 m/s"),
    _abs("decision_delay", "drones.decision_s", 3.0, 30.0,
         "docs/model.md: call to launch 3-30 s (Claesson et al. 2017 median 3 s)"),
    _abs("launch_overhead", "drones.launch_overhead_s", 10.0, 40.0,
         "vendors 'airborne < 20 s'; assumption: half to double the scenario's 20 s"),
    _abs("climb", "drones.climb_s", 5.0, 20.0,
         "Chu et al. 2021 ~10 s; assumption: half to double"),
    _abs("descent", "drones.descent_s", 5.0, 20.0,
         "20 m descent at 1-4 m/s; assumption"),
    _abs("endurance", "drones.endurance_s", 1200.0, 3600.0,
         "dock-drone spec sheets: 20-60 min"),
    _rel("recharge", "drones.recharge_full_s", 0.67, 1.33,
         "vendor ~45 min full recharge; assumption: 30-60 min"),
    _abs("min_on_scene", "drones.min_on_scene_s", 120.0, 300.0,
         "assumption (scenario: 3 min); 2-5 min"),
    _abs("handover", "drones.handover_s", 30.0, 120.0,
         "assumption (scenario: 1 min); 0.5-2 min"),
    # --- demand and dispatch ------------------------------------------------------------------
    _rel("suited_share", "services.*.drone_suited_share", 0.75, 1.25,
         "calibrated to 'about 200' deployments a week; +-25% for the unknown I-grade split "
         "and crime-within-range share it rests on"),
    _rel("max_queue_wait", "dispatch.max_queue_wait_s", 0.5, 2.0,
         "assumption (scenario: 5 min); half to double"),
    # --- control room -------------------------------------------------------------------------
    _abs("pilots", "control_room.pilots", 1, 4,
         "assumption (scenario: 2 on duty for 9 drones); the Met publishes no rota"),
    # --- the airframe's weather limits (only with weather.enabled) --------------------------
    _abs("max_wind", "drones.max_wind_m_s", 8.0, 12.0,
         "Gao et al. 2021: common drones 10 m/s; dock drones 8-12 m/s", "weather.enabled"),
    _abs("max_gust", "drones.max_gust_m_s", 10.0, 15.0,
         "DJI Matrice 3D / 4D 'max wind speed resistance' 12 m/s; assumption: 10-15 m/s "
         "across dock airframes", "weather.enabled"),
    _abs("gust_factor", "weather.gust_factor", 1.3, 1.7,
         "hourly-max 3-s gust over the hourly mean: 1.52 at 10 m in open terrain (Durst; "
         "ASCE 7); lower aloft, higher in rough urban terrain", "weather.enabled"),
    _levels("rain_tolerance", "drones.rain_tolerance", ("none", "light", "moderate"), "none",
            "moderate", "Gao et al. 2021: common drones fly in no rain; IP54/IP55 dock drones "
            "light rain (assumption); moderate (up to 7.6 mm/h) for a sealed airframe",
            "weather.enabled"),
    # --- ground response ------------------------------------------------------------------------
    _abs("road_time_factor", "services.*.ground.road_time_factor", 0.85, 1.15,
         "the road model is fitted to fire engines (LFB 2023 sample; out of sample every "
         "borough within 30 s, about 12% of its road time); +-15% for cars and ambulances",
         "services.*.ground.travel_model=fitted"),
    _rel("ground_speed", "services.*.ground.speed_m_s", 0.85, 1.15,
         "straight-line model fitted to the LFB 2023 sample (scripts/calibrate.py); +-15% for "
         "police cars vs fire engines", "services.*.ground.travel_model=straight"),
    _abs("ground_turnout", "services.*.ground.turnout_s", 15.0, 60.0,
         "assumption (police cars already mobile: 30 s); LFB crews from a station 79 s"),
    _abs("ground_circuity", "services.*.ground.circuity", 1.25, 1.55,
         "London road / straight-line distance about 1.3-1.5 (assumption around the fit's 1.4)",
         "services.*.ground.travel_model=straight"),
    _rel("call_handling", "services.*.ground.call_handling_mean_s", 0.8, 1.2,
         "calibrated to the Met's ~9-minute mean; +-20% for the calibration target's "
         "uncertainty"),
    _rel("staffing", "services.*.ground.staffing_utilisation", 0.8, 1.2,
         "police: assumption (half of patrol time committed); ambulance: calibrated to the "
         "ARP Category-1 mean; +-20%"),
    _rel("conveyance", "services.*.ground.conveyance_share", 0.8, 1.2,
         "HSCIC Ambulance Services England 2012-13: 64.9% of attended incidents to A&E; "
         "+-20% for London and the years since"),
    _abs("handover_over_30min", "services.*.ground.handover_over_30min_share", 0.10, 0.40,
         "NHS England winter sitreps: 20% over 30 min (Dec 2021), 41% in the record week of "
         "Dec 2022", "services.*.ground.conveyance_share"),
    # --- costs (change no simulated event) --------------------------------------------------------
    _rel("airframe_cost", "costs.airframe_cost_gbp", 0.5, 2.0, "assumption: half to double"),
    _abs("airframe_life", "costs.airframe_life_years", 2.0, 5.0, "assumption"),
    _rel("dock_cost", "costs.dock_cost_gbp", 0.5, 2.0, "assumption: half to double"),
    _rel("pilot_shift_cost", "costs.cost_per_pilot_shift_gbp", 0.8, 1.2,
         "Home Office on-cost (2014) +-20% for pay since and grade"),
    _rel("maintenance_cost", "costs.maintenance_per_airframe_year_gbp", 0.5, 2.0,
         "assumption: half to double"),
)


# --------------------------------------------------------------------------------------------
# Resolving the assumptions against a scenario
# --------------------------------------------------------------------------------------------


def _walk(d: Any, parts: Sequence[str]) -> tuple[dict[str, Any], str] | None:
    """The dict holding the last part, and that part, or None if the path does not resolve."""
    for p in parts[:-1]:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    if not isinstance(d, dict) or parts[-1] not in d:
        return None
    return d, parts[-1]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _value_at(a: Assumption, base: Any, x: float) -> Any:
    """The key's value with the assumption at ``x`` (a multiplier if relative; a position in
    ``levels``, rounded to the nearest, for a named-levels key)."""
    if a.levels:
        return a.levels[min(len(a.levels) - 1, max(0, int(round(x))))]
    if isinstance(base, list):
        return [_value_at(a, b, x) for b in base]
    v = base * x if a.relative else x
    return int(round(v)) if isinstance(base, int) else float(v)


def parse_assumption(text: str) -> tuple[str, tuple[float, float] | None]:
    """``NAME`` or ``NAME=LOW:HIGH`` (``--assumption``): the name and an optional range."""
    name, _, rng = text.partition("=")
    name = name.strip()
    if not rng:
        return name, None
    try:
        lo, hi = (float(p) for p in rng.split(":"))
    except ValueError:
        raise InputError("<command line>", "--assumption",
                         f"expected NAME or NAME=LOW:HIGH; got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise InputError("<command line>", "--assumption",
                         f"{name}: LOW must be <= HIGH, both finite; got {rng!r}")
    return name, (lo, hi)


def _expand(a: Assumption, scn: Scenario) -> list[Assumption]:
    if not a.key.startswith("services.*."):
        return [a]
    rest = a.key[len("services.*."):]
    return [dataclasses.replace(a, name=f"{svc}_{a.name}", key=f"services.{svc}.{rest}",
                                requires=a.requires.replace("services.*.", f"services.{svc}."))
            for svc in scn.services]


def resolve_assumptions(scn: Scenario, table: Sequence[Assumption] = ASSUMPTIONS,
                        chosen: Sequence[str] = (),
                        ranges: Mapping[str, tuple[float, float]] | None = None
                        ) -> tuple[list[Assumption], list[dict[str, str]]]:
    """The assumptions this scenario can vary, and those skipped (name, key, reason).

    ``chosen``: names to keep (table names, or expanded ones like ``police_ground_speed``;
    default all); an unknown name is an :class:`~dronesim.errors.InputError`. ``ranges``: name
    -> (low, high) replacing a declared range. Each range is checked against the schema
    (:func:`vary` at low and high): a value outside the key's bounds is an error.
    """
    expanded = [(a, e) for a in table for e in _expand(a, scn)]
    known = {a.name for a, _ in expanded} | {e.name for _, e in expanded}
    table_names = {a.name for a in table}
    for n in list(chosen) + list(ranges or {}):
        if n not in known and n not in table_names:
            raise InputError("<command line>", "--assumption",
                             f"unknown assumption {n!r} (known: {', '.join(sorted(known))})")
    plain = scenario_to_dict(scn)
    out: list[Assumption] = []
    skipped: list[dict[str, str]] = []
    for a, e in expanded:
        if chosen and a.name not in chosen and e.name not in chosen:
            continue
        rng = (ranges or {}).get(e.name) or (ranges or {}).get(a.name)
        if rng is not None:
            e = dataclasses.replace(e, low=rng[0], high=rng[1])
        if e.key.startswith("services.*."):
            continue  # no service at all (cannot happen: a scenario has one)
        found = _walk(plain, e.key.split("."))
        if found is None:
            skipped.append({"name": e.name, "key": e.key,
                            "reason": "the scenario has no such key"})
            continue
        base = found[0][found[1]]
        if e.levels:
            if base not in e.levels:
                skipped.append({"name": e.name, "key": e.key,
                                "reason": f"its value {base!r} is not one of {e.levels}"})
                continue
        elif isinstance(base, list) and not base:
            skipped.append({"name": e.name, "key": e.key,
                            "reason": "it is empty (off) in this scenario"})
            continue
        elif not (_is_number(base) or (isinstance(base, list)
                                       and all(_is_number(b) for b in base))):
            skipped.append({"name": e.name, "key": e.key, "reason": "not a number"})
            continue
        if isinstance(base, list) and not e.relative:
            raise InputError(_SRC, e.name, f"{e.key} is an array: give a relative range")
        if e.requires:
            req, _, want = e.requires.partition("=")
            on = _walk(plain, req.split("."))
            if want:
                held = on[0][on[1]] if on is not None else None
                if held != want:
                    skipped.append({"name": e.name, "key": e.key,
                                    "reason": f"{req} is {held!r}, not {want!r}, so {e.key} "
                                              "changes nothing"})
                    continue
            elif on is None or not on[0][on[1]]:
                skipped.append({"name": e.name, "key": e.key,
                                "reason": f"{e.requires} is off, so {e.key} changes nothing"})
                continue
        if e.relative and not np.any(np.asarray(base, float)):
            skipped.append({"name": e.name, "key": e.key,
                            "reason": "its value is 0: a relative range cannot move it"})
            continue
        if e.low > e.high:
            raise InputError(_SRC, e.name, f"low {e.low:g} is above high {e.high:g}")
        problem = None
        for x in (e.low, e.high):  # the schema's bounds, checked before anything runs
            try:
                vary(scn, {e: x})
            except InputError as exc:
                if rng is not None:
                    raise InputError("<command line>", "--assumption",
                                     f"{e.name}={e.low:g}:{e.high:g}: {exc.field}: "
                                     f"{exc.problem}") from None
                if not e.relative:  # a declared absolute range outside the schema: a bug
                    raise
                problem = exc.problem
        if problem is not None:  # x high of this scenario's value leaves the schema
            skipped.append({"name": e.name, "key": e.key,
                            "reason": f"its relative range leaves the schema here ({problem})"})
            continue
        out.append(e)
    return out, skipped


def base_value(scn: Scenario, a: Assumption) -> Any:
    found = _walk(scenario_to_dict(scn), a.key.split("."))
    assert found is not None, a.key
    return found[0][found[1]]


def vary(scn: Scenario, values: Mapping[Assumption, float]) -> Scenario:
    """The scenario with each assumption at its value (a multiplier if relative), validated by
    the schema: a value outside a key's bounds is an :class:`~dronesim.errors.InputError` naming
    the assumption."""
    plain = scenario_to_dict(scn)
    for a, x in values.items():
        found = _walk(plain, a.key.split("."))
        if found is None:
            raise InputError(_SRC, a.name, f"the scenario has no key {a.key}")
        d, leaf = found
        d[leaf] = _value_at(a, d[leaf], x)
    try:
        out = scenario_from_dict(plain, source=scn.source)
    except InputError as exc:
        names = ", ".join(f"{a.name} at {x:g}" for a, x in values.items())
        raise InputError(_SRC, exc.field, f"{exc.problem} ({names}: outside what the scenario "
                                          "schema allows)") from None
    return dataclasses.replace(out, origins=scn.origins)


# --------------------------------------------------------------------------------------------
# Screening designs (SALib)
# --------------------------------------------------------------------------------------------


def _salib() -> Any:
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise InputError("<command line>", "--method",
                         "morris and sobol need SALib: pip install 'dronesim[sensitivity]'"
                         ) from None


def _problem(names: Sequence[str], bounds: Sequence[tuple[float, float]]) -> dict[str, Any]:
    # SALib needs low < high; a point range (low = high) is widened by nothing that matters
    b = [[lo, hi if hi > lo else lo + 1e-12] for lo, hi in bounds]
    return {"num_vars": len(names), "names": list(names), "bounds": b}


def morris_sample(bounds: Sequence[tuple[float, float]], trajectories: int, levels: int,
                  seed: int) -> np.ndarray:
    """Morris one-at-a-time trajectories: ``trajectories x (k + 1)`` points, each row one point
    in the assumptions' own units (SALib ``morris.sample``; the same ``seed``, the same points).
    """
    _salib()
    from SALib.sample import morris

    names = [f"x{i}" for i in range(len(bounds))]
    return np.asarray(morris.sample(_problem(names, bounds), trajectories, num_levels=levels,
                                    seed=seed), float)


def morris_analyze(bounds: Sequence[tuple[float, float]], x: np.ndarray, y: np.ndarray,
                   levels: int, seed: int) -> dict[str, np.ndarray]:
    """``mu``, ``mu_star``, ``sigma`` and ``mu_star_conf`` (95% bootstrap) of each input."""
    _salib()
    from SALib.analyze import morris

    names = [f"x{i}" for i in range(len(bounds))]
    res = morris.analyze(_problem(names, bounds), np.asarray(x, float), np.asarray(y, float),
                         num_levels=levels, seed=seed, print_to_console=False)
    return {k: np.asarray(res[k], float) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}


def sobol_sample(bounds: Sequence[tuple[float, float]], samples: int, seed: int) -> np.ndarray:
    """Saltelli's extension of a Sobol sequence: ``samples x (k + 2)`` points (first and total
    order only)."""
    _salib()
    from SALib.sample import sobol

    names = [f"x{i}" for i in range(len(bounds))]
    return np.asarray(sobol.sample(_problem(names, bounds), samples, calc_second_order=False,
                                   seed=seed), float)


def sobol_analyze(bounds: Sequence[tuple[float, float]], y: np.ndarray, seed: int
                  ) -> dict[str, np.ndarray]:
    """``S1``, ``S1_conf``, ``ST`` and ``ST_conf`` (95% bootstrap) of each input."""
    _salib()
    from SALib.analyze import sobol

    names = [f"x{i}" for i in range(len(bounds))]
    y = np.asarray(y, float)
    if np.ptp(y) == 0:  # the figure does not move at all: no variance to apportion
        z = np.zeros(len(bounds))
        return {"S1": z, "S1_conf": z, "ST": z, "ST_conf": z}
    res = sobol.analyze(_problem(names, bounds), y, calc_second_order=False,
                        conf_level=0.95, seed=seed, print_to_console=False)
    return {k: np.asarray(res[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


# --------------------------------------------------------------------------------------------
# The plan: every point as a factor of the experiment runner
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Plan:
    """The points of a sensitivity study and the factors that run them.

    ``points``: label -> index into ``factors`` (identical scenarios share a factor).
    """

    scenario: Scenario
    assumptions: list[Assumption]
    skipped: list[dict[str, str]]
    methods: tuple[str, ...]
    factors: list[Factor]
    points: dict[str, int]
    morris_x: np.ndarray | None = None
    sobol_x: np.ndarray | None = None
    trajectories: int = 0
    levels: int = 0
    samples: int = 0
    sample_seed: int = 0
    notes: list[str] = field(default_factory=list)


def plan_sensitivity(scn: Scenario, assumptions: Sequence[Assumption], skipped:
                     Sequence[dict[str, str]], methods: Sequence[str], *, trajectories: int = 4,
                     levels: int = 4, samples: int = 8, sample_seed: int = 20251023,
                     data_dir: str | Path | None = None) -> Plan:
    """Every point the methods need, as runner factors sharing the scenario's seed (CRN)."""
    if not assumptions:
        raise InputError("<command line>", "--assumption",
                         "no assumption left to vary in this scenario")
    for m in methods:
        if m not in METHODS:
            raise InputError("<command line>", "--method",
                             f"unknown method {m!r} (known: {', '.join(METHODS)}, all)")
    if "sobol" in methods and samples & (samples - 1):
        raise InputError("<command line>", "--samples",
                         f"must be a power of 2 (Sobol sequence); got {samples}")
    bounds = [(a.low, a.high) for a in assumptions]
    factors: list[Factor] = []
    by_scn: dict[str, int] = {}
    points: dict[str, int] = {}

    def add(label: str, s: Scenario) -> None:
        key = json.dumps(scenario_to_dict(s), sort_keys=True, default=str)
        if key not in by_scn:
            by_scn[key] = len(factors)
            factors.append(Factor(label, prepare_checked(s, data_dir)))
        points[label] = by_scn[key]

    add("base", scn)
    if "oat" in methods:
        for a in assumptions:
            add(f"oat-{a.name}-low", vary(scn, {a: a.low}))
            add(f"oat-{a.name}-high", vary(scn, {a: a.high}))
    plan = Plan(scn, list(assumptions), list(skipped), tuple(methods), factors, points,
                trajectories=trajectories, levels=levels, samples=samples,
                sample_seed=sample_seed)
    for method in ("morris", "sobol"):
        if method not in methods:
            continue
        x = (morris_sample(bounds, trajectories, levels, sample_seed) if method == "morris"
             else sobol_sample(bounds, samples, sample_seed))
        for i, row in enumerate(x):
            s = vary(scn, dict(zip(assumptions, (float(v) for v in row))))
            add(f"{method}-{i:05d}", s)
        if method == "morris":
            plan.morris_x = x
        else:
            plan.sobol_x = x
    plan.notes.append(f"{len(points)} points, {len(factors)} distinct scenarios")
    return plan


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _figure_means(plan: Plan, results: Sequence[TaskResult], keys: Sequence[str]
                  ) -> tuple[np.ndarray, list[str]]:
    """Mean over replications of each figure at each factor: array (factors, figures)."""
    sums = np.zeros((len(plan.factors), len(keys)))
    counts = np.zeros((len(plan.factors), len(keys)))
    failures = []
    for r in results:
        if not r.ok:
            failures.append(f"{plan.factors[r.task.factor].label}, replication "
                            f"{r.task.replication}: {r.error}")
            continue
        for j, key in enumerate(keys):
            v = registry.metric(key).value(r.ran_kpis)
            if math.isfinite(v):
                sums[r.task.factor, j] += v
                counts[r.task.factor, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), failures


def _mmss(s: float) -> str:
    return fmt_value(s, "s")


def _f(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def sensitivity_result(plan: Plan, results: Sequence[TaskResult], replications: int,
                       headlines: Sequence[str] = HEADLINES) -> dict[str, Any]:
    """The ``sensitivity.json`` contract: assumptions (ranges, sources, values), and per
    headline figure its base value, each assumption's low/high values and swing, the envelope
    and the driver; Morris and Sobol indices when run."""
    scn = plan.scenario
    present = [k for k in headlines
               if any(r.ok and registry.metric(k).present(r.ran_kpis) for r in results)]
    means, failures = _figure_means(plan, results, present)

    def at(label: str) -> np.ndarray:
        return means[plan.points[label]]

    base = at("base")
    assumptions = []
    for a in plan.assumptions:
        b = base_value(scn, a)
        assumptions.append({
            "name": a.name, "key": a.key, "relative": a.relative, "low": a.low, "high": a.high,
            "range": a.describe_range(), "source": a.source, "base_value": b,
            "low_value": _value_at(a, b, a.low), "high_value": _value_at(a, b, a.high)})
    figures = []
    for j, key in enumerate(present):
        m = registry.metric(key)
        label = m.label.replace("target", _mmss(scn.coverage.within_s))
        row: dict[str, Any] = {"key": key, "label": label, "unit": m.unit,
                               "base": _f(base[j])}
        if "oat" in plan.methods:
            oat: list[dict[str, Any]] = []
            for a in plan.assumptions:
                lo, hi = at(f"oat-{a.name}-low")[j], at(f"oat-{a.name}-high")[j]
                swing = abs(hi - lo)
                oat.append({"assumption": a.name, "at_low": _f(lo), "at_high": _f(hi),
                            "swing": _f(swing)})
            oat.sort(key=lambda o: -(o["swing"] if o["swing"] is not None else -1.0))
            vals = [v for o in oat for v in (o["at_low"], o["at_high"]) if v is not None]
            if row["base"] is not None:
                vals.append(row["base"])
            row["oat"] = oat
            row["envelope"] = [min(vals), max(vals)] if vals else [None, None]
            row["driver"] = oat[0]["assumption"] if oat and oat[0]["swing"] else None
        figures.append(row)
    out: dict[str, Any] = {
        "scenario": scn.name, "scenario_file": scn.source, "seed": scn.simulation.seed,
        "replications": replications, "weeks": scn.simulation.weeks,
        "methods": list(plan.methods), "sample_seed": plan.sample_seed,
        "points": len(plan.points), "distinct_scenarios": len(plan.factors),
        "assumptions": assumptions, "skipped": plan.skipped, "headlines": figures}
    bounds = [(a.low, a.high) for a in plan.assumptions]
    for method, x in (("morris", plan.morris_x), ("sobol", plan.sobol_x)):
        if x is None:
            continue
        rows = [plan.points[f"{method}-{i:05d}"] for i in range(len(x))]
        block: dict[str, Any] = {}
        for j, key in enumerate(present):
            y = means[rows, j]
            if not np.all(np.isfinite(y)):
                block[key] = None  # undefined at some point (no drone flew)
                continue
            if method == "morris":
                r = morris_analyze(bounds, x, y, plan.levels, plan.sample_seed)
                block[key] = [{"assumption": a.name, "mu_star": _f(r["mu_star"][i]),
                               "mu_star_conf": _f(r["mu_star_conf"][i]), "mu": _f(r["mu"][i]),
                               "sigma": _f(r["sigma"][i])}
                              for i, a in enumerate(plan.assumptions)]
            else:
                r = sobol_analyze(bounds, y, plan.sample_seed)
                block[key] = [{"assumption": a.name, "S1": _f(r["S1"][i]),
                               "S1_conf": _f(r["S1_conf"][i]), "ST": _f(r["ST"][i]),
                               "ST_conf": _f(r["ST_conf"][i])}
                              for i, a in enumerate(plan.assumptions)]
        out[method] = {"trajectories" if method == "morris" else "samples":
                       plan.trajectories if method == "morris" else plan.samples,
                       **({"levels": plan.levels} if method == "morris" else {}),
                       "points": len(x), "figures": block}
    if failures:
        out["failed_tasks"] = failures
    return out


def run_sensitivity(scn: Scenario, *, methods: Sequence[str] = ("oat",),
                    assumptions: Sequence[str] = (),
                    ranges: Mapping[str, tuple[float, float]] | None = None,
                    replications: int | None = None, trajectories: int = 4, levels: int = 4,
                    samples: int = 8, sample_seed: int = 20251023, workers: int | None = None,
                    data_dir: str | Path | None = None,
                    progress: Callable[[int, int], None] | None = None
                    ) -> tuple[Plan, list[TaskResult], dict[str, Any]]:
    """The Python API: plan, run (every point on common random numbers) and summarise."""
    from .runner import run_tasks

    reps = replications or scn.simulation.replications
    chosen, skipped = resolve_assumptions(scn, ASSUMPTIONS, assumptions, ranges)
    plan = plan_sensitivity(scn, chosen, skipped, methods, trajectories=trajectories,
                            levels=levels, samples=samples, sample_seed=sample_seed,
                            data_dir=data_dir)
    results = run_tasks(plan.factors, reps, workers=workers, on_error="raise",
                        data_dir=data_dir, progress=progress)
    return plan, results, sensitivity_result(plan, results, reps)


def table_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``sensitivity.csv``: one row per headline figure and assumption."""
    by_name = {a["name"]: a for a in result["assumptions"]}
    rows = []
    for h in result["headlines"]:
        oat = {o["assumption"]: o for o in h.get("oat", [])}
        mor = {o["assumption"]: o for o in (result.get("morris", {}).get("figures", {})
                                            .get(h["key"]) or [])}
        sob = {o["assumption"]: o for o in (result.get("sobol", {}).get("figures", {})
                                            .get(h["key"]) or [])}
        for name, a in by_name.items():
            o, mo, so = oat.get(name, {}), mor.get(name, {}), sob.get(name, {})
            rows.append({
                "figure": h["key"], "unit": h["unit"], "assumption": name, "key": a["key"],
                "range": a["range"], "low_value": json.dumps(a["low_value"]),
                "high_value": json.dumps(a["high_value"]), "figure_base": h["base"],
                "figure_at_low": o.get("at_low"), "figure_at_high": o.get("at_high"),
                "swing": o.get("swing"), "morris_mu_star": mo.get("mu_star"),
                "morris_sigma": mo.get("sigma"), "sobol_S1": so.get("S1"),
                "sobol_S1_conf": so.get("S1_conf"), "sobol_ST": so.get("ST"),
                "sobol_ST_conf": so.get("ST_conf")})
    return rows


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------


def fmt_value(v: float | None, unit: str) -> str:
    """A figure as tables show it: m:ss, a percentage, GBP, or a number."""
    if v is None or not math.isfinite(v):
        return "-"
    if unit == "s":
        t = int(round(v))
        m, s = divmod(abs(t), 60)
        return f"{'-' if t < 0 else ''}{m}:{s:02d}"
    if unit == "share":
        return f"{100 * v:.1f}%"
    if unit == "gbp":
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def _driver_words(h: Mapping[str, Any]) -> str:
    oat = h.get("oat") or []
    if not oat or not oat[0]["swing"]:
        return "no assumption moves it"
    o = oat[0]
    return (f"{o['assumption']} ({fmt_value(o['at_low'], h['unit'])} to "
            f"{fmt_value(o['at_high'], h['unit'])})")


def _n(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def markdown_table(result: Mapping[str, Any]) -> str:
    """The headline sensitivity table as Markdown (``sensitivity.md``), for the README."""
    reps = _n(result["replications"], "replication")
    lines = [f"Sensitivity of `{result['scenario']}` ({reps} x "
             f"{_n(result['weeks'], 'week')}, seed {result['seed']}, common random numbers; each "
             "assumption one at a time over its plausible range, the others at the scenario's "
             "values; `dronesim sensitivity`):", "",
             "| Figure | Base | Range over the assumptions | Moved most by |",
             "|---|---|---|---|"]
    for h in result["headlines"]:
        env = h.get("envelope") or [None, None]
        lines.append(f"| {h['label']} | {fmt_value(h['base'], h['unit'])} | "
                     f"{fmt_value(env[0], h['unit'])} to {fmt_value(env[1], h['unit'])} | "
                     f"{_driver_words(h)} |")
    if result.get("skipped"):
        lines += ["", "Not varied: " + "; ".join(f"{s['name']} ({s['reason']})"
                                                 for s in result["skipped"]) + "."]
    return "\n".join(lines) + "\n"


def summary_text(result: Mapping[str, Any]) -> str:
    """One paragraph: how far each headline figure moves, and what moves it most."""
    parts = []
    for h in result["headlines"]:
        env = h.get("envelope")
        if not env:
            continue
        parts.append(f"{h['label']} {fmt_value(h['base'], h['unit'])} (range "
                     f"{fmt_value(env[0], h['unit'])} to {fmt_value(env[1], h['unit'])}; "
                     f"most: {_driver_words(h)})")
    head = (f"Over each assumption's plausible range, one at a time "
            f"({len(result['assumptions'])} assumptions, "
            f"{_n(result['replications'], 'replication')}, common random numbers): ")
    return head + "; ".join(parts) + "." if parts else head + "no one-at-a-time run."


def assumption_table_markdown(table: Sequence[Assumption] = ASSUMPTIONS) -> str:
    """The declared assumptions as a Markdown table (docs/sensitivity.md holds this)."""
    lines = ["| Name | Scenario key | Range | Source or reason |", "|---|---|---|---|"]
    for a in table:
        req = f" (only with `{a.requires}`)" if a.requires else ""
        lines.append(f"| `{a.name}` | `{a.key}` | {a.describe_range()}"
                     f"{' (relative)' if a.relative else ''} | {a.source}{req} |")
    return "\n".join(lines) + "\n"
