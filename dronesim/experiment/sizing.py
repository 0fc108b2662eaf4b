"""Sizing that targets the binding boroughs (``dronesim size --method greedy``) and the ceiling.

:func:`dronesim.experiment.siting_search.size_search` walks the nested maximal-coverage pathway;
this module grows a plan where the per-borough target binds, and says how high any plan could
go.

**Losses and the ceiling** (:func:`losses`). A replication's drone-suited incidents (in the
measured window) are split by what happened to them: reached within the target; inside a no-fly
zone (the airspace's ``detour`` mode refuses flights into zones and docks cannot stand in one,
:func:`dronesim.siting.sites.unreachable_demand`, so no plan reaches them); the fleet grounded
(weather or night, with its reason); a fault; no dock in range (outside zones: a siting loss);
on scene late because of the delay before launch (decision, queue, pilot; with climb and descent
that alone exceeds the target) or because of the distance flown; anything else (queue
abandoned, cancelled, declined, pending, no link). The *ceiling* of a borough is the share a dock
at every incident's doorstep could reach: ``(1 - zone) (1 - g) (1 - f) (1 - p)``, with ``zone``
the borough's share inside no-fly zones, ``g`` London's share of decided incidents (outside
zones) grounded (the fleet is grounded London-wide, :mod:`dronesim.engine.availability`), ``f``
London's share of launched incidents lost to a fault and ``p`` London's share of incidents
reached whose delay before launch plus climb and descent already exceeds the target. The
doorstep dock's leg adds no distance, so the fixed decision, launch overhead, climb and descent
(:func:`dronesim.kinematics.reach_radius_m`) cost it nothing beyond ``p``. Plans are drawn from
the listed docks and the candidate sites, so the *sites' ceiling* (``ceiling_sites``, the one
sizing uses) replaces ``1 - zone`` by the borough's share of suited incidents that one of them
reaches within the reach radius on a straight path crossing no zone (:func:`reach_matrix`;
a detour around a zone is longer than the straight line). Both ceilings assume
the non-siting losses of the plan that was simulated (more drones bring more pilots at
``control_room.pilots_per_drone``, so ``p`` is the plan's). They estimate the most any plan
reaches, not a promise that one does; London's ``g`` applied to a borough whose incidents fell
in calmer hours can leave it slightly above its ceiling.

**Greedy sizing** (:func:`size_greedy`). From a start plan (today's listed sites, or maximal
coverage for a fleet), every round simulates the plan (R replications, the scenario's seed:
common random numbers, as :class:`dronesim.experiment.siting_search.Evaluator`), takes the
boroughs below target and adds a dock for each: for the worst of them, the ``screen`` candidate
sites that add most of its uncovered suited demand (static coverage within the reach radius of
the target time, on a straight path crossing no no-fly zone, of the suited incidents outside
zones that :func:`losses` recorded for the start plan: common random numbers, so the incidents
every plan answers) are each simulated and the one that raises that borough's mean most is kept;
every other borough below target gets its best candidate by static coverage alone (one dock per
binding borough per round, so a round costs ``screen`` plan-evaluations whatever the number of
boroughs). A borough whose demand the candidates already cover gets a drone added to the plan's
dock covering most of it (its losses are then queueing or pilots, not reach); a drone that does
not raise the worst borough's share ends the rounds. Rounds stop when every borough meets its
target, at the budget (plan-evaluations) or at the fleet cap. Then docks not needed are dropped
(the search's newest first, then the start plan's): a dock is removed when the plan without it
still meets every target (simulated). A borough whose ceiling is below its target cannot be
helped by siting: it is reported as infeasible with its ceiling and left out of the rounds (the
plan is grown for the others), and no dock is dropped then (no target says what the infeasible
borough may lose). With ``basis = "ceiling"`` each borough's target is ``target`` times its
sites' ceiling (a target the timeline, the airspace and the weather allow).

The plan's cost is ``cost_per_year_gbp`` (:mod:`dronesim.kpis.costs`), its boroughs' shares come
with Student-t 95% intervals over the replications (wide on short runs: the weather of a week
varies; plans are compared on common replications, so their differences are much tighter), and
the *binding* boroughs are those that fell below target when the drop phase tried removing one
of the plan's docks (``fails_without``: how many docks each needs), else the three with the
least margin. Being greedy, the plan is a least-cost plan found, not a proven minimum.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.records import DRONE_OUTCOMES
from ..engine.replication import run_replication
from ..inputs.scenario import Scenario
from .runner import prepare_checked
from .siting_search import (
    Evaluator,
    SearchSpace,
    SizeResult,
    _bad,
    check_target,
    mclp_plan,
    search_space,
)

__all__ = ["losses", "ceiling_of", "reach_matrix", "size_greedy", "add_ceiling", "LOSS_COLUMNS",
           "SCREEN"]

#: Candidates the worst borough's dock is chosen from by simulation, each round.
SCREEN = 3
#: Columns of :func:`losses` (shares of a borough's suited incidents; they add up to 1).
LOSS_COLUMNS = ("reached", "no_fly_zone", "grounded", "fault", "out_of_range", "late_launch",
                "late_distance", "other")
_O = {name: k for k, name in enumerate(DRONE_OUTCOMES)}


def losses(space: SearchSpace, plan: tuple[int, ...], replications: int,
           within_s: float | None = None) -> dict[str, Any]:
    """Where each borough's suited incidents went, for ``plan`` over replications ``0..R-1``
    (records kept in memory), and the ceiling; see the module docstring. Returns ``boroughs``
    (a DataFrame: gss_code, name, suited, the :data:`LOSS_COLUMNS` shares, ceiling) and
    ``london`` (the same for all boroughs, plus ``grounded_by_reason``, ``g``, ``f``, ``p``,
    ``zone_reached``: incidents inside zones reached, 0 when the ceiling's premise holds) and
    ``points`` (x, y, gss_code of the suited incidents outside no-fly zones, all replications:
    the demand the greedy sizing screens candidates on)."""
    scn = dataclasses.replace(space.scenario, docks=space.docks(plan))
    within = float(scn.coverage.within_s if within_s is None else within_s)
    prep = prepare_checked(scn, space.data_dir)
    spec = scn.drones
    frames = []
    for r in range(replications):
        res = run_replication(prep, r)
        inc = res.incidents
        assert inc is not None
        keep = (inc["t_call"].to_numpy() >= res.warmup_s) & (inc["t_call"].to_numpy()
                                                              < res.horizon_s)
        keep &= inc["drone_suited"].to_numpy().astype(bool)
        frames.append(inc.loc[keep, ["x", "y", "gss_code", "drone_outcome", "grounded_reason",
                                     "t_call", "t_launch", "drone_response_s"]])
    d = pd.concat(frames, ignore_index=True)
    x, y = d["x"].to_numpy(float), d["y"].to_numpy(float)
    zones = prep.zones
    zone = (zones.contains(x, y) if zones is not None and len(zones)
            else np.zeros(len(d), bool))
    out = d["drone_outcome"].astype(str).map(_O).to_numpy(np.int64)
    resp = d["drone_response_s"].to_numpy(float)
    hit = resp <= within
    on = out == _O["on_scene"]
    lag = d["t_launch"].to_numpy(float) - d["t_call"].to_numpy(float)
    late_launch = on & ~hit & (lag + spec.climb_s + spec.descent_s > within)
    cat = np.full(len(d), "other", dtype=object)
    cat[on & ~hit & ~late_launch] = "late_distance"
    cat[late_launch] = "late_launch"
    cat[out == _O["out_of_range"]] = "out_of_range"
    cat[out == _O["fault"]] = "fault"
    cat[out == _O["grounded"]] = "grounded"
    cat[zone & ~hit] = "no_fly_zone"
    cat[hit] = "reached"
    d = d.assign(cat=cat, zone=zone)
    points = d.loc[~zone, ["x", "y", "gss_code"]].reset_index(drop=True)
    decided = ~zone & ~np.isin(out, [_O["out_of_range"], _O["no_link"], _O["not_suited"]])
    g = float((out[decided] == _O["grounded"]).mean()) if decided.any() else 0.0
    launched = np.isin(out, [_O["on_scene"], _O["fault"]])
    f = float((out[launched] == _O["fault"]).mean()) if launched.any() else 0.0
    reached = on
    p = float((lag[reached] + spec.climb_s + spec.descent_s > within).mean()) \
        if reached.any() else 0.0
    reasons = d["grounded_reason"].astype(str).reset_index(drop=True)
    grounded = reasons[out == _O["grounded"]]
    by_reason = {str(k): float(v) / len(grounded) for k, v in
                 grounded.value_counts().items()} if len(grounded) else {}

    src = np.vstack([space.pinned_xy.reshape(-1, 2), space.cands[["x", "y"]].to_numpy(float)])
    pool = np.zeros(len(d), bool)  # a listed dock or a candidate site reaches it (zone-free)
    if len(d):
        pool[~zone] = np.asarray(reach_matrix(src, np.column_stack([x, y])[~zone],
                                              _radius(space, within), zones).sum(axis=0)
                                 ).ravel() > 0
    d = d.assign(pool=pool)
    rest = (1 - g) * (1 - f) * (1 - p)

    def row(sel: pd.DataFrame) -> dict[str, Any]:
        n = len(sel)
        shares = {c: float((sel["cat"] == c).mean()) if n else math.nan for c in LOSS_COLUMNS}
        z = float(sel["zone"].mean()) if n else math.nan
        ps = float(sel["pool"].mean()) if n else math.nan
        return {"suited": n / replications, **shares, "zone_share": z, "sites_share": ps,
                "ceiling": (1 - z) * rest, "ceiling_sites": ps * rest}

    rows = [{"gss_code": code, "name": space.borough_names.get(code, code), **row(sel)}
            for code, sel in d.groupby("gss_code", sort=True)]
    london = row(d) | {"grounded_by_reason": by_reason, "g": g, "f": f, "p": p,
                       "zone_reached": int((zone & on).sum()),
                       "reach_radius_m": _radius(space, within), "within_s": within,
                       "replications": replications}
    return {"boroughs": pd.DataFrame(rows), "london": london, "points": points,
            "zones": zones}


def reach_matrix(src: np.ndarray, pts_xy: np.ndarray, radius: float, zones: Any) -> Any:
    """Sources x points (scipy CSR): within ``radius`` on a straight path that crosses no
    no-fly zone (:meth:`dronesim.inputs.airspace.NoFlyZones.crosses`)."""
    from ..siting import solvers as siting

    if not len(src):
        from scipy import sparse

        return sparse.csr_matrix((0, len(pts_xy)), dtype=bool)
    a = siting.coverage_matrix(src.reshape(-1, 2), pts_xy, radius).T.tocoo()
    if zones is not None and len(zones) and a.nnz:
        ok = ~zones.crosses(src[a.row, 0], src[a.row, 1], pts_xy[a.col, 0], pts_xy[a.col, 1])
        a = type(a)((a.data[ok], (a.row[ok], a.col[ok])), shape=a.shape)
    return a.tocsr()


def _radius(space: SearchSpace, within_s: float) -> float:
    from ..siting.sites import reach_radius_m

    return reach_radius_m(space.scenario.drones, within_s)


def ceiling_of(loss: dict[str, Any], which: str = "ceiling_sites") -> dict[str, float]:
    """Each borough's ceiling (gss_code -> share) from :func:`losses`: ``ceiling_sites`` (the
    candidate sites' ceiling, default) or ``ceiling`` (the doorstep ceiling)."""
    b = loss["boroughs"]
    return dict(zip(b["gss_code"].astype(str), b[which].astype(float)))


def _interval(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, float)
    if v.size < 2:
        return (math.nan, math.nan)
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return (float(v.mean()) - half, float(v.mean()) + half)


def size_greedy(scn: Scenario, *, target: float, within_s: float, start_fleet: int | None = None,
                replications: int = 3, budget: int = 40, max_fleet: int = 300,
                basis: str = "absolute", screen: int = SCREEN,
                data_dir: str | Path | None = None, candidates: pd.DataFrame | None = None,
                progress: Callable[[str], None] | None = None) -> SizeResult:
    """Grow a plan where the per-borough target binds, then drop docks not needed; see the
    module docstring. ``start_fleet``: None starts from the listed docks, else from maximal
    coverage for that fleet. ``basis``: "absolute" (``target`` is each borough's share) or
    "ceiling" (each borough's target is ``target`` times its sites' ceiling)."""
    check_target(target, within_s)
    if budget < 2:
        raise _bad("--budget", f"must be >= 2 plan-evaluations; got {budget}")
    if basis not in ("absolute", "ceiling"):
        raise _bad("--target-basis", f"must be 'absolute' or 'ceiling'; got {basis!r}")
    if screen < 1:
        raise _bad("--screen", f"must be >= 1; got {screen}")
    scn = dataclasses.replace(scn, coverage=dataclasses.replace(scn.coverage,
                                                                within_s=float(within_s)))
    space = search_space(scn, data_dir, candidates)
    base = sum(d.drones for d in space.pinned)
    if max_fleet < base:
        raise _bad("--max-fleet", f"{max_fleet} is below the {base} drones of the listed docks")
    plan: tuple[int, ...] = ()
    if start_fleet is not None and space.sites_for(start_fleet) > 0:
        plan = mclp_plan(space, space.sites_for(start_fleet))
    start = plan
    ev = Evaluator(space, replications)
    loss = losses(space, plan, replications, within_s)
    ceil = ceiling_of(loss)
    door = ceiling_of(loss, "ceiling")
    goal = {c: (target * v if basis == "ceiling" else target) for c, v in ceil.items()}
    infeasible = sorted(c for c in goal if ceil[c] < goal[c])
    active = [c for c in goal if c not in infeasible]
    pts = loss["points"]
    pts_xy = pts[["x", "y"]].to_numpy(float)
    dem_borough = pts["gss_code"].astype(str).to_numpy()
    radius = _radius(space, within_s)
    zones = loss["zones"]
    cover = reach_matrix(space.cands[["x", "y"]].to_numpy(float), pts_xy, radius, zones)
    pin = np.asarray(reach_matrix(space.pinned_xy, pts_xy, radius, zones).sum(axis=0)
                     ).ravel() > 0
    rows: list[dict[str, Any]] = []

    def fleet_of(p: tuple[int, ...]) -> int:
        return base + space.per_site * len(p)

    def means(p: tuple[int, ...]) -> dict[str, float]:
        return ev.figures(p).borough_means()

    def below(p: tuple[int, ...]) -> list[str]:
        m = means(p)
        return sorted((c for c in active if m.get(c, 0.0) < goal[c]),
                      key=lambda c: m.get(c, 0.0) - goal[c])

    def log(move: str, p: tuple[int, ...], for_: str = "") -> None:
        f = ev.figures(p)
        b = below(p)
        rows.append({"evaluation": ev.evaluations, "move": move, "for_borough": for_,
                     "fleet": fleet_of(p), "docks": len(space.pinned) + len(set(p)),
                     "suited_within_target": f.mean(), "boroughs_below_target": len(b),
                     "worst": space.borough_names.get(b[0], b[0]) if b else "",
                     "cost_per_year_gbp": float(np.nanmean(f.cost))})
        if progress:
            progress(f"{ev.evaluations}/{budget} {move}: fleet {fleet_of(p)}, "
                     f"{len(b)} boroughs below target")

    def covered(p: tuple[int, ...]) -> np.ndarray:
        c = pin.copy()
        if p:
            c |= np.asarray(cover[sorted(set(p))].sum(axis=0)).ravel() > 0
        return c

    def best_static(code: str, p: tuple[int, ...], k: int) -> list[tuple[str, int]]:
        """The k best additions for borough ``code``: new docks by uncovered weight, else a
        drone at the plan's dock covering most of the borough."""
        w = (dem_borough == code).astype(float)
        gain = np.asarray(cover @ (w * ~covered(p))).ravel()
        gain[list(set(p))] = 0.0
        order = [int(j) for j in np.argsort(-gain, kind="stable")[:k] if gain[j] > 0]
        if order:
            return [("dock", j) for j in order]
        if not p:
            return []
        sites = sorted(set(p))
        own = np.asarray(cover[sites] @ w).ravel()
        pick = [sites[int(i)] for i in np.argsort(-own, kind="stable")[:k] if own[i] > 0]
        return [("drone", j) for j in pick]

    def name(j: int) -> str:
        return str(space.cands.site_id.iloc[j])

    log("start (listed docks)" if not plan else f"start (maximal coverage, {start_fleet})", plan)
    added: list[int] = []
    fails: Counter[str] = Counter()  # boroughs that fail when a dock is dropped
    stop = "budget"
    while True:
        short = below(plan)
        if not short:
            stop = "target met" if active else "no borough can meet its target"
            break
        if ev.evaluations + 1 > budget:
            break
        worst = short[0]
        extra: list[int] = []
        for c in short[1:]:
            opts = best_static(c, tuple(sorted(plan + tuple(extra))), 1)
            if opts:
                extra.append(opts[0][1])
        opts = best_static(worst, tuple(sorted(plan + tuple(extra))), screen)
        if not opts:
            stop = "no candidate adds to the worst borough"
            break
        room = max_fleet - fleet_of(plan)
        if room < space.per_site:
            stop = "fleet cap"
            break
        extra = extra[:max(0, room // space.per_site - 1)]
        trials = []
        for kind, j in opts:
            if ev.evaluations + 1 > budget:
                break
            p = tuple(sorted(plan + (j,) + tuple(extra)))
            trials.append((means(p).get(worst, 0.0), ev.figures(p).mean(), kind, j, p))
        if not trials:
            break
        gain, _, kind, j, p = max(trials, key=lambda t: (t[0], t[1]))
        if kind == "drone" and gain <= means(plan).get(worst, 0.0):
            stop = "no added dock or drone raises the worst borough"
            break
        plan = p
        added += [j, *extra]
        log(f"add {kind} {name(j)}" + (f" + {len(extra)} docks for other boroughs"
                                       if extra else ""), plan, space.borough_names.get(worst,
                                                                                        worst))
    met = not below(plan)
    trials_left = [*reversed(added), *reversed(start)]
    drop_trials = 0
    # Drop docks not needed: the search's own, newest first, then the start plan's. Not when a
    # borough is infeasible: the plan keeps what serves it (no target says what it may lose).
    if met and not infeasible:
        while trials_left:
            j = trials_left[0]
            if j not in plan:
                trials_left.pop(0)
                continue
            if ev.evaluations + 1 > budget:
                break
            trials_left.pop(0)
            drop_trials += 1
            lst = list(plan)
            lst.remove(j)
            p = tuple(lst)
            short = below(p)
            if not short:
                plan = p
                log(f"drop {name(j)}", plan)
            else:
                fails.update(short)
    f = ev.figures(plan)
    m = f.borough_means()
    brows = []
    for c in sorted(m):
        lo, hi = _interval([b[c] for b in f.borough if c in b])
        brows.append({"gss_code": c, "name": space.borough_names.get(c, c), "share_within": m[c],
                      "ci95_low": lo, "ci95_high": hi, "target": goal.get(c, target),
                      "ceiling": ceil.get(c, math.nan),
                      "ceiling_doorstep": door.get(c, math.nan),
                      "meets": m[c] >= goal.get(c, target),
                      "infeasible": c in infeasible})
    bdf = pd.DataFrame(brows)
    feas = bdf[~bdf["infeasible"]] if len(bdf) else bdf
    margin = (feas["share_within"] - feas["target"]) if len(feas) else pd.Series(dtype=float)
    if fails:
        binding = feas[feas["gss_code"].isin(list(fails))]
    else:
        binding = feas.loc[margin.nsmallest(3).index] if len(feas) else feas
    binding = binding.assign(margin=margin).sort_values("margin", kind="stable")
    docks = [{"name": d.name, "x": d.x, "y": d.y, "drones": d.drones, "source": d.source}
             for d in space.docks(plan)]
    lw = loss["london"]
    summary = {
        "scenario": scn.name, "seed": scn.simulation.seed, "weeks": scn.simulation.weeks,
        "method": "greedy", "replications": replications, "target": target,
        "target_basis": basis, "within_s": within_s, "budget": budget,
        "evaluations": ev.evaluations, "max_fleet": max_fleet, "stop": stop,
        "drop_trials": drop_trials,
        "drop_phase_complete": met and not infeasible and not any(j in plan
                                                                   for j in trials_left),
        "feasible": met and not infeasible, "met_feasible_boroughs": met,
        "plan": {"fleet": fleet_of(plan), "sites": len(docks),
                 "cost_per_year_gbp": float(np.nanmean(f.cost)),
                 "suited_within_target": f.mean(), "docks": docks},
        "binding_boroughs": [{"gss_code": r.gss_code, "name": r.name, "share": r.share_within,
                              "ci95": [r.ci95_low, r.ci95_high], "target": r.target,
                              "fails_without": int(fails.get(r.gss_code, 0))}
                             for r in binding.itertuples()],
        "infeasible_boroughs": [{"gss_code": c, "name": space.borough_names.get(c, c),
                                 "ceiling": ceil[c], "target": goal[c]} for c in infeasible],
        "ceiling": {"london": lw["ceiling_sites"], "london_doorstep": lw["ceiling"],
                    "grounded_share": lw["g"],
                    "grounded_by_reason": lw["grounded_by_reason"], "fault_share": lw["f"],
                    "late_launch_share": lw["p"], "reach_radius_m": lw["reach_radius_m"],
                    "zone_reached": lw["zone_reached"],
                    "note": "doorstep: share a dock at every incident's doorstep could reach, "
                            "(1 - no-fly-zone share)(1 - grounded)(1 - fault)(1 - late launch); "
                            "the ceiling: the same with only incidents a listed dock or "
                            "candidate site reaches (zone-free straight path in the radius)"},
        "start_losses": {k: lw[k] for k in LOSS_COLUMNS},
        "note": ("every borough meets its target at the plan shown" if met and not infeasible
                 else "boroughs whose ceiling is below the target cannot meet it with any plan"
                 if infeasible else f"stopped ({stop}) before every borough met the target"),
    }
    if infeasible:
        summary["gap"] = max(goal[c] - ceil[c] for c in infeasible)
    steps = pd.DataFrame(rows)
    ldf = loss["boroughs"].rename(columns={c: f"start_{c}" for c in LOSS_COLUMNS})
    bdf = bdf.merge(ldf.drop(columns=["name", "ceiling", "ceiling_sites"]), on="gss_code",
                    how="left")
    return SizeResult(steps, bdf, summary)


def add_ceiling(result: SizeResult, scn: Scenario, *, within_s: float, replications: int,
                data_dir: str | Path | None = None,
                candidates: pd.DataFrame | None = None) -> SizeResult:
    """The ceiling (:func:`losses`) of the plan a pathway sizing
    (:func:`dronesim.experiment.siting_search.size_search`) reports, added to its summary
    (``ceiling``; ``infeasible_boroughs``: those whose ceiling is below the target) and its
    borough table (``ceiling`` of each borough, for the plan's fleet)."""
    scn = dataclasses.replace(scn, coverage=dataclasses.replace(scn.coverage,
                                                                within_s=float(within_s)))
    space = search_space(scn, data_dir, candidates)
    index = {str(s): j for j, s in enumerate(space.cands.site_id)}
    names = result.summary["plan"]["docks"][len(space.pinned):]
    plan = tuple(sorted(index[n] for n in names))
    loss = losses(space, plan, replications, within_s)
    ceil = ceiling_of(loss)
    door = ceiling_of(loss, "ceiling")
    target = float(result.summary["target"])
    lw = loss["london"]
    s = dict(result.summary)
    s["ceiling"] = {"london": lw["ceiling_sites"], "london_doorstep": lw["ceiling"],
                    "grounded_share": lw["g"],
                    "grounded_by_reason": lw["grounded_by_reason"], "fault_share": lw["f"],
                    "late_launch_share": lw["p"], "reach_radius_m": lw["reach_radius_m"],
                    "zone_reached": lw["zone_reached"], "plan_fleet": s["plan"]["fleet"],
                    "losses": {k: lw[k] for k in LOSS_COLUMNS}}
    s["infeasible_boroughs"] = [{"gss_code": c, "name": space.borough_names.get(c, c),
                                 "ceiling": v} for c, v in sorted(ceil.items(), key=lambda t: t[1])
                                if v < target]
    if s["infeasible_boroughs"] and not s["feasible"]:
        s["note"] += (f"; {len(s['infeasible_boroughs'])} boroughs have a ceiling below the "
                      "target: no plan meets it there")
    b = result.boroughs.copy()
    if len(b):
        b["ceiling"] = b["gss_code"].astype(str).map(ceil)
        b["ceiling_doorstep"] = b["gss_code"].astype(str).map(door)
    return SizeResult(result.steps, b, s)
