"""A self-contained HTML report of a results folder, to share with people who never open a
terminal.

:func:`write_html_report` reads a folder written by ``dronesim run``, ``sweep`` or ``compare``
(:mod:`dronesim.outputs.results`) and writes one HTML file that needs no network at all: styles,
scripts, charts (PNG, base64) and data (JSON) are inline, and a Content-Security-Policy forbids
every request, so the page opens the same from an e-mail attachment, a USB stick or ``file://``.
It holds:

* the question and the scenario in plain words, and a warning when the replications are too few
  for a meaningful interval (one replication gives none: "n/a");
* headline figures with 95% intervals (times as m:ss); every number carries
  ``data-path`` (its place in ``summary.json``) and ``data-fmt`` so a test can check it;
* an interactive map drawn as inline SVG with a little inline JavaScript (zoom with the wheel,
  buttons or a pinch; drag to pan; hover or tap for figures): boroughs shaded by a chosen
  figure, dock sites, the region a drone reaches within the target time (as
  :func:`dronesim.siting.coverage.static_coverage` computes it), the flight range, no-fly zones and,
  for a run, incident density on a 1 km grid (never single incidents);
* response distributions and per-borough charts, a sortable per-borough table, growth charts
  and a step table for a sweep, difference tables and charts for a comparison;
* the assumptions (every value of the resolved scenario) and the data attribution.

The charts come from :mod:`dronesim.outputs.figures`, the same definitions as ``plots/``. Tables
with millions of incident rows are read column by column and in batches
(:mod:`dronesim.outputs.results`); for the response-distribution chart at most
:data:`MAX_CHART_ROWS` rows are read, whole replications first, and the caption says when fewer than
all replications were drawn.

Writing follows the command line's output rules: a temporary file in the target folder renamed
into place when complete, and an existing file replaced only if dronesim wrote it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..experiment.store import check_output_file, write_output_file
from ..kpis import registry
from .geopackage import ATTRIBUTION
from .playback import PLAYBACK_CSS, PLAYBACK_JS, PlaybackOptions, playback_data, playback_section
from .results import Results, ScenarioGeometry, finite, open_results, scenario_geometry
from .tables import GROUND_NOUNS, ground_label, interval_warning, mmss

__all__ = ["write_html_report", "build_html_report", "MAX_CHART_ROWS", "GENERATOR",
           "sensitivity_section"]

#: Rows of the incident table read for the response-distribution chart, at most.
MAX_CHART_ROWS = 2_000_000
#: The ``<meta name="generator">`` content that marks a report as dronesim's own.
GENERATOR = "dronesim html_report"
_CELL_M = 1000.0  # incident density grid of the map
_SIMPLIFY_M = 20.0  # borough outlines on the map


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(v: Any, digits: int = 1) -> str:
    return f"{v * 100:.{digits}f}%" if finite(v) else "-"


def _num(v: Any, digits: int = 1) -> str:
    return f"{v:,.{digits}f}" if finite(v) else "-"


def _signed(v: Any, unit: str) -> str:
    """A difference with its sign; shares in percentage points, times in seconds."""
    if not finite(v):
        return "-"
    x = round(v * 100 if unit == "share" else v, 1) + 0.0  # no "-0.0"
    return f"{x:+.1f}" + {"share": " pp", "s": " s"}.get(unit, "")


def _time(v: Any) -> str:
    """m:ss from a minute; below, seconds with one decimal (a 1.4 s wait is not "0:01")."""
    if not finite(v):
        return "-"
    return mmss(v) if abs(v) >= 60 else f"{v:.1f} s"


_FORMATS: dict[str, Callable[[Any], str]] = {
    "mmss": mmss, "time": _time, "pct": _pct, "num": _num,
    "num2": lambda v: _num(v, 2),
    "num0": lambda v: _num(v, 0),
    "int": lambda v: f"{int(v):,d}" if finite(v) else "-"}


def _val(path: list[Any], value: Any, fmt: str, cls: str = "v") -> str:
    """A number as the page shows it, tagged with its place in summary.json and its format."""
    if fmt.startswith("diff-"):
        text = _signed(value, fmt[5:])
    else:
        text = _FORMATS[fmt](value)
    return (f'<span class="{cls}" data-path="{_e(json.dumps(path))}" data-fmt="{fmt}">'
            f"{_e(text)}</span>")


def _ci(path: list[Any], interval: Any, fmt: str) -> str:
    """``[low, high]`` tagged like :func:`_val`, or ``[n/a]`` when there is no interval."""
    ok = isinstance(interval, list | tuple) and len(interval) == 2 and all(
        finite(v) for v in interval)
    if not ok:
        return '<span class="ci na" title="no interval: fewer than two values">[n/a]</span>'
    lo = _val(path + [0], interval[0], fmt, "lo")
    hi = _val(path + [1], interval[1], fmt, "hi")
    return f'<span class="ci">[{lo}, {hi}]</span>'


def _get(d: Any, path: list[Any]) -> Any:
    for k in path:
        if d is None:
            return None
        d = d[k] if isinstance(d, list) else d.get(k)
    return d


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig: Any, alt: str, caption: str) -> str:
    return (f'<figure><img src="data:image/png;base64,{_png(fig)}" alt="{_e(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _warning(text: str, ident: str = "") -> str:
    i = f' id="{ident}"' if ident else ""
    return f'<div class="warning" role="alert"{i}><strong>Warning:</strong> {_e(text)}</div>'


def _table(head: list[str], rows: list[list[tuple[str, Any]]], ident: str, caption: str,
           sortable: bool = True) -> str:
    """A table; each cell is ``(html, sort key)`` (sort key None: sorts last)."""
    cls = "sortable" if sortable else ""
    # The caption stays outside the scrolling box, so that it wraps on a narrow screen.
    out = [f'<p class="note" id="{ident}-caption">{caption}</p><div class="scroll">'
           f'<table id="{ident}" class="{cls}" aria-describedby="{ident}-caption"><thead><tr>']
    out += [f'<th scope="col">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        cells = []
        for k, (content, key) in enumerate(r):
            sk = "" if key is None or (isinstance(key, float) and not math.isfinite(key)) \
                else str(key)
            tag = "th scope=\"row\"" if k == 0 else "td"
            cells.append(f'<{tag} data-sort="{_e(sk)}">{content}</{tag.split()[0]}>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# The map (inline SVG)
# --------------------------------------------------------------------------------------------


class _Frame:
    """London's bounding box as SVG user units: metres, y downwards, whole metres."""

    def __init__(self, bounds: tuple[float, float, float, float], pad: float = 1500.0) -> None:
        x0, y0, x1, y1 = bounds
        self.x0, self.y1 = x0 - pad, y1 + pad
        self.w, self.h = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad

    def xy(self, x: float, y: float) -> tuple[int, int]:
        return int(round(x - self.x0)), int(round(self.y1 - y))

    def path(self, geom: Any, simplify_m: float = 0.0) -> str:
        import shapely

        if geom is None or geom.is_empty:
            return ""
        if simplify_m:
            geom = shapely.simplify(geom, simplify_m, preserve_topology=True)
        parts = []
        polys = getattr(geom, "geoms", [geom])
        for poly in polys:
            if poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)
                if len(c) < 4:
                    continue
                px = np.round(c[:, 0] - self.x0).astype(int)
                py = np.round(self.y1 - c[:, 1]).astype(int)
                pts = " ".join(f"{a},{b}" for a, b in zip(px[:-1], py[:-1]))
                parts.append(f"M{pts}Z")
        return "".join(parts)


def _range_area(docks: pd.DataFrame, range_m: float) -> Any:
    import shapely

    if not len(docks) or range_m <= 0:
        return None
    return shapely.union_all(shapely.buffer(
        shapely.points(docks["x"].to_numpy(float), docks["y"].to_numpy(float)), range_m,
        quad_segs=24))


def _dock_marks(fr: _Frame, docks: pd.DataFrame) -> str:
    out = []
    for k, d in enumerate(docks.itertuples(index=False)):
        x, y = fr.xy(d.x, d.y)
        svc = f", {d.service}" if getattr(d, "service", "") else ""
        tip = f"dock {k + 1}: {d.name} ({int(d.drones)} drones{svc})"
        out.append(f'<g class="mk dock" data-x="{x}" data-y="{y}" transform="translate({x} {y})"'
                   f' data-tip="{_e(tip)}"><path d="M0,-7L6.5,5H-6.5Z"/></g>')
    return "".join(out)


def _group_layers(fr: _Frame, geom: ScenarioGeometry, key: str, hidden: bool) -> str:
    """Coverage, flight range and docks of one scenario or step, as one toggled group."""
    style = ' style="display:none"' if hidden else ""
    cov = fr.path(geom.coverage.footprint, 5.0)
    rng = fr.path(_range_area(geom.docks, geom.range_m), 5.0)
    within = mmss(geom.within_s)
    cov_tip = (f"drone on scene within {within} of the call: reach {geom.reach_m / 1000:.1f} km "
               "after decision, launch, climb and descent (restricted airspace included)")
    rng_tip = f"drone flight range: {geom.range_m / 1000:.1f} km from a dock"
    return (f'<g class="grp" data-group="{_e(key)}"{style}>'
            f'<g class="layer-coverage"><path class="cov" d="{cov}" data-tip="{_e(cov_tip)}"/>'
            f'</g><g class="layer-range"><path class="rng" d="{rng}" data-tip="{_e(rng_tip)}"/>'
            f'</g><g class="layer-docks">{_dock_marks(fr, geom.docks)}</g></g>')


def _incident_cells(res: Results) -> tuple[pd.DataFrame, int]:
    """Incidents per week and share with a drone on scene, on a 1 km grid (all replications,
    measured window), summed batch by batch."""
    counts: dict[tuple[int, int], list[float]] = {}
    n = 0
    for b in res.iter_incidents(["x", "y", "drone_outcome"]):
        cx = np.floor(b["x"].to_numpy(float) / _CELL_M).astype(np.int64)
        cy = np.floor(b["y"].to_numpy(float) / _CELL_M).astype(np.int64)
        on = (b["drone_outcome"].astype(str) == "on_scene").to_numpy()
        g = pd.DataFrame({"cx": cx, "cy": cy, "on": on}).groupby(["cx", "cy"])["on"].agg(
            ["size", "sum"])
        for (i, j), row in g.iterrows():
            acc = counts.setdefault((int(i), int(j)), [0.0, 0.0])
            acc[0] += float(row["size"])
            acc[1] += float(row["sum"])
        n += len(b)
    weeks = max(float(res.summary.get("weeks") or 0.0), 1e-9) * max(res.replications, 1)
    rows = [(i, j, c / weeks, s / c if c else 0.0) for (i, j), (c, s) in counts.items()]
    return pd.DataFrame(rows, columns=["cx", "cy", "per_week", "drone_share"]), n


def _cells_svg(fr: _Frame, cells: pd.DataFrame) -> str:
    if not len(cells):
        return ""
    vmax = float(np.quantile(cells["per_week"], 0.98)) or 1.0
    out = []
    for r in cells.itertuples(index=False):
        x, y = fr.xy(r.cx * _CELL_M, (r.cy + 1) * _CELL_M)
        a = min(1.0, r.per_week / vmax)
        tip = (f"1 km cell at ({r.cx:.0f}, {r.cy:.0f}) km: {r.per_week:,.1f} incidents a week; "
               f"drone on scene at {r.drone_share:.1%}")
        out.append(f'<rect x="{x}" y="{y}" width="1000" height="1000" '
                   f'fill-opacity="{0.08 + 0.8 * a:.2f}" data-tip="{_e(tip)}"/>')
    return "".join(out)


def _exposure_svg(fr: _Frame, grid: pd.DataFrame) -> str:
    """Overflight exposure cells (dronesim.outputs.exposure): 100 m squares, darker where
    overflown more often a week."""
    from .exposure import GRID_M

    if not len(grid):
        return ""
    vmax = float(np.quantile(grid["passes_per_week"], 0.98)) or 1.0
    out = []
    for r in grid.itertuples(index=False):
        x, y = fr.xy(r.x - GRID_M / 2, r.y + GRID_M / 2)
        a = min(1.0, r.passes_per_week / vmax)
        lmax = f"{r.lmax_dba:.0f} dB(A)" if finite(r.lmax_dba) else "n/a"
        tip = (f"100 m cell {r.borough or 'outside London'}: {r.passes_per_week:,.1f} "
               f"overflights, {r.minutes_per_week:,.1f} min overhead, "
               f"{r.hover_minutes_per_week:,.1f} min hovering within 200 m a week; "
               f"loudest {lmax}")
        out.append(f'<rect x="{x}" y="{y}" width="{GRID_M:g}" height="{GRID_M:g}" '
                   f'fill-opacity="{0.15 + 0.8 * a:.2f}" data-tip="{_e(tip)}"/>')
    return "".join(out)


def _map_section(res: Results, geoms: dict[str, ScenarioGeometry], metrics: dict[str, Any],
                 group_label: str, cells: pd.DataFrame | None, intro: str,
                 exposure: pd.DataFrame | None = None) -> str:
    """The interactive map: boroughs (choropleth), groups of docks/coverage/range, zones,
    incident cells; the controls; and the data the script colours it with."""
    first = next(iter(geoms.values()))
    london = first.london
    fr = _Frame(tuple(london.boroughs.total_bounds))
    bpaths = []
    for r in london.boroughs.itertuples(index=False):
        bpaths.append(f'<path class="b" data-code="{_e(r.gss_code)}" '
                      f'd="{fr.path(r.geometry, _SIMPLIFY_M)}"/>')
    zones = ""
    if first.zones is not None and len(first.zones):
        zp = "".join(
            f'<path d="{fr.path(g, 10.0)}" data-tip="{_e("no-fly zone: " + str(n))}"/>'
            for n, g in zip(first.zones["name"], first.zones.geometry))
        zones = f'<g id="layer-zones" class="zones">{zp}</g>'
    groups = "".join(_group_layers(fr, g, k, hidden=i > 0)
                     for i, (k, g) in enumerate(geoms.items()))
    cells_svg = (f'<g id="layer-cells" class="cells" style="display:none">'
                 f"{_cells_svg(fr, cells)}</g>"
                 if cells is not None and len(cells) else "")
    exposure_svg = (f'<g id="layer-exposure" class="exposure" style="display:none">'
                    f"{_exposure_svg(fr, exposure)}</g>"
                    if exposure is not None and len(exposure) else "")
    svg = (f'<svg id="map-svg" viewBox="0 0 {int(fr.w)} {int(fr.h)}" '
           f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="Map of London: '
           f'boroughs, dock sites and drone coverage"><rect class="sea" x="0" y="0" '
           f'width="{int(fr.w)}" height="{int(fr.h)}"/><g id="layer-boroughs">'
           f'{"".join(bpaths)}</g>{cells_svg}{exposure_svg}{zones}<g id="layer-groups">{groups}</g>'
           "</svg>")
    within = mmss(first.within_s)
    layer_boxes = [("boroughs", "borough shading", True)]
    if cells_svg:
        layer_boxes.append(("cells", "incidents (1 km cells)", False))
    if exposure_svg:
        layer_boxes.append(("exposure", "overflights (100 m cells)", False))
    layer_boxes += [("coverage", f"drone on scene within {within}", True),
                    ("range", f"flight range {first.range_m / 1000:.1f} km", True),
                    ("docks", "dock sites", True)]
    if zones:
        layer_boxes.append(("zones", "no-fly zones", True))
    boxes = "".join(f'<label><input type="checkbox" data-layer="{k}"{" checked" if on else ""}>'
                    f" {_e(t)}</label>" for k, t, on in layer_boxes)
    options = "".join(f'<option value="{_e(k)}">{_e(m["label"])}</option>'
                      for k, m in metrics.items())
    group_sel = ""
    if len(geoms) > 1:
        opts = "".join(f'<option value="{_e(k)}">{_e(k)}</option>' for k in geoms)
        group_sel = (f'<label>{_e(group_label)} <select id="map-group">{opts}</select></label>')
    legend = (
        '<div class="map-legend"><span class="key cov-key"></span> drone on scene within '
        f"{_e(within)} of the call (reach {first.reach_m / 1000:.1f} km: the target time less "
        "decision, launch, climb and descent, flown at cruise speed; restricted airspace cut "
        "out) <span class=\"key rng-key\"></span> flight range "
        f"{first.range_m / 1000:.1f} km (farthest dispatch) <span class=\"key dock-key\">"
        "&#9650;</span> dock site"
        + (' <span class="key zone-key"></span> no-fly zone' if zones else "")
        + (' <span class="key cell-key"></span> incidents per week, 1 km cells (darker: more)'
           if cells_svg else "")
        + (' <span class="key exposure-key"></span> drone overflights a week, 100 m cells '
           '(darker: more)' if exposure_svg else "")
        + '<div class="ramp"><span id="ramp-lo"></span><span class="bar"></span>'
          '<span id="ramp-hi"></span> <span id="ramp-label"></span></div></div>')
    notes = "".join(f"<p class=\"note\">{_e(n)}</p>" for g in geoms.values() for n in g.notes)
    return (
        f'<section id="map"><h2>Map</h2><p>{intro} Scroll or pinch to zoom, drag to move, hover '
        "or tap a borough, dock or cell for its figures.</p>"
        f'<div class="map-controls"><label>Shade boroughs by <select id="map-metric">{options}'
        f"</select></label>{group_sel}"
        '<span class="zoom"><button type="button" id="zoom-in" aria-label="zoom in">+</button>'
        '<button type="button" id="zoom-out" aria-label="zoom out">&minus;</button>'
        '<button type="button" id="zoom-reset">reset</button></span></div>'
        f'<div class="layers">{boxes}</div>'
        f'<div class="map-wrap">{svg}<div id="tip" class="tip" hidden></div></div>'
        f"{legend}{notes}</section>")


# --------------------------------------------------------------------------------------------
# Scenario in words, assumptions, attribution
# --------------------------------------------------------------------------------------------


_WEIGHT_WORDS = {"population": "population", "crime": "Met recorded crime",
                 "crime_violence": "Met recorded violent crime",
                 "lfb_sample": "the London Fire Brigade 2023 incident sample",
                 "las": "London Ambulance Service incidents by borough"}


def _services_words(scn: Any) -> str:
    parts = []
    for name, s in scn.services.items():
        suited = float(np.dot(s.priority_shares, s.drone_suited_share))
        where = _WEIGHT_WORDS.get(s.spatial_weight, s.spatial_weight.replace("_", " "))
        parts.append(f"{name}: {s.incidents_per_week:,.0f} incidents a week placed by "
                     f"{where}, {suited:.1%} of them suited to a drone"
                     + ("" if s.uses_drones else " (no drones)") + f"; answered on the ground by "
                     f"{GROUND_NOUNS.get(name, 'ground units')}")
    return "; ".join(parts)


def _scenario_words(scn: Any) -> str:
    from ..siting.sites import reach_radius_m

    d = scn.drones
    overhead = d.decision_s + d.launch_overhead_s + d.climb_s + d.descent_s
    sim = scn.simulation
    docks = ", ".join(f"{s.name} ({s.drones})" for s in scn.docks[:12])
    if len(scn.docks) > 12:
        docks += f" and {len(scn.docks) - 12} more"
    reach = f"{reach_radius_m(d, scn.coverage.within_s) / 1000:.1f} km"
    pilots = scn.control_room.pilots_for(scn.fleet_size)
    text = (
        f"<p><strong>{_e(scn.name)}</strong>{': ' + _e(scn.description) if scn.description else ''}"
        f".</p><p>{scn.fleet_size} drones at {len(scn.docks)} dock sites ({_e(docks)}), "
        f"{pilots} remote pilot{'s' if pilots != 1 else ''} on duty, dispatched by the "
        f"<code>{_e(scn.dispatch.policy)}</code> policy. Demand: {_e(_services_words(scn))}. "
        f"Drones cruise at {d.speed_m_s:g} m/s and fly up to {d.max_range_m / 1000:.1f} km from "
        f"their dock; from the call a drone needs {mmss(overhead)} for decision "
        f"({d.decision_s:g} s), launch ({d.launch_overhead_s:g} s), climb ({d.climb_s:g} s) and "
        f"descent ({d.descent_s:g} s), so within the {mmss(scn.coverage.within_s)} target it "
        f"reaches {reach}. Simulated: {sim.weeks:g} week{'s' if sim.weeks != 1 else ''} after "
        f"a {sim.warmup_hours:g}-hour "
        f"warm-up, seed {sim.seed}.</p>")
    if len(scn.services) > 1:
        sh = scn.sharing
        text += (
            f"<p>Infrastructure of the services: dock sites {_e(sh.docks)}, airframes "
            f"{_e(sh.airframes)}, remote pilots "
            f"{'in a joint room' if sh.pilots == 'joint' else 'in a room per service'}, "
            f"airspace management {_e(sh.airspace)}, connectivity {_e(sh.connectivity)}"
            + (f"; pooled drones serve {_e(' > '.join(sh.service_priority))} first"
               + (" and may be pre-empted" if sh.preemption else "")
               if sh.airframes == "pooled" else "") + ".</p>")
    return text


def _flatten(prefix: str, obj: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        out.append((prefix, f"{len(obj)} entries (below)"))
    else:
        out.append((prefix, json.dumps(obj, ensure_ascii=False) if not isinstance(obj, str)
                    else obj))


def _assumptions(scns: dict[str, Any], res: Results) -> str:
    from ..inputs.scenario import dump_scenario_toml, scenario_to_dict

    blocks = []
    for label, scn in scns.items():
        plain = scenario_to_dict(scn)
        docks = plain.pop("docks", [])
        rows: list[tuple[str, str]] = []
        _flatten("", plain, rows)
        body = "".join(f"<tr><th scope=\"row\"><code>{_e(k)}</code></th><td>{_e(v)}</td></tr>"
                       for k, v in rows)
        dock_rows = "".join(
            f"<tr><td>{_e(d.get('name', ''))}</td><td>{_e(d.get('drones', ''))}</td>"
            f"<td>{_e(d.get('service', '') or 'any')}</td><td>{_e(d.get('source', ''))}</td></tr>"
            for d in docks[:300])
        more = (f"<p class=\"note\">{len(docks) - 300} more dock sites in the resolved scenario."
                "</p>" if len(docks) > 300 else "")
        blocks.append(
            f"<details><summary>{_e(label)}: every value of the resolved scenario</summary>"
            f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'
            f'<div class="scroll"><table class="docks"><thead><tr><th>dock site</th>'
            f"<th>drones</th><th>service</th><th>source</th></tr></thead><tbody>{dock_rows}"
            f"</tbody></table></div>{more}<details><summary>as TOML</summary><pre>"
            f"{_e(dump_scenario_toml(scn))}</pre></details></details>")
    src = res.manifest.get("scenario_file") or ", ".join(
        str(s.get("scenario_file")) for s in res.summary.get("scenarios", []))
    return (
        '<section id="assumptions"><h2>Assumptions</h2><p>The model\'s inputs, every default '
        f"filled in, as this run used them (from <code>{_e(src)}</code>). The scenario files "
        "in dronesim's <code>scenarios/</code> give the source, calibration or the word "
        "\"assumption\" for each value; the README's \"Assumptions and sources\" and "
        "\"Calibration\" tables summarise them; its \"Operations as they are\" section says what "
        "weather, night rules, faults, rosters, relief drones, mutual aid, drone-resolved "
        "incidents and costs assume (each off unless the scenario turns it on). Road times "
        "(travel_model \"fitted\", the default) come from a model fitted to London Fire "
        "Brigade attendance (distance, hour of the week, borough, a Thames crossing) that does "
        "not route over particular bridges; police cars and ambulances drive the fire engines' "
        "fitted times, scaled by road_time_factor. A road network (\"graph\"), a travel-time "
        "matrix (\"matrix\") or circuity over straight lines (\"straight\") replace it.</p>"
        + "".join(blocks) + "</section>")


def _attribution() -> str:
    items = "".join(f"<li><strong>{_e(n)}</strong>: {_e(t)}</li>" for n, t in ATTRIBUTION)
    return (
        '<section id="data"><h2>Data and attribution</h2><p>dronesim runs on openly licensed '
        "data about London: borough and small-area boundaries, ONS population, Metropolitan "
        "Police recorded crime, the London Fire Brigade 2023 incident sample, London Ambulance "
        "Service incidents by borough, fire stations and hospitals (its <code>data/README.md"
        "</code> names each file's source and licence). Incidents in this report are simulated "
        "from these; the map shows them only as counts on a 1 km grid.</p>"
        f"<ul>{items}</ul><p>The Open Government Licence: "
        "nationalarchives.gov.uk/doc/open-government-licence (v3.0; v2.0 at .../version/2/). "
        "The fire-station list's MIT licence notice is in dronesim's <code>data/README.md</code>."
        "</p></section>")


# --------------------------------------------------------------------------------------------
# Headline figures
# --------------------------------------------------------------------------------------------


def _card(title: str, main: str, detail: str = "", note: str = "", cls: str = "") -> str:
    return (f'<div class="card {cls}"><h3>{title}</h3><p class="main">{main}</p>'
            + (f'<p class="detail">{detail}</p>' if detail else "")
            + (f'<p class="note">{note}</p>' if note else "") + "</div>")


def _resp_card(s: dict[str, Any], key: str, title: str) -> str:
    b = s.get(key) or {}
    main = (f"{_val([key, 'mean'], b.get('mean'), 'mmss')} "
            f"{_ci([key, 'ci95_mean'], b.get('ci95_mean'), 'mmss')}")
    detail = (f"median {_val([key, 'median'], b.get('median'), 'mmss')}, "
              f"P90 {_val([key, 'p90'], b.get('p90'), 'mmss')}")
    return _card(title, main, detail, "mean since the call, m:ss, 95% CI over replications")


def _scalar_card(s: dict[str, Any], key: str, title: str, fmt: str, note: str = "") -> str:
    b = s.get(key) or {}
    main = (f"{_val([key, 'mean'], b.get('mean'), fmt)} "
            f"{_ci([key, 'ci95_mean'], b.get('ci95_mean'), fmt)}")
    return _card(title, main, note=note)


def _run_headline(s: dict[str, Any], ground: str, ground1: str) -> str:
    cov = s["coverage"]
    t = mmss(cov["within_s"])
    nb = len(s.get("per_borough") or []) or 33
    fill = {"target": t, "ground": ground, "ground1": ground1}
    cards = [
        _resp_card(s, "drone_response_s", "Drone response"),
        _resp_card(s, "ground_response_s", f"{ground1.capitalize()} response"),
    ]
    for m in registry.report_cards():  # declared in dronesim.kpis.registry; absent when feature off
        if m.key in s:
            title = m.card.format(**fill)
            cards.append(_scalar_card(s, m.key, title, m.fmt, m.note.format(**fill)))
    cards += [
        _card(f"Population within {t} of a dock",
              f"{_val(['coverage', 'population_share'], cov.get('population_share'), 'pct')}",
              f"{_val(['coverage', 'area_share'], cov.get('area_share'), 'pct')} of London's "
              "area; "
              f"{_val(['coverage', 'boroughs_covered'], cov.get('boroughs_covered'), 'int')} of "
              f"{nb} boroughs with at least "
              f"{_pct(cov.get('borough_population_share_threshold'), 0)} of their population",
              "static: where a free drone would be on scene in time"),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


# --------------------------------------------------------------------------------------------
# Report per kind
# --------------------------------------------------------------------------------------------


def _chart_incidents(res: Results) -> tuple[pd.DataFrame, str]:
    """The incidents drawn in the response-distribution chart (whole replications, at most
    MAX_CHART_ROWS rows) and a caption note when fewer than all were read."""
    cols = ["replication", "drone_outcome", "drone_response_s", "ground_response_s"]
    reps = res.incident_replications()
    take: list[int] = []
    total = 0
    for r in reps:
        n = res.count_incidents([r])
        if take and total + n > MAX_CHART_ROWS:
            break
        take.append(r)
        total += n
    inc = res.read_incidents(cols, replications=take if len(take) < len(reps) else None)
    note = "" if len(take) == len(reps) else (
        f" Drawn from the first {len(take)} of {len(reps)} replications ({total:,} incidents) to "
        "keep the chart quick to build; the headline figures use every replication.")
    return inc, note


def _playback_html(res: Results, geom: ScenarioGeometry, scn: Any,
                   opts: PlaybackOptions) -> tuple[str, dict[str, Any]]:
    """The playback section (:mod:`dronesim.outputs.playback`) and its data, on the map's
    frame."""
    london = geom.london
    fr = _Frame(tuple(london.boroughs.total_bounds))
    replay = bool(getattr(scn.demand, "trace", None))  # recorded incidents: not at full precision
    data = playback_data(res, fr.x0, fr.y1, geom.docks, float(scn.drones.speed_m_s), opts,
                         snap_m=100.0 if replay else 0.0)
    outline = "".join(fr.path(g, _SIMPLIFY_M * 5) for g in london.boroughs.geometry)
    r = max(fr.w, fr.h) / 260 * 2.6
    docks = "".join(
        f'<path d="M{x},{y - r:.0f}L{x + r:.0f},{y + 0.8 * r:.0f}L{x - r:.0f},{y + 0.8 * r:.0f}Z">'
        f"<title>{_e(n)}</title></path>"
        for n, (x, y) in ((d.name, fr.xy(d.x, d.y)) for d in geom.docks.itertuples()))
    return playback_section(data, outline, docks, int(fr.w), int(fr.h)), data


def _run_body(res: Results, playback: PlaybackOptions | None = None
              ) -> tuple[str, str, dict[str, Any]]:
    from . import figures

    s = res.summary
    (label, scn), = res.scenarios().items()
    base = [res.path] + ([Path(res.manifest["scenario_file"]).parent]
                         if res.manifest.get("scenario_file") else [])
    geom = scenario_geometry(scn, base)
    services = list(scn.services)
    ground, ground1 = ground_label(services), ground_label(services, plural=False)
    t = mmss(s["coverage"]["within_s"])
    question = (
        f"With {s['fleet_size']} drones at {s['dock_count']} dock sites, how quickly do drones "
        f"and {ground} reach incidents across London, how often is the drone first, and how "
        f"much of London can a drone reach within {t} of the call?")
    inc, note = _chart_incidents(res)
    figs = figures.run_figures(scn, geom, inc, s, include_map=False)
    cells, _n = _incident_cells(res)
    metrics: dict[str, Any] = {}
    rows_b = s["per_borough"]

    def by_code(fn: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        return {"0": {r["gss_code"]: fn(r) for r in rows_b}}

    metrics["ground_mean"] = {"label": f"{ground1} mean response (m:ss)", "fmt": "mmss",
                              "values": by_code(lambda r: _get(r, ["ground_response_s", "mean"]))}
    metrics["drone_deploy"] = {"label": "drone deployments a week", "fmt": "num",
                               "values": by_code(lambda r: _get(
                                   r, ["drone_deployments_per_week", "mean"]))}
    metrics["pop_cov"] = {"label": f"population within {t} of a dock (%)", "fmt": "pct",
                          "values": by_code(lambda r: r.get("coverage_population_share"))}
    metrics["incidents"] = {"label": "incidents a week", "fmt": "num",
                            "values": by_code(lambda r: r.get("incidents_per_week"))}
    names = {r["gss_code"]: r["name"] for r in rows_b}
    pb_html, pb_data = (_playback_html(res, geom, scn, playback) if playback is not None
                        else ("", None))
    exposure = _run_exposure(res)
    map_html = _map_section(res, {"0": geom}, metrics, "", cells,
                            f"Boroughs of London with the {len(geom.docks)} dock sites, the "
                            f"region a drone reaches within {t} of the call, the drones' flight "
                            "range and where incidents arose.",
                            exposure.grid if exposure is not None else None)
    head = ["Borough", "Incidents a week", "Drone flights a week",
            "Drone mean [95% CI]", f"{ground1.capitalize()} mean [95% CI]",
            "Drone first", f"Population within {t}"]
    trs = []
    for i, r in enumerate(rows_b):
        p = ["per_borough", i]
        none = not r.get("ground_response_s")
        d, g = r.get("drone_response_s") or {}, r.get("ground_response_s") or {}
        no = '<span class="na">no incidents</span>'
        trs.append([
            (_e(r["name"]) + (' <span class="tag">no incidents</span>' if none else ""),
             r["name"]),
            (_val(p + ["incidents_per_week"], r.get("incidents_per_week"), "num0"),
             r.get("incidents_per_week")),
            (_val(p + ["drone_deployments_per_week", "mean"],
                  _get(r, ["drone_deployments_per_week", "mean"]), "num") if not none else no,
             _get(r, ["drone_deployments_per_week", "mean"])),
            ((_val(p + ["drone_response_s", "mean"], d.get("mean"), "mmss") + " "
              + _ci(p + ["drone_response_s", "ci95_mean"], d.get("ci95_mean"), "mmss"))
             if d.get("n") else ('<span class="na">no drone</span>' if not none else no),
             d.get("mean") if d.get("n") else None),
            ((_val(p + ["ground_response_s", "mean"], g.get("mean"), "mmss") + " "
              + _ci(p + ["ground_response_s", "ci95_mean"], g.get("ci95_mean"), "mmss"))
             if not none else no, g.get("mean")),
            (_val(p + ["p_drone_first", "mean"], _get(r, ["p_drone_first", "mean"]), "pct")
             if d.get("n") else "-", _get(r, ["p_drone_first", "mean"])),
            (_val(p + ["coverage_population_share"], r.get("coverage_population_share"), "pct"),
             r.get("coverage_population_share")),
        ])
    table = _table(head, trs, "borough-table", "Figures by borough, mean over replications "
                   "with 95% intervals; click a heading to sort.")
    body = (
        f'<section id="headline"><h2>Headline figures</h2>{_run_headline(s, ground, ground1)}'
        "</section>" + map_html + pb_html
        + '<section id="distributions"><h2>Response times</h2>'
        + _figure(figs["response_cdf.png"], "Cumulative share of incidents reached by time since "
                  "the call, drone against ground", "Share of incidents reached by each time "
                  f"since the call: drones, {ground} on the same incidents, and {ground} on all "
                  f"incidents ({res.replications} replications pooled).{note}")
        + "</section>"
        + f'<section id="boroughs"><h2>By borough</h2>{table}'
        + _figure(figs["boroughs.png"], "Mean response by borough with 95% intervals",
                  f"Mean response by borough: {ground} (bars) and drones where they fly (dots); "
                  "boroughs without incidents in the measured window are listed at the bottom.")
        + "</section>" + _dock_section(s, t) + _exposure_section(exposure))
    data = {"names": names, "metrics": metrics}
    if pb_data is not None:
        data["_playback"] = pb_data  # its own script element (build_html_report)
    return question, body, data


def _dock_section(s: dict[str, Any], t: str) -> str:
    """The figures of each dock (``summary.json`` ``per_dock``, declared in
    :data:`dronesim.kpis.registry.DOCK_METRICS`), busiest first; "" without them."""
    rows = s.get("per_dock") or []
    if not rows:
        return ""
    grounded = any("grounded_drone_hours_per_week" in r for r in rows)
    head = ["Dock", "Drones", "Drone flights a week", "Drone mean [95% CI]",
            f"Served suited within {t}", "Drone utilisation", "Drone-hours recharging a week",
            *(["Drone-hours grounded a week"] if grounded else [])]
    trs = []
    for i, r in enumerate(rows):
        p = ["per_dock", i]
        d = r.get("drone_response_s") or {}

        def cell(key: str, fmt: str, r: dict[str, Any] = r, p: list[Any] = p
                 ) -> tuple[str, Any]:
            v = _get(r, [key, "mean"])
            return (_val(p + [key, "mean"], v, fmt) + " "
                    + _ci(p + [key, "ci95_mean"], _get(r, [key, "ci95_mean"]), fmt), v)

        trs.append([
            (_e(r["name"]), r["name"]),
            (_val(p + ["drones"], r.get("drones"), "num0"), r.get("drones")),
            cell("drone_deployments_per_week", "num"),
            ((_val(p + ["drone_response_s", "mean"], d.get("mean"), "mmss") + " "
              + _ci(p + ["drone_response_s", "ci95_mean"], d.get("ci95_mean"), "mmss"))
             if d.get("n") else '<span class="na">no drone</span>',
             d.get("mean") if d.get("n") else None),
            cell("suited_within_share", "pct"),
            cell("drone_utilisation", "pct"),
            cell("charge_hours_per_week", "num"),
            *([cell("grounded_drone_hours_per_week", "num")] if grounded else []),
        ])
    table = _table(head, trs, "dock-table", (
        "Figures by dock, mean over replications with 95% intervals; click a heading to sort. "
        "An incident counts for the dock of the drone that reached it. Served suited within "
        f"{t}: of the drone-suited incidents the dock's drones reached, the share reached within "
        f"{t}. Utilisation: airborne time over the dock's drones times the window. Recharging: "
        "the time to restore the charge its flights used. Grounded: the hours weather and night "
        "grounded the fleet, times the dock's drones."))
    return f'<section id="docks"><h2>By dock</h2>{table}</section>'
def _run_exposure(res: Results) -> Any:
    """The run's overflight exposure (:mod:`dronesim.outputs.exposure`), or None without a
    mission table."""
    if not (res.path / "missions.parquet").exists():
        return None
    from .exposure import results_exposure

    return results_exposure(res.path)


def _exposure_section(exposure: Any) -> str:
    """Overflight exposure: the registry's figures and the ten most exposed cells."""
    if exposure is None:
        return ""
    from ..kpis.registry import EXPOSURE_METRICS
    from .exposure import EVENT_THRESHOLD_DBA, SOURCE_LEVEL_1M_DBA

    cards = []
    for m in EXPOSURE_METRICS:
        v = _get(exposure.summary, [m.key, "mean"])
        cards.append(_card(_e(m.label), _pct(v, 2) if m.unit == "share" else _num(v),
                           note=_e(m.note)))
    cards_html = "".join(cards)
    head = ["Cell centre (E, N)", "Borough", "Overflights a week", "Minutes overhead a week",
            "Hovering within 200 m (min a week)", "Loudest, dB(A)",
            f"Events above {EVENT_THRESHOLD_DBA:g} dB(A) a week", "Residents"]
    trs = []
    for r in exposure.top.itertuples(index=False):
        trs.append([(f"{r.x:.0f}, {r.y:.0f}", r.x), (_e(r.borough or "outside London"),
                                                     r.borough),
                    (_num(r.passes_per_week), r.passes_per_week),
                    (_num(r.minutes_per_week), r.minutes_per_week),
                    (_num(r.hover_minutes_per_week), r.hover_minutes_per_week),
                    (_num(r.lmax_dba), r.lmax_dba), (_num(r.events_per_week), r.events_per_week),
                    (_num(r.residents, 0), r.residents)])
    table = _table(head, trs, "exposure-table", "The ten most overflown 100 m cells, a week "
                   "(mean over replications); click a heading to sort.")
    return (
        '<section id="exposure"><h2>Overflight and noise exposure</h2>'
        "<p>Where drones fly over, from each leg's ground track (dock to scene, straight or "
        "around no-fly zones, hover on scene, back). Levels are upper estimates: a source of "
        f"{SOURCE_LEVEL_1M_DBA:.0f} dB(A) at 1 m (the EU class C2 sound power limit at 4 kg), "
        "spherical spreading from 60 m cruise and 40 m hover, absorption and buildings "
        "ignored. Tick <em>overflights</em> on the map to see the cells.</p>"
        f'<div class="cards">{cards_html}</div>{table}</section>')


def _sweep_body(res: Results) -> tuple[str, str, dict[str, Any]]:
    from . import figures
    from .geopackage import _step_coverage

    s = res.summary
    (label, scn), = res.scenarios().items()
    base = [res.path] + ([Path(res.manifest["scenario_file"]).parent]
                         if res.manifest.get("scenario_file") else [])
    geom0 = scenario_geometry(scn, base)
    steps = res.read_csv("sweep.csv")
    bdf = res.read_csv("boroughs.csv")
    sites = res.read_csv("sites.csv")
    t = mmss(s["within_s"])
    fleets = [st["fleet_size"] for st in s["steps"]]
    ground1 = ground_label(scn.services, plural=False)
    question = (
        f"What does each step of growth from {fleets[0]} to {fleets[-1]} drones buy: how much of "
        f"London's population is within {t} of a dock, what share of drone-suited incidents a "
        f"drone reaches within {t}, how fast drones respond, and from which fleet size every "
        f"borough has at least {_pct(s['borough_population_share'], 0)} of its population "
        "covered?")
    geoms = {}
    for st in s["steps"]:
        g = sites[sites["step"] == st["step"]]
        geoms[f"{st['fleet_size']} drones"] = _step_coverage(scn, geom0, g)
    metrics: dict[str, Any] = {"pop": {"label": f"population within {t} (%)", "fmt": "pct",
                                       "values": {}},
                               "sim": {"label": f"suited reached within {t}, simulated (%)",
                                       "fmt": "pct", "values": {}}}
    for st in s["steps"]:
        key = f"{st['fleet_size']} drones"
        b = bdf[bdf["step"] == st["step"]]
        metrics["pop"]["values"][key] = dict(zip(b["gss_code"], b["population_share"]))
        metrics["sim"]["values"][key] = {
            c: (float(v) if pd.notna(v) else None)
            for c, v in zip(b["gss_code"], b["simulated_share_within_target"])}
    names = dict(zip(bdf["gss_code"], bdf["name"]))
    map_html = _map_section(res, geoms, metrics, "Growth step", None,
                            f"Dock sites of each growth step with the region a drone reaches "
                            f"within {t}; choose the step below.")
    small = s.get("smallest_fleet_covering_every_borough")
    last, first = s["steps"][-1], s["steps"][0]
    li, fi = len(s["steps"]) - 1, 0
    cards = [
        _card("Smallest fleet covering every borough",
              _val(["smallest_fleet_covering_every_borough"], small, "int") + " drones"
              if small else f"not reached up to {_e(s['largest_fleet'])} drones",
              note=f"a borough is covered when at least "
                   f"{_pct(s['borough_population_share'], 0)} of its population is within {t}"),
    ]
    for i, st in ((fi, first), (li, last)):
        p = ["steps", i]
        sw, dm = "suited_share_within_target", "drone_mean_s"
        suited = (f"{_val(p + [sw, 'mean'], _get(st, [sw, 'mean']), 'pct')} "
                  f"{_ci(p + [sw, 'ci95_mean'], _get(st, [sw, 'ci95_mean']), 'pct')}")
        drone = (f"{_val(p + [dm, 'mean'], _get(st, [dm, 'mean']), 'mmss')} "
                 f"{_ci(p + [dm, 'ci95_mean'], _get(st, [dm, 'ci95_mean']), 'mmss')}")
        cards.append(_card(
            f"{st['fleet_size']} drones, {st['sites']} sites",
            f"{suited} of suited incidents reached within {t}",
            f"drone mean {drone}; "
            f"population within {t}: "
            f"{_val(p + ['population_share'], st['population_share'], 'pct')}; boroughs "
            f"covered {_val(p + ['boroughs_covered'], st['boroughs_covered'], 'int')}",
            "UNSTABLE: queues grow without bound" if st.get("unstable") else ""))
    head = ["Fleet", "Sites", "Pilots", "Drone mean [95% CI]", f"Suited reached within {t} "
            "[95% CI]", f"Population within {t}", "Boroughs covered", "Note"]
    # Cost, value and equity of each step: the step figures dronesim.kpis.registry declares.
    extra = [m for m in registry.step_metrics() if m.group in ("cost", "value", "equity")
             and s["steps"] and m.sweep in s["steps"][0]]
    head = head[:-1] + [m.label[0].upper() + m.label[1:] for m in extra] + head[-1:]
    trs = []
    for i, st in enumerate(s["steps"]):
        p = ["steps", i]
        dm, sw = st["drone_mean_s"], st["suited_share_within_target"]
        trs.append([
            (_val(p + ["fleet_size"], st["fleet_size"], "int"), st["fleet_size"]),
            (_e(st["sites"]), st["sites"]), (_e(st["pilots"]), st["pilots"]),
            (_val(p + ["drone_mean_s", "mean"], dm["mean"], "mmss") + " "
             + _ci(p + ["drone_mean_s", "ci95_mean"], dm["ci95_mean"], "mmss"), dm["mean"]),
            (_val(p + ["suited_share_within_target", "mean"], sw["mean"], "pct") + " "
             + _ci(p + ["suited_share_within_target", "ci95_mean"], sw["ci95_mean"], "pct"),
             sw["mean"]),
            (_val(p + ["population_share"], st["population_share"], "pct"),
             st["population_share"]),
            (_val(p + ["boroughs_covered"], st["boroughs_covered"], "int"),
             st["boroughs_covered"]),
            *[(_val(p + [m.sweep, "mean"], _get(st, [m.sweep, "mean"]), m.fmt),
               _get(st, [m.sweep, "mean"])) for m in extra],
            ("UNSTABLE" if st["unstable"] else
             ('<span class="tag" title="no other step beats it on cost, reach and worst '
              'borough">front</span>' if st.get("on_front") else ""),
             "2" if st["unstable"] else "1" if st.get("on_front") else "0"),
        ])
    step_table = _table(head, trs, "step-table", "Each growth step: mean over replications with "
                        "95% intervals; unstable steps have no mean.")
    wide = bdf.pivot_table(index=["gss_code", "name"], columns="fleet_size",
                           values="population_share").reset_index()
    bt = []
    for r in wide.itertuples(index=False):
        vals = list(r)[2:]
        bt.append([(_e(r[1]), r[1])] + [(_pct(v, 0), v) for v in vals])
    borough_table = _table(["Borough"] + [f"{f} drones" for f in wide.columns[2:]], bt,
                           "borough-table", f"Share of each borough's population within {t} of "
                           "a dock, per growth step; click a heading to sort.")
    front = res.read_csv("front.csv") if (res.path / "front.csv").is_file() else None
    figs = figures.sweep_figures(steps, bdf, scn, front)
    front_html = ""
    if "trade_off_front.png" in figs:
        on = ", ".join(f"{n} drones" for n in s["front"]["fleet_sizes"])
        front_html = (
            '<section id="front"><h2>Trade-off front</h2><p>The growth steps that no other step '
            f"beats on all of: cost per year (lower), suited incidents reached within {t} "
            f"(higher) and the worst borough's share reached within {t} (higher): "
            f"<strong>{_e(on)}</strong> (marked \"front\" in the step table; front.csv has "
            "each mean with its 95% interval). The front compares means over replications: "
            "steps whose intervals overlap may change places in another set of replications.</p>"
            + _figure(figs["trade_off_front.png"], "Cost per year against suited reach, the "
                      "trade-off front ringed",
                      f"Each step's cost per year against its share of suited incidents reached "
                      f"within {t}, coloured by the worst borough's share; grey bars: 95% "
                      "intervals; ringed and joined: the front.")
            + "</section>")
    body = (
        f'<section id="headline"><h2>Headline figures</h2><div class="cards">{"".join(cards)}'
        f"</div>{step_table}</section>{map_html}"
        '<section id="growth"><h2>Growth</h2>'
        + _figure(figs["coverage_vs_fleet.png"], "Coverage against fleet size",
                  f"Static coverage (population and area within {t} of a dock) and the simulated "
                  f"share of suited incidents reached within {t}, with the boroughs covered.")
        + _figure(figs["response_vs_fleet.png"], "Response against fleet size",
                  f"Drone mean and P90 response and the {ground1} mean, 95% bands over "
                  "replications (clipped at zero).")
        + "</section>"
        + f'<section id="boroughs"><h2>By borough</h2>{borough_table}'
        + _figure(figs["borough_coverage.png"], "Borough coverage per growth step",
                  f"Population within {t} by borough and step (bold: borough covered).")
        + "</section>" + front_html)
    return question, body, {"names": names, "metrics": metrics}


def _compare_means(s: dict[str, Any]) -> pd.DataFrame:
    units = {k: v["unit"] for k, v in s["metrics"].items()}
    rows = []
    for lab, by in s["means"].items():
        for svc, ms in by.items():
            for key, m in ms.items():
                lo, hi = m.get("ci95") or [None, None]
                rows.append({"scenario": lab, "service": svc, "metric": key,
                             "unit": units.get(key, ""), "mean": m.get("mean"),
                             "ci_low": lo, "ci_high": hi, "n": m.get("n")})
    return pd.DataFrame(rows).astype({"mean": float, "ci_low": float, "ci_high": float})


def _compare_body(res: Results) -> tuple[str, str, dict[str, Any]]:
    from . import figures

    s = res.summary
    scns = res.scenarios()
    ref = s["reference"]
    others = [x["label"] for x in s["scenarios"][1:]]
    base = [res.path]
    geoms = {lab: scenario_geometry(scn, base) for lab, scn in scns.items()}
    question = (f"On the same incidents (common random numbers), how "
                f"{'does' if len(others) == 1 else 'do'} {', '.join(others)} "
                f"differ from the reference {ref}: in drone and ground response, in the share of "
                "drone-suited incidents reached within the target, and in how hard drones and "
                "pilots work?")
    metrics: dict[str, Any] = {"pop": {"label": "population within the target of a dock (%)",
                                       "fmt": "pct", "values": {}}}
    names: dict[str, str] = {}
    for lab, g in geoms.items():
        per = g.coverage.per_borough
        metrics["pop"]["values"][lab] = dict(zip(per["gss_code"], per["population_share"]))
        names.update(dict(zip(per["gss_code"], per["name"])))
    map_html = _map_section(res, geoms, metrics, "Scenario", None,
                            "Dock sites of each scenario with the region a drone reaches within "
                            "the target time; choose the scenario below.")
    cards = []
    for o in others:
        d = s["differences"].get(o, {}).get("all", {})
        parts = []
        for key, what in (("drone_response_mean_s", "drone mean response"),
                          ("suited_within_target", "suited reached within target"),
                          ("drone_deployments_per_week", "drone deployments a week")):
            x = d.get(key)
            if not x:
                continue
            unit = s["metrics"][key]["unit"]
            p = ["differences", o, "all", key]
            parts.append(f"{what}: {_val(p + ['diff_mean'], x['diff_mean'], 'diff-' + unit)} "
                         + _ci_diff(p + ["ci95"], x.get("ci95"), unit))
        cards.append(_card(f"{_e(o)} against {_e(ref)}", "<br>".join(parts),
                           note="all incidents; difference scenario &minus; reference, mean over "
                                "replications with a 95% interval", cls="multi"))
    tables_html = []
    mkeys = list(s["metrics"])
    for svc in s["services"]:
        head = ["Metric", f"{_e(ref)} (reference)"]
        for o in others:
            head += [_e(o), f"{_e(o)} &minus; {_e(ref)} [95% CI]"]
        trs = []
        for key in mkeys:
            if not any(key in (_get(s, ["means", lab, svc]) or {}) for lab in [ref, *others]):
                continue  # a figure not given per service (costs, equity)
            meta = s["metrics"][key]
            unit = meta["unit"]
            fmt = "time" if unit == "s" else registry.UNITS[unit].fmt
            rm = _get(s, ["means", ref, svc, key, "mean"])
            row = [(_e(meta["label"]), meta["label"]),
                   (_val(["means", ref, svc, key, "mean"], rm, fmt), rm)]
            for o in others:
                om = _get(s, ["means", o, svc, key, "mean"])
                dd = _get(s, ["differences", o, svc, key]) or {}
                p = ["differences", o, svc, key]
                star = ' <span class="sig" title="the interval excludes 0">*</span>' \
                    if dd.get("ci_excludes_zero") else ""
                unpaired = "" if dd.get("paired", True) else \
                    ' <span class="tag" title="incidents differ: Welch interval">unpaired</span>'
                row.append((_val(["means", o, svc, key, "mean"], om, fmt), om))
                row.append(((_val(p + ["diff_mean"], dd.get("diff_mean"), "diff-" + unit) + " "
                             + _ci_diff(p + ["ci95"], dd.get("ci95"), unit) + star + unpaired)
                            if dd else "-", dd.get("diff_mean")))
            trs.append(row)
        title = "All incidents" if svc == "all" else f"{_e(svc).capitalize()} incidents"
        tables_html.append(f"<h3 class=\"table-title\">{title}</h3>")
        tables_html.append(_table(head, trs, f"compare-{svc}", f"Service: {_e(svc)}. Mean over "
                                  "replications; differences with 95% intervals (* the interval "
                                  "excludes 0; shares in percentage points).", sortable=False))
    figs = figures.comparison_figures(res.read_csv("differences.csv"), _compare_means(s), s)
    fig_html = "".join(
        _figure(f, f"Differences from {ref}: {name[7:-4]} incidents",
                f"Each scenario's difference from {_e(ref)} for {_e(name[7:-4])} incidents, "
                "mean and 95% interval over replications (filled: the interval excludes 0).")
        for name, f in figs.items() if name.startswith("forest_"))
    fig_html += "".join(
        _figure(f, f"Cost, value and equity: differences from {ref}, {name[6:-4]} incidents",
                f"Each scenario's difference from {_e(ref)} in cost, value and equity figures "
                f"for {_e(name[6:-4])} incidents, mean and 95% interval over replications.")
        for name, f in figs.items() if name.startswith("value_"))
    fig_html += _figure(figs["responses.png"], "Mean response by scenario and service",
                        "Mean drone and ground response per scenario and service, 95% "
                        "intervals.")
    lines = "".join(
        f"<li><strong>{_e(x['label'])}</strong>: {x['fleet_size']} drones at "
        f"{x['dock_count']} docks, {x['pilots']} pilots, policy <code>{_e(x['policy'])}</code>, "
        f"services {_e(', '.join(x['services']))}</li>" for x in s["scenarios"])
    body = (
        f'<section id="headline"><h2>Headline figures</h2><ul>{lines}</ul>'
        f'<div class="cards">{"".join(cards)}</div></section>{map_html}'
        f'<section id="comparison"><h2>Comparison</h2>{"".join(tables_html)}{fig_html}'
        "</section>")
    return question, body, {"names": names, "metrics": metrics}


def _ci_diff(path: list[Any], interval: Any, unit: str) -> str:
    ok = isinstance(interval, list | tuple) and len(interval) == 2 and all(
        finite(v) for v in interval)
    if not ok:
        return '<span class="ci na">[n/a]</span>'
    return (f'<span class="ci">[{_val(path + [0], interval[0], "diff-" + unit, "lo")}, '
            f'{_val(path + [1], interval[1], "diff-" + unit, "hi")}]</span>')


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")


def _warnings(res: Results) -> str:
    out = []
    w = interval_warning(res.replications)
    if w:
        out.append(_warning(w, "replication-warning"))
    s = res.summary
    if s.get("unstable_replications"):
        out.append(_warning(f"{s['unstable_replications']} replication(s) unstable (queues "
                            "growing without bound): their means are not meaningful"))
    for x in s.get("warnings", []):
        out.append(_warning(x))
    if res.kind == "sweep" and any(st.get("unstable") for st in s.get("steps", [])):
        out.append(_warning("some growth steps are unstable (queues growing without bound); "
                            "they have no mean and are drawn hollow"))
    return "".join(out)


def build_html_report(results_dir: str | Path, playback: PlaybackOptions | None = None,
                      sensitivity: str | Path | None = None) -> str:
    """The report of a results folder as one HTML document (see the module docstring);
    ``playback``: add the animated day of :mod:`dronesim.outputs.playback` (a run only);
    ``sensitivity``: a ``dronesim sensitivity`` folder of the run's own scenario, whose section
    the report then carries (:func:`study_for_run`)."""
    res = open_results(results_dir)
    study = study_for_run(res, sensitivity) if sensitivity is not None else None
    if playback is not None and res.kind != "run":
        raise InputError("<command line>", "--playback",
                         f"playback needs the folder of a run, not of a {res.kind}")
    pb_json = ""
    if res.kind == "run":
        question, body, data = _run_body(res, playback)
        if "_playback" in data:
            pb_json = (f'<script id="playback-data" type="application/json">'
                       f'{script_json(_clean(data.pop("_playback")))}</script>'
                       f"<script>{PLAYBACK_JS}</script>")
    elif res.kind == "sweep":
        question, body, data = _sweep_body(res)
    elif res.kind == "sensitivity":
        question, body, data = _sensitivity_body(res)
    else:
        question, body, data = _compare_body(res)
    sens = study if study is not None else _sensitivity_data(res)
    if sens is not None and res.kind != "sensitivity":  # a study of the run's scenario
        body += sensitivity_section(sens)
    scns = res.scenarios()
    words = "".join(_scenario_words(scn) for scn in scns.values())
    version = res.manifest.get("dronesim_version") or ""
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    kind_words = {"run": "simulation run", "sweep": "fleet-growth sweep",
                  "compare": "scenario comparison",
                  "sensitivity": "sensitivity study"}[res.kind]
    reps = res.replications
    weeks = res.summary.get("weeks") or (res.summary.get("scenarios") or [{}])[0].get("weeks")
    sub = (f"{kind_words}; {reps} replication{'s' if reps != 1 else ''}"
           + (f" x {weeks:g} week{'s' if weeks != 1 else ''}" if finite(weeks) else "")
           + f", seed {_e(res.summary.get('seed'))}; report made {made} by dronesim {version}")
    cmd = res.manifest.get("command")
    prov = (f"<p>Command: <code>dronesim {_e(' '.join(map(str, cmd)))}</code></p>"
            if cmd else "")
    prov += (f"<p>dronesim {_e(version)}, git commit {_e(res.manifest.get('git_commit') or '-')},"
             f" Python {_e(res.manifest.get('python') or '-')}, results folder "
             f"<code>{_e(res.path.name)}</code>.</p>")
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in (
        ("question", "Question"), ("headline", "Headline"), ("map", "Map"),
        *((("playback", "Playback"),) if pb_json else ()),
        *((("distributions", "Responses"), ("boroughs", "Boroughs")) if res.kind == "run"
          else (("growth", "Growth"), ("boroughs", "Boroughs")) if res.kind == "sweep"
          else (("comparison", "Comparison"),)),
        ("assumptions", "Assumptions"), ("data", "Data"))
        if res.kind != "sensitivity" or i in ("question", "assumptions", "data"))
    if sens is not None:
        nav += '<a href="#sensitivity">Sensitivity</a>'
    if res.kind == "run" and res.summary.get("per_dock"):
        nav += '<a href="#docks">Docks</a>'
    payload = script_json(_clean({"kind": res.kind, **data}))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="generator" content="{GENERATOR} {_e(version)}">'
        f'<meta name="dronesim-kind" content="{res.kind}">'
        f"<title>dronesim: {_e(res.title)}</title><style>{_CSS}"
        f"{PLAYBACK_CSS if pb_json else ''}</style></head><body>"
        f'<header><h1>{_e(res.title)}</h1><p class="sub">{sub}</p><nav>{nav}</nav></header>'
        f"<main>{_warnings(res)}"
        f'<section id="question"><h2>The question</h2><p class="question">{_e(question)}</p>'
        f"{words}</section>{body}{_assumptions(scns, res)}{_attribution()}"
        f'<footer><h2>Provenance</h2>{prov}</footer></main>'
        f'<script id="report-data" type="application/json">{payload}</script>'
        f"<script>{_JS}</script>{pb_json}</body></html>\n")


# --------------------------------------------------------------------------------------------
# Sensitivity (dronesim.experiment.sensitivity): its own folder, or beside a run's outputs
# --------------------------------------------------------------------------------------------


def _sensitivity_data(res: Results) -> dict[str, Any] | None:
    """The folder's ``sensitivity.json``, if it holds one (None otherwise). Beside a run's
    outputs, a study of another scenario is refused: its figures would be read as this run's."""
    path = res.path / "sensitivity.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(path, "", "not a readable sensitivity study (invalid JSON)") from None
    if not isinstance(data, dict) or not isinstance(data.get("headlines"), list):
        raise InputError(path, "headlines", "not a dronesim sensitivity study")
    if res.kind == "run":
        names = {getattr(scn, "name", None) for scn in res.scenarios().values()}
        if data.get("scenario") not in names:
            raise InputError(path, "scenario", f"a study of {data.get('scenario')!r}, not of "
                                               f"this run's {', '.join(map(repr, names))}")
    return data


#: Settings a sensitivity study may differ in from the run whose report shows it: how long and
#: how often it simulates (its section states its own replications and weeks).
_STUDY_FREEDOM = {"simulation.replications", "simulation.weeks"}


def study_for_run(res: Results, study_dir: str | Path) -> dict[str, Any]:
    """The ``sensitivity.json`` of the study folder ``study_dir`` (``dronesim report
    --sensitivity``), checked to be a study of the run's own scenario: every resolved setting
    equal but the replications and weeks; else one line naming the first setting that differs."""
    from ..experiment.identity import flatten
    from ..inputs.scenario import scenario_to_dict

    study = open_results(study_dir)
    if study.kind != "sensitivity":
        raise InputError(study_dir, "--sensitivity", f"a folder of a {study.kind}, not of "
                                                     "dronesim sensitivity")
    if res.kind != "run":
        raise InputError("<command line>", "--sensitivity",
                         f"a study goes with a run's report, not a {res.kind}'s")
    (mine,) = res.scenarios().values()
    (theirs,) = study.scenarios().values()
    a, b = flatten(scenario_to_dict(mine)), flatten(scenario_to_dict(theirs))
    for key in sorted(set(a) | set(b)):
        if key in _STUDY_FREEDOM or key.endswith(".origins"):
            continue
        if a.get(key) != b.get(key):
            raise InputError(study.path / "scenario.resolved.toml", key,
                             f"the study is of other inputs than the run ({b.get(key)!r} "
                             f"against the run's {a.get(key)!r})")
    data = _sensitivity_data(study)
    assert data is not None  # a sensitivity folder holds its study
    return data


def _sens_value(v: Any, unit: str) -> str:
    from ..experiment.sensitivity import fmt_value

    return _e(fmt_value(v if finite(v) else None, unit))


def sensitivity_section(data: dict[str, Any]) -> str:
    """The report's sensitivity section: how far each headline figure moves over the
    assumptions' plausible ranges (one at a time: a table and a tornado per figure), the
    Morris and Sobol screening when run, and the assumptions with their ranges and sources."""
    from ..experiment.sensitivity import summary_text
    from . import figures

    heads = data["headlines"]
    out = ['<section id="sensitivity"><h2>Sensitivity: how far the headline figures move</h2>',
           f"<p>{_e(summary_text(data))}</p>"]
    if any(h.get("oat") for h in heads):
        rows = []
        for h in heads:
            env = h.get("envelope") or [None, None]
            top = (h.get("oat") or [{}])[0]
            rows.append([(_e(h["label"]), h["label"]),
                         (_sens_value(h["base"], h["unit"]), h["base"]),
                         (f"{_sens_value(env[0], h['unit'])} to "
                          f"{_sens_value(env[1], h['unit'])}", None),
                         (_e(h.get("driver") or "none"), h.get("driver") or ""),
                         (_sens_value(top.get("swing"), h["unit"]), top.get("swing"))])
        out.append(_table(["Figure", "Scenario's value", "Range over the assumptions",
                           "Moved most by", "Its swing"], rows, "sensitivity-table",
                          "Each assumption at its low and at its high end, one at a time, the "
                          "others at the scenario's values, on common random numbers; the range "
                          "is the lowest and highest value so reached (not a joint interval)."))
        for name, fig in figures.sensitivity_figures(data).items():
            out.append(_figure(fig, f"tornado chart {name}",
                               "Light bars: the assumption at its low end; dark bars: at its "
                               "high end; the line: the scenario's value."))
    by = {a["name"]: a for a in data["assumptions"]}
    for method, col, words in (
            ("morris", "mu_star", "Morris screening: mu* (mean absolute elementary effect, in "
                                  "the figure's unit per step of the range)"),
            ("sobol", "ST", "Sobol total-order indices ST (share of the figure's variance "
                            "involving the assumption)")):
        block = (data.get(method) or {}).get("figures") or {}
        if not block:
            continue
        keys = [h["key"] for h in heads if block.get(h["key"])]
        rows = []
        for name in by:
            cells: list[tuple[str, Any]] = [(_e(name), name)]
            for k in keys:
                v = next((o.get(col) for o in block[k] if o["assumption"] == name), None)
                cells.append((_e(f"{v:.3g}") if finite(v) else "-", v))
            rows.append(cells)
        labels = {h["key"]: h["label"] for h in heads}
        out.append(f'<h3 class="table-title">{_e(words)}</h3>')
        out.append(_table(["Assumption"] + [_e(labels[k]) for k in keys], rows,
                          f"sensitivity-{method}", _e(words) + "; a larger value, a stronger "
                          "influence; seed " + _e(data.get("sample_seed"))))
    rows = [[(_e(a["name"]), a["name"]), (f"<code>{_e(a['key'])}</code>", a["key"]),
             (_e(a["range"]), None),
             (_e(f"{json.dumps(a['low_value'])} to {json.dumps(a['high_value'])}"), None),
             (_e(a["source"]), None)] for a in data["assumptions"]]
    out.append('<h3 class="table-title">Assumptions varied</h3>')
    out.append(_table(["Assumption", "Scenario key", "Range", "Values", "Source or reason"],
                      rows, "sensitivity-assumptions", "The plausible range of each "
                      "assumption (relative ranges multiply the scenario's value)."))
    if data.get("skipped"):
        out.append('<p class="note">Not varied: ' + "; ".join(
            f"{_e(x['name'])} ({_e(x['reason'])})" for x in data["skipped"]) + ".</p>")
    out.append("</section>")
    return "".join(out)


def _sensitivity_body(res: Results) -> tuple[str, str, dict[str, Any]]:
    data = _sensitivity_data(res)
    if data is None:
        raise InputError(res.path / "sensitivity.json", "", "missing from the sensitivity "
                                                            "results folder")
    question = (f"Which headline figures of {data['scenario']} are robust, and which move with "
                "the assumptions behind them: how far does each move when each assumption "
                "moves over its plausible range?")
    return question, sensitivity_section(data), {"sensitivity": data.get("methods")}


#: What :func:`script_json` escapes: every character that could end the ``<script>`` element
#: (``</script>``), open an HTML comment in it (``<!--``) or be read as an entity or a line end.
_SCRIPT_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                        "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_JSON_RE = re.compile("[<>&\u2028\u2029]")


def script_json(obj: Any) -> str:
    """``obj`` as JSON text safe inside a ``<script>`` element of the page: ``<``, ``>``, ``&``
    and U+2028/U+2029 written as ``\\u`` escapes (which JSON decodes back), so no string in
    the data (a scenario label, a name) can end the element or comment out the rest of the
    page. Every JSON embedded in the report goes through here."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_JSON_RE.sub(lambda m: _SCRIPT_JSON_ESCAPES[m.group(0)], text)


def _clean(obj: Any) -> Any:
    """NaN and infinities as None, numpy scalars as Python numbers (for JSON)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def is_our_report(path: Path) -> bool:
    """True if the file is a report dronesim wrote (its generator tag)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}' in head


def write_html_report(results_dir: str | Path, out_file: str | Path | None = None,
                      playback: PlaybackOptions | None = None,
                      sensitivity: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of a results folder.

    Parameters
    ----------
    results_dir
        A folder written by ``dronesim run``, ``sweep`` or ``compare``.
    out_file
        The HTML file to write (default ``<results_dir>/report.html``). Its folder must exist;
        an existing file is replaced only if it is a dronesim report.
    playback
        Add the animated day of one replication (:mod:`dronesim.outputs.playback`; a run's
        folder only). Off by default: it puts single simulated incidents on the page.
    sensitivity
        A ``dronesim sensitivity`` folder of the run's own scenario (only its replications and
        weeks may differ): the report then says how far each headline figure moves over the
        declared assumptions. A study of other inputs is refused.

    Returns
    -------
    The path written.

    Raises
    ------
    InputError
        One line (file, field, problem) for a folder that is not a dronesim results folder or
        an output file that may not be written. Nothing is written then.
    """
    res_dir = Path(results_dir)
    open_results(res_dir)  # refuse a foreign folder before anything else
    out = Path(out_file) if out_file is not None else res_dir / "report.html"
    check_output_file(out, is_our_report, "report")  # before the page is built
    text = build_html_report(res_dir, playback, sensitivity)
    return write_output_file(out, lambda tmp: tmp.write_text(text, encoding="utf-8"),
                             is_our_report, "report")


# --------------------------------------------------------------------------------------------
# Inline style and script
# --------------------------------------------------------------------------------------------

_CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#d8dde4;--bg:#f7f8fa;--card:#fff;--drone:#1f77b4;
--ground:#d62728;--warn:#8a4b00;--warnbg:#fff4e0}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header{background:#12233d;color:#fff;padding:1rem 1.25rem .5rem}
header h1{margin:0;font-size:1.6rem;overflow-wrap:anywhere}
header .sub{margin:.25rem 0 .5rem;color:#c9d3e3;font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:.25rem .9rem;font-size:.9rem}
nav a{color:#fff}
main{max-width:1150px;margin:0 auto;padding:0 1rem 2rem}
section,footer{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:.75rem 1.1rem;margin:1rem 0}
h2{font-size:1.25rem;margin:.2rem 0 .6rem}
h3{font-size:.95rem;margin:0 0 .3rem;color:var(--muted);font-weight:600}
h3.table-title{color:var(--ink);font-size:1.02rem;margin-top:1rem}
.question{font-size:1.1rem;font-weight:600}
.warning{background:var(--warnbg);color:var(--warn);border:1px solid #f0c27b;border-radius:6px;
padding:.6rem .9rem;margin:1rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:.75rem;
margin-bottom:.75rem}
.card{border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem;background:#fcfdff}
.card .main{font-size:1.45rem;font-weight:700;margin:.1rem 0;font-variant-numeric:tabular-nums}
.card .main .ci{font-size:.95rem;font-weight:500;color:var(--muted)}
.card .detail{margin:.1rem 0;font-size:.9rem}
.card.multi .main{font-size:1.05rem;font-weight:600;line-height:1.7}
.note{color:var(--muted);font-size:.82rem;margin:.2rem 0}
.na{color:var(--muted)}
.tag{font-size:.72rem;background:#eef1f5;border:1px solid var(--line);border-radius:4px;
padding:0 .3rem;color:var(--muted);white-space:nowrap}
.sig{color:#0b6b2f;font-weight:700}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0}
table{border-collapse:collapse;font-size:.88rem;min-width:100%;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);font-size:.82rem;padding:.2rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:right;
vertical-align:top;white-space:nowrap}
thead th{white-space:normal;vertical-align:bottom;min-width:5.5rem}
th:first-child,td:first-child{text-align:left;white-space:normal;min-width:9rem}
thead th{background:#eef2f7;position:sticky;top:0}
tbody th:first-child{position:sticky;left:0;background:#fff;z-index:1}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th::after{content:" \\2195";color:#9aa4b2;font-size:.8em}
table.sortable thead th[aria-sort=ascending]::after{content:" \\25B2";color:var(--ink)}
table.sortable thead th[aria-sort=descending]::after{content:" \\25BC";color:var(--ink)}
table.kv td{text-align:left;white-space:normal;overflow-wrap:anywhere}
table.docks td{text-align:left;white-space:normal}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;display:block;margin:0 auto;border:1px solid var(--line)}
figcaption{color:var(--muted);font-size:.85rem;margin-top:.3rem}
pre{background:#f3f5f8;padding:.6rem;overflow-x:auto;font-size:.8rem}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}
.map-controls,.layers{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;
font-size:.9rem;margin:.3rem 0}
.layers label{white-space:nowrap}
.zoom button{font:inherit;min-width:2.2rem;min-height:2.2rem;margin-right:.2rem;
border:1px solid var(--line);background:#fff;border-radius:4px;cursor:pointer}
select{font:inherit;max-width:100%}
.map-wrap{position:relative;border:1px solid var(--line);border-radius:6px;overflow:hidden;
background:#e9eef4;touch-action:none}
#map-svg{display:block;width:100%;height:auto;max-height:78vh;cursor:grab}
#map-svg.dragging{cursor:grabbing}
#map-svg .sea{fill:#e9eef4}
#map-svg path.b{fill:#f4f4f4;stroke:#7d8793;stroke-width:.8;vector-effect:non-scaling-stroke}
#map-svg path.b:hover{stroke:#111;stroke-width:2}
#map-svg .cells rect{fill:#6a3d9a;stroke:none}
#map-svg .cov{fill:var(--drone);fill-opacity:.28;stroke:var(--drone);stroke-width:1;
vector-effect:non-scaling-stroke}
#map-svg .rng{fill:none;stroke:#1f4e79;stroke-width:1.4;stroke-dasharray:6 4;
vector-effect:non-scaling-stroke}
#map-svg .zones path{fill:#b22222;fill-opacity:.12;stroke:#b22222;stroke-width:1.2;
vector-effect:non-scaling-stroke}
#map-svg .dock path{fill:#111;stroke:#fff;stroke-width:1.2;vector-effect:non-scaling-stroke}
.tip{position:absolute;pointer-events:none;background:rgba(20,26,36,.94);color:#fff;
font-size:.82rem;padding:.35rem .5rem;border-radius:4px;max-width:18rem;z-index:2;
white-space:pre-line}
.map-legend{font-size:.82rem;color:var(--muted);margin:.4rem 0}
.key{display:inline-block;width:1.1rem;height:.8rem;vertical-align:middle;margin:0 .2rem 0 .6rem;
border:1px solid #999}
.cov-key{background:rgba(31,119,180,.35);border-color:#1f77b4}
.rng-key{border:2px dashed #1f4e79;background:none}
.dock-key{border:none;width:auto;height:auto;color:#111}
.zone-key{background:rgba(178,34,34,.15);border-color:#b22222}
.cell-key{background:rgba(106,61,154,.55);border-color:#6a3d9a}
#map-svg .exposure rect{fill:#d94801;stroke:none}
.exposure-key{background:rgba(217,72,1,.55);border-color:#d94801}
.ramp{margin-top:.3rem;display:flex;align-items:center;gap:.4rem;flex-wrap:wrap}
.ramp .bar{display:inline-block;width:9rem;height:.7rem;border:1px solid #999;
background:linear-gradient(90deg,#ffffe5,#d9f0a3,#78c679,#238443,#004529)}
footer{font-size:.85rem;color:var(--muted)}
code{font-size:.9em;overflow-wrap:anywhere}
@media (max-width:600px){body{font-size:15px}header h1{font-size:1.3rem}
figure{overflow-x:auto}figure img{max-width:none;width:640px}
main{padding:0 .5rem 1rem}section,footer{padding:.6rem .7rem}
.card .main{font-size:1.25rem}}
@media print{.map-controls,.layers,nav{display:none}}
"""

_JS = r"""
(function(){
"use strict";
var DATA=JSON.parse(document.getElementById("report-data").textContent);
function mmss(s){if(s===null||s===undefined||!isFinite(s))return "-";var t=Math.round(s),
sg=t<0?"-":"";t=Math.abs(t);var m=Math.floor(t/60),r=t%60;return sg+m+":"+(r<10?"0":"")+r;}
function pct(v){return (v===null||v===undefined||!isFinite(v))?"-":(v*100).toFixed(1)+"%";}
function num(v){return (v===null||v===undefined||!isFinite(v))?"-":v.toFixed(1);}
var FMT={mmss:mmss,pct:pct,num:num};

/* sortable tables: click or Enter on a heading; missing values always last */
Array.prototype.forEach.call(document.querySelectorAll("table.sortable"),function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){
    th.tabIndex=0;th.setAttribute("aria-sort","none");
    var go=function(){sortBy(t,i,th);};
    th.addEventListener("click",go);
    th.addEventListener("keydown",function(e){
      if(e.key==="Enter"||e.key===" "){e.preventDefault();go();}});
  });
});
function sortBy(t,i,th){
  var asc=th.getAttribute("aria-sort")!=="ascending";
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(c){c.setAttribute("aria-sort","none");});
  th.setAttribute("aria-sort",asc?"ascending":"descending");
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=a.cells[i].getAttribute("data-sort"),y=b.cells[i].getAttribute("data-sort");
    if(x===""&&y==="")return 0;if(x==="")return 1;if(y==="")return -1;
    var nx=Number(x),ny=Number(y),c;
    if(!isNaN(nx)&&!isNaN(ny))c=nx-ny;else c=x.localeCompare(y);
    return asc?c:-c;
  });
  rows.forEach(function(r){body.appendChild(r);});
}

/* the map */
var svg=document.getElementById("map-svg");
if(!svg)return;
var vb=svg.getAttribute("viewBox").split(" ").map(Number);
var home={x:vb[0],y:vb[1],w:vb[2],h:vb[3]},view={x:home.x,y:home.y,w:home.w,h:home.h};
var tip=document.getElementById("tip"),wrap=svg.parentNode;
var metricSel=document.getElementById("map-metric"),groupSel=document.getElementById("map-group");
var group=groupSel?groupSel.value:Object.keys(DATA.metrics[metricSel.value].values)[0];
function marks(){return svg.querySelectorAll(".mk");}
function apply(){
  svg.setAttribute("viewBox",view.x+" "+view.y+" "+view.w+" "+view.h);
  var px=svg.getBoundingClientRect().width||800,k=view.w/px;
  Array.prototype.forEach.call(marks(),function(m){
    m.setAttribute("transform",
      "translate("+m.getAttribute("data-x")+" "+m.getAttribute("data-y")+") scale("+k+")");
  });
}
function zoomAt(f,cx,cy){
  var nw=Math.min(home.w*1.5,Math.max(home.w/60,view.w/f)),r=nw/view.w;
  view.x=cx-(cx-view.x)*r;view.y=cy-(cy-view.y)*r;view.w=nw;view.h=view.h*r;apply();
}
function toSvg(cx,cy){var b=svg.getBoundingClientRect();
  return {x:view.x+(cx-b.left)/b.width*view.w,y:view.y+(cy-b.top)/b.height*view.h};}
function centre(){return {x:view.x+view.w/2,y:view.y+view.h/2};}
document.getElementById("zoom-in").addEventListener("click",function(){
  var c=centre();zoomAt(1.5,c.x,c.y);});
document.getElementById("zoom-out").addEventListener("click",function(){
  var c=centre();zoomAt(1/1.5,c.x,c.y);});
document.getElementById("zoom-reset").addEventListener("click",function(){
  view={x:home.x,y:home.y,w:home.w,h:home.h};apply();});
svg.addEventListener("wheel",function(e){e.preventDefault();var p=toSvg(e.clientX,e.clientY);
  zoomAt(e.deltaY<0?1.25:0.8,p.x,p.y);},{passive:false});
var ptrs={},drag=null,pinch=null;
svg.addEventListener("pointerdown",function(e){
  ptrs[e.pointerId]={x:e.clientX,y:e.clientY};
  var ids=Object.keys(ptrs);
  if(ids.length===1){drag={x:e.clientX,y:e.clientY,vx:view.x,vy:view.y,moved:false};}
  else if(ids.length===2){var a=ptrs[ids[0]],b=ptrs[ids[1]];
    pinch={d:Math.hypot(a.x-b.x,a.y-b.y)||1};drag=null;}
});
svg.addEventListener("pointermove",function(e){
  if(ptrs[e.pointerId]){ptrs[e.pointerId]={x:e.clientX,y:e.clientY};}
  var ids=Object.keys(ptrs);
  if(pinch&&ids.length===2){var a=ptrs[ids[0]],b=ptrs[ids[1]],d=Math.hypot(a.x-b.x,a.y-b.y)||1;
    var m=toSvg((a.x+b.x)/2,(a.y+b.y)/2);zoomAt(d/pinch.d,m.x,m.y);pinch.d=d;return;}
  if(drag){var b2=svg.getBoundingClientRect(),dx=e.clientX-drag.x,dy=e.clientY-drag.y;
    if(Math.abs(dx)+Math.abs(dy)>3){drag.moved=true;svg.classList.add("dragging");
      if(!svg.hasPointerCapture(e.pointerId))svg.setPointerCapture(e.pointerId);}
    if(drag.moved){view.x=drag.vx-dx/b2.width*view.w;view.y=drag.vy-dy/b2.height*view.h;apply();
      hideTip();return;}}
  showTip(e);
});
function up(e){delete ptrs[e.pointerId];if(Object.keys(ptrs).length<2)pinch=null;
  if(drag&&!drag.moved&&e.type==="pointerup"){showTip(e);}
  drag=null;svg.classList.remove("dragging");}
svg.addEventListener("pointerup",up);svg.addEventListener("pointercancel",up);
svg.addEventListener("pointerleave",function(e){if(e.pointerType==="mouse")hideTip();});
function hideTip(){tip.hidden=true;}
function boroughTip(code){
  var name=(DATA.names&&DATA.names[code])||code,lines=[name];
  Object.keys(DATA.metrics).forEach(function(k){var m=DATA.metrics[k],vals=m.values[group]||{};
    var v=vals[code];lines.push(m.label+": "+(v===null||v===undefined?"no data":FMT[m.fmt](v)));});
  return lines.join("\n");
}
function showTip(e){
  /* every feature under the pointer, top first: a dock, the coverage, the borough beneath */
  var seen=[],texts=[];
  (document.elementsFromPoint(e.clientX,e.clientY)||[]).forEach(function(n){
    var el=n.closest?n.closest("[data-tip],[data-code]"):null;
    if(!el||seen.indexOf(el)>=0||!svg.contains(el))return;seen.push(el);
    texts.push(el.hasAttribute("data-code")?boroughTip(el.getAttribute("data-code")):el.getAttribute("data-tip"));
  });
  if(!texts.length){hideTip();return;}
  tip.textContent=texts.slice(0,4).join("\n\n");tip.hidden=false;
  var b=wrap.getBoundingClientRect(),x=e.clientX-b.left+12,y=e.clientY-b.top+12;
  var w=tip.offsetWidth,h=tip.offsetHeight;
  if(x+w>b.width)x=Math.max(0,e.clientX-b.left-w-12);
  if(y+h>b.height)y=Math.max(0,e.clientY-b.top-h-12);
  tip.style.left=x+"px";tip.style.top=y+"px";
}
/* colours: five-step yellow-green ramp (distinct from the blue coverage), one scale for
   every step or scenario so that they can be compared */
var RAMP=[[255,255,229],[217,240,163],[120,198,121],[35,132,67],[0,69,41]];
function colour(t){t=Math.max(0,Math.min(1,t))*(RAMP.length-1);
  var i=Math.min(RAMP.length-2,Math.floor(t)),f=t-i;
  var c=RAMP[i].map(function(v,k){return Math.round(v+(RAMP[i+1][k]-v)*f);});
  return "rgb("+c.join(",")+")";}
function recolour(){
  var m=DATA.metrics[metricSel.value],vals=m.values[group]||{},list=[];
  Object.keys(m.values).forEach(function(gk){var vs=m.values[gk];
    Object.keys(vs).forEach(function(k){
      var v=vs[k];if(v!==null&&v!==undefined&&isFinite(v))list.push(v);});});
  var lo=Math.min.apply(null,list),hi=Math.max.apply(null,list);
  if(m.fmt==="pct"){lo=Math.min(lo,0);}
  if(!list.length){lo=0;hi=1;}
  Array.prototype.forEach.call(svg.querySelectorAll("path.b"),function(p){
    var v=vals[p.getAttribute("data-code")];
    p.style.fill=(v===null||v===undefined||!isFinite(v))?"#eeeeee":colour(hi>lo?(v-lo)/(hi-lo):0.5);
  });
  document.getElementById("ramp-lo").textContent=FMT[m.fmt](lo);
  document.getElementById("ramp-hi").textContent=FMT[m.fmt](hi);
  document.getElementById("ramp-label").textContent=m.label+" (grey: no data)";
}
metricSel.addEventListener("change",recolour);
if(groupSel){groupSel.addEventListener("change",function(){group=groupSel.value;
  Array.prototype.forEach.call(svg.querySelectorAll(".grp"),function(g){
    g.style.display=g.getAttribute("data-group")===group?"":"none";});recolour();apply();});}
Array.prototype.forEach.call(document.querySelectorAll(".layers input[data-layer]"),function(cb){
  cb.addEventListener("change",function(){var k=cb.getAttribute("data-layer"),on=cb.checked;
    if(k==="boroughs"){svg.classList.toggle("plain",!on);
      Array.prototype.forEach.call(svg.querySelectorAll("path.b"),function(p){p.style.fillOpacity=on?"":"0";});return;}
    var els=svg.querySelectorAll("#layer-"+k+",.layer-"+k);
    Array.prototype.forEach.call(els,function(el){el.style.display=on?"":"none";});});
});
window.addEventListener("resize",apply);
recolour();apply();
document.documentElement.setAttribute("data-report-ready","1");
})();
"""
