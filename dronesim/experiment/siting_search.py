"""Siting by simulation (``dronesim site``) and sizing (``dronesim size``).

The static solvers (:mod:`dronesim.siting.solvers`) place docks to cover the most people within
the reach radius of the target time; they do not see queueing, pilots, weather or faults, which
change which sites are worth most. This module improves a solver's plan by moves judged by short
simulations, and sizes a network against a per-borough target.

**Plans.** A plan is the scenario's listed docks (pinned, never moved) plus a set of candidate
sites (:func:`dronesim.siting.sites.candidate_pool`, ``siting.drones_per_site`` drones each).
The start plan is maximal coverage (:func:`dronesim.siting.solvers.max_coverage`) for the fleet.

**Objective.** ``suited_within_target``: the share of drone-suited incidents reached by a drone
within ``coverage.within_s`` (:mod:`dronesim.engine.aggregates`), maximised with the fleet (and
so the cost) fixed. Every plan is simulated with the scenario's seed for replications
``0 .. R-1``: common random numbers, so every plan answers the same incidents and a difference
between two plans is not sampling noise in demand (Law, *Simulation Modeling and Analysis*,
5th ed., 2015, section 11.2).

**Moves** (first-improvement local search): *relocate* a dock to one of its
:data:`NEAR` nearest free candidates, and *swap* a dock for the free candidate that adds most
uncovered static weight (the solver's own measure) elsewhere. A neighbour replaces the incumbent
when its paired mean over the R replications is higher. The search stops at the budget (a number
of *plan-evaluations*, each one plan simulated for R replications) or at a plan none of whose
moves improves it (a local optimum).

**Selection.** Plans visited by a noisy search are close; picking the best visited mean favours
lucky plans. The finalists (the start plan, the incumbent, the next best visited plans, at most
:data:`FINALISTS`) go through Kim and Nelson's (2001) fully sequential indifference-zone
procedure KN (:func:`kn_select`; "A fully sequential procedure for indifference-zone selection
in simulation", *ACM TOMACS* 11(3): 251-273) on common random numbers: the R replications
already simulated are its first stage, each survivor then gets one more common replication at a
time and a plan leaves once a rival's mean beats it beyond a shrinking paired allowance. If the
best plan is better than every other by at least the indifference zone ``delta`` (:data:`DELTA`,
``--delta``), it is selected with probability at least ``1 - alpha`` (:data:`ALPHA`,
``--alpha``; normal replication means, which a share over a week of incidents approximately
has). The procedure draws on the plan-evaluations left in ``--budget`` (two are kept for R fresh
replications of the best and start plans); if they run out first, the survivor with the highest
mean is taken and ``kn_guaranteed`` is False. :func:`screen` (Nelson, Swann, Goldsman and Song
2001, *Operations Research* 49(6): 950-963, paired-t screen) is kept for callers that screen
without selecting. The best plan's paired difference against the start plan is reported with its
Student-t 95% interval (:func:`dronesim.experiment.compare.difference`) over their common
replications, and :func:`paired_verdict` says "no difference" when that interval holds zero.
That interval reuses the R replications that chose the plan (optimistic: the winner of several
noisy plans is likely lucky on them); the interval over the later replications ``R ..`` alone
(``best_minus_start_fresh``) is free of that selection bias.

**Sizing.** Along the nested maximal-coverage pathway (:func:`dronesim.experiment.sweep.
plan_growth`: listed docks pinned, every step keeps the sites of the one before), the least
fleet whose every borough with suited incidents reaches ``target`` within ``within_s`` (mean
over replications of ``per_borough.suited_within_share``) is found by bisection, assuming the
share met grows with the fleet along the pathway (checked: the step below the answer is
simulated and fails). With one drone per site the least fleet is also the least yearly cost
(``cost_per_year_gbp``, :mod:`dronesim.kpis.costs`). If the largest fleet fails, the target is
reported infeasible within the bound, with the best plan found and the gap.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.prepared import Prepared
from ..engine.replication import prepare, run_replication
from ..errors import InputError
from ..inputs.scenario import DockSite, Scenario
from ..siting.sites import candidate_pool, reach_radius_m, siting_weights, unreachable_demand
from .compare import difference
from .runner import prepare_checked, task_kpis, task_observers

__all__ = ["SearchSpace", "Evaluator", "search_space", "site_search", "size_search",
           "paired_verdict", "screen", "SearchResult", "SizeResult", "write_search",
           "write_size", "SITE_FILES", "SIZE_FILES"]

#: A relocation moves a dock to one of this many nearest free candidates.
NEAR = 6
#: At most this many plans go to the final screen-and-select.
FINALISTS = 4
#: Error rate of the screen and of the reported interval; 1 - ALPHA is the selection's
#: confidence (Kim-Nelson).
ALPHA = 0.05
#: Indifference zone of the final selection: plans closer than this share of suited incidents
#: reached within the target are treated as equally good (one percentage point).
DELTA = 0.01
#: Output files of ``dronesim site`` / ``dronesim size``.
SITE_FILES = ("search.json", "trace.csv", "sites.csv")
SIZE_FILES = ("size.json", "size_steps.csv", "size_boroughs.csv")
_CLI = "<command line>"


def _bad(field_: str, problem: str) -> InputError:
    return InputError(_CLI, field_, problem)


def check_target(target: float, within_s: float) -> None:
    """A sizing target: a share in (0, 1] reached within a positive number of seconds."""
    if not 0.0 < target <= 1.0:
        raise _bad("--target", f"must be a share in (0, 1]; got {target}")
    if not within_s > 0:
        raise _bad("--within", f"must be > 0 seconds; got {within_s}")


# --------------------------------------------------------------------------------------------
# Plans and their simulation
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SearchSpace:
    """The scenario, its pinned docks and the candidate sites a plan chooses from."""

    scenario: Scenario
    pinned: tuple[DockSite, ...]
    cands: pd.DataFrame  # site_id, kind, x, y
    cover: Any  # scipy CSR: candidate x demand point, covered within the reach radius
    weight: np.ndarray  # demand point weights (siting.weight)
    demand_xy: np.ndarray  # demand points (population-weighted LSOA points), EPSG:27700
    pinned_xy: np.ndarray  # (k, 2) positions of the pinned docks
    data_dir: str | Path | None = None
    borough_names: dict[str, str] = field(default_factory=dict)  # gss_code -> name

    @property
    def pinned_cover(self) -> np.ndarray:
        """Demand points within the reach radius of a pinned dock."""
        if not len(self.pinned_xy):
            return np.zeros(len(self.demand_xy), bool)
        from ..siting import solvers as siting

        radius = reach_radius_m(self.scenario.drones, self.scenario.coverage.within_s)
        a = siting.coverage_matrix(self.pinned_xy.reshape(-1, 2), self.demand_xy, radius)
        return np.asarray(a.sum(axis=1)).ravel() > 0

    @property
    def per_site(self) -> int:
        return int(self.scenario.siting.drones_per_site)

    def sites_for(self, fleet: int) -> int:
        """Candidate sites a fleet of ``fleet`` drones adds to the pinned docks."""
        base = sum(d.drones for d in self.pinned)
        return max(0, math.ceil((fleet - base) / self.per_site))

    def docks(self, plan: tuple[int, ...]) -> tuple[DockSite, ...]:
        """The pinned docks, then one site per distinct candidate of ``plan`` (in order of first
        appearance) with ``siting.drones_per_site`` drones for each time it appears (a candidate
        listed twice is a site with a drone added, :mod:`dronesim.experiment.sizing`)."""
        times = Counter(plan)
        order = list(dict.fromkeys(plan))
        rows = self.cands.iloc[order]
        return self.pinned + tuple(
            DockSite(name=str(r.site_id), x=float(r.x), y=float(r.y),
                     drones=self.per_site * times[j], source=f"siting search, {r.kind}")
            for j, r in zip(order, rows.itertuples()))


def search_space(scn: Scenario, data_dir: str | Path | None = None,
                 candidates: pd.DataFrame | None = None) -> SearchSpace:
    """The listed docks pinned and the candidate pool (``candidates``: columns x, y and
    optional site_id, kind; else the ``siting.candidates`` kinds) with static coverage."""
    from ..siting import solvers as siting

    base = dataclasses.replace(scn, siting=dataclasses.replace(scn.siting, method="listed"))
    prep = prepare(base, data_dir)
    london, zones = prep.london, prep.zones
    if candidates is None:
        cands = candidate_pool(prep.scenario, london, zones)
    else:
        cands = candidates.reset_index(drop=True).copy()
        if "site_id" not in cands:
            cands["site_id"] = [f"candidate:{k}" for k in range(len(cands))]
        if "kind" not in cands:
            cands["kind"] = "given"
    if cands.empty:
        raise InputError(scn.source, "siting.candidates", "no usable candidate sites")
    pts = siting.demand_points(london, "population")
    w = siting_weights(london, scn.siting.weight,
                       unreachable_demand(pts.x, pts.y, zones, scn.airspace.mode))
    radius = reach_radius_m(scn.drones, scn.coverage.within_s)
    if not radius > 0:
        raise _bad("--within", f"{scn.coverage.within_s:g} s is within the drone's fixed "
                               "launch, climb and descent times: no place can be reached")
    cover = siting.coverage_matrix(cands[["x", "y"]].to_numpy(float), pts.xy, radius).T.tocsr()
    return SearchSpace(base, tuple(prep.scenario.docks), cands, cover, np.asarray(w, float),
                       pts.xy, np.column_stack([prep.docks.x, prep.docks.y]).astype(float),
                       data_dir, dict(zip(london.boroughs["gss_code"].astype(str),
                                          london.boroughs["name"].astype(str))))


def mclp_plan(space: SearchSpace, n_sites: int) -> tuple[int, ...]:
    """Maximal coverage's choice of ``n_sites`` candidates with the pinned docks open (the start
    plan; as :func:`dronesim.experiment.sweep.plan_growth` sites a one-step pathway)."""
    return nested_plans(space, [n_sites])[n_sites]


def nested_plans(space: SearchSpace, counts: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The nested maximal-coverage pathway (:func:`dronesim.siting.solvers.nested_max_coverage`)
    for each count of candidate sites, the pinned docks open throughout."""
    from ..siting import solvers as siting

    top = max(counts) if counts else 0
    if top > len(space.cands):
        raise InputError(space.scenario.source, "siting.candidates",
                         f"{len(space.cands)} usable candidate sites; the fleet needs {top}")
    k = len(space.pinned_xy)
    out: dict[int, tuple[int, ...]] = {0: ()}
    distinct = sorted(set(int(c) for c in counts if c > 0))
    if not distinct:
        return out
    xy = np.vstack([space.pinned_xy.reshape(-1, 2), space.cands[["x", "y"]].to_numpy(float)])
    res = siting.nested_max_coverage(xy, space.demand_xy, space.weight,
                                     reach_radius_m(space.scenario.drones,
                                                    space.scenario.coverage.within_s),
                                     [k + c for c in distinct], np.arange(k),
                                     time_limit_s=space.scenario.siting.time_limit_s)
    for c, r in zip(distinct, res):
        out[c] = tuple(sorted(int(j) - k for j in r.chosen if j >= k))
    return out


@dataclass
class Figures:
    """One plan's per-replication figures (replications in order)."""

    objective: list[float] = field(default_factory=list)
    borough: list[dict[str, float]] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    fleet: int = 0

    def mean(self, n: int | None = None) -> float:
        v = np.asarray(self.objective[:n], float)
        return float(np.nanmean(v)) if v.size else math.nan

    def borough_means(self) -> dict[str, float]:
        codes = sorted({c for b in self.borough for c in b})
        return {c: float(np.mean([b[c] for b in self.borough if c in b])) for c in codes}


class Evaluator:
    """Simulates plans with common random numbers (the scenario's seed, replications from 0),
    caching every (plan, replication): a plan evaluated twice gives identical figures."""

    def __init__(self, space: SearchSpace, replications: int) -> None:
        if replications < 2:
            raise _bad("--replications", f"must be >= 2 for a paired interval; got {replications}")
        self.space = space
        self.reps = replications
        self.replications_run = 0  # simulated (plan, replication) pairs, the cache's misses
        self._figs: dict[tuple[int, ...], Figures] = {}
        self._prep: dict[tuple[int, ...], Prepared] = {}

    @property
    def evaluations(self) -> int:
        """Plan-evaluations used: replications simulated over R, rounded up."""
        return math.ceil(self.replications_run / self.reps)

    def _prepared(self, plan: tuple[int, ...]) -> Prepared:
        prep = self._prep.get(plan)
        if prep is None:
            scn = dataclasses.replace(self.space.scenario, docks=self.space.docks(plan))
            prep = prepare_checked(scn, self.space.data_dir)
            if len(self._prep) > 64:
                self._prep.pop(next(iter(self._prep)))
            self._prep[plan] = prep
        return prep

    def figures(self, plan: tuple[int, ...], reps: int | None = None) -> Figures:
        """The plan's figures for replications ``0 .. reps-1`` (default R), simulated as
        needed; every R new replications count as one plan-evaluation."""
        plan = tuple(sorted(plan))
        want = self.reps if reps is None else reps
        figs = self._figs.setdefault(plan, Figures())
        if len(figs.objective) < want:
            self.replications_run += want - len(figs.objective)
            prep = self._prepared(plan)
            for r in range(len(figs.objective), want):
                from ..engine.sinks import NullSink

                res = run_replication(prep, r, sink=NullSink(), observers=task_observers(prep))
                k = task_kpis(prep, res)
                figs.objective.append(float(k["suited_within_target"]))
                figs.borough.append({b["gss_code"]: float(b["suited_within_share"])
                                     for b in k["per_borough"] if b["suited"]})
                figs.cost.append(float(k.get("cost_per_year_gbp", math.nan)))
                figs.fleet = int(k["fleet_size"])
        return figs


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------


def paired_verdict(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """``b - a`` paired over common replications, its 95% interval and a verdict: "b better"
    (interval above 0), "a better" (below 0) or "no difference" (holds 0, or no spread)."""
    d = difference(a, b, paired=True)
    lo, hi = d["ci_low"], d["ci_high"]
    if d["n"] >= 2 and not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = d["diff_mean"]
    verdict = ("b better" if lo > 0 else "a better" if hi < 0 else "no difference")
    return {"diff_mean": d["diff_mean"], "ci95": [lo, hi], "n": d["n"], "verdict": verdict}


def screen(values: Sequence[Sequence[float]], alpha: float = ALPHA) -> list[int]:
    """Nelson et al. (2001) screening with common random numbers: the indices of the systems
    kept (maximising). ``values[i][r]``: system ``i``, replication ``r`` (all equally long)."""
    x = np.asarray(values, float)
    k, n = x.shape
    if k == 1:
        return [0]
    t = float(stats.t.ppf((1 - alpha) ** (1 / (k - 1)), n - 1))
    mean = x.mean(axis=1)
    keep = []
    for i in range(k):
        ok = True
        for j in range(k):
            if j != i:
                s = float(np.std(x[i] - x[j], ddof=1))
                if mean[i] < mean[j] - t * s / math.sqrt(n):
                    ok = False
                    break
        if ok:
            keep.append(i)
    return keep


def kn_select(sample: Callable[[int, int], float], k: int, *, n0: int, delta: float,
              alpha: float = ALPHA, max_obs: int | None = None) -> dict[str, Any]:
    """Kim and Nelson's fully sequential indifference-zone procedure KN (maximising).

    Kim, S.-H. and Nelson, B. L. (2001), "A fully sequential procedure for indifference-zone
    selection in simulation", *ACM Transactions on Modeling and Computer Simulation* 11(3):
    251-273, procedure KN. ``sample(i, r)`` is observation ``r`` (from 0) of system ``i``; under
    common random numbers observation ``r`` of every system comes from the same random numbers,
    which KN allows (it works on the paired differences). Stage 1 takes ``n0 >= 2`` observations
    of each system; with ``eta = ((2 alpha / (k-1))^(-2/(n0-1)) - 1) / 2`` and
    ``h^2 = 2 eta (n0-1)`` and ``S_il^2`` the variance of the first ``n0`` differences, after
    ``r`` observations system ``i`` is eliminated when some survivor ``l`` has
    ``mean_i(r) < mean_l(r) - W_il(r)``, ``W_il(r) = max(0, delta/(2r) (h^2 S_il^2/delta^2 - r))``;
    every survivor then gets one more observation, until one is left. If the best mean exceeds
    every other by at least ``delta`` (and the observations are normal), the one left is the best
    with probability at least ``1 - alpha``. ``max_obs`` caps the observations taken in all
    (stage 1 included): if it binds first, the survivor with the highest mean is returned and
    ``guaranteed`` is False (the probability statement no longer holds).

    Returns ``best`` (index), ``survivors`` (at the stop), ``n`` (observations of each system),
    ``means`` (each system's mean over its observations), ``observations`` (in all),
    ``guaranteed``, ``eliminated_at`` (the observation count at which each system left).
    """
    if k < 1:
        raise ValueError("kn_select needs at least one system")
    if n0 < 2:
        raise ValueError(f"kn_select needs n0 >= 2 first-stage observations; got {n0}")
    if not delta > 0:
        raise ValueError(f"the indifference zone delta must be > 0; got {delta}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    obs: list[list[float]] = [[] for _ in range(k)]
    taken = 0
    if k == 1:
        return {"best": 0, "survivors": [0], "n": [0], "means": [math.nan], "observations": 0,
                "guaranteed": True, "eliminated_at": [None]}
    for i in range(k):
        for r in range(n0):
            obs[i].append(float(sample(i, r)))
            taken += 1
    eta = 0.5 * ((2.0 * alpha / (k - 1)) ** (-2.0 / (n0 - 1)) - 1.0)
    h2 = 2.0 * eta * (n0 - 1)
    x = np.asarray(obs, float)
    s2 = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                s2[i, j] = float(np.var(x[i] - x[j], ddof=1))
    alive = list(range(k))
    gone: list[int | None] = [None] * k
    r = n0
    guaranteed = True
    while True:
        mean = {i: float(np.mean(obs[i][:r])) for i in alive}
        keep = []
        for i in alive:
            ok = True
            for j in alive:
                if j != i:
                    w = max(0.0, delta / (2.0 * r) * (h2 * s2[i, j] / delta ** 2 - r))
                    if mean[i] < mean[j] - w:
                        ok = False
                        break
            if ok:
                keep.append(i)
            else:
                gone[i] = r
        alive = keep
        if len(alive) == 1:
            break
        # Every allowance is zero past N = max floor(h^2 S_il^2 / delta^2): the procedure ends
        # with the highest mean (Kim and Nelson 2001; also ends exact ties, S_il = 0).
        if r > max(math.floor(h2 * s2[i, j] / delta ** 2) for i in alive for j in alive
                   if i != j):
            break
        if max_obs is not None and taken + len(alive) > max_obs:
            guaranteed = False
            break
        for i in alive:
            obs[i].append(float(sample(i, r)))
            taken += 1
        r += 1
    means = [float(np.mean(o)) for o in obs]
    best = max(alive, key=lambda i: (means[i], -i))
    return {"best": best, "survivors": alive, "n": [len(o) for o in obs], "means": means,
            "observations": taken, "guaranteed": guaranteed, "eliminated_at": gone}


# --------------------------------------------------------------------------------------------
# Siting search
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SearchResult:
    start: tuple[int, ...]
    best: tuple[int, ...]
    trace: pd.DataFrame
    sites: pd.DataFrame
    summary: dict[str, Any]


def _moves(space: SearchSpace, plan: tuple[int, ...], rng: np.random.Generator
           ) -> list[tuple[str, tuple[int, ...]]]:
    """The neighbours of a plan: relocations to nearby free candidates and swaps for the free
    candidate adding most uncovered static weight; in a seeded random order."""
    xy = space.cands[["x", "y"]].to_numpy(float)
    chosen = set(plan)
    free = np.array([j for j in range(len(xy)) if j not in chosen], dtype=np.int64)
    out: list[tuple[str, tuple[int, ...]]] = []
    if not free.size:
        return out
    cover = space.cover.tocsr()
    for i in plan:
        d = np.hypot(*(xy[free] - xy[i]).T)
        for j in free[np.argsort(d, kind="stable")[:NEAR]]:
            out.append((f"relocate {space.cands.site_id.iloc[i]} -> "
                        f"{space.cands.site_id.iloc[j]}",
                        tuple(sorted((chosen - {i}) | {int(j)}))))
        rest = list(chosen - {i})
        covered = space.pinned_cover.copy()
        if rest:
            covered |= np.asarray(cover[rest].sum(axis=0)).ravel() > 0
        gain = cover[free] @ (space.weight * ~covered)
        j = int(free[int(np.argmax(gain))])
        swap = tuple(sorted((chosen - {i}) | {j}))
        if all(swap != m for _, m in out):
            out.append((f"swap {space.cands.site_id.iloc[i]} -> {space.cands.site_id.iloc[j]}",
                        swap))
    order = rng.permutation(len(out))
    return [out[k] for k in order]


def site_search(space: SearchSpace, fleet: int, *, budget: int = 30, replications: int = 3,
                start: tuple[int, ...] | None = None, delta: float = DELTA,
                alpha: float = ALPHA,
                progress: Callable[[str], None] | None = None) -> SearchResult:
    """Improve the start plan (maximal coverage for ``fleet`` unless given) by simulated moves
    within ``budget`` plan-evaluations; see the module docstring."""
    if budget < 4:
        raise _bad("--budget", f"must be >= 4 plan-evaluations (the start, one move, and the "
                               f"final stage's two); got {budget}")
    if not 0.0 < alpha < 1.0:
        raise _bad("--alpha", f"must be in (0, 1); got {alpha}")
    if not delta > 0:
        raise _bad("--delta", f"must be > 0; got {delta}")
    n_sites = space.sites_for(fleet)
    if n_sites < 1:
        raise _bad("--fleet", f"{fleet} drones leave no dock to place beyond the "
                              f"{len(space.pinned)} listed ones")
    given = start is not None
    if start is None:
        start = mclp_plan(space, n_sites)
    start = tuple(sorted(start))
    ev = Evaluator(space, replications)
    rng = np.random.default_rng(space.scenario.simulation.seed)
    rows: list[dict[str, Any]] = []

    def log(step: str, plan: tuple[int, ...], accepted: bool) -> None:
        f = ev.figures(plan)
        rows.append({"evaluation": ev.evaluations, "move": step, "mean": f.mean(replications),
                     "accepted": accepted, "plan": " ".join(
                         str(space.cands.site_id.iloc[j]) for j in plan)})
        if progress:
            progress(f"{ev.evaluations}/{budget} {step}: {f.mean(replications):.4f}"
                     f"{' accepted' if accepted else ''}")

    reserve = min(FINALISTS, budget - 2)  # the final stage: one evaluation per finalist
    inc = start
    log("start (given)" if given else "start (maximal coverage)", start, True)
    local_opt = False
    while ev.evaluations + reserve < budget:
        improved = False
        for name, plan in _moves(space, inc, rng):
            if ev.evaluations + reserve >= budget:
                break
            seen = plan in ev._figs
            f_new, f_inc = ev.figures(plan), ev.figures(inc)
            better = (f_new.mean(replications) > f_inc.mean(replications))
            if not seen:
                log(name, plan, better)
            if better:
                inc, improved = plan, True
                break
        if not improved:
            local_opt = ev.evaluations + reserve < budget
            break
    # Final screen-and-select among the finalists (Nelson et al. 2001).
    visited = sorted(ev._figs, key=lambda p: -ev.figures(p).mean(replications))
    finalists = [start] + [inc] * (inc != start)
    for p in visited:
        if len(finalists) >= reserve:
            break
        if p not in finalists:
            finalists.append(p)
    # Kim and Nelson (2001) KN among the finalists, common random numbers, within the budget
    # left (two plan-evaluations kept for the best and start plans' fresh replications).
    left = max(0, budget - ev.evaluations - 2) * replications
    kn = kn_select(lambda i, r: ev.figures(finalists[i], r + 1).objective[r], len(finalists),
                   n0=replications, delta=delta, alpha=alpha,
                   max_obs=len(finalists) * replications + left)
    best = finalists[kn["best"]]
    n_best = len(ev.figures(best).objective)
    # R replications beyond the search's for both (fresh: free of the search's selection bias).
    ev.figures(best, max(n_best, 2 * replications))
    ev.figures(start, max(n_best, 2 * replications))
    s_obj, b_obj = ev.figures(start).objective, ev.figures(best).objective
    n = min(len(s_obj), len(b_obj))
    vs = paired_verdict(s_obj[:n], b_obj[:n])
    fresh = (paired_verdict(s_obj[replications:n], b_obj[replications:n])
             if n - replications >= 2 else None)
    trace = pd.DataFrame(rows)
    site_rows = [{"plan": which, "site": d.name, "x": d.x, "y": d.y, "drones": d.drones}
                 for which, plan in (("start", start), ("best", best))
                 for d in space.docks(plan)]
    summary = {
        "scenario": space.scenario.name, "seed": space.scenario.simulation.seed,
        "fleet": ev.figures(best).fleet, "docks": len(space.pinned) + len(best),
        "weeks": space.scenario.simulation.weeks, "within_s": space.scenario.coverage.within_s,
        "objective": "suited_within_target", "replications_search": replications,
        "replications_final": len(ev.figures(best).objective), "replications_compared": n,
        "budget": budget, "evaluations": ev.evaluations,
        "local_optimum": local_opt,
        "rule": "Kim & Nelson (2001) fully sequential indifference-zone procedure KN, common "
                "random numbers",
        "delta": delta, "alpha": alpha, "kn_guaranteed": kn["guaranteed"],
        "finalists": [{"mean": kn["means"][i], "replications": kn["n"][i],
                       "eliminated_at": kn["eliminated_at"][i], "selected": p == best,
                       "is_start": p == start} for i, p in enumerate(finalists)],
        "start": {"mean": ev.figures(start).mean(n), "sites": _names(space, start),
                  "cost_per_year_gbp": float(np.nanmean(ev.figures(start).cost))},
        "best": {"mean": ev.figures(best).mean(n), "sites": _names(space, best),
                 "cost_per_year_gbp": float(np.nanmean(ev.figures(best).cost))},
        "best_minus_start": vs,
        "interval_excludes_zero": vs["verdict"] != "no difference",
        # Replications R .. n-1 only: not used by the search, so free of its selection bias
        # (None when the start plan and the best share fewer than two of them).
        "best_minus_start_fresh": fresh,
    }
    return SearchResult(start, best, trace, pd.DataFrame(site_rows), summary)


def _names(space: SearchSpace, plan: tuple[int, ...]) -> list[str]:
    return [str(space.cands.site_id.iloc[j]) for j in plan]


# --------------------------------------------------------------------------------------------
# Sizing
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SizeResult:
    steps: pd.DataFrame
    boroughs: pd.DataFrame
    summary: dict[str, Any]


def size_search(scn: Scenario, fleets: Sequence[int], *, target: float, within_s: float,
                replications: int = 3, budget: int = 12, data_dir: str | Path | None = None,
                candidates: pd.DataFrame | None = None,
                progress: Callable[[str], None] | None = None) -> SizeResult:
    """The least fleet of ``fleets`` (along the nested pathway) whose every borough with suited
    incidents reaches ``target`` within ``within_s``; see the module docstring."""
    check_target(target, within_s)
    if budget < 1:
        raise _bad("--budget", f"must be >= 1 plan-evaluation; got {budget}")
    scn = dataclasses.replace(scn, coverage=dataclasses.replace(scn.coverage,
                                                                within_s=float(within_s)))
    space = search_space(scn, data_dir, candidates)
    fleets = sorted(set(int(f) for f in fleets))
    counts = [space.sites_for(f) for f in fleets]
    if counts[-1] > len(space.cands):
        raise InputError(scn.source, "siting.candidates",
                         f"{len(space.cands)} usable candidate sites; the largest fleet needs "
                         f"{counts[-1]}")
    plans = nested_plans(space, counts)
    ev = Evaluator(space, replications)
    checked: dict[int, dict[str, Any]] = {}

    def check(k: int) -> dict[str, Any]:
        if k not in checked:
            f = ev.figures(plans[counts[k]])
            bm = f.borough_means()
            worst = min(bm.values()) if bm else math.nan
            checked[k] = {"fleet": f.fleet, "sites": len(space.pinned) + counts[k],
                          "meets": bool(bm) and worst >= target, "worst_share": worst,
                          "suited_within_target": f.mean(),
                          "cost_per_year_gbp": float(np.nanmean(f.cost)),
                          "below": sorted(c for c, v in bm.items() if v < target),
                          "boroughs": bm}
            if progress:
                progress(f"fleet {f.fleet}: worst borough {worst:.3f}"
                         f"{' meets' if checked[k]['meets'] else ''}")
        return checked[k]

    hi = len(fleets) - 1
    top = check(hi)
    answer: int | None = None
    if top["meets"]:
        lo = -1  # the largest index known to fail (-1: none)
        while hi - lo > 1 and ev.evaluations < budget:
            mid = (lo + hi) // 2
            if check(mid)["meets"]:
                hi = mid
            else:
                lo = mid
        answer = hi
        exact = hi - lo == 1
    else:
        exact = True
    best = answer if answer is not None else max(checked, key=lambda k: checked[k]["worst_share"])
    below_step = checked.get(best - 1) if answer is not None else None
    chosen = checked[best]
    binding = sorted(chosen["boroughs"] if answer is not None else chosen["below"],
                     key=chosen["boroughs"].get)
    if answer is not None:
        binding = binding[:3]
    summary = {
        "scenario": scn.name, "seed": scn.simulation.seed, "weeks": scn.simulation.weeks,
        "replications": replications, "target": target, "within_s": within_s,
        "fleets_considered": fleets, "budget": budget, "evaluations": ev.evaluations,
        "feasible": answer is not None,
        "least_fleet": chosen["fleet"] if answer is not None else None,
        "least_fleet_exact": bool(exact) if answer is not None else None,
        "plan": {"fleet": chosen["fleet"], "sites": chosen["sites"],
                 "cost_per_year_gbp": chosen["cost_per_year_gbp"],
                 "worst_borough_share": chosen["worst_share"],
                 "suited_within_target": chosen["suited_within_target"],
                 "docks": [d.name for d in space.docks(plans[counts[best]])]},
        "binding_boroughs": [{"gss_code": c, "name": space.borough_names.get(c, c),
                              "share": chosen["boroughs"][c]} for c in binding],
        "gap": None if answer is not None else target - chosen["worst_share"],
        "fleet_below_fails": None if below_step is None else {
            "fleet": below_step["fleet"], "boroughs_below_target": below_step["below"]},
        "note": ("the target is met at the least fleet shown" if answer is not None else
                 f"the target is not met by the largest fleet considered ({top['fleet']}); "
                 "the best plan found and its gap are shown"),
    }
    steps = pd.DataFrame([{k: v for k, v in c.items() if k not in ("boroughs", "below")}
                          | {"boroughs_below_target": len(c["below"])}
                          for _, c in sorted(checked.items())])
    brows = [{"fleet": c["fleet"], "gss_code": g, "name": space.borough_names.get(g, g),
              "share_within": v, "meets": v >= target}
             for _, c in sorted(checked.items()) for g, v in sorted(c["boroughs"].items())]
    return SizeResult(steps, pd.DataFrame(brows), summary)


# --------------------------------------------------------------------------------------------
# Outputs (through the output-folder machinery of dronesim.experiment.store)
# --------------------------------------------------------------------------------------------


def _json(obj: Any) -> str:
    import json

    def clean(o: Any) -> Any:
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        if isinstance(o, float | np.floating):
            return float(o) if math.isfinite(o) else None
        if isinstance(o, np.integer):
            return int(o)
        return o

    return json.dumps(clean(obj), indent=2) + "\n"


def write_search(result: SearchResult, folder: Any, argv: Sequence[str] = ()) -> Path:
    """``search.json`` (summary), ``trace.csv`` (every evaluated move) and ``sites.csv``
    (start and best plans), committed into an open :class:`~dronesim.experiment.store.
    OutputFolder`."""
    tmp = folder.staging
    (tmp / "search.json").write_text(_json(result.summary | {"trace": result.trace.to_dict(
        orient="records")}), encoding="utf-8")
    result.trace.to_csv(tmp / "trace.csv", index=False)
    result.sites.to_csv(tmp / "sites.csv", index=False)
    return Path(folder.commit({"command": list(argv)}))


def write_size(result: SizeResult, folder: Any, argv: Sequence[str] = ()) -> Path:
    """``size.json``, ``size_steps.csv`` and ``size_boroughs.csv`` into an open output folder."""
    tmp = folder.staging
    (tmp / "size.json").write_text(_json(result.summary), encoding="utf-8")
    result.steps.to_csv(tmp / "size_steps.csv", index=False)
    result.boroughs.to_csv(tmp / "size_boroughs.csv", index=False)
    return Path(folder.commit({"command": list(argv)}))
