"""The figures of each kind of result, one definition for ``plots/`` and the HTML report.

Each function takes result tables (and, for a run, the prepared scenario the map needs) and
returns ``{file name: matplotlib figure}``; the caller saves or embeds them and closes them.
Titles name the scenario, the replications and what is shaded, so a figure read on its own
says what it shows.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..kpis import registry
from . import plots as plotting
from .tables import ground_label, mmss

__all__ = ["run_figures", "sweep_figures", "comparison_figures", "sensitivity_figures"]


def run_figures(scn: Any, geom: Any, incidents: pd.DataFrame, summary: dict[str, Any],
                include_map: bool = True) -> dict[str, Any]:
    """``map.png``, ``response_cdf.png`` and ``boroughs.png`` of a run.

    Parameters
    ----------
    scn
        The run's resolved :class:`dronesim.inputs.scenario.Scenario`.
    geom
        Its :class:`dronesim.outputs.results.ScenarioGeometry` (map, docks, zones, coverage at the
        target time), from :func:`dronesim.outputs.results.geometry_from_prepared` or
        :func:`dronesim.outputs.results.scenario_geometry`.
    incidents
        Incidents of the measured window (columns x, y, replication, drone_outcome,
        drone_response_s, ground_response_s); the map draws the first replication, the
        response distributions pool every replication given (the title says how many).
    summary
        The run's ``summary.json`` contents.
    include_map
        False leaves out ``map.png`` (the HTML report draws its own interactive map).
    """
    cov = geom.coverage
    ground = ground_label(scn.services)
    reps = summary["replications"]
    plural = "s" if reps != 1 else ""
    figs: dict[str, Any] = {}
    if include_map:
        first = incidents[incidents["replication"] == incidents["replication"].min()] \
            if len(incidents) else incidents
        docks = geom.docks
        figs["map.png"] = plotting.borough_map(
            geom.london.boroughs, docks, first, cov.footprint, zones=geom.zones,
            within_s=geom.within_s, reach_m=geom.reach_m, range_m=geom.range_m,
            title=f"{scn.name}: {scn.fleet_size} drones at {len(docks)} docks; shaded: drone on "
                  f"scene within {mmss(geom.within_s)} (incidents of replication 0)")
    # The title says what is drawn: the replications present in ``incidents``, pooled.
    drawn = int(incidents["replication"].nunique()) if len(incidents) else 0
    pooled = (f"{drawn} replication{'s' if drawn != 1 else ''}" if drawn == reps
              else f"first {drawn} of {reps} replications") + (" pooled" if drawn > 1 else "")
    figs["response_cdf.png"] = plotting.response_distributions(
        incidents, ground=ground, within_s=cov.within_s,
        title=f"{scn.name}: response time, drone against {ground} ({pooled})")
    figs["boroughs.png"] = plotting.borough_responses(
        summary["per_borough"], ground=ground,
        title=f"{scn.name}: mean response by borough ({reps} replication{plural})")
    return figs


def sweep_figures(steps: pd.DataFrame, boroughs: pd.DataFrame, scn: Any,
                  front: pd.DataFrame | None = None) -> dict[str, Any]:
    """``coverage_vs_fleet.png``, ``response_vs_fleet.png`` and ``borough_coverage.png`` of a
    sweep (``steps``: sweep.csv, ``boroughs``: boroughs.csv, ``scn``: the swept scenario), and
    ``trade_off_front.png`` when ``front`` (front.csv,
    :func:`dronesim.experiment.sweep.front_table`) marks a front."""
    within = scn.coverage.within_s
    t = mmss(within)
    figs = {
        "coverage_vs_fleet.png": plotting.sweep_coverage(
            steps, within, title=f"{scn.name}: coverage within {t} as the fleet grows"),
        "response_vs_fleet.png": plotting.sweep_response(
            steps, ground=ground_label(scn.services),
            title=f"{scn.name}: response as the fleet grows"),
        "borough_coverage.png": plotting.sweep_borough_heatmap(
            boroughs, scn.coverage.borough_population_share,
            title=f"{scn.name}: population within {t} by borough (%)"),
    }
    if front is not None and len(front) and front["on_front"].any():
        figs["trade_off_front.png"] = plotting.trade_off_front(
            front, within, title=f"{scn.name}: cost against reach within {t}, the front of "
                                 "growth steps")
    return figs


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def comparison_figures(differences: pd.DataFrame, means: pd.DataFrame, summary: dict[str, Any]
                       ) -> dict[str, Any]:
    """``forest_<service>.png`` (and ``value_<service>.png``: costs, value and equity) for each
    service and ``responses.png`` of a comparison
    (``differences``: differences.csv, ``means``: mean and interval per scenario, service and
    metric, ``summary``: its ``summary.json``)."""
    labels = {k: v["label"] for k, v in summary["metrics"].items()}
    reps = summary["replications"]
    ref = summary["reference"]
    figs: dict[str, Any] = {}
    for service in summary["services"]:
        figs[f"forest_{_safe_name(service)}.png"] = plotting.comparison_forest(
            differences, service, labels=labels,
            title=f"Difference from {ref}, {service} incidents (mean and 95% CI over {reps} "
                  f"replication{'s' if reps != 1 else ''})")
        # Costs, value and equity in a forest of their own (GBP, hours, indices).
        here = set(differences.loc[differences["service"] == service, "metric"])
        keys = [m.key for m in registry.compare_metrics()
                if m.group in ("cost", "value", "equity") and m.key in here]
        if keys:
            figs[f"value_{_safe_name(service)}.png"] = plotting.comparison_forest(
                differences, service, labels=labels, units=None, metrics=keys,
                title=f"Cost, value and equity: difference from {ref}, {service} incidents "
                      f"(mean and 95% CI over {reps} replication{'s' if reps != 1 else ''})")
    figs["responses.png"] = plotting.comparison_responses(
        means, title=f"Mean response by scenario and service ({reps} "
                     f"replication{'s' if reps != 1 else ''})")
    return figs


def sensitivity_figures(result: dict[str, Any]) -> dict[str, Any]:
    """``tornado_<figure>.png`` for each headline figure of a sensitivity study
    (``result``: its ``sensitivity.json``)."""
    ranges = {a["name"]: f"{a['key'].split('.')[-1]} {a['range']}"
              for a in result["assumptions"]}
    reps = result["replications"]
    figs: dict[str, Any] = {}
    for h in result["headlines"]:
        if not h.get("oat"):
            continue
        figs[f"tornado_{_safe_name(h['key'])}.png"] = plotting.tornado(
            h, ranges, title=f"{result['scenario']}: {h['label']}, base "
                             f"{_value_words(h['base'], h['unit'])}; each assumption at its "
                             f"low and high end\n(mean of {reps} replication"
                             f"{'s' if reps != 1 else ''}, common random numbers)")
    return figs


def _value_words(v: Any, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return mmss(v)
    if unit == "share":
        return f"{100 * v:.1f}%"
    return f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
