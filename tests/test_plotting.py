"""Figures and tables that read right (issue 10, item 5), each checked where a test can tell.

* The map shades what dronesim.siting.coverage computes as reachable within the target time
  (1.4 km on the Met baseline) and outlines the flight range (2 km) separately, each named in
  the legend.
* Dock labels never overlap, however close the docks stand.
* The borough chart lists every borough; one without incidents is marked, not dropped.
* Bands and error bars of non-negative figures never reach below zero (shares: above 100%).
* Every time axis reads m:ss; ground responders are named per service.
* The comparison table fits 100 columns; one replication prints "n/a" and a warning.
* "Suited incidents reached within the target" has one definition, used by run, sweep and
  compare.
"""

from __future__ import annotations

import copy
import json
import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import oracle
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402
from conftest import MET_BASELINE, SCENARIOS  # noqa: E402

from dronesim.inputs.scenario import load_scenario  # noqa: E402
from dronesim.kpis import statistics as metrics
from dronesim.outputs import plots as plotting  # noqa: E402
from dronesim.outputs import tables
from dronesim.outputs.results import scenario_geometry  # noqa: E402
from dronesim.siting.sites import reach_radius_m  # noqa: E402

MMSS = re.compile(r"^[+\-\u2212]?\d+:\d\d$")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tick_texts(axis) -> list[str]:
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def _legend_texts(ax) -> list[str]:
    out = []
    for leg in [ax.get_legend(), *[a for a in ax.artists if hasattr(a, "get_texts")]]:
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


# ---------------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def met_geometry():
    scn = load_scenario(MET_BASELINE)
    return scn, scenario_geometry(scn)


def test_map_shades_reach_within_target_and_outlines_flight_range(met_geometry):
    scn, geom = met_geometry
    # The coverage module decides: 120 s less 50 s of decision, launch, climb and descent at
    # 20 m/s is 1.4 km, short of the 2 km flight range.
    assert geom.reach_m == pytest.approx(reach_radius_m(scn.drones, 120.0)) == 1400.0
    assert geom.range_m == 2000.0
    # The shaded footprint is what the coverage module computed: no point of it lies farther
    # than the reach from a dock.
    fp = geom.coverage.footprint
    pts = shapely.points(np.asarray(shapely.get_coordinates(fp.boundary)))
    docks = shapely.points(geom.docks["x"], geom.docks["y"])
    nearest = np.min([shapely.distance(pts, d) for d in docks], axis=0)
    assert nearest.max() <= geom.reach_m + 1.0
    fig = plotting.borough_map(geom.london.boroughs, geom.docks,
                               pd.DataFrame({"x": [], "y": [], "drone_outcome": []}), fp,
                               zones=geom.zones, within_s=geom.within_s, reach_m=geom.reach_m,
                               range_m=geom.range_m)
    texts = " | ".join(t for ax in fig.axes for t in _legend_texts(ax))
    assert "within 2:00 of the call" in texts and "reach 1.4 km" in texts
    assert "flight range 2.0 km" in texts
    assert "Islington (3 drones)" in texts  # the dock key


def _boxes_overlap(a, b) -> bool:
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def test_dock_labels_never_overlap(london):
    # Eight docks within about a kilometre: names would pile up on one another.
    rng = np.random.default_rng(3)
    x0, y0 = 530_000.0, 181_000.0
    docks = pd.DataFrame({"name": [f"Dock with a long name {k}" for k in range(8)],
                          "x": x0 + rng.uniform(-600, 600, 8), "y": y0 + rng.uniform(-600, 600, 8),
                          "drones": 3})
    fig, ax = plt.subplots(figsize=(7, 6))
    plotting.borough_map(london.boroughs, docks, pd.DataFrame({"x": [], "y": [],
                                                               "drone_outcome": []}), ax=ax,
                         label_docks=True)
    ax.set_xlim(x0 - 3000, x0 + 3000)
    ax.set_ylim(y0 - 3000, y0 + 3000)
    for t in list(ax.texts):  # placed again below, at the final limits
        t.remove()
    anns = plotting.place_labels(ax, docks["x"].to_numpy(), docks["y"].to_numpy(),
                                 [str(k + 1) for k in range(8)])
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(r) for a in anns]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _boxes_overlap(boxes[i], boxes[j]), (i, j)
    marks = ax.transData.transform(docks[["x", "y"]].to_numpy())
    for b in boxes:  # no label covers a dock marker's centre
        assert not any(b.x0 < mx < b.x1 and b.y0 < my < b.y1 for mx, my in marks)


def test_map_labels_docks_by_number_with_a_key(met_geometry):
    _, geom = met_geometry
    fig = plotting.borough_map(geom.london.boroughs, geom.docks,
                               pd.DataFrame({"x": [], "y": [], "drone_outcome": []}),
                               geom.coverage.footprint, within_s=120, reach_m=1400,
                               range_m=2000)
    zoom = fig.axes[1]  # three docks close together: a second panel around them
    assert zoom.get_title() == "Around the docks"
    assert sorted(t.get_text() for t in zoom.texts) == ["1", "2", "3"]
    key = [t.get_text() for t in zoom.get_legend().get_texts()]
    assert key == ["Islington (3 drones)", "West End (3 drones)", "Hyde Park (3 drones)"]


# ---------------------------------------------------------------------------------------------
# Borough chart, bands, time axes, labels
# ---------------------------------------------------------------------------------------------


def _block(m: float, lo: float, hi: float) -> dict:
    return {"mean": m, "median": m, "p90": m, "ci95_mean": [lo, hi], "n": 10}


def _per_borough() -> list[dict]:
    return [
        {"gss_code": "E09000001", "name": "City of London", "incidents_per_week": 0.0,
         "drone_response_s": None, "ground_response_s": None},
        {"gss_code": "E09000002", "name": "Barking and Dagenham", "incidents_per_week": 900.0,
         "drone_response_s": _block(100.0, -20.0, 220.0),  # an interval reaching below zero
         "ground_response_s": _block(500.0, 300.0, 700.0)},
        {"gss_code": "E09000033", "name": "Westminster", "incidents_per_week": 3000.0,
         "drone_response_s": {"mean": None, "ci95_mean": [None, None], "n": 0},
         "ground_response_s": _block(400.0, 350.0, 450.0)},
    ]


def test_borough_chart_lists_city_of_london_as_no_incidents():
    fig = plotting.borough_responses(_per_borough(), ground="officers")
    ax = fig.axes[0]
    labels = _tick_texts(ax.yaxis)
    assert "City of London (no incidents)" in labels
    assert len(labels) == 3 and labels[-1] == "City of London (no incidents)"
    assert all(MMSS.match(t) for t in _tick_texts(ax.xaxis))
    assert "officers: mean" in _legend_texts(ax)


def _band_polys(ax) -> list[np.ndarray]:
    from matplotlib.collections import PolyCollection

    return [p.vertices for c in ax.collections if isinstance(c, PolyCollection)
            for p in c.get_paths()]


def _steps(col_values: dict[str, list[float]]) -> pd.DataFrame:
    n = 4
    base = {"fleet_size": [9, 9, 30, 30], "unstable": [False] * n,
            "population_share": [0.1] * n, "area_share": [0.05] * n,
            "boroughs_covered": [0] * n, "drone_mean_s": [100.0] * n,
            "drone_p90_s": [150.0] * n, "ground_mean_s": [500.0] * n,
            "suited_share_within_target": [0.5] * n}
    base.update(col_values)
    return pd.DataFrame(base)


def test_confidence_bands_never_below_zero():
    # Two replications far apart: the Student-t interval of the mean reaches far below zero.
    steps = _steps({"drone_mean_s": [5.0, 400.0, 5.0, 400.0],
                    "suited_share_within_target": [0.0, 0.95, 0.02, 1.0]})
    lo, _ = metrics.ci95([5.0, 400.0])
    assert lo < 0  # the raw interval does
    fig = plotting.sweep_response(steps, ground="officers")
    for v in _band_polys(fig.axes[0]):
        assert v[:, 1].min() >= 0.0
    fig = plotting.sweep_coverage(steps, 120.0)
    polys = _band_polys(fig.axes[0])
    assert polys
    for v in polys:
        assert v[:, 1].min() >= 0.0 and v[:, 1].max() <= 100.0


def test_error_bars_never_below_zero():
    fig = plotting.borough_responses(_per_borough())
    ax = fig.axes[0]
    fig.canvas.draw()
    from matplotlib.collections import LineCollection

    for c in ax.collections:
        if isinstance(c, LineCollection):
            for seg in c.get_segments():
                assert np.nanmin(seg[:, 0]) >= 0.0


def test_every_time_axis_reads_mmss(tmp_path):
    inc = pd.DataFrame({"drone_outcome": ["on_scene", "on_scene", "none", "none"],
                        "drone_response_s": [95.0, 130.0, np.nan, np.nan],
                        "ground_response_s": [400.0, 620.0, 555.0, 900.0]})
    fig = plotting.response_distributions(inc, ground="fire engines", within_s=120)
    ticks = _tick_texts(fig.axes[0].xaxis)
    assert ticks and all(MMSS.match(t) for t in ticks), ticks
    assert "(m:ss)" in fig.axes[0].get_xlabel()
    assert any("fire engines" in t for t in _legend_texts(fig.axes[0]))
    fig = plotting.sweep_response(_steps({}), ground="ambulances")
    ticks = _tick_texts(fig.axes[0].yaxis)
    assert ticks and all(MMSS.match(t) for t in ticks), ticks
    assert "ambulances: mean" in _legend_texts(fig.axes[0])
    means = pd.DataFrame([
        {"scenario": s, "service": svc, "metric": m, "mean": v, "ci_low": v - 30,
         "ci_high": v + 30}
        for s in ("a", "b") for svc in ("police", "fire", "ambulance")
        for m, v in (("drone_response_mean_s", 110.0), ("ground_response_mean_s", 500.0))])
    fig = plotting.comparison_responses(means)
    ax = fig.axes[0]
    ticks = _tick_texts(ax.yaxis)
    assert ticks and all(MMSS.match(t) for t in ticks), ticks
    xl = " ".join(_tick_texts(ax.xaxis))
    assert "officers" in xl and "fire engines" in xl and "ambulances" in xl
    assert "officer" not in xl.replace("officers", "")


def test_forest_plot_time_panel_in_signed_mmss():
    d = pd.DataFrame([
        {"scenario": "b", "reference": "a", "service": "all", "metric": "drone_response_mean_s",
         "unit": "s", "diff_mean": -35.0, "ci_low": -48.0, "ci_high": -22.0, "paired": True},
        {"scenario": "b", "reference": "a", "service": "all", "metric": "p_drone_first",
         "unit": "share", "diff_mean": 0.01, "ci_low": -0.01, "ci_high": 0.03, "paired": True}])
    fig = plotting.comparison_forest(d)
    ticks = _tick_texts(fig.axes[0].xaxis)
    assert ticks and all(MMSS.match(t) for t in ticks), ticks
    assert any(t.startswith("-") for t in ticks)


def test_time_locator_picks_round_steps():
    loc = plotting.TimeLocator(8)
    assert list(loc.tick_values(0, 1800)) == [0, 300, 600, 900, 1200, 1500, 1800]
    assert list(loc.tick_values(0, 130)) == [0, 20, 40, 60, 80, 100, 120]
    assert tables.mmss(119.6) == "2:00" and tables.mmss(-35, signed=True) == "-0:35"
    assert tables.mmss(35, signed=True) == "+0:35" and tables.mmss(None) == "-"


@pytest.mark.parametrize("services,plural,singular", [
    (["police"], "officers", "officer"), (["fire"], "fire engines", "fire engine"),
    (["ambulance"], "ambulances", "ambulance"),
    (["police", "fire"], "ground units", "ground unit"),
])
def test_ground_responders_named_per_service(services, plural, singular):
    assert tables.ground_label(services) == plural
    assert tables.ground_label(services, plural=False) == singular


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def test_comparison_table_fits_100_columns(results_folders):
    s = json.loads((results_folders["compare"] / "summary.json").read_text())
    text = tables.format_comparison_table(s)
    assert max(len(line) for line in text.splitlines()) <= 100
    # Eight scenarios with long names (the README's blue-light comparison) still fit.
    big = copy.deepcopy(s)
    other = s["scenarios"][1]
    for k in range(6):
        label = f"bluelight_share_something_rather_long_{k}"
        big["scenarios"].append({**other, "label": label})
        big["means"][label] = s["means"][other["label"]]
        big["differences"][label] = s["differences"][other["label"]]
    text = tables.format_comparison_table(big)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "bluelight_share_something_rather_long_5 against bluelight_separate" in text
    assert "service: all" in text and "suited reached within target" in text


@pytest.mark.parametrize("width", [100, 72])
def test_comparison_labels_are_wrapped_never_cut(results_folders, width):
    s = json.loads((results_folders["compare"] / "summary.json").read_text())
    s = copy.deepcopy(s)
    key = next(iter(s["metrics"]))
    long_label = "a figure whose label is far longer than any column could hold in one line"
    s["metrics"][key]["label"] = long_label
    text = tables.format_comparison_table(s, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    lines = text.splitlines()
    # The label's first part heads its row (before the values), the rest follows indented.
    start = next(k for k, line in enumerate(lines) if line.startswith("a figure whose"))
    parts = [re.split(r"\s{2,}", lines[start])[0]]
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        parts.append(line.strip())
    assert " ".join(parts) == long_label
    for meta in s["metrics"].values():  # no other label is cut either
        if meta["label"] != long_label and len(meta["label"]) < width - 60:
            assert any(line.startswith(meta["label"]) for line in lines)


def test_one_replication_prints_na_and_warns(results_folders):
    s = json.loads((results_folders["run1"] / "summary.json").read_text())
    assert s["replications"] == 1
    assert s["drone_response_s"]["ci95_mean"] == [None, None]  # no zero-width interval
    text = tables.format_run_table(s)
    assert "[n/a]" in text and "WARNING: 1 replication" in text
    assert "[1:" not in text.split("\n")[2]  # no interval printed around the single value
    assert all(math.isnan(v) for v in metrics.ci95([42.0]))


def test_few_replications_warn():
    assert tables.interval_warning(1).startswith("1 replication: no confidence interval")
    assert "only 3 replications" in tables.interval_warning(3)
    assert tables.interval_warning(tables.MIN_REPLICATIONS_FOR_CI) is None


def test_run_table_names_the_ground_responders(results_folders):
    s = json.loads((results_folders["run"] / "summary.json").read_text())
    text = tables.format_run_table(s)
    assert "officer response (m:ss)" in text and "suited reached within 2:00" in text


# ---------------------------------------------------------------------------------------------
# One definition of "suited incidents reached within the target"
# ---------------------------------------------------------------------------------------------


def test_suited_within_share_by_hand():
    inc = pd.DataFrame({
        "t_call": [10.0, 20.0, 30.0, 40.0, 50.0, 5.0, 500.0],
        "drone_suited": [True, True, True, True, False, True, True],
        "drone_outcome": ["on_scene", "on_scene", "out_of_range", "queue_abandoned",
                          "on_scene", "on_scene", "on_scene"],
        "drone_response_s": [100.0, 150.0, np.nan, np.nan, 50.0, 60.0, 60.0],
    })
    # Window [10, 100): four suited incidents (rows 0-3), one reached within 120 s.
    assert oracle.suited_within_share(inc, 10.0, 100.0, 120.0) == pytest.approx(0.25)
    assert oracle.suited_within_share(inc, 10.0, 100.0, 150.0) == pytest.approx(0.5)
    assert math.isnan(oracle.suited_within_share(inc.iloc[4:5], 0.0, 100.0, 120.0))


def test_run_and_sweep_report_the_same_suited_share():
    from dronesim.experiment.runner import run_scenario
    from dronesim.experiment.sweep import plan_growth, run_sweep

    scn = load_scenario(SCENARIOS / "met_growth.toml",
                        {"simulation": {"weeks": 0.05, "replications": 1}})
    sweep = run_sweep(scn, [9], replications=1, workers=1)
    (_, docks), = plan_growth(scn, [9])
    import dataclasses

    step = dataclasses.replace(scn, docks=docks,
                               siting=dataclasses.replace(scn.siting, method="listed"))
    run = run_scenario(step, replications=1, workers=1)
    rep = run.replications[0]
    by_hand = oracle.suited_within_share(rep.incidents, rep.warmup_s, rep.horizon_s,
                                          scn.coverage.within_s)
    assert run.summary["suited_within_target"]["mean"] == pytest.approx(by_hand)
    assert sweep.steps["suited_share_within_target"].iloc[0] == pytest.approx(by_hand)


def _intervals(obj, path=()):
    """Every (path, [low, high]) interval of a summary."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k).startswith("ci95") and isinstance(v, list) and len(v) == 2:
                yield path + (k,), v
            else:
                yield from _intervals(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _intervals(v, path + (i,))


@pytest.mark.parametrize("kind", ["run", "sweep", "compare"])
def test_summary_intervals_of_non_negative_figures_never_below_zero(results_folders, kind):
    s = json.loads((results_folders[kind] / "summary.json").read_text())
    if kind == "compare":
        s = s["means"]  # differences may be negative; means of figures may not
    seen = 0
    for path, (lo, hi) in _intervals(s):
        if "time_saved_s" in path or lo is None:
            continue
        seen += 1
        assert lo >= 0.0, path
        name = next(str(p) for p in reversed(path[:-1])
                    if isinstance(p, str) and not p.isdigit())
        share = (name.startswith("p_") or "share" in name or "utilisation" in name
                 or name.endswith("within_s") or name == "suited_within_target")
        if share:
            assert hi <= 1.0 + 1e-12, path
    assert seen > 5


def test_response_cdf_data_pools_every_incident_given():
    inc = pd.DataFrame({
        "replication": [0, 0, 1, 1, 2],
        "drone_outcome": ["on_scene", "declined", "on_scene", "on_scene", "out_of_range"],
        "drone_response_s": [90.0, np.nan, 60.0, 120.0, np.nan],
        "ground_response_s": [400.0, 500.0, 300.0, np.nan, 700.0]})
    d = plotting.response_cdf_data(inc)
    assert d["drone"].tolist() == [60.0, 90.0, 120.0]
    assert d["ground_drone"].tolist() == [300.0, 400.0]
    assert d["ground_all"].tolist() == [300.0, 400.0, 500.0, 700.0]


def test_run_response_cdf_plots_every_replication(tmp_path, monkeypatch):
    """plots/response_cdf.png pools the incidents of every replication, and its title says so
    (it once drew only the first replication under a title naming all of them)."""
    from dronesim.cli import main
    from dronesim.outputs.results import open_results

    drawn = []
    real = plotting.response_distributions

    def spy(incidents, *a, **kw):
        drawn.append((incidents.copy(), kw.get("title", "")))
        return real(incidents, *a, **kw)

    monkeypatch.setattr(plotting, "response_distributions", spy)
    out = tmp_path / "run"
    assert main(["run", str(MET_BASELINE), "--replications", "3", "--weeks", "0.05",
                 "--quiet", "--out", str(out)]) == 0
    assert (out / "plots" / "response_cdf.png").is_file()
    (inc, title), = drawn
    every = open_results(out).read_incidents(
        ["replication", "drone_outcome", "drone_response_s", "ground_response_s"])
    assert sorted(inc["replication"].unique()) == [0, 1, 2]
    assert len(inc) == len(every)
    got, want = plotting.response_cdf_data(inc), plotting.response_cdf_data(every)
    for key in want:
        assert np.array_equal(got[key], want[key]), key
    assert title.endswith("(3 replications pooled)")


@pytest.mark.filterwarnings("ignore:Attempting to set identical")  # no borough rows
def test_response_cdf_title_says_when_fewer_replications_are_drawn(met_geometry):
    from dronesim.outputs import figures

    scn, geom = met_geometry
    inc = pd.DataFrame({"replication": [0, 0, 1], "drone_outcome": ["on_scene"] * 3,
                        "drone_response_s": [60.0, 70.0, 80.0],
                        "ground_response_s": [300.0, 400.0, 500.0]})
    summary = {"replications": 5, "per_borough": []}
    figs = figures.run_figures(scn, geom, inc, summary, include_map=False)
    try:
        title = figs["response_cdf.png"].axes[0].get_title()
        assert title.endswith("(first 2 of 5 replications pooled)")
    finally:
        for f in figs.values():
            plt.close(f)
