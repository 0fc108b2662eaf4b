"""Figures for people: each takes result tables (never model objects), accepts ``ax`` and returns
the figure. Nothing here calls ``show()`` or picks a backend; the caller saves or displays.

Conventions, the same in every figure (and in :mod:`dronesim.outputs.tables` and the HTML report):

* Times are plotted in seconds and labelled ``m:ss`` (:func:`mmss_axis`), never decimal minutes.
* Confidence bands and error bars of non-negative figures (responses, shares, counts) are clipped
  at zero (shares also at 100%): a Student-t interval over few replications can reach below zero,
  a response time cannot.
* Ground responders are named per service (:func:`dronesim.outputs.tables.ground_label`: officers,
  fire engines, ambulances, or ground units for a mix); callers pass the label.
* Every figure has a title and axis labels with units.
* The map shades what :mod:`dronesim.siting.coverage` computes as reachable *within the target time*
  (decision, launch, climb and descent subtracted, the rest flown at cruise speed, airspace cut
  included) and outlines the drones' flight range separately, each labelled with its distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, Locator

from ..kpis import registry as _registry
from .tables import GROUND_NOUNS, mmss

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely
    from matplotlib.artist import Artist
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.text import Annotation
    from pandas.core.groupby import DataFrameGroupBy

__all__ = ["borough_map", "response_distributions", "borough_responses", "sweep_coverage",
           "sweep_response", "sweep_borough_heatmap", "comparison_forest",
           "comparison_responses", "mmss_axis", "TimeLocator", "place_labels", "tornado",
           "trade_off_front"]

DRONE_C = "#1f77b4"
GROUND_C = "#d62728"
RANGE_C = "#1f4e79"


def _fig_ax(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure | SubFigure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return ax.figure, ax


# --------------------------------------------------------------------------------------------
# Time axes in m:ss
# --------------------------------------------------------------------------------------------

#: Tick steps of a time axis, seconds: round numbers a person reads as times.
_TIME_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200)


class TimeLocator(Locator):
    """Ticks of a seconds axis at round time steps (10 s, 30 s, 1 min, 5 min, ...)."""

    def __init__(self, max_ticks: int = 8) -> None:
        self.max_ticks = max_ticks

    # matplotlib's stubs declare Sequence[float]; its own locators return arrays, as this one does
    def __call__(self) -> np.ndarray:  # type: ignore[override]
        assert self.axis is not None, "a locator is called once set on an axis"
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:  # type: ignore[override]
        lo, hi = sorted((float(vmin), float(vmax)))
        span = hi - lo
        if not math.isfinite(span) or span <= 0:
            return np.array([lo])
        step = next((s for s in _TIME_STEPS_S if span / s <= self.max_ticks),
                    _TIME_STEPS_S[-1] * math.ceil(span / (_TIME_STEPS_S[-1] * self.max_ticks)))
        start = math.ceil(lo / step - 1e-9) * step
        return np.arange(start, hi + step * 1e-9, step)


def mmss_axis(axis: Axis, signed: bool = False, max_ticks: int = 8) -> None:
    """Label a matplotlib axis holding seconds as ``m:ss`` at round time steps.

    Parameters
    ----------
    axis
        ``ax.xaxis`` or ``ax.yaxis``.
    signed
        Put ``+`` before positive values (differences).
    """
    axis.set_major_locator(TimeLocator(max_ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _p: mmss(v, signed)))


def _nonneg(lo: np.ndarray, hi: np.ndarray, upper: float | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """An interval of a non-negative figure clipped at 0 (and at ``upper`` for a share)."""
    lo = np.clip(np.asarray(lo, float), 0.0, upper)
    hi = np.clip(np.asarray(hi, float), 0.0, upper)
    return lo, hi


def _err(m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """Error-bar lengths below and above ``m`` (0 where an end is missing)."""
    return [np.clip(np.nan_to_num(m - lo), 0, None), np.clip(np.nan_to_num(hi - m), 0, None)]


# --------------------------------------------------------------------------------------------
# Labels placed without overlap
# --------------------------------------------------------------------------------------------

#: Candidate label offsets (points), nearest first: right, left, above, below, the diagonals,
#: then the same directions further out.
_OFFSETS = [(dx * r, dy * r) for r in (9, 16, 26, 38)
            for dx, dy in ((1, 0.35), (-1, 0.35), (0, 1), (0, -1.3), (1, 1), (-1, 1), (1, -1),
                           (-1, -1))]


def place_labels(ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 fontsize: float = 8, avoid_radius_pt: float = 6.0, **text_kw: Any) -> list:
    """Annotate points with labels that overlap neither each other nor the points.

    Greedy: each label (top to bottom) takes the first of a ring of candidate offsets whose box
    is free; a label moved away from its point gets a thin leader line. When every candidate is
    taken the last (furthest) one is used. Boxes are measured in display space after the figure
    is laid out, so the result holds at the figure's size.

    Returns the annotation artists.
    """
    fig = ax.figure
    fig.canvas.draw()  # lay out first: the transform from data to display must be final
    # every raster canvas (Agg, the default for files) has get_renderer; the stubs' base lacks it
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    scale = fig.dpi / 72.0
    r = avoid_radius_pt * scale
    taken = [(x - r, y - r, x + r, y + r) for x, y in pts]
    order = np.argsort(-pts[:, 1], kind="stable")
    out: list = [None] * len(texts)
    for k in order:
        best: tuple[Annotation, tuple[float, float, float, float], tuple[float, float]] | None
        best = None
        for dx, dy in _OFFSETS:
            ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
            va = "bottom" if dy > 0 else ("top" if dy < 0 else "center")
            ann = ax.annotate(texts[k], (xs[k], ys[k]), xytext=(dx, dy),
                              textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                              **text_kw)
            bb = ann.get_window_extent(renderer).padded(1.5 * scale)
            box = (bb.x0, bb.y0, bb.x1, bb.y1)
            free = all(box[2] <= t[0] or box[0] >= t[2] or box[3] <= t[1] or box[1] >= t[3]
                       for t in taken)
            if best is not None:
                best[0].remove()
            best = (ann, box, (dx, dy))
            if free:
                break
        assert best is not None  # _OFFSETS is not empty
        ann, box, (dx, dy) = best
        if math.hypot(dx, dy) > 10:  # moved away from its point: draw a leader line
            ann.remove()
            ann = ax.annotate(texts[k], (xs[k], ys[k]), xytext=(dx, dy),
                              textcoords="offset points", ha=ann.get_horizontalalignment(),
                              va=ann.get_verticalalignment(),
                              fontsize=fontsize, arrowprops=dict(
                                  arrowstyle="-", lw=0.5, color="#555555", shrinkA=0,
                                  shrinkB=3), **text_kw)
        taken.append(box)
        out[k] = ann
    return out


# --------------------------------------------------------------------------------------------
# Run figures
# --------------------------------------------------------------------------------------------


def _draw_map_layers(ax: Axes, boroughs: gpd.GeoDataFrame, docks: pd.DataFrame,
                     inc: pd.DataFrame, footprint: shapely.Geometry | None,
                     range_area: shapely.Geometry | None, zones: gpd.GeoDataFrame | None,
                     ms: float = 1.0) -> None:
    import geopandas as gpd

    boroughs.plot(ax=ax, facecolor="#f4f4f4", edgecolor="#888888", linewidth=0.6)
    if footprint is not None and not footprint.is_empty:
        gpd.GeoSeries([footprint], crs=boroughs.crs).plot(
            ax=ax, facecolor=DRONE_C, alpha=0.22, edgecolor=DRONE_C, linewidth=0.8)
    if range_area is not None and not range_area.is_empty:
        gpd.GeoSeries([range_area], crs=boroughs.crs).plot(
            ax=ax, facecolor="none", edgecolor=RANGE_C, linewidth=1.0, linestyle="--")
    if zones is not None and len(zones):
        zones.plot(ax=ax, facecolor="none", edgecolor="#b22222", hatch="///", linewidth=0.8)
    other = inc[inc["drone_outcome"] != "on_scene"]
    flown = inc[inc["drone_outcome"] == "on_scene"]
    ax.scatter(other["x"], other["y"], s=0.6 * ms, c="#999999", alpha=0.35, linewidths=0)
    ax.scatter(flown["x"], flown["y"], s=3 * ms, c=DRONE_C, alpha=0.8, linewidths=0)
    ax.scatter(docks["x"], docks["y"], marker="^", s=90, c="black", edgecolors="white",
               zorder=5)


def _km_axes(ax: Axes) -> None:
    ax.set_xlabel("Easting (km, British National Grid)")
    ax.set_ylabel("Northing (km, British National Grid)")
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v / 1000:.0f}")
    ax.yaxis.set_major_formatter(lambda v, _p: f"{v / 1000:.0f}")
    ax.set_aspect("equal")


def borough_map(boroughs: gpd.GeoDataFrame, docks: pd.DataFrame, incidents: pd.DataFrame,
                footprint: shapely.Geometry | None = None, title: str = "",
                ax: Axes | None = None, max_points: int = 20_000,
                zones: gpd.GeoDataFrame | None = None, label_docks: bool | None = None, *,
                within_s: float | None = None, reach_m: float | None = None,
                range_m: float | None = None, zoom: bool | None = None
                ) -> Figure | SubFigure:
    """Boroughs, what drones reach within the target, their flight range, no-fly zones, docks
    and a sample of incidents.

    Parameters
    ----------
    boroughs
        GeoDataFrame of borough polygons (EPSG:27700).
    docks
        Columns x, y, name, drones.
    incidents
        Columns x, y and drone_outcome (a sample of ``max_points`` is drawn).
    footprint
        The region reachable within the target time, as computed by
        :func:`dronesim.siting.coverage.static_coverage` (``StaticCoverage.footprint``): shaded.
    within_s, reach_m
        The target time and the reach it leaves (``StaticCoverage.within_s`` / ``radius_m``),
        for the legend.
    range_m
        The drones' flight range (``drones.max_range_m``): outlined (dashed) around every dock.
    zones
        Optional GeoDataFrame of no-fly polygons.
    label_docks
        Number the docks and list them in a key (default: 12 docks or fewer).
    zoom
        Add a second panel around the docks (default: when the docks and their range span less
        than a third of London; only when the function makes the figure).
    """
    import shapely
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_docks = len(docks)
    range_area = None
    if range_m and n_docks:
        range_area = shapely.union_all(shapely.buffer(
            shapely.points(docks["x"].to_numpy(float), docks["y"].to_numpy(float)), range_m,
            quad_segs=32))
    lx0, ly0, lx1, ly1 = boroughs.total_bounds
    if zoom is None:
        zoom = False
        if ax is None and n_docks:
            pad = max(range_m or 0.0, reach_m or 0.0, 1000.0)
            w = max(docks["x"].max() - docks["x"].min(), docks["y"].max() - docks["y"].min())
            zoom = w + 2 * pad < (lx1 - lx0) / 3
    fig: Figure | SubFigure
    if ax is None:
        if zoom:
            fig, (ax, zax) = plt.subplots(1, 2, figsize=(14, 6.6), layout="constrained",
                                          width_ratios=[1.35, 1])
        else:
            fig, ax = plt.subplots(figsize=(9, 7.5), layout="constrained")
            zax = None
    else:
        fig, zax = ax.figure, None
    inc = incidents
    if len(inc) > max_points:
        inc = inc.sample(max_points, random_state=0)
    _draw_map_layers(ax, boroughs, docks, inc, footprint, range_area, zones)
    _km_axes(ax)
    if label_docks is None:
        label_docks = n_docks <= 12
    label_ax = ax
    if zax is not None:
        pad = max(range_m or 0.0, reach_m or 0.0, 1000.0) * 1.6
        x0, x1 = docks["x"].min() - pad, docks["x"].max() + pad
        y0, y1 = docks["y"].min() - pad, docks["y"].max() + pad
        sel = inc[(inc["x"] >= x0) & (inc["x"] <= x1) & (inc["y"] >= y0) & (inc["y"] <= y1)]
        _draw_map_layers(zax, boroughs, docks, sel, footprint, range_area, zones, ms=3.0)
        zax.set_xlim(x0, x1)
        zax.set_ylim(y0, y1)
        _km_axes(zax)
        zax.set_title("Around the docks", fontsize=10)
        ax.indicate_inset_zoom(zax, edgecolor="#444444")
        label_ax = zax
    handles: list[Artist] = [
        Line2D([], [], ls="", marker="o", ms=3, color="#999999", label="incident (ground only)"),
        Line2D([], [], ls="", marker="o", ms=4, color=DRONE_C,
               label="incident with a drone on scene"),
        Line2D([], [], ls="", marker="^", ms=9, color="black",
               label=f"dock site ({n_docks}; {int(docks['drones'].sum()) if n_docks else 0} "
                     "drones)"),
    ]
    if footprint is not None and not footprint.is_empty:
        if within_s is not None:
            what = f"drone on scene within {mmss(within_s)} of the call"
            if reach_m is not None:
                what += f"\n(reach {reach_m / 1000:.1f} km after decision, launch, climb, descent)"
        else:
            what = "reachable within the target time"
        handles.append(Patch(facecolor=DRONE_C, alpha=0.35, edgecolor=DRONE_C, label=what))
    if range_area is not None:
        assert range_m is not None  # a range area is drawn only for a range
        handles.append(Line2D([], [], color=RANGE_C, ls="--", lw=1.0,
                              label=f"drone flight range {range_m / 1000:.1f} km "
                                    "(farthest dispatch)"))
    if zones is not None and len(zones):
        handles.append(Patch(facecolor="none", edgecolor="#b22222", hatch="///",
                             label="no-fly zone"))
    if zax is not None:
        ax.set_title("London", fontsize=10)
        fig.suptitle(title or "Drone docks, coverage and incidents")
    else:
        ax.set_title(title or "Drone docks, coverage and incidents")
    legend = ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)
    if label_docks and n_docks:
        # Numbers on the map, names in a key: no name can overlap another, however close the
        # docks stand; the numbers themselves are placed clear of each other and the markers.
        key = [Line2D([], [], ls="", marker=f"${k + 1}$", ms=7, color="black",
                      label=f"{d['name']} ({int(d['drones'])} drones)")
               for k, (_, d) in enumerate(docks.iterrows())]
        if label_ax is ax:
            ax.add_artist(legend)  # keep it: a second legend() would replace it
        label_ax.legend(handles=key, loc="upper left", fontsize=8, title="dock sites",
                        title_fontsize=8, framealpha=0.9)
        nums = [str(k + 1) for k in range(n_docks)]
        place_labels(label_ax, docks["x"].to_numpy(float), docks["y"].to_numpy(float), nums,
                     fontsize=8, fontweight="bold",
                     bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    return fig


def response_cdf_data(incidents: pd.DataFrame) -> dict[str, np.ndarray]:
    """The sorted response times :func:`response_distributions` draws, pooled over every
    incident given (every replication in ``incidents``): ``drone`` (drone on scene),
    ``ground_drone`` (ground response on those incidents) and ``ground_all``."""
    on = incidents["drone_outcome"] == "on_scene"
    return {key: np.sort(series.dropna().to_numpy(float)) for key, series in (
        ("drone", incidents.loc[on, "drone_response_s"]),
        ("ground_drone", incidents.loc[on, "ground_response_s"]),
        ("ground_all", incidents["ground_response_s"]))}


def response_distributions(incidents: pd.DataFrame, title: str = "", ax: Axes | None = None,
                           max_minutes: float = 30, ground: str = "ground units",
                           within_s: float | None = None) -> Figure | SubFigure:
    """Cumulative share of incidents reached by time since call: drone against ground, the
    incidents of every replication given pooled (:func:`response_cdf_data`).

    ``ground`` names the ground responders (:func:`dronesim.outputs.tables.ground_label`);
    ``within_s`` marks the target time. The time axis is in m:ss.
    """
    fig, ax = _fig_ax(ax, (8, 5))
    data = response_cdf_data(incidents)
    for key, label, color, style in (
        ("drone", "drone", DRONE_C, "-"),
        ("ground_drone", f"{ground}, on the drone's incidents", GROUND_C, "--"),
        ("ground_all", f"{ground}, all incidents", GROUND_C, "-"),
    ):
        v = data[key]
        if v.size == 0:
            continue
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, ls=style,
                label=f"{label} (n={v.size:,}, mean {mmss(v.mean())})")
    for m in (2, 5, 10, 15):
        ax.axvline(m * 60, color="#bbbbbb", lw=0.7, zorder=0)
    if within_s is not None:
        ax.axvline(within_s, color="black", lw=0.9, ls=":",
                   label=f"target {mmss(within_s)}")
    ax.set_xlim(0, max_minutes * 60)
    ax.set_ylim(0, 1)
    mmss_axis(ax.xaxis)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
    ax.set_xlabel("Response time since the call (m:ss)")
    ax.set_ylabel("Share of incidents reached (%)")
    ax.set_title(title or f"Response time: drone against {ground}")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def borough_responses(per_borough: list[dict[str, Any]], title: str = "",
                      ax: Axes | None = None, ground: str = "ground units"
                      ) -> Figure | SubFigure:
    """Mean response per borough with 95% intervals: ground responders, and drones where they
    fly. Every borough is listed; one without incidents in the window is marked
    "(no incidents)" at the bottom instead of being left out."""
    fig, ax = _fig_ax(ax, (9, 9.5))
    rows = [r for r in per_borough if r.get("ground_response_s")]
    rows.sort(key=lambda r: r["ground_response_s"]["mean"])
    empty = sorted((r for r in per_borough if not r.get("ground_response_s")),
                   key=lambda r: r["name"])
    y = np.arange(len(rows))

    def col(blocks: list[dict[str, Any] | None], key: str, i: int | None = None) -> np.ndarray:
        out = []
        for b in blocks:
            v = b.get(key) if b and b.get("n") else None
            if i is not None and v is not None:
                v = v[i]
            out.append(np.nan if v is None else float(v))
        return np.asarray(out, float)

    gb = [r["ground_response_s"] for r in rows]
    g, glo, ghi = col(gb, "mean"), col(gb, "ci95_mean", 0), col(gb, "ci95_mean", 1)
    glo, ghi = _nonneg(glo, ghi)
    ax.barh(y, g, color=GROUND_C, alpha=0.35, label=f"{ground}: mean")
    ax.errorbar(g, y, xerr=_err(g, glo, ghi), fmt="none", ecolor=GROUND_C, capsize=2, lw=0.8)
    db = [r.get("drone_response_s") for r in rows]
    dm = col(db, "mean")
    ok = ~np.isnan(dm)
    if ok.any():
        dlo, dhi = _nonneg(col(db, "ci95_mean", 0), col(db, "ci95_mean", 1))
        e = _err(dm, dlo, dhi)
        ax.errorbar(dm[ok], y[ok], xerr=[e[0][ok], e[1][ok]], fmt="o", color=DRONE_C,
                    capsize=2, ms=5, label="drone: mean")
    labels = [r["name"] for r in rows]
    if empty:
        ye = np.arange(len(rows), len(rows) + len(empty))
        labels += [f"{r['name']} (no incidents)" for r in empty]
        for yy in ye:
            ax.text(0.01, float(yy), "no incidents in the measured window", va="center", fontsize=7,
                    color="#666666", transform=ax.get_yaxis_transform())
        y = np.concatenate([y, ye])
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(left=0)
    mmss_axis(ax.xaxis)
    ax.set_xlabel("Mean response since the call (m:ss), 95% CI across replications")
    ax.set_ylabel("Borough (fastest ground response at the top)")
    ax.set_title(title or "Response by borough")
    ax.legend(loc="upper right", fontsize=8)  # fastest boroughs at the top: short bars
    return fig


# --------------------------------------------------------------------------------------------
# Sweep figures
# --------------------------------------------------------------------------------------------


def _band(ax: Axes, g: DataFrameGroupBy, col: str, color: str, label: str,
          upper: float | None = None) -> pd.DataFrame:
    """Mean across replications with a 95% CI band, clipped at 0 (and ``upper``); unstable
    steps drawn hollow, without a band."""
    from ..kpis.statistics import ci95

    stats = []
    for xv, grp in g:
        vals = grp[col].to_numpy(float)
        lo, hi = ci95(vals)
        m = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
        stats.append((xv, m, lo, hi, bool(grp["unstable"].any())))
    s = pd.DataFrame(stats, columns=["x", "m", "lo", "hi", "unstable"])
    s["lo"], s["hi"] = _nonneg(s["lo"].to_numpy(), s["hi"].to_numpy(), upper)
    ok = s[~s["unstable"]]
    ax.plot(ok["x"], ok["m"], "-o", color=color, ms=4, label=label)
    ax.fill_between(ok["x"], ok["lo"], ok["hi"], color=color, alpha=0.2, lw=0)
    bad = s[s["unstable"]]
    if len(bad):
        ax.plot(bad["x"], bad["m"], "o", mfc="none", color=color, label=f"{label} (unstable)")
    return s


def sweep_coverage(steps: pd.DataFrame, within_s: float, n_boroughs: int = 33,
                   title: str = "", ax: Axes | None = None) -> Figure | SubFigure:
    """Static and simulated coverage against fleet size, boroughs covered on a second axis.

    The simulated line is "suited reached within target"
    (defined in :mod:`dronesim.kpis.statistics`), as in ``run`` and ``compare``.
    """
    fig, ax = _fig_ax(ax, (8.5, 5))
    t = mmss(within_s)
    first = steps.groupby("fleet_size").first().reset_index()
    ax.plot(first["fleet_size"], first["population_share"] * 100, "-s", color="#2ca02c", ms=4,
            label=f"population within {t} of a dock (static)")
    ax.plot(first["fleet_size"], first["area_share"] * 100, "-^", color="#8c564b", ms=4,
            label=f"area within {t} of a dock (static)")
    g = steps.assign(pct=steps["suited_share_within_target"] * 100).groupby("fleet_size")
    _band(ax, g, "pct", DRONE_C, f"drone-suited incidents reached within {t} "
          "(simulated, 95% CI)", upper=100.0)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Fleet size (drones)")
    ax.set_ylabel(f"Share within {t} of the call (%)")
    ax2 = ax.twinx()
    ax2.step(first["fleet_size"], first["boroughs_covered"], where="post", color="#7f7f7f",
             ls="--", label="boroughs covered (right axis)")
    ax2.set_ylim(0, n_boroughs + 1)
    ax2.set_ylabel(f"Boroughs covered (of {n_boroughs})")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
    ax.set_title(title or "Coverage as the fleet grows")
    return fig


def sweep_response(steps: pd.DataFrame, title: str = "", ax: Axes | None = None,
                   ground: str = "ground units") -> Figure | SubFigure:
    """Mean and P90 drone response against fleet size with 95% CI bands (clipped at 0); the
    ground responders' mean (named by ``ground``) for scale. Times in m:ss."""
    fig, ax = _fig_ax(ax, (8.5, 5))
    for col, label, color in (("drone_mean_s", "drone mean", DRONE_C),
                              ("drone_p90_s", "drone P90", "#9467bd"),
                              ("ground_mean_s", f"{ground}: mean", GROUND_C)):
        _band(ax, steps.groupby("fleet_size"), col, color, label)
    ax.set_ylim(bottom=0)
    mmss_axis(ax.yaxis)
    ax.set_xlabel("Fleet size (drones)")
    ax.set_ylabel("Response since the call (m:ss)")
    ax.set_title(title or "Response as the fleet grows")
    ax.legend(loc="upper right", fontsize=8, title="mean, 95% CI band over replications",
              title_fontsize=8)
    return fig


def trade_off_front(plans: pd.DataFrame, within_s: float, title: str = "",
                    ax: Axes | None = None, label_col: str = "fleet_size",
                    label_fmt: str = "{:g} drones") -> Figure | SubFigure:
    """Cost per year against the share of suited incidents reached within the target, one
    point per plan, coloured by the worst borough's share; the plans on the trade-off front
    (:func:`dronesim.kpis.pareto.pareto_front`, column ``on_front``) ringed and joined in order of
    cost. Error bars: 95% intervals over replications where the table has them
    (``<key>_ci_low`` / ``<key>_ci_high``, as :func:`dronesim.experiment.sweep.front_table`
    writes); plans without a cost or a mean (unstable) are left out and counted in the note."""
    fig, ax = _fig_ax(ax, (8.5, 5.5))
    t = mmss(within_s)
    cost, reach, worst = ("cost_per_year_gbp", "suited_share_within_target",
                          "equity_worst_share")
    ok = plans[np.isfinite(plans[[cost, reach, worst]].to_numpy(float)).all(axis=1)]
    x = ok[cost].to_numpy(float) / 1e6
    y = ok[reach].to_numpy(float) * 100
    w = ok[worst].to_numpy(float) * 100

    def err(key: str, centre: np.ndarray, scale: float) -> np.ndarray | None:
        lo_c, hi_c = f"{key}_ci_low", f"{key}_ci_high"
        if lo_c not in ok or hi_c not in ok:
            return None
        lo = ok[lo_c].to_numpy(float) * scale
        hi = ok[hi_c].to_numpy(float) * scale
        return np.nan_to_num(np.vstack([np.clip(centre - lo, 0, None),
                                        np.clip(hi - centre, 0, None)]))

    ax.errorbar(x, y, xerr=err(cost, x, 1e-6), yerr=err(reach, y, 100.0), fmt="none",
                ecolor="#bbbbbb", lw=0.8, zorder=1)
    sc = ax.scatter(x, y, c=w, cmap="viridis", vmin=0, vmax=max(float(np.nanmax(w)) if len(w)
                                                                   else 1.0, 1.0),
                    s=40, zorder=2, edgecolors="none")
    on = ok["on_front"].to_numpy(bool) if "on_front" in ok else np.zeros(len(ok), bool)
    if on.any():
        order = np.argsort(x[on], kind="stable")
        ax.plot(x[on][order], y[on][order], "-", color="#333333", lw=1, zorder=1,
                label="trade-off front (no plan beats it on cost, reach and worst borough)")
        ax.scatter(x[on], y[on], s=140, facecolors="none", edgecolors="#d62728", lw=1.5,
                   zorder=3, label="plan on the front")
    if len(ok):
        place_labels(ax, list(x), list(y), [label_fmt.format(v) for v in ok[label_col]],
                     fontsize=7)
    cb = fig.colorbar(sc, ax=ax)
    cb.set_label(f"Worst borough: suited reached within {t} (%)")
    ax.set_xlabel("Cost per year (GBP million)")
    ax.set_ylabel(f"Drone-suited incidents reached within {t} (%)")
    left = len(plans) - len(ok)
    ax.set_title(title or "Trade-off: cost against reach")
    note = "bars: 95% intervals over replications"
    if left:
        note += f"; {left} plan(s) without cost or mean left out"
    ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, color="#555555",
            va="bottom")
    if on.any():
        ax.legend(loc="upper left", fontsize=8)
    return fig


def sweep_borough_heatmap(boroughs: pd.DataFrame, threshold: float, title: str = "",
                          ax: Axes | None = None) -> Figure | SubFigure:
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
    ax.set_ylabel("Borough")
    fig.colorbar(im, ax=ax, label="Population within target (%)", shrink=0.6)
    ax.set_title(title or f"Borough coverage by growth step (bold: at least {threshold:.0%})")
    return fig


# --------------------------------------------------------------------------------------------
# Scenario comparisons (dronesim.experiment.compare)
# --------------------------------------------------------------------------------------------

#: How each unit group of a comparison is drawn: scale factor and axis label of a difference
#: (declared with the figures in :mod:`dronesim.kpis.registry`).
_COMPARE_UNITS = {key: (u.scale, u.axis) for key, u in _registry.UNITS.items()}
_SCENARIO_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


#: The unit groups of the response and reach figures; costs, value and equity (GBP, hours,
#: index) are drawn in a forest of their own.
RESPONSE_UNITS = ("s", "share", "per_week")


def comparison_forest(differences: pd.DataFrame, service: str = "all", title: str = "",
                      ax: Axes | Sequence[Axes] | np.ndarray | None = None,
                      labels: dict[str, str] | None = None,
                      units: Sequence[str] | None = RESPONSE_UNITS,
                      metrics: Sequence[str] | None = None) -> Figure | SubFigure:
    """Forest plot: each scenario's mean difference from the reference with its 95% interval.

    ``differences`` is the tidy table of :func:`dronesim.experiment.compare.compare_scenarios`
    (columns scenario, reference, service, metric, unit, diff_mean, ci_low, ci_high, paired). One
    panel per unit (times in m:ss, percentage points, incidents per week) so each has a sensible
    scale; metrics on the vertical axis, one marker per scenario, filled when the interval excludes
    zero. ``ax``: a sequence of axes, one per unit present (default: a new figure). ``labels``
    maps metric keys to readable names. ``units``: the unit groups drawn (default: times,
    shares and counts per week; None: every unit present); ``metrics``: only these figures.
    """
    d = differences[differences["service"] == service]
    if metrics is not None:
        d = d[d["metric"].isin(list(metrics))]
    units = [u for u in _COMPARE_UNITS if (d["unit"] == u).any()
             and (units is None or u in units)]
    fig: Figure | SubFigure
    axes: list[Axes]
    if ax is None:
        heights = [max(1, d.loc[d["unit"] == u, "metric"].nunique()) for u in units] or [1]
        fig, grid = plt.subplots(len(units) or 1, 1, figsize=(8.5, 1.6 + 0.42 * sum(heights)),
                                 height_ratios=heights, layout="constrained", squeeze=False)
        axes = list(grid[:, 0])
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
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
            a.errorbar(m, y, xerr=_err(m, lo, hi), fmt="none", ecolor=color, capsize=2, lw=1)
            a.plot(m[sig], y[sig], "o", color=color, ms=5,
                   label=f"{scn}{'' if paired else ' (unpaired, Welch)'}")
            a.plot(m[~sig], y[~sig], "o", mfc="white", color=color, ms=5)
        a.axvline(0, color="black", lw=0.8)
        a.set_yticks(np.arange(len(metrics_)),
                     [(labels or {}).get(m, m) for m in metrics_], fontsize=8)
        a.invert_yaxis()
        if unit == "s":
            mmss_axis(a.xaxis, signed=True)
        a.set_xlabel(xlabel.format(ref=ref), fontsize=9)
        a.grid(axis="x", color="#dddddd", lw=0.6)
    if axes and units:
        axes[0].legend(loc="best", fontsize=8, title="scenario (filled: 95% CI excludes 0)",
                       title_fontsize=8)
    fig.suptitle(title or f"Difference from {ref}, service {service} (mean, 95% CI over "
                          "replications)", fontsize=11)
    return fig


def comparison_responses(means: pd.DataFrame, title: str = "", ax: Axes | None = None
                         ) -> Figure | SubFigure:
    """Mean drone and ground response per scenario and service, 95% intervals as error bars
    (clipped at 0), in m:ss.

    ``means`` is :attr:`dronesim.experiment.compare.ComparisonResult.means` (columns scenario,
    service, metric, mean, ci_low, ci_high); rows for ``drone_response_mean_s`` and
    ``ground_response_mean_s`` are drawn. Ground responders are named per service (officers,
    fire engines, ambulances; ground units for all services together).
    """
    fig, ax = _fig_ax(ax, (9, 5))
    keys = ("drone_response_mean_s", "ground_response_mean_s")
    m = means[means["metric"].isin(keys)]
    scenarios = list(dict.fromkeys(m["scenario"]))
    groups = [(s, k) for s in dict.fromkeys(m["service"]) for k in keys]
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(groups))
    for j, scn in enumerate(scenarios):
        rows = m[m["scenario"] == scn].set_index(["service", "metric"])
        r = rows.reindex(pd.MultiIndex.from_tuples(groups))
        v = r["mean"].to_numpy(float)
        lo, hi = _nonneg(r["ci_low"].to_numpy(float), r["ci_high"].to_numpy(float))
        xs = x + (j - (len(scenarios) - 1) / 2) * width
        color = _SCENARIO_COLORS[j % len(_SCENARIO_COLORS)]
        ax.bar(xs, v, width * 0.95, color=color, alpha=0.8, label=scn)
        ax.errorbar(xs, v, yerr=_err(v, lo, hi), fmt="none", ecolor="black", capsize=2, lw=0.8)

    def who(service: str, key: str) -> str:
        if key == "drone_response_mean_s":
            return "drone"
        return GROUND_NOUNS.get(service, "ground units")

    ax.set_xticks(x, [f"{'all services' if s == 'all' else s}\n{who(s, k)}"
                      for s, k in groups], fontsize=8)
    ax.set_ylim(bottom=0)
    mmss_axis(ax.yaxis)
    ax.set_ylabel("Mean response since the call (m:ss), 95% CI")
    ax.set_xlabel("Service and responder")
    ax.legend(fontsize=8, title="scenario", title_fontsize=8)
    ax.set_title(title or "Mean response by scenario and service")
    return fig


# --------------------------------------------------------------------------------------------
# Sensitivity (dronesim.experiment.sensitivity): tornado of one headline figure
# --------------------------------------------------------------------------------------------

LOW_C = "#6baed6"
HIGH_C = "#08519c"


def tornado(headline: dict[str, Any], ranges: dict[str, str], title: str = "",
            ax: Axes | None = None, max_bars: int = 12) -> Figure | SubFigure:
    """Horizontal bars from the figure's base value to its value with each assumption at its
    low (light) and high (dark) end, the largest swing on top (at most ``max_bars``).

    ``headline``: one entry of ``sensitivity.json`` ``headlines`` (``key``, ``label``, ``unit``,
    ``base``, ``oat``); ``ranges``: assumption name -> its range in words (the bar's label).
    Times on an m:ss axis, shares in percent.
    """
    oat = [o for o in headline.get("oat", []) if o["at_low"] is not None
           and o["at_high"] is not None][:max_bars]
    fig, ax = _fig_ax(ax, (8.5, 1.2 + 0.42 * max(len(oat), 1)))
    unit = headline["unit"]
    scale = 100.0 if unit == "share" else 1.0
    base = (headline.get("base") or 0.0) * scale
    ys = np.arange(len(oat))[::-1]
    for y, o in zip(ys, oat):
        lo, hi = o["at_low"] * scale, o["at_high"] * scale
        ax.barh(y, lo - base, left=base, color=LOW_C, height=0.6,
                label="assumption at its low end" if y == ys[0] else None)
        ax.barh(y, hi - base, left=base, color=HIGH_C, height=0.6,
                label="assumption at its high end" if y == ys[0] else None)
    ax.axvline(base, color="black", lw=1, label="scenario's value")
    ax.set_yticks(ys, [f"{o['assumption']}\n({ranges.get(o['assumption'], '')})" for o in oat],
                  fontsize=8)
    name = _registry.UNITS[unit].name
    if unit == "s":
        mmss_axis(ax.xaxis)
        ax.set_xlabel(f"{headline['label']} (m:ss)")
    elif unit == "share":
        ax.set_xlabel(f"{headline['label']} (%)")
    else:
        ax.set_xlabel(f"{headline['label']} ({name})")
    if not oat:
        ax.text(0.5, 0.5, "no one-at-a-time values", transform=ax.transAxes, ha="center")
    ax.set_title(title or f"How far {headline['label']} moves, one assumption at a time",
                 fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32 if len(oat) < 4 else -0.12),
              ncol=3, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig
