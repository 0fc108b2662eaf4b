"""Running aggregates of one replication's records: its KPIs without holding its tables.

Records first, metrics after: :class:`Aggregates` consumes the very record chunks that go to
the sink (:mod:`dronesim.engine.sinks`), chunk by chunk, and keeps only counts, sums and fixed
histograms, so its memory does not depend on the run length. It is an observer of the
replication (:class:`dronesim.engine.sinks.Observer`), created and handed to the engine by the
runner; it is the one place every engine KPI is counted. :meth:`Aggregates.kpis` gives the
response figures of all incidents plus ``by_service``, ``per_borough``,
``suited_within_target`` and ``demand_fingerprint``; the test oracle (``tests/oracle.py``)
recomputes the same figures from the whole record tables.

Accuracy
--------
* Counts, shares and the unstable flag are exact. Means are sums over counts, accumulated chunk
  by chunk: equal to the whole-table means up to floating-point rounding (relative 1e-12).
* Medians and P90s come from a log-linear histogram (:class:`LogLinearBins`): bins 0.5 s wide
  below 1,024 s and, above, 1,024 bins per doubling (each at most 1/1,024 = 0.098% of its lower
  edge wide), up to 2**39 s; a value is placed uniformly within its bin and the quantile
  interpolated between order statistics as :func:`numpy.quantile` does. The result is within
  one bin width of ``numpy.quantile`` on the same values: within 0.5 s below 1,024 s, within
  0.1% above.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..kpis.statistics import WITHIN_S
from .features import Features
from .records import DRONE_OUTCOMES, GROUNDED_REASONS, IncidentChunk, MissionChunk

if TYPE_CHECKING:
    from .prepared import Prepared
    from .sinks import RunShape

__all__ = ["Aggregates", "LogLinearBins", "SERVICE_IDS"]

#: Stable id of each service name in demand fingerprints (independent of scenario order).
SERVICE_IDS = {"police": 0, "fire": 1, "ambulance": 2}

_ON = DRONE_OUTCOMES.index("on_scene")
#: Starting width of the histograms (Aggregates._widen): the 0.5 s bins up to 1,024 s and the
#: next two doublings (to 4,096 s), where nearly every response time falls.
HIST_WIDTH = 4_096
_COUNTED = ("out_of_range", "declined", "queue_abandoned", "cancelled", "pending")


class LogLinearBins:
    """Fixed log-linear histogram bins for non-negative durations (see the module docstring).

    ``unit_s`` wide bins below ``2**sub_bits x unit_s``; above, ``2**(sub_bits - 1)`` bins per
    doubling. Values past the last bin are counted in it.
    """

    def __init__(self, unit_s: float = 0.5, sub_bits: int = 11, max_exp: int = 40) -> None:
        self.unit_s = unit_s
        self.sub = 1 << sub_bits  # linear bins
        self.half = self.sub >> 1  # bins per doubling above
        self.sub_bits = sub_bits
        self.n = self.sub + (max_exp - sub_bits) * self.half

    def index(self, v: np.ndarray) -> np.ndarray:
        """Bin of each value (NaN-free, >= 0)."""
        u = np.asarray(v, float) / self.unit_s
        out = np.floor(u).astype(np.int64)
        big = u >= self.sub
        if big.any():
            f, e = np.frexp(u[big])  # u = f * 2**e, f in [0.5, 1)
            m = e - 1  # u in [2**m, 2**(m + 1))
            r = np.floor((2.0 * f - 1.0) * self.half).astype(np.int64)
            out[big] = self.sub + (m - self.sub_bits) * self.half + r
        return np.minimum(out, self.n - 1)

    def edges(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower edge and width (seconds) of bins ``b``."""
        b = np.asarray(b, np.int64)
        lo = b.astype(float)
        w = np.ones(b.size)
        big = b >= self.sub
        j = b[big] - self.sub
        m = self.sub_bits + j // self.half
        r = j % self.half
        step = np.ldexp(1.0, (m - self.sub_bits + 1).astype(np.int64))
        lo[big] = np.ldexp(1.0, m.astype(np.int64)) + r * step
        w[big] = step
        return lo * self.unit_s, w * self.unit_s

    def quantile(self, counts: np.ndarray, q: float) -> float:
        """``numpy.quantile`` (linear) of the binned values, within one bin width."""
        return self.quantiles(counts, (q,))[0]

    def quantiles(self, counts: np.ndarray, qs: tuple[float, ...]) -> list[float]:
        """:meth:`quantile` at each of ``qs``, from one pass over the histogram (the same
        arithmetic for each, element by element)."""
        n = int(counts.sum())
        if n == 0:
            return [math.nan] * len(qs)
        ranks: list[int] = []
        fracs: list[float] = []
        for q in qs:
            pos = (n - 1) * q
            k = int(math.floor(pos))
            fracs.append(pos - k)
            ranks += [k, min(k + 1, n - 1)]
        cum = np.cumsum(counts)
        r = np.asarray(ranks)
        b = np.searchsorted(cum, r + 1, side="left")  # bin holding each rank
        lo, w = self.edges(b)
        c = counts[b].astype(float)
        first = cum[b] - counts[b]  # rank of the bin's first value
        est = (lo + (r - first + 0.5) / c * w).tolist()
        return [float(est[2 * j] + frac * (est[2 * j + 1] - est[2 * j]))
                for j, frac in enumerate(fracs)]


class _Stats:
    """Sums and counts per group ("all", each service, each borough), added chunk by chunk."""

    def __init__(self, n_groups: int) -> None:
        self.g = n_groups
        self.v: dict[str, np.ndarray] = {}

    def add_sums(self, name: str, x: np.ndarray, counts: bool) -> None:
        """Add one chunk's per-group sums (``counts``: whole numbers, kept as integers)."""
        x = x.astype(np.int64) if counts else x.astype(float)
        if name in self.v:
            self.v[name] = self.v[name] + x
        else:
            self.v[name] = x

    def __getitem__(self, name: str) -> np.ndarray:
        return self.v.get(name, np.zeros(self.g))


class Aggregates:
    """KPIs of one replication from its record chunks (see the module docstring).

    Parameters
    ----------
    prep
        The prepared scenario (warm-up, horizon, services, boroughs, coverage target).
    features
        Which features are on (default: :meth:`Features.of` the scenario): which figures count.

    The denominators of utilisation (fleet size, pilot slots, ground units) come with
    :meth:`start`, once the replication has built its fleet and control rooms.
    """

    def __init__(self, prep: Prepared, *, features: Features | None = None) -> None:
        scn = prep.scenario
        on = features or Features.of(prep)  # which figures are counted: the scenario's features
        self.lo, self.hi = prep.warmup_s, prep.horizon_s
        self.weeks = (self.hi - self.lo) / (7 * 86_400)
        self.services = tuple(scn.services)
        self.codes = list(prep.london.borough_codes)
        self.within_s = float(scn.coverage.within_s)
        #: Denominators of drone and pilot utilisation, set by :meth:`start`.
        self.fleet_size = 0
        self.pilots = 0
        self.mutual_aid = on.mutual_aid
        #: Operations figures counted only when their feature is on (dronesim.engine.availability).
        self.grounding = on.grounded_hours
        self.faults = on.flight_faults
        self.resolving = on.drone_resolution
        self.relief = on.relief
        #: Some service sends ground units: without, the ground figures are all empty (their
        #: sums stay zero, read as such: ground response, its share within each target, on
        #: drone incidents, time saved, drone first, dispatch delay) and are not computed per
        #: chunk.
        self.ground = on.ground_response
        # Mixed fleets: missions and flight time by airframe type (fleet.AirframeTable).
        self.types = prep.airframes if scn.airframes else None
        if self.types is not None:
            self._type_of_dock = np.asarray(self.types.type_of_dock, np.int64)
            self.by_type = np.zeros((2, len(self.types.names)))
        self.bins = LogLinearBins()
        S, B = len(self.services), len(self.codes)
        # Group families: 0 = all incidents, 1..S = each service, then each borough.
        self.n_groups = 1 + S + B
        self.stats = _Stats(self.n_groups)
        # Histograms of each group, as wide as the highest bin hit so far (_widen): response
        # times fill the first few thousand of the 31,744 bins, and a full-width table would
        # cost 27 MB to zero (and its quantiles a pass over all of it) in every replication.
        self.hist = {k: np.zeros((self.n_groups, HIST_WIDTH), np.int64)
                     for k in ("drone", "ground", "ground_d")}
        span = self.hi - self.lo
        self.fifths = (self.lo + span / 5, self.hi - span / 5)
        self.busy = np.zeros((2, 1 + S))  # airborne, pilot-held seconds in the window
        self.n_incidents = 0
        self.n_missions = 0
        self._fp = {k: [hashlib.blake2b(digest_size=16) for _ in range(4)]
                    for k in ("all", *self.services)}
        if S == 1:  # a lone service hashes the bytes "all" hashes: share those hashers
            own = self._fp[self.services[0]]
            own[:3] = self._fp["all"][:3]
        self._svc_id = np.array([SERVICE_IDS[s] for s in self.services], np.int8)
        # Ground units: patrol units of each service, for the share of unit-time idle (a unit
        # is busy from dispatch until free: clear, or the end of the hospital handover;
        # stations' units also drive back, which the records do not hold, so they are left
        # out). Their counts come with the run's shape (start).
        svcs = list(scn.services.values())
        self.patrol = np.array([sv.ground.base == "patrol" for sv in svcs])
        self.units = np.zeros(S)
        self.unit_busy = np.zeros(S)
        # Conveyance to hospital and handover (dronesim.engine.conveyance): services with it on.
        self.conveying = np.array([on.conveyance and sv.ground.conveys for sv in svcs], bool)
        self.handover_target = np.array([sv.ground.handover_target_s for sv in svcs])
        self._init_docks(prep)

    def start(self, shape: RunShape) -> None:
        """The replication's fleet and control rooms are built: take the utilisation
        denominators (the :class:`~dronesim.engine.sinks.Observer` protocol)."""
        self.fleet_size = shape.fleet_size
        self.pilots = shape.pilots
        self.units = np.array([float(shape.ground_units.get(name, 0)) if p else 0.0
                               for name, p in zip(self.services, self.patrol)])

    # --- updates -------------------------------------------------------------------------------
    def _fingerprint(self, c: dict[str, np.ndarray]) -> None:
        # (hashed through the buffer protocol: the arrays' bytes, without a copy. numpy's
        # stubs declare ndarray.__buffer__ for Python 3.12 on only, hence the ignores.)
        svc = c["service"].astype(np.int64)
        parts = (c["t_call"], c["x"], c["y"])
        for h, a in zip(self._fp["all"], parts):
            h.update(np.ascontiguousarray(a, np.float64))  # type: ignore[arg-type]
        self._fp["all"][3].update(self._svc_id[svc])  # type: ignore[arg-type]
        if len(self.services) == 1:
            return  # the service's hashers are those of "all" (see __init__)
        for k, name in enumerate(self.services):
            sel = svc == k
            for h, a in zip(self._fp[name], parts):
                h.update(np.ascontiguousarray(a[sel], np.float64))  # type: ignore[arg-type]

    def add_incidents(self, chunk: IncidentChunk) -> None:
        """Fold one chunk of finished incident records in."""
        c = chunk.columns
        self.n_incidents += len(chunk)
        self._fingerprint(c)
        t = c["t_call"]
        if self.patrol.any():
            self._add_unit_busy(c)
        inside = (t >= self.lo) & (t < self.hi)
        if not inside.any():
            return
        # The whole chunk in the window (all but the first and last): views.
        w: np.ndarray | slice = slice(None) if inside.all() else inside
        S = len(self.services)
        svc = c["service"][w].astype(np.int64)
        bor = chunk.borough[w].astype(np.int64)
        t = t[w]
        on = c["drone_outcome"][w] == _ON
        drone = c["drone_response_s"][w]
        ground = c["ground_response_s"][w]
        suited = c["drone_suited"][w]
        qwait = (c["t_drone_assigned"] - c["t_drone_decision"])[w]
        pwait = (c["t_pilot"] - c["t_drone_assigned"])[w]
        gwait = (c["t_ground_dispatch"] - c["t_call"])[w]
        outcome = c["drone_outcome"][w].astype(np.int64)
        # Each row counts in "all", its service and its borough. The chunk's sums are taken
        # over a table of the per-row quantities (0 where a quantity does not apply): "all"
        # and each service by a sum along the rows, the boroughs by a bincount of each
        # quantity (a sparse product of the rows-by-groups incidence with the table cost four
        # times as much on chunks of a few thousand rows: 18.6 ms against 4.8 ms per 100,000).
        n = t.size
        grp = np.stack([np.zeros(n, np.int64), 1 + svc, 1 + S + bor], axis=1)
        specs: list[tuple[str, np.ndarray, np.ndarray | None]] = []

        def add(name: str, mask: np.ndarray, weights: np.ndarray | None = None) -> None:
            specs.append((name, mask, weights))

        ones = np.ones(n, bool)
        add("n", ones)
        add("suited", suited)
        add("on", on)
        for k, name in enumerate(DRONE_OUTCOMES):
            if name in _COUNTED or (name == "grounded" and self.grounding) or (
                    name == "fault" and self.faults):
                add(f"outcome_{name}", outcome == k)
        if self.grounding:
            why = c["grounded_reason"][w].astype(np.int64)
            for k in range(1, len(GROUNDED_REASONS)):
                add(f"grounded_{GROUNDED_REASONS[k]}", why == k)
        d_ok = on & ~np.isnan(drone)
        add("drone_sum", d_ok, drone)
        add("drone_n", d_ok)
        for s in WITHIN_S:
            add(f"drone_le_{s}", on & (drone <= s))
        g_ok = ~np.isnan(ground)
        gd_ok = on & g_ok
        gap = c["relief_gap_s"][w]
        if self.ground:  # (else no incident has a ground response: these sums stay zero)
            add("ground_sum", g_ok, ground)
            add("ground_n", g_ok)
            for s in WITHIN_S:
                add(f"ground_le_{s}", ground <= s)
            add("ground_d_sum", gd_ok, ground)
            add("ground_d_n", gd_ok)
            add("saved_sum", gd_ok, ground - drone)
            # Mutual aid (ground.py) and the most urgent grade's ground response (per-borough
            # anchors are published for I-grade calls).
            if self.mutual_aid:
                add("aided", g_ok & (c["mutual_aid_from"][w] != ""))
            g1 = g_ok & (c["priority"][w] == 1)
            add("ground1_sum", g1, ground)
            add("ground1_n", g1)
            add("ground1_le_900", g1 & (ground <= 900))
            # Covered until handover: a drone on scene without a break from the first arrival
            # until the ground unit arrived (reliefs included, dronesim.engine.relief).
            end = np.fmax(c["t_drone_leave"][w], c["t_relief_leave"][w])
            g_at = c["t_ground_arrival"][w]
            add("covered", gd_ok & (end >= g_at - 1e-9) & ~(gap > 0))
        if self.relief:
            relieved = on & (c["relief_drones"][w] > 0)
            add("relieved", relieved)
            add("relief_legs", relieved, c["relief_drones"][w].astype(float))
            add("rgap_sum", relieved, np.nan_to_num(gap))
        if self.resolving:  # resolved by the drone: no ground unit ever came, the drone first
            resolved = c["drone_resolved"][w]
            add("resolved", on & resolved)
            add("first", on & ((drone < ground) | resolved))
            busy = (c["t_ground_clear"] - c["t_ground_dispatch"])[w]
            b_ok = ~np.isnan(busy)
            add("busy_sum", b_ok, busy)
            add("busy_n", b_ok)
        elif self.ground:
            add("first", on & (drone < ground))
        add("hit", suited & on & (drone <= self.within_s))
        if self.conveying.any():  # conveyance to hospital and handover (conveyance.py)
            conv = c["conveyed"][w]
            to_h = (c["t_hospital_arrival"] - c["t_ground_clear"])[w]
            hand = (c["t_handover_end"] - c["t_hospital_arrival"])[w]
            add("conv_of", self.conveying[svc])
            add("conveyed", conv)
            add("to_hospital_sum", conv, to_h)
            add("handover_sum", conv, hand)
            add("handover_lost_sum", conv, np.maximum(hand - self.handover_target[svc], 0.0))
        self._add_docks(c["dock_id"][w], on, drone, d_ok, suited)
        early, late = t < self.fifths[0], t >= self.fifths[1]
        waits = [("qwait", qwait, on), ("pwait", pwait, on)]
        if self.ground:
            waits.append(("gwait", gwait, ones))
        for name, v, mask in waits:
            ok = mask & ~np.isnan(v)
            add(f"{name}_sum", ok, v)
            add(f"{name}_n", ok)
            if name != "pwait":
                add(f"{name}_first_sum", ok & early, v)
                add(f"{name}_first_n", ok & early)
                add(f"{name}_last_sum", ok & late, v)
                add(f"{name}_last_n", ok & late)
        add("pwait_pos", on & (pwait > 1e-9))
        # One quantity a row of the table (contiguous writes); a weight only where it applies.
        table = np.zeros((len(specs), n))
        for row, (_, mask, weights) in zip(table, specs):
            if weights is None:
                row[:] = mask
            else:
                np.copyto(row, weights, where=mask)
        sums = np.empty((self.n_groups, len(specs)))
        sums[0] = table.sum(axis=1)
        for k in range(S):
            sums[1 + k] = sums[0] if S == 1 else table[:, svc == k].sum(axis=1)
        B = len(self.codes)
        for j, row in enumerate(table):
            sums[1 + S:, j] = np.bincount(bor, weights=row, minlength=B)
        st = self.stats
        for j, (name, _, _) in enumerate(specs):
            st.add_sums(name, sums[:, j], counts=not name.endswith("_sum"))
        # Histograms: drone and ground for every group, ground on drone incidents for all and
        # per service. Only the cells hit are touched (a bincount over the whole table would
        # cost per chunk what the table holds, not what the chunk holds).
        for key, v, mask, families in (("drone", drone, d_ok, 3), ("ground", ground, g_ok, 3),
                                       ("ground_d", ground, gd_ok, 2)):
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                continue
            b = self.bins.index(v[rows])
            h = self._widen(key, int(b.max()) + 1)
            cells = grp[rows, :families] * h.shape[1] + b[:, None]
            np.add.at(h.reshape(-1), cells.ravel(), 1)

    def _add_unit_busy(self, c: dict[str, np.ndarray]) -> None:
        """Unit-time busy within the window, by service: dispatch until free (the end of the
        handover when conveyed, else clear), whatever the call time."""
        start = c["t_ground_dispatch"]
        free = c["t_ground_clear"]
        if self.conveying.any():
            free = np.where(c["conveyed"], c["t_handover_end"], free)
        busy = np.minimum(free, self.hi) - np.maximum(start, self.lo)
        busy = np.where(busy > 0, busy, 0.0)  # (NaN: no unit sent)
        self.unit_busy += np.bincount(c["service"].astype(np.int64), weights=busy,
                                      minlength=len(self.services))[:len(self.services)]

    def _widen(self, key: str, width: int) -> np.ndarray:
        """Histogram ``key`` at least ``width`` bins wide (doubling, at most all the bins);
        the bins beyond a histogram's width are empty."""
        h = self.hist[key]
        if width > h.shape[1]:
            wide = np.zeros((h.shape[0], min(self.bins.n, max(width, 2 * h.shape[1]))), h.dtype)
            wide[:, :h.shape[1]] = h
            h = self.hist[key] = wide
        return h

    def add_missions(self, chunk: MissionChunk) -> None:
        """Fold mission legs in: airborne and pilot-held time within the window."""
        c = chunk.columns
        self.n_missions += len(chunk)
        if not len(chunk):
            return
        lo, hi = self.lo, self.hi
        end = np.minimum(c["t_landed"], hi)
        air = np.clip(end - np.maximum(c["t_launch"], lo), 0, None)
        held = np.clip(end - np.maximum(c["t_pilot"], lo), 0, None)
        svc = c["service"].astype(np.int64)
        S = len(self.services)
        self.busy[0, 0] += air.sum()
        self.busy[1, 0] += held.sum()
        self.busy[0, 1:] += np.bincount(svc, weights=air, minlength=S)[:S]
        self.busy[1, 1:] += np.bincount(svc, weights=held, minlength=S)[:S]
        self._add_dock_missions(c, air)
        if self.types is not None:
            kind = self._type_of_dock[c["dock_id"]]
            t = len(self.types.names)
            launched = (c["t_launch"] >= lo) & (c["t_launch"] < hi)
            self.by_type[0] += np.bincount(kind, weights=launched.astype(float), minlength=t)
            self.by_type[1] += np.bincount(kind, weights=air, minlength=t)

    # --- results -------------------------------------------------------------------------------
    def _resp(self, key: str, g: int) -> dict[str, float]:
        st = self.stats
        prefix = {"drone": "drone", "ground": "ground", "ground_d": "ground_d"}[key]
        n = int(st[f"{prefix}_n"][g])
        if n == 0:
            return {"mean": math.nan, "median": math.nan, "p90": math.nan, "n": 0}
        med, p90 = self.bins.quantiles(self.hist[key][g], (0.5, 0.9))
        return {"mean": float(st[f"{prefix}_sum"][g] / n), "median": med, "p90": p90, "n": n}

    def _mean(self, name: str, g: int) -> float:
        n = self.stats[f"{name}_n"][g]
        return float(self.stats[f"{name}_sum"][g] / n) if n else math.nan

    def _unstable(self, name: str, g: int) -> bool:
        st = self.stats
        if st[f"{name}_n"][g] < 10:
            return False
        nf, nl = st[f"{name}_first_n"][g], st[f"{name}_last_n"][g]
        if nf == 0 or nl == 0:
            return False
        first = st[f"{name}_first_sum"][g] / nf
        last = st[f"{name}_last_sum"][g] / nl
        return bool(last > 2 * first + 600)

    def _group(self, g: int, service: int | None) -> dict[str, Any]:
        """The response, utilisation and ground figures of group g."""
        st, weeks = self.stats, self.weeks
        n, on = int(st["n"][g]), int(st["on"][g])
        n_drone = int(st["drone_n"][g])
        out: dict[str, Any] = {
            "incidents_per_week": n / weeks,
            "drone_suited_per_week": int(st["suited"][g]) / weeks,
            "drone_deployments_per_week": on / weeks,
            "drone": self._resp("drone", g),
            "ground": self._resp("ground", g),
            "ground_on_drone_incidents": self._resp("ground_d", g),
            "p_drone_first": int(st["first"][g]) / on if on else math.nan,
            "time_saved_s": (float(st["saved_sum"][g] / st["ground_d_n"][g])
                             if on and st["ground_d_n"][g] else math.nan),
            "drone_within": {str(s): int(st[f"drone_le_{s}"][g]) / n_drone if n_drone
                             else math.nan for s in WITHIN_S},
            "ground_within": {str(s): int(st[f"ground_le_{s}"][g]) / n if n else math.nan
                              for s in WITHIN_S},
        }
        for name in _COUNTED:
            out[f"{name}_per_week"] = int(st[f"outcome_{name}"][g]) / weeks
        if self.grounding:  # calls missed to weather and night, in all and by reason
            out["grounded_per_week"] = int(st["outcome_grounded"][g]) / weeks
            for r in GROUNDED_REASONS[1:]:
                out[f"grounded_{r}_per_week"] = int(st[f"grounded_{r}"][g]) / weeks
        if self.faults:
            out["fault_per_week"] = int(st["outcome_fault"][g]) / weeks
        nd = int(st["ground_d_n"][g])
        out["covered_until_handover"] = int(st["covered"][g]) / nd if nd else math.nan
        if self.relief:
            rel = int(st["relieved"][g])
            out["relief_per_week"] = float(st["relief_legs"][g]) / weeks
            out["relieved_incidents_per_week"] = rel / weeks
            out["relief_gap_s"] = float(st["rgap_sum"][g]) / rel if rel else math.nan
        if self.resolving:  # value: incidents resolved by the drone, officer time per job
            out["drone_resolved_per_week"] = int(st["resolved"][g]) / weeks
            out["ground_busy_s"] = self._mean("busy", g)
        out["drone_queue_wait_s"] = self._mean("qwait", g) if on else math.nan
        out["pilot_wait_s"] = self._mean("pwait", g) if on else math.nan
        out["p_pilot_wait"] = int(st["pwait_pos"][g]) / on if on else math.nan
        span = self.hi - self.lo
        col = 0 if service is None else 1 + service
        out["drone_utilisation"] = (self.busy[0, col] / (self.fleet_size * span)
                                    if self.fleet_size else math.nan)
        out["pilot_utilisation"] = (self.busy[1, col] / (self.pilots * span)
                                    if self.pilots else math.nan)
        out["ground_dispatch_delay_s"] = self._mean("gwait", g)
        out["unstable"] = self._unstable("gwait", g) or self._unstable("qwait", g)
        suited = int(st["suited"][g])
        out["suited_within_target"] = int(st["hit"][g]) / suited if suited else math.nan
        out.update(self._ground_extra(g))
        out.update(self._units_and_conveyance(g, service))
        return out

    def _units_and_conveyance(self, g: int, service: int | None) -> dict[str, float]:
        """Share of patrol unit-time idle (all patrol services, or the service's) and, when
        conveyance is on for some service, its figures."""
        out: dict[str, float] = {}
        sel = self.patrol if service is None else (np.arange(len(self.services)) == service)
        units = float(self.units[sel].sum())
        if self.patrol.any() and units > 0:
            out["ground_unit_availability"] = 1.0 - float(
                self.unit_busy[sel].sum()) / (units * (self.hi - self.lo))
        if self.conveying.any() and (service is None or self.conveying[service]):
            st, weeks = self.stats, self.weeks
            n, k = int(st["conv_of"][g]), int(st["conveyed"][g])
            out["conveyed_share"] = k / n if n else math.nan
            out["conveyance_s"] = float(st["to_hospital_sum"][g]) / k if k else math.nan
            out["handover_s"] = float(st["handover_sum"][g]) / k if k else math.nan
            out["handover_hours_per_week"] = float(st["handover_sum"][g]) / 3600.0 / weeks
            out["handover_lost_hours_per_week"] = (float(st["handover_lost_sum"][g]) / 3600.0
                                                   / weeks)
        return out

    def _ground_extra(self, g: int) -> dict[str, float]:
        """The priority-1 ground figures of group g, and its mutual aid share when mutual aid
        is on for some service."""
        st = self.stats
        n_g, n1 = int(st["ground_n"][g]), int(st["ground1_n"][g])
        out = {"ground_priority1_mean_s": float(st["ground1_sum"][g] / n1) if n1 else math.nan,
               "ground_priority1_within_900": int(st["ground1_le_900"][g]) / n1 if n1
               else math.nan}
        if self.mutual_aid:
            out["mutual_aid_share"] = int(st["aided"][g]) / n_g if n_g else math.nan
        return out

    def kpis(self) -> dict[str, Any]:
        """The replication's KPIs (a small dict of plain Python values).

        The response, utilisation, ground and operations figures of all incidents, plus

        * ``suited_within_target``: drone-suited incidents in the window reached by a drone
          within ``coverage.within_s`` of the call, over all suited incidents (also in every
          ``by_service`` entry): the definition in :mod:`dronesim.kpis.statistics`;
        * ``by_service``: the same dict for each service (utilisation: that service's share of
          the whole fleet's and pilots' time);
        * ``per_borough``: one dict per borough (``gss_code``, ``incidents_per_week``,
          ``drone_deployments_per_week``, ``drone`` and ``ground`` response blocks (mean,
          median, p90, n), ``p_drone_first``, ``suited`` count and ``suited_within_share``);
        * ``per_dock``: one dict per dock, in dock order (:meth:`_dock_kpis` defines each
          figure);
        * ``demand_fingerprint``: per ``"all"`` and per service, a hash of every incident's call
          time, position (and service, for ``"all"``): equal fingerprints mean identical
          incidents;
        * ``n_incidents`` / ``n_missions``: records written (all, warm-up included).
        """
        S = len(self.services)
        out = self._group(0, None)
        out["by_service"] = {name: self._group(1 + k, k) for k, name in enumerate(self.services)}
        st, weeks = self.stats, self.weeks
        per = []
        for b, code in enumerate(self.codes):
            g = 1 + S + b
            on, suited = int(st["on"][g]), int(st["suited"][g])
            per.append({
                "gss_code": code,
                "incidents_per_week": int(st["n"][g]) / weeks,
                "drone_deployments_per_week": on / weeks,
                "drone": self._resp("drone", g),
                "ground": self._resp("ground", g),
                "p_drone_first": int(st["first"][g]) / on if on else math.nan,
                "suited": suited,
                "suited_within_share": int(st["hit"][g]) / suited if suited else math.nan,
                # (the same, under the name of the figure in run summaries)
                "suited_within_target": int(st["hit"][g]) / suited if suited else math.nan,
                **self._ground_extra(g),
            })
        out["per_borough"] = per
        out["demand_fingerprint"] = {
            k: hashlib.blake2b(b"".join(h.digest() for h in hs), digest_size=16).hexdigest()
            for k, hs in self._fp.items()}
        out["per_dock"] = self._dock_kpis()
        out["n_incidents"] = self.n_incidents
        out["n_missions"] = self.n_missions
        if self.types is not None:  # mixed fleets: each airframe type's share of the work
            out["per_airframe"] = {
                (name or "[drones]"): {"missions_per_week": float(self.by_type[0, k] / weeks),
                                       "flight_hours_per_week": float(
                                           self.by_type[1, k] / 3600.0 / weeks)}
                for k, name in enumerate(self.types.names)
                if k in set(self.types.type_of_dock)}
        return out

    # --- per dock ------------------------------------------------------------------------------
    # Counted for every run (a dock's share of the work: "what do we lose if it closes?").
    # Incidents count for the dock of the drone that reached them (``dock_id``); mission legs
    # for the dock they flew from. The definitions are those of :meth:`_dock_kpis`.
    def _init_docks(self, prep: Prepared) -> None:
        D = len(prep.docks)
        self.n_docks = D
        self.dock_drones = np.asarray(prep.docks.drones, float)
        # Recharge rate of each dock's airframe (endurance restored per second of charging;
        # inf: instant, dronesim.engine.fleet.AirframeTable).
        self.dock_rate = np.asarray(prep.airframes.rate, float) if D else np.zeros(0)
        # Rows: deployments, served suited, suited reached within target, response sum, n.
        self.dock_sums = np.zeros((5, D))
        self.dock_air = np.zeros(D)  # airborne seconds in the window
        self.dock_charge = np.zeros(D)  # recharge seconds for the charge the legs used
        self.hist["dock"] = np.zeros((D, 64), np.int64)

    def _add_docks(self, dock: np.ndarray, on: np.ndarray, drone: np.ndarray,
                   d_ok: np.ndarray, suited: np.ndarray) -> None:
        """Fold one chunk's incidents (in the window) into the per-dock sums."""
        D = self.n_docks
        sel = np.flatnonzero(on & (dock >= 0))
        if sel.size == 0 or D == 0:
            return
        k = dock[sel].astype(np.int64)
        hit = suited[sel] & (drone[sel] <= self.within_s)
        ok = d_ok[sel]
        v = np.where(ok, drone[sel], 0.0)
        s = self.dock_sums
        s[0] += np.bincount(k, minlength=D)
        s[1] += np.bincount(k, weights=suited[sel].astype(float), minlength=D)
        s[2] += np.bincount(k, weights=hit.astype(float), minlength=D)
        s[3] += np.bincount(k, weights=v, minlength=D)
        s[4] += np.bincount(k, weights=ok.astype(float), minlength=D)
        rows = np.flatnonzero(ok)
        if rows.size:
            b = self.bins.index(drone[sel][rows])
            h = self._widen("dock", int(b.max()) + 1)
            np.add.at(h.reshape(-1), k[rows] * h.shape[1] + b, 1)

    def _add_dock_missions(self, c: dict[str, np.ndarray], air: np.ndarray) -> None:
        """Fold one chunk's mission legs into each dock's airborne and recharge time."""
        D = self.n_docks
        if D == 0:
            return
        k = c["dock_id"].astype(np.int64)
        self.dock_air += np.bincount(k, weights=air, minlength=D)[:D]
        landed = (c["t_landed"] >= self.lo) & (c["t_landed"] < self.hi)
        used = np.clip(c["battery_launch_s"] - c["battery_landed_s"], 0, None)
        rate = self.dock_rate[k]
        need = np.where(landed & np.isfinite(rate) & (rate > 0) & ~np.isnan(used),
                        used / np.where(rate > 0, rate, 1.0), 0.0)
        self.dock_charge += np.bincount(k, weights=need, minlength=D)[:D]

    def _dock_kpis(self) -> list[dict[str, Any]]:
        """Each dock's figures (declared in :data:`dronesim.kpis.registry.DOCK_METRICS`):

        * ``drone_deployments_per_week``: incidents in the window a drone of the dock reached
          (outcome ``on_scene``, its ``dock_id``); they sum to the run's deployments;
        * ``drone``: response block (mean, median, p90, n) of those incidents;
        * ``suited_served``: drone-suited incidents it reached; ``suited_within_target_per_week``:
          those reached within ``coverage.within_s``, a week; ``suited_within_share``: those
          over ``suited_served`` (of the suited incidents the dock served, not of all suited
          incidents);
        * ``drone_utilisation``: airborne time of its legs in the window over (its drones x the
          window);
        * ``charge_hours_per_week``: recharge time for the charge its legs used (launch charge
          less landed charge, at its airframe's recharge rate; 0 for instant recharge), legs
          landed in the window: drone-hours on the charger, an upper bound on the time its
          drones were unavailable to charging.
        """
        st, weeks, span = self.dock_sums, self.weeks, self.hi - self.lo
        out = []
        for d in range(self.n_docks):
            n = int(st[4, d])
            h = self.hist["dock"][d]
            if n:
                med, p90 = self.bins.quantiles(h, (0.5, 0.9))
                drone = {"mean": float(st[3, d] / n), "median": med, "p90": p90, "n": n}
            else:
                drone = {"mean": math.nan, "median": math.nan, "p90": math.nan, "n": 0}
            served, hit = int(st[1, d]), int(st[2, d])
            drones = float(self.dock_drones[d])
            out.append({
                "drone_deployments_per_week": float(st[0, d]) / weeks,
                "drone": drone,
                "suited_served": served,
                "suited_within_target_per_week": hit / weeks,
                "suited_within_share": hit / served if served else math.nan,
                "drone_utilisation": (float(self.dock_air[d]) / (drones * span)
                                      if drones and span > 0 else math.nan),
                "charge_hours_per_week": float(self.dock_charge[d]) / 3600.0 / weeks,
            })
        return out

