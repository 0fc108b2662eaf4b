"""Figures for people: each takes result tables (never model objects), accepts ``ax`` and returns
the figure. Nothing here calls ``show()`` or picks a backend; the caller saves or displays.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["borough_map", "response_distributions", "borough_responses"]

DRONE_C = "#1f77b4"
GROUND_C = "#d62728"


def _fig_ax(ax: Any, size: tuple[float, float]):
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return ax.figure, ax


def borough_map(boroughs, docks: pd.DataFrame, incidents: pd.DataFrame, footprint=None,
                title: str = "", ax: Any = None, max_points: int = 20_000):
    """Boroughs, the drone coverage footprint, docks and a sample of incidents (BNG, km).

    ``docks`` needs columns x, y, name, drones; ``incidents`` x, y and drone_outcome.
    """
    import geopandas as gpd

    fig, ax = _fig_ax(ax, (9, 7.5))
    boroughs.plot(ax=ax, facecolor="#f4f4f4", edgecolor="#888888", linewidth=0.6)
    if footprint is not None and not footprint.is_empty:
        gpd.GeoSeries([footprint], crs=boroughs.crs).plot(
            ax=ax, facecolor=DRONE_C, alpha=0.18, edgecolor=DRONE_C, linewidth=0.8)
    inc = incidents
    if len(inc) > max_points:
        inc = inc.sample(max_points, random_state=0)
    other = inc[inc["drone_outcome"] != "on_scene"]
    flown = inc[inc["drone_outcome"] == "on_scene"]
    ax.scatter(other["x"], other["y"], s=0.6, c="#999999", alpha=0.35, linewidths=0)
    ax.scatter(flown["x"], flown["y"], s=3, c=DRONE_C, alpha=0.8, linewidths=0)
    ax.scatter(docks["x"], docks["y"], marker="^", s=90, c="black", edgecolors="white",
               zorder=5)
    for _, d in docks.iterrows():
        ax.annotate(f"{d['name']} ({int(d['drones'])})", (d["x"], d["y"]), xytext=(5, 5),
                    textcoords="offset points", fontsize=8)
    ax.set_title(title or "Drone docks, coverage and incidents")
    ax.set_xlabel("Easting (km, British National Grid)")
    ax.set_ylabel("Northing (km, British National Grid)")
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v / 1000:.0f}")
    ax.yaxis.set_major_formatter(lambda v, _p: f"{v / 1000:.0f}")
    ax.set_aspect("equal")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], ls="", marker="o", ms=3, color="#999999", label="incident (ground only)"),
        Line2D([], [], ls="", marker="o", ms=4, color=DRONE_C,
               label="incident with a drone on scene"),
        Line2D([], [], ls="", marker="^", ms=9, color="black", label="dock site (drones)"),
    ]
    if footprint is not None and not footprint.is_empty:
        handles.append(Patch(facecolor=DRONE_C, alpha=0.3, label="reachable within target"))
    ax.legend(handles=handles, loc="lower left", fontsize=8)
    return fig


def response_distributions(incidents: pd.DataFrame, title: str = "", ax: Any = None,
                           max_minutes: float = 30):
    """Cumulative share of incidents reached by time since call: drone against ground."""
    fig, ax = _fig_ax(ax, (8, 5))
    drone = incidents.loc[incidents["drone_outcome"] == "on_scene", "drone_response_s"].dropna()
    ground_all = incidents["ground_response_s"].dropna()
    ground_d = incidents.loc[incidents["drone_outcome"] == "on_scene",
                             "ground_response_s"].dropna()
    for series, label, color, style in (
        (drone, "drone", DRONE_C, "-"),
        (ground_d, "ground, same incidents", GROUND_C, "--"),
        (ground_all, "ground, all incidents", GROUND_C, "-"),
    ):
        if len(series) == 0:
            continue
        v = np.sort(series.to_numpy() / 60)
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, ls=style,
                label=f"{label} (n={v.size:,}, mean {v.mean():.1f} min)")
    for m in (2, 5, 10, 15):
        ax.axvline(m, color="#bbbbbb", lw=0.7, zorder=0)
    ax.set_xlim(0, max_minutes)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Response time since call (minutes)")
    ax.set_ylabel("Share of incidents reached")
    ax.set_title(title or "Response time: drone against ground units")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def borough_responses(per_borough: list[dict[str, Any]], title: str = "", ax: Any = None):
    """Mean response per borough with 95% intervals: ground units, and drones where they fly."""
    fig, ax = _fig_ax(ax, (9, 9))
    rows = [r for r in per_borough if r.get("ground_response_s")]
    rows.sort(key=lambda r: r["ground_response_s"]["mean"])
    y = np.arange(len(rows))
    g = np.array([r["ground_response_s"]["mean"] for r in rows]) / 60
    glo = np.array([r["ground_response_s"]["ci95_mean"][0] for r in rows]) / 60
    ghi = np.array([r["ground_response_s"]["ci95_mean"][1] for r in rows]) / 60
    ax.barh(y, g, color=GROUND_C, alpha=0.35, label="ground units: mean")
    ax.errorbar(g, y, xerr=[np.nan_to_num(g - glo), np.nan_to_num(ghi - g)], fmt="none",
                ecolor=GROUND_C, capsize=2, lw=0.8)
    dr = [r["drone_response_s"] for r in rows]
    dm = np.array([d["mean"] if d and d["n"] else np.nan for d in dr]) / 60
    ok = ~np.isnan(dm)
    if ok.any():
        dlo = np.array([d["ci95_mean"][0] if d and d["n"] else np.nan for d in dr]) / 60
        dhi = np.array([d["ci95_mean"][1] if d and d["n"] else np.nan for d in dr]) / 60
        ax.errorbar(dm[ok], y[ok], xerr=[np.nan_to_num(dm - dlo)[ok], np.nan_to_num(dhi - dm)[ok]],
                    fmt="o", color=DRONE_C, capsize=2, ms=5, label="drone: mean")
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
    ax.set_xlabel("Mean response since call (minutes), 95% CI across replications")
    ax.set_title(title or "Response by borough")
    ax.legend(loc="lower right", fontsize=8)
    return fig
