"""Plain-text tables and the wording people read: times as m:ss, intervals or "n/a", labels.

Shared by the terminal tables of ``run``, ``sweep`` and ``compare``, the HTML report
(:mod:`dronesim.outputs.html`) and the plots (:mod:`dronesim.outputs.plots`), so a figure reads the
same wherever it appears:

* every time a person reads is ``m:ss`` (:func:`mmss`); a difference of times under a minute is
  given in seconds with one decimal (``-35.0 s``), where m:ss would round it away;
* an interval is ``[low, high]``; with fewer than two replications there is none and it is shown
  as ``n/a`` with a warning (:func:`interval_warning`), never as a zero-width interval;
* ground responders are named per service (:func:`ground_label`): police officers, fire engines,
  ambulances, "ground units" when several services are mixed;
* "suited reached within target" has one definition
  (defined in :mod:`dronesim.kpis.statistics`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeGuard

from ..kpis import registry

__all__ = ["mmss", "ci_text", "share_text", "ground_label", "GROUND_NOUNS",
           "interval_warning", "MIN_REPLICATIONS_FOR_CI", "SUITED_WITHIN_DEFINITION",
           "format_run_table", "format_sweep_table", "format_comparison_table"]

#: Fewer replications than this give an interval, but a wide and fragile one (Student-t with
#: one to three degrees of freedom); the report and the tables say so.
MIN_REPLICATIONS_FOR_CI = 5

#: What ground responders are called, per service.
GROUND_NOUNS = {"police": "officers", "fire": "fire engines", "ambulance": "ambulances"}

#: One sentence stating the definition of the "suited reached within target" figure.
SUITED_WITHIN_DEFINITION = (
    "share of drone-suited incidents with a drone on scene within the target time of the call; "
    "suited incidents no drone reached (out of range, declined, abandoned in the queue) count as "
    "not reached")


#: How a value is written in a table (``-`` when missing).
Formatter = Callable[[float | None], str]


def _finite(v: Any) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def mmss(seconds: float | None, signed: bool = False) -> str:
    """Seconds as ``m:ss`` (rounded to the second; 75 minutes is ``75:00``); ``-`` when
    missing. ``signed`` puts ``+`` before a positive value (for differences)."""
    if not _finite(seconds):
        return "-"
    total = int(round(float(seconds)))
    sign = "-" if total < 0 else ("+" if signed and total > 0 else "")
    m, s = divmod(abs(total), 60)
    return f"{sign}{m}:{s:02d}"


def ci_text(interval: Sequence[float | None] | None, fmt: Formatter = mmss) -> str:
    """``[low, high]`` formatted with ``fmt``, or ``[n/a]`` when either end is missing."""
    if not interval or len(interval) != 2 or not all(_finite(v) for v in interval):
        return "[n/a]"
    lo, hi = interval
    return f"[{fmt(lo)}, {fmt(hi)}]"


def share_text(v: float | None, digits: int = 1) -> str:
    """A share as a percentage (``12.3%``); ``-`` when missing."""
    return f"{v:.{digits}%}" if _finite(v) else "-"


def ground_label(services: Iterable[str], plural: bool = True) -> str:
    """What a scenario's ground responders are called: ``officers`` for police alone,
    ``fire engines``, ``ambulances``; ``ground units`` for a mix or anything else.
    ``plural=False`` gives the singular (``officer``), as in "officer response"."""
    names = list(dict.fromkeys(services))
    noun = GROUND_NOUNS[names[0]] if len(names) == 1 and names[0] in GROUND_NOUNS \
        else "ground units"
    return noun if plural else noun[:-1]


def interval_warning(replications: int) -> str | None:
    """The warning to show next to intervals from ``replications`` replications, if any."""
    if replications < 2:
        return (f"{replications} replication: no confidence interval can be computed (shown as "
                "n/a); run at least 2, better 5 or more, replications")
    if replications < MIN_REPLICATIONS_FOR_CI:
        return (f"only {replications} replications: the 95% intervals are wide and rest on few "
                f"values; run {MIN_REPLICATIONS_FOR_CI} or more for a dependable interval")
    return None


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


def value_formatter(unit: str) -> Formatter:
    """How a value of a :mod:`dronesim.kpis.registry` unit is written in a table: m:ss for times,
    percentages for shares, GBP with thousands separators, else one decimal."""
    if unit == "share":
        return share_text
    if unit == "s":
        return mmss
    if unit == "gbp":
        return lambda v: f"{v:,.0f}" if _finite(v) else "-"
    if unit == "index":
        return lambda v: f"{v:.2f}" if _finite(v) else "-"

    def num(v: float | None) -> str:
        return f"{v:.1f}" if _finite(v) else "-"
    return num


def _services_of(summary: dict[str, Any]) -> list[str]:
    return list(summary.get("per_service") or summary.get("ground_units") or {})


def format_run_table(summary: dict[str, Any]) -> str:
    """A short plain-text table of a run's headline figures (``summary.json`` of ``run``)."""
    services = _services_of(summary)
    ground, ground1 = ground_label(services), ground_label(services, plural=False)
    cov = summary["coverage"]
    target = mmss(cov["within_s"])

    def resp_row(label: str, block: dict[str, Any]) -> str:
        return (f"{label:<30}{mmss(block['mean']):>7}  {ci_text(block['ci95_mean']):<16}"
                f"{mmss(block['median']):>8}{mmss(block['p90']):>8}")

    def scalar(label: str, block: dict[str, Any] | None, unit: str) -> str:
        if not block:
            return f"{label:<30}{'-':>7}"
        f = value_formatter(unit)
        return f"{label:<30}{f(block['mean']):>7}  {ci_text(block['ci95_mean'], f)}"

    fill = {"target": target, "ground": ground, "ground1": ground1}
    body = []
    for m in registry.run_lines():  # declared in dronesim.kpis.registry
        label = m.line.format(**fill)
        if isinstance(m, registry.Response):
            body.append(resp_row(label, summary[m.key]))
        elif m.key in summary:  # a figure of a feature that is off is absent
            body.append(scalar(label, summary.get(m.key), m.unit))
    lines = [
        f"scenario {summary['scenario']}: {summary['fleet_size']} drones, "
        f"{summary['dock_count']} docks, {summary['replications']} replications x "
        f"{summary['weeks']:g} weeks, seed {summary['seed']}",
        f"{'':30}{'mean':>7}  {'95% CI of mean':<16}{'median':>8}{'P90':>8}",
        *body,
        *([f"money in {summary['price_year']} prices (uprated by the ONS CPIH index, "
           "data/calibration/price_index.csv)"]
          if summary.get("price_year") and "cost_per_year_gbp" in summary else []),
        *(_wrap("missions a week by airframe type: " + ", ".join(
            f"{name} {b['missions_per_week']['mean']:.1f} "
            f"({b['flight_hours_per_week']['mean']:.1f} flight hours)"
            for name, b in summary["per_airframe"].items()), 100)
          if summary.get("per_airframe") else []),
        *dock_lines(summary, target),
        f"{'coverage within ' + target:<30}area {share_text(cov['area_share'])}, population "
        f"{share_text(cov['population_share'])}, boroughs {cov['boroughs_covered']}/"
        f"{len(summary.get('per_borough') or []) or 33}",
        *_wrap(f"suited reached within {target}: {SUITED_WITHIN_DEFINITION}", 100),
    ]
    warn = interval_warning(int(summary["replications"]))
    if warn:
        lines += _wrap(f"WARNING: {warn}", 100)
    if summary.get("unstable_replications"):
        lines.append(f"WARNING: {summary['unstable_replications']} replication(s) unstable "
                     "(queue growing without bound); means are not meaningful")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------------


def format_sweep_table(summary: dict[str, Any]) -> str:
    """Plain-text table of a sweep (``summary.json`` of ``sweep``), one line per step."""
    target = mmss(summary["within_s"])
    n_b = 33
    cost = any("cost_per_minute_saved_gbp" in s for s in summary["steps"])
    lines = [f"{'fleet':>6}{'sites':>7}{'pilots':>7}{'drone mean':>12}  {'95% CI':<16}"
             f"{'suited<' + target:>12}{'pop<' + target:>10}{'boroughs':>10}"
             + (f"{'GBP/min saved':>15}" if cost else "") + "  note"]
    for s in summary["steps"]:
        d = s["drone_mean_s"]
        r = s["suited_share_within_target"]["mean"]
        c = (s.get("cost_per_minute_saved_gbp") or {}).get("mean")
        lines.append(f"{s['fleet_size']:>6}{s['sites']:>7}{s['pilots']:>7}{mmss(d['mean']):>12}"
                     f"  {ci_text(d['ci95_mean']):<16}{share_text(r, 0):>12}"
                     f"{share_text(s['population_share'], 0):>10}"
                     f"{s['boroughs_covered']:>7}/{n_b}"
                     + (f"{value_formatter('gbp')(c):>15}" if cost else "")
                     + f"  {'UNSTABLE' if s['unstable'] else ''}"
                     f"{' front' if s.get('on_front') else ''}".rstrip())
    marg = [(st["fleet_size"], st.get("marginal_cost_per_minute_saved_gbp"))
            for st in summary["steps"] if "marginal_cost_per_minute_saved_gbp" in st]
    if any(v is not None for _, v in marg):
        lines += _wrap("GBP per extra minute saved, each step over the one before: " + ", ".join(
            f"{n} drones {value_formatter('gbp')(v)}" for n, v in marg if v is not None), 100)
    if summary.get("front"):
        lines += _wrap("front: steps no other step beats on cost per year, suited reached within "
                       f"{target} and the worst borough's suited reached within {target} "
                       "(means over replications; front.csv gives the 95% intervals): "
                       + (", ".join(f"{n} drones" for n in summary["front"]["fleet_sizes"])
                          or "none"), 100)
    small = summary["smallest_fleet_covering_every_borough"]
    lines.append(
        f"smallest fleet covering every borough (>= {summary['borough_population_share']:.0%} "
        f"of population within {target}): "
        + (f"{small} drones" if small else f"not reached up to {summary['largest_fleet']} drones"))
    lines += _wrap(f"suited<{target}: {SUITED_WITHIN_DEFINITION}", 100)
    warn = interval_warning(int(summary["replications"]))
    if warn:
        lines += _wrap(f"WARNING: {warn}", 100)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------


def _cmp_value(v: float | None, unit: str) -> str:
    if not _finite(v):
        return "-"
    if unit == "share":
        return f"{v:.1%}"
    if unit == "s":
        return mmss(v) if abs(v) >= 60 else f"{v:.1f} s"
    return value_formatter(unit)(v)


def _cmp_diff(d: dict[str, Any], unit: str, reps: int) -> str:
    m = d["diff_mean"]
    if not _finite(m):
        return "-"
    scale, suffix = (100.0, " pp") if unit == "share" else (1.0, " s" if unit == "s" else "")

    def f(x: float) -> str:
        v = x * scale + 0.0
        # Large figures (money, minutes a week) with separators and no decimals, as their values.
        return f"{v:+,.0f}" if abs(v) >= 1000 else f"{v:+.1f}"

    lo, hi = d["ci95"]
    ok = _finite(lo) and _finite(hi)
    text = f"{f(m)}{suffix} " + (f"[{f(lo)}, {f(hi)}]" if ok else "[n/a]")
    if d["n"] < reps:
        text += f" n={d['n']}"
    return text + (" *" if d.get("ci_excludes_zero") else "")


def _wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def format_comparison_table(summary: dict[str, Any], width: int = 100) -> str:
    """Plain-text tables of a comparison (``summary.json`` of ``compare``) within ``width``
    columns.

    One block per service and compared scenario: each metric's reference value, the scenario's
    value and the difference from the reference with a 95% interval (``*``: the interval
    excludes 0). Scenario names head the blocks instead of heading columns, so the width does not
    grow with the number or the length of the names. Notes and warnings are wrapped to
    ``width``.
    """
    ref = summary["reference"]
    reps = int(summary["replications"])
    others = [s["label"] for s in summary["scenarios"][1:]]
    weeks = sorted({s["weeks"] for s in summary["scenarios"]})
    lines = _wrap(f"compare: reference {ref}; {reps} replications x "
                  f"{'/'.join(f'{w:g}' for w in weeks)} weeks, seed {summary['seed']}", width)
    for s in summary["scenarios"][1:]:
        yes = [k for k, v in (s["paired"] or {}).items() if v]
        no = [k for k, v in (s["paired"] or {}).items() if not v]
        if not no:
            how = "paired on identical incidents (common random numbers)"
        elif not yes:
            how = "UNPAIRED: incidents differ from the reference's (Welch intervals)"
        else:
            how = (f"paired for {', '.join(yes)}; UNPAIRED for {', '.join(no)} (incidents "
                   "differ; Welch intervals)")
        lines += _wrap(f"  {s['label']}: {s['fleet_size']} drones, {s['dock_count']} docks, "
                       f"{s['pilots']} pilots; {how}", width, "    ")
    warn = interval_warning(reps)
    for w in ([warn] if warn else []) + list(summary.get("warnings", [])):
        lines += _wrap(f"WARNING: {w}", width)
    for n in summary.get("notes", []):
        lines += _wrap(f"note: {n}", width)
    metrics = summary["metrics"]
    # The label column takes what the values leave of the width (two values and a difference
    # with its interval need about 54 columns); a longer label wraps, it is never cut.
    mw = min(max(24, width - 54), max(len(m["label"]) for m in metrics.values()) + 2)
    vw = 11
    for service in summary["services"]:
        for o in others:
            lines.append("")
            head = f"service: {service}; {o} against {ref} (reference)"
            lines += _wrap(head, width)
            lines.append(f"{'metric':<{mw}}{'reference':>{vw}}{'scenario':>{vw}}  "
                         "difference [95% CI]")
            for key, meta in metrics.items():
                unit = meta["unit"]
                refm = summary["means"].get(ref, {}).get(service, {}).get(key)
                om = summary["means"].get(o, {}).get(service, {}).get(key)
                if refm is None and om is None:
                    continue  # a figure not given for this service (costs, equity)
                d = summary["differences"].get(o, {}).get(service, {}).get(key)
                label, *more = textwrap.wrap(meta["label"], mw - 1) or [""]
                row = (f"{label:<{mw}}{_cmp_value(refm and refm['mean'], unit):>{vw}}"
                       f"{_cmp_value(om and om['mean'], unit):>{vw}}  "
                       f"{_cmp_diff(d, unit, reps) if d else '-'}")
                lines.append(row.rstrip()[:width])
                lines += [f"  {m}" for m in more]
    lines.append("")
    lines += _wrap("differences: scenario - reference, mean over replications with a 95% "
                   "interval; shares in percentage points (pp); * the interval excludes 0; "
                   f"suited reached within target: {SUITED_WITHIN_DEFINITION}", width)
    return "\n".join(lines)


#: Docks listed in the run table; the rest are in summary.json ``per_dock``.
DOCK_LINES = 20


def dock_lines(summary: dict[str, Any], target: str) -> list[str]:
    """A short block of each dock's figures (``summary.json`` ``per_dock``, declared in
    :data:`dronesim.kpis.registry.DOCK_METRICS`), busiest first, at most :data:`DOCK_LINES`."""
    rows = summary.get("per_dock") or []
    if not rows:
        return []

    def mean(r: dict[str, Any], key: str) -> float:
        b = r.get(key)
        v = b.get("mean") if isinstance(b, dict) else None
        return math.nan if v is None else float(v)

    def num(v: float, fmt: str, suffix: str = "") -> str:
        return "-" if v != v else format(v, fmt) + suffix

    busiest = sorted(rows, key=lambda r: -(mean(r, "drone_deployments_per_week") or 0.0))
    out = [f"{'per dock':<22}{'drones':>6}{'deploy/wk':>10}{'response':>9}"
           f"{'served<' + target:>13}{'util':>7}{'charge h/wk':>12}"]
    for r in busiest[:DOCK_LINES]:
        resp = r.get("drone_response_s") or {}
        share = mean(r, "suited_within_share")
        out.append(f"  {str(r['name'])[:19]:<20}{r['drones']:>6}"
                   f"{num(mean(r, 'drone_deployments_per_week'), '.1f'):>10}"
                   f"{mmss(resp.get('mean', math.nan)):>9}"
                   f"{num(share * 100, '.0f', '%'):>13}"
                   f"{num(mean(r, 'drone_utilisation') * 100, '.1f', '%'):>7}"
                   f"{num(mean(r, 'charge_hours_per_week'), '.1f'):>12}")
    if len(rows) > DOCK_LINES:
        out.append(f"  ... {len(rows) - DOCK_LINES} more in summary.json per_dock")
    return out


def format_dock_value_table(summary: dict[str, Any]) -> str:
    """A dock-value study (``dronesim dock-value``) as plain text within 100 columns: each
    variant's headline differences from the scenario as it stands, with paired 95% intervals;
    closures by loss, then additions by gain."""
    target = mmss(summary.get("within_s"))
    ref = summary.get("reference") or {}

    def refv(key: str) -> float:
        b = ref.get(key) or {}
        v = b.get("mean") if isinstance(b, dict) else None
        return math.nan if v is None else float(v)

    def pp(v: Any) -> str:
        return "-" if not _finite(v) else f"{100 * float(v):+.1f}"

    def num(v: Any) -> str:
        return "-" if not _finite(v) else f"{float(v):+.1f}"

    def cell(r: dict[str, Any], key: str, f: Callable[[Any], str]) -> str:
        return f"{f(r.get(key + '_diff'))} [{f(r.get(key + '_low'))}, {f(r.get(key + '_high'))}]"

    lines = [
        f"dock value of {summary['scenario']}: {summary['replications']} replications x "
        f"{summary['weeks']:g} weeks, seed {summary['seed']}, paired on common random numbers",
        f"as it stands: suited reached within {target} {share_text(refv('suited_within_target'))}"
        f", drone response mean {mmss(refv('drone_response_mean_s'))}, "
        f"{refv('drone_deployments_per_week'):.1f} deployments a week",
        f"{'change':<34}{'suited<' + target + ' (pp)':<23}{'drone mean (s)':<22}"
        f"{'deployments/wk':<21}",
    ]
    for r in summary.get("variants") or []:
        what = ("close " if r["kind"] == "close" else "add ") + str(r["site"])
        what = f"{what[:29]} ({r['drones']})"
        lines.append(f"{what:<34}{cell(r, 'suited_within_target', pp):<23}"
                     f"{cell(r, 'drone_response_mean_s', num):<22}"
                     f"{cell(r, 'drone_deployments_per_week', num):<21}")
    lines += _wrap("differences: the variant minus the scenario as it stands, mean over paired "
                   "replications [95% interval]; close: the dock and its drones removed; add: "
                   "the site with (n) drones", 100)
    for w in summary.get("warnings") or []:
        lines += _wrap(f"WARNING: {w}", 100)
    warn = interval_warning(int(summary["replications"]))
    if warn:
        lines += _wrap(f"WARNING: {warn}", 100)
    return "\n".join(lines)

