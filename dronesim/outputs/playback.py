"""An animated day of one replication for the HTML report (``dronesim report --playback``).

:func:`playback_data` reads a run's incident and mission tables (:mod:`dronesim.outputs.results`)
and keeps one day of one replication as compact JSON arrays; :func:`playback_section` is the
report's section (an inline SVG, the controls) and :data:`PLAYBACK_JS` the inline script that
animates it. Nothing is fetched: the page's Content-Security-Policy still forbids every request.

What is drawn, and what is approximated:

* incidents appear at their call time and stay until their ground unit clears the scene (one
  hour when the table has no clear time), coloured by what the drone did (on scene; suited but
  not reached; not a drone incident);
* a ground unit is a marker at the incident from ``t_ground_arrival`` on. Its own road route is
  not recorded by the simulation, so it is not drawn;
* drones fly each mission leg in straight lines at a constant pace between the recorded times:
  from the dock (or, after a hand-over, from the previous scene) at ``t_launch`` to the scene at
  ``t_on_scene``, hover until ``t_leave``, back to the dock at ``t_landed``. Detours around
  no-fly zones, climb and descent are drawn straight (the leg's times include them). A leg with
  no on-scene time (a fault that turned back, or a hand-over before arrival) turns at the point
  reached at cruise speed halfway through its time (fault) or at its end (hand-over).

Data kept small: times are whole seconds from the day's start (legs that began the day before
start below zero), coordinates are SVG units (metres of the report's map frame) rounded to 10 m
and stored divided by ten. The day is the busiest whole day of the measured window unless one is
chosen (day 1 = the first day after the warm-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .results import Results, snap

__all__ = ["PlaybackOptions", "playback_data", "playback_section", "PLAYBACK_JS", "DAY_S",
           "COORD_M"]

DAY_S = 86_400
#: Coordinates are rounded to this many metres (and stored divided by it).
COORD_M = 10
#: How long an incident stays on the map when its clear time is unknown.
_LINGER_S = 3600
#: Incident classes (JSON codes): no drone asked for; drone on scene; suited, no drone on scene.
_CLASS_NONE, _CLASS_DRONE, _CLASS_MISSED = 0, 1, 2


@dataclass(frozen=True)
class PlaybackOptions:
    """Which day and replication to play (None: the busiest whole day; the first
    replication)."""

    day: int | None = None
    replication: int | None = None


def _ints(v: np.ndarray) -> list[int]:
    return [int(x) for x in np.asarray(v, np.int64)]


def _choose_day(res: Results, calls: np.ndarray, day: int | None) -> int:
    """1-based day of the measured window: the one asked for, or the busiest whole day."""
    warm, end = res.window_s
    n_days = max(1, int(math.ceil((end - warm) / DAY_S - 1e-9)))
    whole = max(1, int((end - warm) // DAY_S))
    if day is not None:
        if not 1 <= day <= n_days:
            raise InputError("<command line>", "--playback-day",
                             f"{day} is outside the run's measured days 1 to {n_days}")
        return day
    idx = np.floor((calls - warm) / DAY_S).astype(np.int64)
    counts = np.bincount(idx[(idx >= 0) & (idx < whole)], minlength=whole)
    return int(np.argmax(counts)) + 1


def playback_data(res: Results, frame_x0: float, frame_y1: float, docks: pd.DataFrame,
                  speed_m_s: float, opts: PlaybackOptions = PlaybackOptions(),
                  snap_m: float = 0.0) -> dict[str, Any]:
    """One day of one replication as compact arrays (see the module docstring).

    ``frame_x0``/``frame_y1``: the map frame's left and top (EPSG:27700 metres), so the
    coordinates are the report map's SVG units; ``docks``: the scenario's dock sites (x, y) in
    the order of the mission table's ``dock_id``; ``speed_m_s``: drone cruise speed (only for
    legs without an on-scene time); ``snap_m``: move incidents to the centre of their cell of
    this size first (a replayed trace of real incidents: 100 m, as the GeoPackage export does,
    so that they are not republished at full precision)."""
    if res.kind != "run":
        raise InputError(res.path / "summary.json", "", "playback needs the folder of a run "
                                                        "(dronesim run), not a " + res.kind)
    reps = res.incident_replications()
    rep = reps[0] if opts.replication is None else int(opts.replication)
    if rep not in reps:
        raise InputError("<command line>", "--replication",
                         f"{rep} is not in the incident table (replications {reps[0]} to "
                         f"{reps[-1]})")
    inc = res.read_incidents(["incident_id", "t_call", "x", "y", "drone_suited",
                              "drone_outcome", "t_ground_arrival", "t_ground_clear"],
                             replications=[rep], window=False)
    if snap_m > 0:
        inc["x"], inc["y"] = snap(inc["x"].to_numpy(), snap_m), snap(inc["y"].to_numpy(), snap_m)
    warm, _end = res.window_s
    calls = inc["t_call"].to_numpy(float)
    win = calls >= warm
    day = _choose_day(res, calls[win], opts.day)
    t0 = warm + (day - 1) * DAY_S
    t1 = t0 + DAY_S
    sel = inc[(calls >= t0) & (calls < t1)].sort_values("t_call", kind="stable")

    def rel(v: Any) -> np.ndarray:
        return np.round(np.asarray(v, float) - t0)

    def cx(x: Any) -> np.ndarray:
        return np.round((np.asarray(x, float) - frame_x0) / COORD_M)

    def cy(y: Any) -> np.ndarray:
        return np.round((frame_y1 - np.asarray(y, float)) / COORD_M)

    outcome = sel["drone_outcome"].astype(str).to_numpy()
    cls = np.where(outcome == "on_scene", _CLASS_DRONE,
                   np.where(sel["drone_suited"].to_numpy(bool), _CLASS_MISSED, _CLASS_NONE))
    g_arr = sel["t_ground_arrival"].to_numpy(float)
    g_clr = sel["t_ground_clear"].to_numpy(float)
    call = sel["t_call"].to_numpy(float)
    end = np.where(np.isfinite(g_clr), g_clr, call + _LINGER_S)
    incidents = {
        "t": _ints(rel(call)), "x": _ints(cx(sel["x"])), "y": _ints(cy(sel["y"])),
        "c": _ints(cls),
        "g": _ints(np.where(np.isfinite(g_arr), rel(g_arr), -1)),
        "e": _ints(rel(end)),
    }
    missions = _missions(res, rep, inc, t0, t1, docks, speed_m_s, rel, cx, cy)
    return {"day": day, "replication": rep, "day_start_s": int(round(t0)),
            "coord_m": COORD_M, "snapped_m": snap_m, "incidents": incidents,
            "missions": missions,
            "counts": {"incidents": int(len(sel)), "missions": len(missions["t0"])}}


def _missions(res: Results, rep: int, inc: pd.DataFrame, t0: float, t1: float,
              docks: pd.DataFrame, speed: float, rel: Any, cx: Any, cy: Any
              ) -> dict[str, list[int]]:
    import pyarrow.dataset as ds

    path = res.path / "missions.parquet"
    empty: dict[str, list[int]] = {k: [] for k in
                                   ("t0", "t1", "t2", "t3", "x0", "y0", "x1", "y1", "x2",
                                    "y2")}
    if not path.exists():
        return empty
    cols = ["replication", "drone_id", "dock_id", "incident", "t_assigned", "t_launch",
            "t_on_scene", "t_leave", "t_landed", "redirected", "fault"]
    dset = ds.dataset(path, format="parquet", partitioning="hive")
    have = [c for c in cols if c in dset.schema.names]
    m = dset.to_table(columns=have, filter=ds.field("replication") == rep).to_pandas()
    if not len(m):
        return empty
    if "fault" not in m:
        m["fault"] = False
    m = m.sort_values(["drone_id", "t_assigned"], kind="stable").reset_index(drop=True)
    pos = inc.set_index("incident_id")[["x", "y"]]
    sx = pos["x"].reindex(m["incident"]).to_numpy(float)
    sy = pos["y"].reindex(m["incident"]).to_numpy(float)
    dx = docks["x"].to_numpy(float)[m["dock_id"].to_numpy(int)]
    dy = docks["y"].to_numpy(float)[m["dock_id"].to_numpy(int)]
    start = m["t_launch"].to_numpy(float).copy()
    ox, oy = dx.copy(), dy.copy()
    red = m["redirected"].to_numpy(bool)
    ends = m["t_landed"].to_numpy(float)
    same = m["drone_id"].to_numpy()
    for i in range(1, len(m)):  # after a hand-over the next leg starts at the previous scene
        if same[i] == same[i - 1] and red[i - 1]:
            start[i], ox[i], oy[i] = ends[i - 1], sx[i - 1], sy[i - 1]
    scene = m["t_on_scene"].to_numpy(float)
    leave = m["t_leave"].to_numpy(float)
    # legs with no on-scene time: turn where cruise speed gets in the time available
    no_scene = ~np.isfinite(scene)
    dist = np.hypot(sx - ox, sy - oy)
    turn = np.where(red, ends, start + (ends - start) / 2)
    frac = np.clip(np.where(dist > 0, (turn - start) * speed / np.maximum(dist, 1e-9), 1.0),
                   0.0, 1.0)
    px = np.where(no_scene, ox + (sx - ox) * frac, sx)
    py = np.where(no_scene, oy + (sy - oy) * frac, sy)
    scene = np.where(no_scene, turn, scene)
    leave = np.where(np.isfinite(leave), leave, scene)
    # a hand-over ends at the scene it leaves from; any other leg back at its dock
    ex = np.where(red, px, dx)
    ey = np.where(red, py, dy)
    keep = np.isfinite(start) & np.isfinite(ends) & (ends >= t0) & (start < t1) & np.isfinite(
        sx)
    k = keep
    return {"t0": _ints(rel(start[k])), "t1": _ints(rel(scene[k])), "t2": _ints(rel(leave[k])),
            "t3": _ints(rel(ends[k])), "x0": _ints(cx(ox[k])), "y0": _ints(cy(oy[k])),
            "x1": _ints(cx(px[k])), "y1": _ints(cy(py[k])), "x2": _ints(cx(ex[k])),
            "y2": _ints(cy(ey[k]))}


def playback_section(data: dict[str, Any], outline: str, docks_svg: str, width: int,
                     height: int) -> str:
    """The report's playback section: map (borough outlines, docks, the animated layer), play
    and pause, speed, a time slider and the clock."""
    n_i, n_m = data["counts"]["incidents"], data["counts"]["missions"]
    speeds = "".join(f'<option value="{s}"{" selected" if s == 600 else ""}>{lab}</option>'
                     for s, lab in ((60, "60x (1 min/s)"), (300, "300x (5 min/s)"),
                                    (600, "600x (10 min/s)"), (1800, "1800x (30 min/s)"),
                                    (3600, "3600x (1 h/s)")))
    return (
        '<section id="playback"><h2>Playback: one day</h2>'
        f"<p>Day {data['day']} after the warm-up of replication {data['replication']}: "
        f"{n_i:,} incidents and {n_m:,} drone mission legs. Incidents appear at the call "
        "(blue: a drone reached it; orange: suited to a drone, none on scene; grey: not a drone "
        "incident) and stay until the ground unit clears; a red ring marks the ground unit on "
        "scene. Drones (blue triangles) fly straight lines between the recorded launch, "
        "on-scene, leave and landing times; detours around no-fly zones are drawn straight, and "
        "the ground units' own road routes are not recorded, so only their arrival is shown. "
        + ("Incidents are simulated, not recorded ones.</p>" if not data.get("snapped_m") else
           f"The incidents replay recorded ones, so each is drawn at the centre of its "
           f"{data['snapped_m']:g} m cell.</p>")
        + '<div class="pb-controls"><button type="button" id="pb-play" aria-pressed="false">'
        'Play</button><label>Speed <select id="pb-speed">' + speeds + "</select></label>"
        '<input type="range" id="pb-slider" min="0" max="86400" step="60" value="0" '
        'aria-label="time of day"><span id="pb-clock" aria-live="off">00:00:00</span>'
        '<span id="pb-counts" class="note"></span></div>'
        f'<div class="map-wrap"><svg id="pb-svg" viewBox="0 0 {width} {height}" '
        'preserveAspectRatio="xMidYMid meet" role="img" aria-label="Playback map of one day">'
        f'<rect class="sea" x="0" y="0" width="{width}" height="{height}"/>'
        f'<path class="pb-b" d="{outline}"/><g class="pb-docks">{docks_svg}</g>'
        '<g id="pb-inc"></g><g id="pb-air"></g></svg></div></section>')


PLAYBACK_CSS = """
.pb-controls{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;margin:.3rem 0}
.pb-controls button{font:inherit;min-width:5rem;min-height:2.2rem;border:1px solid var(--line);
background:#fff;border-radius:4px;cursor:pointer}
#pb-slider{flex:1 1 14rem}
#pb-clock{font-variant-numeric:tabular-nums;font-weight:700;min-width:7rem}
#pb-svg{display:block;width:100%;height:auto;max-height:78vh}
#pb-svg .sea{fill:#e9eef4}
#pb-svg .pb-b{fill:#f7f7f7;stroke:#8d96a1;stroke-width:.7;vector-effect:non-scaling-stroke}
#pb-svg .pb-docks path{fill:#111;stroke:#fff;stroke-width:1;vector-effect:non-scaling-stroke}
#pb-svg .i0{fill:#9aa4b2;fill-opacity:.55}
#pb-svg .i1{fill:#1f77b4}
#pb-svg .i2{fill:#ff7f0e}
#pb-svg .gr{fill:none;stroke:#d62728;stroke-width:1.3;vector-effect:non-scaling-stroke}
#pb-svg .leg{stroke:#1f77b4;stroke-width:1;stroke-dasharray:3 3;vector-effect:non-scaling-stroke}
#pb-svg .dr{fill:#1f77b4;stroke:#fff;stroke-width:1;vector-effect:non-scaling-stroke}
"""

PLAYBACK_JS = r"""
(function(){
"use strict";
var el=document.getElementById("playback-data");if(!el)return;
var P=JSON.parse(el.textContent),I=P.incidents,M=P.missions,K=P.coord_m;
var gi=document.getElementById("pb-inc"),ga=document.getElementById("pb-air");
var btn=document.getElementById("pb-play"),spd=document.getElementById("pb-speed");
var sl=document.getElementById("pb-slider"),clk=document.getElementById("pb-clock");
var cnt=document.getElementById("pb-counts"),svg=document.getElementById("pb-svg");
var vb=svg.getAttribute("viewBox").split(" ").map(Number),R=Math.max(vb[2],vb[3])/260;
var t=0,playing=false,last=null;
function two(n){return (n<10?"0":"")+n;}
function clock(s){var d=P.day_start_s+s,day=Math.floor(d/86400),r=Math.floor(d-day*86400);
  var names=["Mon","Tue","Wed","Thu","Fri","Sat","Sun"];
  return names[day%7]+" "+two(Math.floor(r/3600))+":"+two(Math.floor(r/60)%60)+":"+two(r%60);}
function lerp(a,b,f){return a+(b-a)*f;}
function draw(){
  var h=[],a=[],n=0,nd=0,ng=0,i;
  for(i=0;i<I.t.length;i++){
    if(I.t[i]>t)break;
    if(I.e[i]<=t)continue;
    var x=I.x[i]*K,y=I.y[i]*K;n++;
    h.push('<circle class="i'+I.c[i]+'" cx="'+x+'" cy="'+y+'" r="'+R+'"/>');
    if(I.g[i]>=0&&I.g[i]<=t){ng++;
      h.push('<circle class="gr" cx="'+x+'" cy="'+y+'" r="'+(R*1.9)+'"/>');}
  }
  for(i=0;i<M.t0.length;i++){
    if(M.t0[i]>t||M.t3[i]<=t)continue;
    var px,py,f;
    if(t<M.t1[i]){f=(t-M.t0[i])/Math.max(1,M.t1[i]-M.t0[i]);
      px=lerp(M.x0[i],M.x1[i],f);py=lerp(M.y0[i],M.y1[i],f);}
    else if(t<M.t2[i]){px=M.x1[i];py=M.y1[i];}
    else{f=(t-M.t2[i])/Math.max(1,M.t3[i]-M.t2[i]);
      px=lerp(M.x1[i],M.x2[i],f);py=lerp(M.y1[i],M.y2[i],f);}
    px*=K;py*=K;nd++;
    a.push('<line class="leg" x1="'+M.x0[i]*K+'" y1="'+M.y0[i]*K+'" x2="'+M.x1[i]*K
      +'" y2="'+M.y1[i]*K+'"/>');
    a.push('<path class="dr" d="M'+px+','+(py-2.2*R)+'L'+(px+2*R)+','+(py+1.6*R)
      +'L'+(px-2*R)+','+(py+1.6*R)+'Z"/>');
  }
  gi.innerHTML=h.join("");ga.innerHTML=a.join("");
  clk.textContent=clock(t);sl.value=String(Math.floor(t));
  cnt.textContent=n+" incidents open, "+ng+" with a ground unit on scene, "+nd+" drones flying";
  svg.setAttribute("data-t",String(Math.floor(t)));
}
function frame(ts){
  if(!playing)return;
  if(last!==null){t+=(ts-last)/1000*Number(spd.value);}
  last=ts;
  if(t>=86400){t=86400;playing=false;btn.textContent="Play";
    btn.setAttribute("aria-pressed","false");}
  draw();
  if(playing)requestAnimationFrame(frame);
}
btn.addEventListener("click",function(){
  playing=!playing;btn.textContent=playing?"Pause":"Play";
  btn.setAttribute("aria-pressed",playing?"true":"false");
  if(playing){if(t>=86400)t=0;last=null;requestAnimationFrame(frame);}
});
sl.addEventListener("input",function(){t=Number(sl.value);draw();});
draw();
document.documentElement.setAttribute("data-playback-ready","1");
})();
"""
