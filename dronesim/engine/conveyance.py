"""Ambulance conveyance to hospital and handover at the emergency department.

Without this module an ambulance is free again the moment it leaves the scene, so its job
time is whatever ``on_scene_mean_s`` holds. With ``[services.<name>.ground] conveyance_share``
set (one share per priority; off by default, so police and fire are unchanged), a share of the
service's incidents ends with a journey to hospital:

* **Who is conveyed.** Two uniforms per incident of the service, in call order, from the named
  stream ``<service>.conveyance``: the first below the share of its priority means conveyed;
  the second gives its handover time (through the inverse normal CDF), drawn for every
  incident, conveyed or not, so the shares change which incidents are conveyed but no other
  number drawn (common random numbers; turning conveyance on changes no draw of any other
  stream), and the draws do not depend on the run's chunking.
* **Where to.** The nearest type 1 emergency department by straight line
  (:func:`dronesim.inputs.sources.emergency_departments`: 27 sites, 4 of them major trauma
  centres), looked up for every incident at load by one batched :class:`scipy.spatial.cKDTree`
  query. The London trauma network's bypass of the nearest ED for a major trauma centre is not
  modelled (assumption: major trauma is a few per cent of LAS incidents).
* **Getting there.** When the unit clears the scene it drives to the ED by the ground road model
  (the force's ``road_s``: the service's travel model at the incident's hour and borough, times
  the incident's travel factor, no turnout), arriving at ``t_hospital_arrival``.
* **Handover.** It then waits the handover time, lognormal, fitted to two published tail
  shares: ``handover_over_30min_share`` and ``handover_over_60min_share``
  (:func:`lognormal_from_tail_shares`). The scenario values (20% over 30 min, 7% over 60 min)
  are NHS England's winter situation report figures for England in the week before Christmas
  2021, as PA reported them on 22 Dec 2022 (Express & Star: "20% at this point in 2021" waited
  at least 30 minutes, "7% in the equivalent week in December 2021" over an hour; 41% and 24% in
  the record week to 18 Dec 2022). England, not London: no London-only share was found as
  data. They give a median of 12.0 min and a mean of 21.7 min, and 11.4 min lost beyond the
  15-minute target per handover; with about 11,000 LAS conveyances a week that is about 2,100
  hours a week, against 2,650 a week NHS England counted across London's trusts in the record
  winter of 14 Nov 2022 - 1 Jan 2023 (18,537 hours in seven weeks; Newham Recorder, Jan 2023):
  a typical winter week, below the worst. The NHS standard (``handover_target_s``): handover
  within 15 minutes; time beyond it is "lost" (NHS England's "hours lost to handover delays").
* **Free again** at ``t_handover_end``, at the hospital: the unit's position becomes the ED's,
  and it takes its borough's queue or resumes patrol from there (as :mod:`dronesim.engine.ground`
  does after a scene).

Staffing (:func:`dronesim.engine.ground.units_per_borough`): the busy time per incident that
sets a borough's unit count includes the expected conveyance and handover
(:func:`expected_busy_s`: the service's conveyed share x (expected drive from the borough's
demand to its nearest ED + the handover mean)), so the unit count follows the whole job cycle,
as LAS rosters do; ``on_scene_mean_s`` is then the time at the scene alone.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtri

from ..inputs.demand import Incidents
from ..inputs.geography import London
from ..inputs.scenario import GroundSpec, ServiceSpec
from ..inputs.sources import emergency_departments
from ..inputs.streams import Streams
from ..inputs.travel import TravelModel, make_travel_model
from .records import Records

__all__ = ["Conveyance", "lognormal_from_tail_shares", "handover_mean_s", "handover_lost_mean_s",
           "expected_busy_s", "make_conveyance"]

_30MIN, _60MIN = 1800.0, 3600.0


def lognormal_from_tail_shares(over_30: float, over_60: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal handover time (seconds) with P(T > 30 min) = ``over_30``
    and P(T > 60 min) = ``over_60`` (0 < over_60 < over_30 < 1)."""
    if not 0 < over_60 < over_30 < 1:
        raise ValueError(f"need 0 < over_60 < over_30 < 1; got {over_30}, {over_60}")
    z30 = NormalDist().inv_cdf(1 - over_30)
    z60 = NormalDist().inv_cdf(1 - over_60)
    sigma = math.log(_60MIN / _30MIN) / (z60 - z30)
    return math.log(_30MIN) - z30 * sigma, sigma


def handover_mean_s(g: GroundSpec) -> float:
    """Mean of the fitted handover time."""
    mu, sigma = lognormal_from_tail_shares(g.handover_over_30min_share,
                                           g.handover_over_60min_share)
    return math.exp(mu + sigma * sigma / 2)


def handover_lost_mean_s(g: GroundSpec) -> float:
    """Expected handover time beyond ``handover_target_s`` per handover, E[(T - c)+]."""
    mu, sigma = lognormal_from_tail_shares(g.handover_over_30min_share,
                                           g.handover_over_60min_share)
    c = g.handover_target_s
    if c <= 0:
        return math.exp(mu + sigma * sigma / 2)
    phi = NormalDist().cdf
    lc = math.log(c)
    return (math.exp(mu + sigma * sigma / 2) * phi((mu + sigma * sigma - lc) / sigma)
            - c * phi((mu - lc) / sigma))


def _conveyed_share(spec: ServiceSpec) -> float:
    return float(sum(p * s for p, s in zip(spec.priority_shares, spec.ground.conveyance_share)))


def expected_busy_s(spec: ServiceSpec, london: London,
                    travel: TravelModel | None = None) -> np.ndarray:
    """Expected conveyance and handover time per incident of each borough (zeros when
    conveyance is off): conveyed share x (road time from the borough's demand, LSOA
    representative points weighted by the service's demand weight, to the nearest ED + the
    handover mean). The road time is the service's travel model (``travel``; built from the
    scenario when None) at the mean of its hour-of-week x borough scale, at mean travel factor."""
    g = spec.ground
    nb = london.n_boroughs
    share = _conveyed_share(spec)
    if not g.conveys or share == 0:
        return np.zeros(nb)
    if travel is None:
        travel = make_travel_model(g, london.data_dir, tuple(london.borough_codes))
    eds = emergency_departments(london)
    ex, ey = eds["x"].to_numpy(float), eds["y"].to_numpy(float)
    tree = cKDTree(np.column_stack([ex, ey]))
    pts = london.lsoa.geometry.representative_point()
    px, py = pts.x.to_numpy(float), pts.y.to_numpy(float)
    dist, near = tree.query(np.column_stack([px, py]))
    b = london.lsoa_borough
    hours = np.arange(168, dtype=float) * 3600.0 + 1800.0
    scale_b = np.array([travel.incident_scale(hours, np.full(168, k, np.int64)).mean()
                        for k in range(nb)])
    drive = np.array([travel.drive_s(float(d), x0, y0, float(ex[j]), float(ey[j]), float(sc))
                      for d, x0, y0, j, sc in zip(dist.tolist(), px.tolist(), py.tolist(),
                                                  near.tolist(), scale_b[b].tolist())])
    w = london.weights(spec.spatial_weight)
    wsum = np.bincount(b, weights=w, minlength=nb)
    dsum = np.bincount(b, weights=w * drive, minlength=nb)
    mean_drive = np.where(wsum > 0, dsum / np.where(wsum > 0, wsum, 1), 0.0)
    return share * (mean_drive + handover_mean_s(g))


class Conveyance:
    """Conveyance of one patrol service's incidents (see the module docstring): per incident
    key, the ED it goes to (-1: not conveyed), the straight-line distance there and its
    handover time, drawn at load."""

    def __init__(self, name: str, spec: ServiceSpec, london: London, rec: Records,
                 streams: Streams) -> None:
        g = spec.ground
        self.shares = np.asarray(g.conveyance_share, float)
        self.mu, self.sigma = lognormal_from_tail_shares(g.handover_over_30min_share,
                                                         g.handover_over_60min_share)
        eds = emergency_departments(london)
        self.site_ids = tuple(eds["site_id"])
        hx, hy = eds["x"].to_numpy(float), eds["y"].to_numpy(float)
        self.hx: list[float] = hx.tolist()
        self.hy: list[float] = hy.tolist()
        self._tree = cKDTree(np.column_stack([hx, hy]))
        self._rng = streams[f"{name}.conveyance"]
        self.rec = rec
        #: By key: ED index (-1: not conveyed) and handover time (s).
        self.hospital: list[int] = []
        self.handover_s: list[float] = []

    def load(self, start: int, inc: Incidents, mine: np.ndarray) -> None:
        """Draw the chunk's conveyance (two uniforms per incident of the service, in call
        order) and find each incident's nearest ED."""
        need = start + len(inc)
        if len(self.hospital) < need:
            grow = need - len(self.hospital)
            self.hospital.extend([-1] * grow)
            self.handover_s.extend([math.nan] * grow)
        if mine.size == 0:
            return
        # Two uniforms per incident, in call order (conveyed or not; the handover's normal by
        # the inverse normal CDF): the numbers do not depend on how the run is chunked.
        draws = self._rng.random(2 * mine.size)
        u = draws[0::2]
        z = ndtri(np.maximum(draws[1::2], 1e-300))
        prio = np.asarray(inc.priority[mine], np.int64)
        conveyed = u < self.shares[np.clip(prio - 1, 0, self.shares.size - 1)]
        _, idx = self._tree.query(np.column_stack([inc.x[mine], inc.y[mine]]))
        hosp = np.where(conveyed, np.asarray(idx, np.int64), -1).tolist()
        hand = np.exp(self.mu + self.sigma * z).tolist()
        for r, key in enumerate((start + mine).tolist()):
            self.hospital[key] = hosp[r]
            self.handover_s[key] = hand[r]

    def after_scene(self, force: Any, i: int, clear: float) -> tuple[float, float, float]:
        """Incident ``i``'s unit clears the scene at ``clear``: (when it is free, where: x, y).
        Conveyed: drive to the ED by the force's road model (``force.road_s``), hand over, free
        there (the records say when). ``force``: the service's
        :class:`dronesim.engine.ground.GroundForce`."""
        h = self.hospital[i]
        if h < 0:
            return clear, force._x[i], force._y[i]
        x, y = self.hx[h], self.hy[h]
        arrive = clear + force.road_s(i, force._x[i], force._y[i], x, y)
        end = arrive + self.handover_s[i]
        rec = self.rec
        rec.conveyed[i] = 1
        rec.hospital[i] = h
        rec.t_hospital_arrival[i] = arrive
        rec.t_handover_end[i] = end
        return end, x, y


def make_conveyance(name: str, spec: ServiceSpec, london: London, rec: Records,
                    streams: Streams) -> Conveyance | None:
    """The service's conveyance, or None when ``conveyance_share`` is off (empty or all 0)."""
    if not spec.ground.conveys:
        return None
    return Conveyance(name, spec, london, rec, streams)
