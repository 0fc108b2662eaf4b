"""One registry of the figures dronesim reports: each KPI declared once.

Every figure that ``dronesim run``, ``sweep`` and ``compare``, the printed tables and the HTML
report show is a :class:`Metric` here (scalars) or a :class:`Response` (a response-time block:
mean, median and P90). A declaration says

* ``key``: its name in ``summary.json`` (and in the comparison and sweep tables);
* ``label`` and ``unit``: what people read (:data:`UNITS`: how a value and a difference are
  written and drawn);
* ``get``: where it is read in one replication's KPIs
  (:meth:`dronesim.engine.aggregates.Aggregates.kpis` plus the derived figures of
  :mod:`dronesim.experiment.derived`); by default ``kpis[key]``;
* how it is combined across replications: always the mean over replications with a Student-t
  95% interval, clipped by ``bound`` (``"share"``: to [0, 1]; ``"nonneg"``: at 0; ``"signed"``:
  not at all);
* where it is shown: ``summary`` (a block in ``summary.json``), ``compare`` (a compared figure),
  ``sweep`` (a column of ``sweep.csv``, and with ``step`` a figure of each step in the sweep's
  ``summary.json`` and table), ``borough`` (a figure of each borough), ``line`` (a line of the
  ``run`` table; ``{target}`` and ``{ground}`` in a label are filled in), ``card`` (a headline
  card of the HTML report, with ``note`` under it).

A figure absent from a replication's KPIs (its ``feature`` off: no weather, no faults, no
relief drones) is left out everywhere, so a scenario without a feature shows nothing of it. Adding a
figure therefore means computing it per replication and declaring it here; the run, sweep and
compare summaries, the tables and the report read this registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Unit", "UNITS", "Metric", "Response", "RESPONSES", "METRICS", "metric",
           "compare_metrics", "run_lines", "report_cards", "sweep_columns", "step_metrics",
           "borough_metrics", "value_of", "AIRFRAME_METRICS",
           "EXPOSURE_METRICS"]


@dataclass(frozen=True)
class Unit:
    """How values of one unit are written and drawn.

    ``fmt``: the HTML report's format of a value (:mod:`dronesim.outputs.html`); ``axis``: axis
    label of a difference in the comparison plots (``{ref}`` filled in) and ``scale`` its
    factor (shares in percentage points); ``name``: the unit in words.
    """

    name: str
    fmt: str
    scale: float
    axis: str


UNITS: dict[str, Unit] = {
    "s": Unit("seconds", "time", 1.0, "Difference from {ref} (m:ss)"),
    "share": Unit("share", "pct", 100.0, "Difference from {ref} (percentage points)"),
    "per_week": Unit("per week", "num", 1.0, "Difference from {ref} (per week)"),
    "hours_per_week": Unit("hours per week", "num", 1.0, "Difference from {ref} (hours a week)"),
    "hours_per_day": Unit("hours per day", "num", 1.0, "Difference from {ref} (hours a day)"),
    "gbp": Unit("GBP", "num0", 1.0, "Difference from {ref} (GBP)"),
    "count": Unit("count", "num", 1.0, "Difference from {ref}"),
    "index": Unit("index, 0 to 1", "num2", 1.0, "Difference from {ref} (index)"),
}


def _key(key: str) -> Callable[[Mapping[str, Any]], float]:
    def get(k: Mapping[str, Any]) -> float:
        return k[key]
    get.key = key  # type: ignore[attr-defined]
    return get


@dataclass(frozen=True)
class Metric:
    """One scalar figure (see the module docstring)."""

    key: str
    label: str
    unit: str
    get: Callable[[Mapping[str, Any]], float] | None = None
    bound: str = ""  # "share" | "nonneg" | "signed"; default from the unit
    summary: bool = True
    compare: bool = False
    sweep: str = ""  # column name in sweep.csv ("" = not in the sweep)
    step: bool = False  # in the sweep's per-step summary and table
    borough: bool = False  # a figure of each borough (read from a per_borough row)
    line: str = ""  # label in the run table ("" = no line)
    card: str = ""  # title of an HTML report headline card ("" = none)
    note: str = ""  # definition shown with the card
    group: str = "core"
    rank: int = 100  # order of the run table's lines and the report's cards (then declaration)
    feature: str = ""  # the scenario setting without which the figure is absent ("" = always)
    upper: float | None = None  # an upper bound of the interval besides a share's 1

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"{self.key}: unknown unit {self.unit!r}")
        if not self.bound:
            object.__setattr__(self, "bound", "share" if self.unit == "share" else "nonneg")
        if self.bound not in ("share", "nonneg", "signed"):
            raise ValueError(f"{self.key}: unknown bound {self.bound!r}")
        if self.get is None:
            object.__setattr__(self, "get", _key(self.key))

    @property
    def limits(self) -> tuple[float | None, float | None]:
        """Where the 95% interval is clipped: (low, high), None for no bound."""
        low = None if self.bound == "signed" else 0.0
        high = 1.0 if self.bound == "share" else self.upper
        return low, high

    @property
    def fmt(self) -> str:
        """The report's format of a value: m:ss for times, else the unit's."""
        return "mmss" if self.unit == "s" else UNITS[self.unit].fmt

    def value(self, kpis: Mapping[str, Any]) -> float:
        """This figure in one replication's KPIs; NaN when absent or undefined."""
        try:
            v = self.get(kpis)  # type: ignore[misc]
        except (KeyError, TypeError):
            return math.nan
        return math.nan if v is None else float(v)

    def present(self, kpis: Mapping[str, Any]) -> bool:
        """Whether a replication's KPIs hold this figure (its feature is on)."""
        try:
            self.get(kpis)  # type: ignore[misc]
        except (KeyError, TypeError):
            return False
        return True


@dataclass(frozen=True)
class Response:
    """A response-time block (mean, median, P90, each with an interval, and ``n``).

    ``source``: its key in a replication's KPIs; ``compare``: the parts compared, each as the
    scalar ``<key without _s>_<part>_s``; ``sweep``: part -> column of ``sweep.csv``;
    ``line``: label of its line in the run table.
    """

    key: str
    source: str
    label: str
    compare: tuple[str, ...] = ()
    sweep: Mapping[str, str] | None = None
    step: tuple[str, ...] = ()
    line: str = ""

    def part(self, part: str) -> Metric:
        """One part as a scalar metric (for comparisons and sweeps); the same object on every
        call."""
        made = _PARTS.get((self.key, part))
        if made is None:
            src = self.source
            name = {"mean": "mean", "median": "median", "p90": "P90"}[part]
            made = _PARTS[(self.key, part)] = Metric(
                f"{self.key[:-2]}_{part}_s", f"{self.label}, {name}", "s",
                get=lambda k: k[src][part], summary=False, compare=part in self.compare,
                sweep=(self.sweep or {}).get(part, ""), step=part in self.step)
        return made


_PARTS: dict[tuple[str, str], Metric] = {}


RESPONSES: tuple[Response, ...] = (
    Response("drone_response_s", "drone", "drone response", compare=("mean", "median", "p90"),
             sweep={"mean": "drone_mean_s", "median": "drone_median_s", "p90": "drone_p90_s"},
             step=("mean", "p90"), line="drone response (m:ss)"),
    Response("ground_response_s", "ground", "ground response", compare=("mean",),
             sweep={"mean": "ground_mean_s"}, step=("mean",),
             line="{ground1} response (m:ss)"),
    Response("ground_response_on_drone_incidents_s", "ground_on_drone_incidents",
             "ground response on drone incidents"),
)

_SUITED_NOTE = ("share of drone-suited incidents with a drone on scene within the target time "
                "of the call; suited incidents no drone reached (out of range, declined, "
                "abandoned in the queue) count as not reached")

#: Every scalar figure. The order is the order of the comparison table, the run table and the
#: report's cards (each filtered to its own figures).
METRICS: tuple[Metric, ...] = (
    # --- response and reach ---------------------------------------------------------------------
    Metric("time_saved_s", "time saved by the drone", "s", bound="signed", compare=True,
           sweep="time_saved_s", line="time saved by the drone", rank=4,
           card="Time saved by the drone",
           note="arrival of {ground} less arrival of the drone, on incidents a drone reached"),
    Metric("drone_queue_wait_s", "wait for a drone", "s", compare=True),
    Metric("pilot_wait_s", "wait for a pilot", "s", compare=True),
    Metric("suited_within_target", "suited reached within target", "share", compare=True,
           sweep="suited_share_within_target", step=True, borough=True,
           line="suited reached within {target}", rank=2,
           card="Suited incidents reached within {target}", note=_SUITED_NOTE),
    Metric("p_drone_first", "P(drone first)", "share", compare=True, sweep="p_drone_first",
           step=True, borough=True, line="P(drone before {ground})", rank=3,
           card="Drone on scene before {ground}", note="among incidents a drone reached"),
    Metric("p_pilot_wait", "P(wait for a pilot)", "share", compare=True, sweep="p_pilot_wait"),
    Metric("drone_utilisation", "drone utilisation", "share", compare=True,
           sweep="drone_utilisation", step=True, line="drone utilisation", rank=5,
           card="Drone utilisation", note="airborne time over fleet time"),
    Metric("pilot_utilisation", "pilot utilisation", "share", compare=True,
           sweep="pilot_utilisation", step=True, line="pilot utilisation", rank=6,
           card="Pilot utilisation",
           note="pilot time from assignment to landing over pilot time"),
    Metric("drone_deployments_per_week", "drone deployments per week", "per_week",
           compare=True, sweep="deployments_per_week", step=True, borough=True,
           line="drone deployments per week", card="Drone deployments a week", rank=1),
    Metric("declined_per_week", "declined per week", "per_week", compare=True,
           sweep="declined_per_week"),
    Metric("out_of_range_per_week", "out of range per week", "per_week", compare=True,
           sweep="out_of_range_per_week"),
    Metric("queue_abandoned_per_week", "abandoned in the queue per week", "per_week",
           compare=True, sweep="queue_abandoned_per_week"),
    Metric("incidents_per_week", "incidents per week", "per_week"),
    Metric("drone_suited_per_week", "drone-suited incidents per week", "per_week",
           sweep="suited_per_week"),
    Metric("ground_dispatch_delay_s", "call to ground unit dispatched", "s"),
    Metric("cancelled_per_week", "drone stood down before launch per week", "per_week"),
    Metric("pending_per_week", "still waiting at the end per week", "per_week"),
    # --- ground realism (ground.py) -------------------------------------------------------------
    Metric("mutual_aid_share", "ground responses by another borough's unit", "share",
           compare=True, borough=True, group="ground", feature="ground.mutual_aid",
           line="{ground} from another borough"),
    Metric("ground_priority1_mean_s", "ground response to priority 1, mean", "s",
           borough=True, group="ground"),
    Metric("ground_priority1_within_900", "priority 1 reached by ground within 15 min",
           "share", borough=True, group="ground"),
    # --- relief drones (relief.py) -----------------------------------------------------------
    Metric("covered_until_handover", "drone incidents covered until handover", "share",
           compare=True, sweep="covered_until_handover", line="covered until handover",
           rank=7, card="Drone incidents covered until handover",
           note="a drone on scene without a break (relief drones included) from its arrival "
                "until {ground} arrived, among incidents a drone reached and {ground} "
                "attended"),
    Metric("relief_per_week", "relief drones sent per week", "per_week", compare=True,
           sweep="relief_per_week", line="relief drones per week", rank=8, group="relief",
           feature="relief", card="Relief drones a week",
           note="a second drone sent to take over before the first one's battery reserve "
                "forced it home"),
    Metric("relieved_incidents_per_week", "incidents with a relief per week", "per_week",
           group="relief", feature="relief"),
    Metric("relief_gap_s", "gap in cover at a relief, mean", "s", compare=True,
           line="gap in cover at a relief", rank=9, group="relief", feature="relief"),
    # --- weather and night (availability.py) ---------------------------------------------------
    Metric("flyable_hours_per_day", "flyable hours per day", "hours_per_day", upper=24.0,
           compare=True,
           sweep="flyable_hours_per_day", line="flyable hours per day", rank=10,
           card="Flyable hours a day", group="weather", feature="weather",
           note="hours in which neither weather nor a night rule grounds the fleet (Gao et "
                "al. 2021: a median 5.7 h a day worldwide for common drones)"),
    Metric("grounded_per_week", "calls missed to weather or night per week", "per_week",
           compare=True, sweep="grounded_per_week", step=True,
           line="calls missed to weather/wk", rank=11,
           card="Drone calls missed to weather or night, a week", group="weather",
           feature="weather",
           note="drone-suited incidents in range declined, or stood down at launch, because "
                "the fleet was grounded"),
    *[Metric(f"grounded_{r}_per_week", f"calls missed to {r} per week", "per_week",
             group="weather", feature="weather")
      for r in ("wind", "rain", "visibility", "cloud", "night")],
    Metric("grounded_hours_per_week", "grounded hours per week", "hours_per_week",
           compare=True, group="weather", feature="weather"),
    *[Metric(f"grounded_hours_{r}_per_week", f"hours grounded by {r} per week",
             "hours_per_week", group="weather", feature="weather")
      for r in ("wind", "rain", "visibility", "cloud", "night")],
    # --- faults, maintenance and rosters (availability.py) ----------------------------------
    Metric("drone_failures_per_week", "drone faults per week", "per_week", compare=True,
           sweep="drone_failures_per_week", line="drone faults per week", rank=12,
           group="faults", feature="faults",
           card="Drone faults a week",
           note="faults in flight ([faults] failures_per_flight_hour x flight hours)"),
    Metric("fault_per_week", "incidents lost to a fault on the way per week", "per_week",
           compare=True, group="faults", feature="faults"),
    Metric("failures_outbound_per_week", "faults on the way out per week", "per_week",
           group="faults", feature="faults"),
    Metric("failures_on_scene_per_week", "faults on scene per week", "per_week",
           group="faults", feature="faults"),
    Metric("maintenance_per_week", "scheduled maintenance visits per week", "per_week",
           compare=True, group="faults", feature="faults"),
    Metric("dock_failures_per_week", "dock faults per week", "per_week", group="faults",
           feature="faults"),
    Metric("drone_availability", "drone time in service", "share", compare=True,
           sweep="drone_availability", line="drone time in service", rank=13,
           card="Drone time in service", group="faults", feature="faults or rosters",
           note="share of drone time not held out by rosters, dock hours, repairs, "
                "maintenance or dock faults"),
    # --- costs (experiment/derived.py, from [costs]) ---------------------------------------------
    Metric("cost_per_year_gbp", "cost per year (GBP)", "gbp", compare=True,
           sweep="cost_per_year_gbp", step=True, line="cost per year (GBP)", rank=20,
           card="Cost per year (GBP)", group="cost",
           note="airframes and docks written off over their life, maintenance, pilots on "
                "shift and flight hours ([costs]; assumptions and sources in the scenario)"),
    Metric("cost_per_deployment_gbp", "cost per deployment (GBP)", "gbp", compare=True,
           sweep="cost_per_deployment_gbp", step=True, line="cost per deployment (GBP)",
           rank=21, card="Cost per drone deployment (GBP)", group="cost"),
    Metric("cost_per_minute_saved_gbp", "cost per minute saved (GBP)", "gbp", compare=True,
           sweep="cost_per_minute_saved_gbp", step=True, line="cost per minute saved (GBP)",
           rank=22, card="Cost per minute saved (GBP)", group="cost",
           note="cost per year over the minutes a year by which drones reached incidents "
                "before {ground}"),
    Metric("minutes_saved_per_week", "minutes saved per week", "per_week", compare=True,
           sweep="minutes_saved_per_week", step=True, group="cost"),
    Metric("flight_hours_per_week", "fleet flight hours per week", "hours_per_week",
           compare=True, sweep="flight_hours_per_week", group="cost"),
    Metric("cost_airframes_gbp", "airframes written off per year (GBP)", "gbp", group="cost"),
    Metric("cost_docks_gbp", "docks written off per year (GBP)", "gbp", group="cost"),
    Metric("cost_maintenance_gbp", "maintenance per year (GBP)", "gbp", group="cost"),
    Metric("cost_pilots_gbp", "pilots on shift per year (GBP)", "gbp", group="cost"),
    Metric("cost_flight_hours_gbp", "flight hours per year (GBP)", "gbp", group="cost"),
    # --- value (experiment/derived.py, from [value]; the engine resolves incidents) ---------------
    Metric("officer_deployments_avoided_per_week", "officer deployments avoided per week",
           "per_week", compare=True, sweep="officer_deployments_avoided_per_week", step=True,
           line="{ground} not sent per week", rank=30,
           card="Incidents resolved by the drone alone, a week", group="value",
           feature="value.drone_resolved_share",
           note="no {ground} sent: the drone on scene resolved the incident ([value] shares)"),
    Metric("officer_hours_freed_per_week", "officer hours freed per week", "hours_per_week",
           compare=True, sweep="officer_hours_freed_per_week", step=True,
           line="officer hours freed per week", rank=31, card="Officer hours freed a week",
           group="value", feature="value.drone_resolved_share",
           note="deployments avoided times the officer time one deployment "
                "takes (dispatch to clear) in the same run"),
    Metric("officer_time_freed_gbp_per_year", "officer time freed per year (GBP)", "gbp",
           compare=True, group="value", feature="value.drone_resolved_share"),
    # --- equity (experiment/derived.py; per borough, suited incidents reached within target) ------
    Metric("equity_worst_share", "worst borough: suited reached within target", "share",
           compare=True, sweep="equity_worst_share", step=True,
           line="worst borough, suited<{target}", rank=40, group="equity",
           card="Worst borough: suited incidents reached within {target}",
           note="the lowest borough's share; summary.json equity names it"),
    Metric("equity_spread", "spread across boroughs (max - min)", "share", compare=True,
           sweep="equity_spread", group="equity"),
    Metric("equity_gini", "Gini across boroughs (population-weighted)", "index",
           bound="share", compare=True,
           sweep="equity_gini", step=True, line="Gini across boroughs", rank=41,
           group="equity"),
    Metric("population_share_missing_target", "population in boroughs missing the target",
           "share", compare=True, sweep="population_share_missing_target", step=True,
           line="population missing target", rank=42, group="equity",
           card="Population in boroughs missing the target",
           note="boroughs whose mean drone response exceeds [value] target_response_s, or "
                "where no drone reached anyone"),
    # --- ground units and ambulance conveyance (engine/aggregates.py, conveyance.py) --
    Metric("ground_unit_availability", "patrol unit-time idle", "share", compare=True,
           group="ground", note="share of patrol units' time (police, ambulance) not between "
                                "dispatch and free again (clear, or the end of the handover)"),
    Metric("ambulance_availability", "ambulance unit-time idle", "share",
           get=lambda k: k["by_service"]["ambulance"]["ground_unit_availability"],
           compare=True, group="ground", feature="services.ambulance", line="ambulance time idle",
           rank=50),
    Metric("conveyed_share", "incidents conveyed to hospital", "share", compare=True,
           group="conveyance", feature="ground.conveyance_share"),
    Metric("conveyance_s", "scene to hospital, mean", "s", compare=True, group="conveyance",
           feature="ground.conveyance_share", line="scene to hospital, mean", rank=51),
    Metric("handover_s", "hospital handover, mean", "s", compare=True, group="conveyance",
           feature="ground.conveyance_share", line="hospital handover, mean", rank=52),
    Metric("handover_hours_per_week", "handover hours per week", "hours_per_week",
           compare=True, group="conveyance", feature="ground.conveyance_share"),
    Metric("handover_lost_hours_per_week", "handover hours beyond the target per week",
           "hours_per_week", compare=True, group="conveyance", feature="ground.conveyance_share",
           line="handover hours lost a week", rank=53,
           card="Ambulance hours lost to handover, a week",
           note="hospital handover time beyond the standard (handover_target_s, 15 min), as NHS "
                "England counts hours lost to handover delays"),
)

#: The figures of each airframe type of a mixed fleet (``summary.json`` ``per_airframe``; read
#: from the replication's ``per_airframe[<type>]`` block).
AIRFRAME_METRICS: tuple[Metric, ...] = (
    Metric("missions_per_week", "missions a week", "per_week", summary=False),
    Metric("flight_hours_per_week", "flight hours a week", "hours_per_week", summary=False),
)

#: The figures of each dock (``summary.json`` ``per_dock``; read from the replication's
#: ``per_dock[<dock index>]`` block, counted by dronesim.engine.aggregates, whose
#: ``Aggregates._dock_kpis`` states each definition). ``grounded_drone_hours_per_week`` is the
#: run's grounded hours (dronesim.engine.availability: weather and night ground every dock at
#: once) times the dock's drones, present when grounding is on.
DOCK_METRICS: tuple[Metric, ...] = (
    Metric("drone_deployments_per_week", "deployments a week", "per_week", summary=False),
    Metric("drone_response_mean_s", "drone response, mean", "s",
           get=lambda k: k["drone"]["mean"], summary=False),
    Metric("drone_response_median_s", "drone response, median", "s",
           get=lambda k: k["drone"]["median"], summary=False),
    Metric("drone_response_p90_s", "drone response, P90", "s",
           get=lambda k: k["drone"]["p90"], summary=False),
    Metric("suited_within_target_per_week", "suited reached within target a week",
           "per_week", summary=False),
    Metric("suited_within_share", "of the suited it reached: within target", "share",
           summary=False),
    Metric("drone_utilisation", "drone utilisation (airborne)", "share", summary=False),
    Metric("charge_hours_per_week", "drone-hours recharging a week", "hours_per_week",
           summary=False),
    Metric("grounded_drone_hours_per_week", "drone-hours grounded (weather, night) a week",
           "hours_per_week", summary=False, feature="weather.enabled"),
)

#: Overflight exposure (dronesim.outputs.exposure): figures of one replication's grid, shown
#: in the exposure summary (``dronesim export --csv``, the HTML report), not in ``summary.json``.
EXPOSURE_METRICS: tuple[Metric, ...] = (
    Metric("overflown_area_share", "share of London's area overflown", "share",
           summary=False, group="exposure",
           note="100 m cells crossed by at least one flight track, over London's area"),
    Metric("max_cell_overflights_per_week", "overflights a week of the most overflown cell",
           "per_week", summary=False, group="exposure"),
    Metric("max_cell_minutes_per_week", "minutes a week a drone is over the most exposed cell",
           "per_week", summary=False, group="exposure"),
    Metric("max_cell_lmax_dba", "loudest estimated level at the ground, dB(A)", "count",
           summary=False, group="exposure"),
    Metric("worst_borough_events_per_1000_residents",
           "events above 45 dB(A) a week per 1,000 residents, worst borough", "per_week",
           summary=False, group="exposure"),
)

_BY_KEY: dict[str, Metric] = {}


def _index() -> dict[str, Metric]:
    if not _BY_KEY:
        for r in RESPONSES:
            for part in ("mean", "median", "p90"):
                m = r.part(part)
                _BY_KEY[m.key] = m
        for m in METRICS:
            if m.key in _BY_KEY:
                raise ValueError(f"metric {m.key} declared twice")
            _BY_KEY[m.key] = m
    return _BY_KEY


def metric(key: str) -> Metric:
    """The declaration of one figure (response parts included: ``drone_response_mean_s``)."""
    return _index()[key]


def compare_metrics() -> tuple[Metric, ...]:
    """The figures a comparison compares, in table order: response parts first."""
    parts = [r.part(p) for r in RESPONSES for p in ("mean", "median", "p90") if p in r.compare]
    return tuple(parts + [m for m in METRICS if m.compare])


def sweep_columns() -> tuple[Metric, ...]:
    """The figures of each sweep step and replication (``sweep.csv``), in column order."""
    parts = [r.part(p) for r in RESPONSES for p in ("mean", "median", "p90")
             if p in (r.sweep or {})]
    return tuple(parts + [m for m in METRICS if m.sweep])


def step_metrics() -> tuple[Metric, ...]:
    """The figures summarised per sweep step (mean and interval)."""
    return tuple(m for m in sweep_columns() if m.step)


def borough_metrics() -> tuple[Metric, ...]:
    """The scalar figures of each borough."""
    return tuple(m for m in METRICS if m.borough)


def run_lines() -> tuple[Response | Metric, ...]:
    """The lines of the run table, in order: responses, then scalars by ``rank``."""
    scalars = sorted((m for m in METRICS if m.line), key=lambda m: m.rank)
    return (*(r for r in RESPONSES if r.line), *scalars)


def report_cards() -> tuple[Metric, ...]:
    """The HTML report's headline cards of scalars, by ``rank``."""
    return tuple(sorted((m for m in METRICS if m.card), key=lambda m: m.rank))


def value_of(block: Any) -> float | None:
    """The mean of a summary block (``{"mean": ..., "ci95_mean": ...}``), None if absent."""
    return block.get("mean") if isinstance(block, Mapping) else None
