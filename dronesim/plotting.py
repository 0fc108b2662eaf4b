"""Figures for people: each takes result tables (never model objects), accepts ``ax`` and returns
the figure. Nothing here calls ``show()`` or picks a backend; the caller saves or displays.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["borough_map", "response_distributions", "borough_responses", "sweep_coverage",
           "sweep_response", "sweep_borough_heatmap", "comparison_forest",
           "comparison_responses"]

DRONE_C = "#1f77b4"
GROUND_C = "#d62728"


def _fig_ax(ax: Any, size: tuple[float, float]):
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return ax.figure, ax


def borough_map(boroughs, docks: pd.DataFrame, incidents: pd.DataFrame, footprint=None,
                title: str = "", ax: Any = None, max_points: int = 20_000, zones=None,
                label_docks: bool | None = None):
    """Boroughs, the drone coverage footprint, no-fly zones, docks and a sample of incidents.

    ``docks`` needs columns x, y, name, drones; ``incidents`` x, y and drone_outcome; ``zones``
    is an optional GeoDataFrame of no-fly polygons. Axes in km of British National Grid.
    """
    import geopandas as gpd

    fig, ax = _fig_ax(ax, (9, 7.5))
    boroughs.plot(ax=ax, facecolor="#f4f4f4", edgecolor="#888888", linewidth=0.6)
    if footprint is not None and not footprint.is_empty:
        gpd.GeoSeries([footprint], crs=boroughs.crs).plot(
            ax=ax, facecolor=DRONE_C, alpha=0.18, edgecolor=DRONE_C, linewidth=0.8)
    if zones is not None and len(zones):
        zones.plot(ax=ax, facecolor="none", edgecolor="#b22222", hatch="///", linewidth=0.8)
    inc = incidents
    if len(inc) > max_points:
        inc = inc.sample(max_points, random_state=0)
    other = inc[inc["drone_outcome"] != "on_scene"]
    flown = inc[inc["drone_outcome"] == "on_scene"]
    ax.scatter(other["x"], other["y"], s=0.6, c="#999999", alpha=0.35, linewidths=0)
    ax.scatter(flown["x"], flown["y"], s=3, c=DRONE_C, alpha=0.8, linewidths=0)
    ax.scatter(docks["x"], docks["y"], marker="^", s=90, c="black", edgecolors="white",
               zorder=5)
    if label_docks is None:
        label_docks = len(docks) <= 12
    for _, d in (docks.iterrows() if label_docks else ()):
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
    if zones is not None and len(zones):
        handles.append(Patch(facecolor="none", edgecolor="#b22222", hatch="///",
                             label="no-fly zone"))
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


def _band(ax, x, g, col, color, label):
    """Mean across replications with a 95% CI band; unstable steps drawn hollow, no band."""
    from .metrics import ci95

    stats = []
    for xv, grp in g:
        vals = grp[col].to_numpy(float)
        lo, hi = ci95(vals)
        stats.append((xv, float(np.nanmean(vals)), lo, hi, bool(grp["unstable"].any())))
    s = pd.DataFrame(stats, columns=["x", "m", "lo", "hi", "unstable"])
    ok = s[~s["unstable"]]
    ax.plot(ok["x"], ok["m"], "-o", color=color, ms=4, label=label)
    ax.fill_between(ok["x"], ok["lo"], ok["hi"], color=color, alpha=0.2, lw=0)
    bad = s[s["unstable"]]
    if len(bad):
        ax.plot(bad["x"], bad["m"], "o", mfc="none", color=color, label=f"{label} (unstable)")
    return s


def sweep_coverage(steps: pd.DataFrame, within_s: float, n_boroughs: int = 33,
                   title: str = "", ax: Any = None):
    """Static and simulated coverage against fleet size, boroughs covered on a second axis."""
    fig, ax = _fig_ax(ax, (8.5, 5))
    first = steps.groupby("fleet_size").first().reset_index()
    ax.plot(first["fleet_size"], first["population_share"] * 100, "-s", color="#2ca02c", ms=4,
            label="population within target (static)")
    ax.plot(first["fleet_size"], first["area_share"] * 100, "-^", color="#8c564b", ms=4,
            label="area within target (static)")
    g = steps.assign(pct=steps["suited_share_within_target"] * 100).groupby("fleet_size")
    _band(ax, None, g, "pct", DRONE_C, "drone-suited incidents reached within target "
          "(simulated, 95% CI)")
    ax.set_ylim(0, 100)
    ax.set_xlabel("Fleet size (drones)")
    ax.set_ylabel(f"Share within {within_s / 60:g} min of the call (%)")
    ax2 = ax.twinx()
    ax2.step(first["fleet_size"], first["boroughs_covered"], where="post", color="#7f7f7f",
             ls="--", label="boroughs covered (right axis)")
    ax2.set_ylim(0, n_boroughs + 1)
    ax2.set_ylabel("Boroughs covered")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
    ax.set_title(title or "Coverage as the fleet grows")
    return fig


def sweep_response(steps: pd.DataFrame, title: str = "", ax: Any = None):
    """Mean and P90 drone response against fleet size with 95% CI bands; officers for scale."""
    fig, ax = _fig_ax(ax, (8.5, 5))
    for col, label, color in (("drone_mean_s", "drone mean", DRONE_C),
                              ("drone_p90_s", "drone P90", "#9467bd"),
                              ("ground_mean_s", "officer mean", GROUND_C)):
        g = steps.assign(v=steps[col] / 60).groupby("fleet_size")
        _band(ax, None, g, "v", color, label)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Fleet size (drones)")
    ax.set_ylabel("Response since call (minutes), 95% CI across replications")
    ax.set_title(title or "Response as the fleet grows")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def sweep_borough_heatmap(boroughs: pd.DataFrame, threshold: float, title: str = "",
                          ax: Any = None):
    """Share of each borough's population within the target, per growth step."""
    fig, ax = _fig_ax(ax, (9, 9.5))
    tab = boroughs.pivot_table(index="name", columns="fleet_size", values="population_share")
    tab = tab.loc[tab.mean(axis=1).sort_values().index]
    im = ax.imshow(tab.to_numpy() * 100, aspect="auto", cmap="viridis", vmin=0, vmax=100)
    ax.set_yticks(range(len(tab)), tab.index, fontsize=7)
    ax.set_xticks(range(tab.shape[1]), [str(c) for c in tab.columns], fontsize=8)
    for i in range(tab.shape[0]):
        for j in range(tab.shape[1]):
            v = tab.iat[i, j]
            ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if v < 0.6 else "black",
                    fontweight="bold" if v >= threshold else "normal")
    ax.set_xlabel("Fleet size (drones)")
    fig.colorbar(im, ax=ax, label="Population within target (%)", shrink=0.6)
    ax.set_title(title or f"Borough coverage by growth step (bold: at least {threshold:.0%})")
    return fig


# --------------------------------------------------------------------------------------------
# Scenario comparisons (dronesim.compare)
# --------------------------------------------------------------------------------------------

#: How each unit group of a comparison is drawn: scale factor and axis label of a difference.
_COMPARE_UNITS = {
    "s": (1.0, "Difference from {ref} (seconds)"),
    "share": (100.0, "Difference from {ref} (percentage points)"),
    "per_week": (1.0, "Difference from {ref} (incidents per week)"),
}
_SCENARIO_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def comparison_forest(differences: pd.DataFrame, service: str = "all", title: str = "",
                      ax: Any = None, labels: dict[str, str] | None = None):
    """Forest plot: each scenario's mean difference from the reference with its 95% interval.

    ``differences`` is the tidy table of :func:`dronesim.compare.compare_scenarios` (columns
    scenario, reference, service, metric, unit, diff_mean, ci_low, ci_high, paired). One panel per
    unit (seconds, percentage points, incidents per week) so each has a sensible scale; metrics on
    the vertical axis, one marker per scenario, filled when the interval excludes zero. ``ax``: a
    sequence of axes, one per unit present (default: a new figure). ``labels`` maps metric keys to
    readable names.
    """
    d = differences[differences["service"] == service]
    units = [u for u in _COMPARE_UNITS if (d["unit"] == u).any()]
    if ax is None:
        heights = [max(1, d.loc[d["unit"] == u, "metric"].nunique()) for u in units] or [1]
        fig, axes = plt.subplots(len(units) or 1, 1, figsize=(8.5, 1.6 + 0.42 * sum(heights)),
                                 height_ratios=heights, layout="constrained", squeeze=False)
        axes = list(axes[:, 0])
    else:
        axes = list(np.atleast_1d(ax))
        if len(axes) < len(units):
            raise ValueError(f"comparison_forest needs {len(units)} axes, got {len(axes)}")
        fig = axes[0].figure
    scenarios = list(dict.fromkeys(d["scenario"]))
    ref = d["reference"].iloc[0] if len(d) else "reference"
    k = len(scenarios)
    for a, unit in zip(axes, units):
        du = d[d["unit"] == unit]
        metrics_ = list(dict.fromkeys(du["metric"]))
        scale, xlabel = _COMPARE_UNITS[unit]
        for j, scn in enumerate(scenarios):
            rows = du[du["scenario"] == scn].set_index("metric").reindex(metrics_)
            y = np.arange(len(metrics_)) + (j - (k - 1) / 2) * 0.7 / max(k, 1)
            m = rows["diff_mean"].to_numpy(float) * scale
            lo = rows["ci_low"].to_numpy(float) * scale
            hi = rows["ci_high"].to_numpy(float) * scale
            color = _SCENARIO_COLORS[j % len(_SCENARIO_COLORS)]
            paired = bool(rows["paired"].dropna().all()) if rows["paired"].notna().any() else True
            sig = (lo > 0) | (hi < 0)
            a.errorbar(m, y, xerr=[np.nan_to_num(m - lo), np.nan_to_num(hi - m)], fmt="none",
                       ecolor=color, capsize=2, lw=1)
            a.plot(m[sig], y[sig], "o", color=color, ms=5,
                   label=f"{scn}{'' if paired else ' (unpaired, Welch)'}")
            a.plot(m[~sig], y[~sig], "o", mfc="white", color=color, ms=5)
        a.axvline(0, color="black", lw=0.8)
        a.set_yticks(np.arange(len(metrics_)),
                     [(labels or {}).get(m, m) for m in metrics_], fontsize=8)
        a.invert_yaxis()
        a.set_xlabel(xlabel.format(ref=ref), fontsize=9)
        a.grid(axis="x", color="#dddddd", lw=0.6)
    if axes and units:
        axes[0].legend(loc="best", fontsize=8, title="scenario (filled: 95% CI excludes 0)",
                       title_fontsize=8)
    fig.suptitle(title or f"Difference from {ref}, service {service} (mean, 95% CI over "
                          "replications)", fontsize=11)
    return fig


def comparison_responses(means: pd.DataFrame, title: str = "", ax: Any = None):
    """Mean drone and ground response per scenario and service, 95% intervals as error bars.

    ``means`` is :attr:`dronesim.compare.ComparisonResult.means` (columns scenario, service,
    metric, mean, ci_low, ci_high); rows for ``drone_response_mean_s`` and
    ``ground_response_mean_s`` are drawn, in minutes.
    """
    fig, ax = _fig_ax(ax, (9, 5))
    keys = {"drone_response_mean_s": "drone", "ground_response_mean_s": "ground"}
    m = means[means["metric"].isin(list(keys))]
    scenarios = list(dict.fromkeys(m["scenario"]))
    groups = [(s, k) for s in dict.fromkeys(m["service"]) for k in keys]
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(groups))
    for j, scn in enumerate(scenarios):
        rows = m[m["scenario"] == scn].set_index(["service", "metric"])
        idx = pd.MultiIndex.from_tuples(groups)
        r = rows.reindex(idx)
        v = r["mean"].to_numpy(float) / 60
        lo = r["ci_low"].to_numpy(float) / 60
        hi = r["ci_high"].to_numpy(float) / 60
        xs = x + (j - (len(scenarios) - 1) / 2) * width
        color = _SCENARIO_COLORS[j % len(_SCENARIO_COLORS)]
        ax.bar(xs, v, width * 0.95, color=color, alpha=0.8, label=scn)
        ax.errorbar(xs, v, yerr=[np.nan_to_num(v - lo), np.nan_to_num(hi - v)], fmt="none",
                    ecolor="black", capsize=2, lw=0.8)
    ax.set_xticks(x, [f"{s}\n{keys[k]}" for s, k in groups], fontsize=8)
    ax.set_ylabel("Mean response since call (minutes), 95% CI across replications")
    ax.set_xlabel("Service and responder")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, title="scenario", title_fontsize=8)
    ax.set_title(title or "Mean response by scenario and service")
    return fig
