"""Queueing theory the simulator is checked against: Erlang B and C, M/M/c, and the hypercube.

Pure functions of rates and preference lists (no simulation, no SimPy), so the notebook
``07_queueing_checks.ipynb`` and the tests can compare the model with exact results.

* **Erlang B and C** (Erlang 1917): the probability that an arrival finds all ``c`` servers busy
  in a loss system (M/M/c/c) or must wait in a delay system (M/M/c), for an offered load
  ``a = lambda / mu`` in erlangs. Computed by the stable recurrence
  ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` and ``C = c B / (c - a (1 - B))``
  (e.g. Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed., 2008,
  sections 2.3 and 2.5), which never forms ``a**c / c!``.
* **M/M/c** (:func:`mmc`): waiting probability, mean wait, queue length, the wait distribution
  ``P(W > t) = C exp(-(c mu - lambda) t)``.
* **The hypercube queueing model** (:func:`hypercube`; Larson, R. C. 1974, "A hypercube queuing
  model for facility location and redistricting in urban emergency services", *Computers &
  Operations Research* 1:67-95): ``N`` distinguishable servers, each free or busy, so the
  state space is the ``2**N`` vertices of a hypercube. Calls arrive from demand *atoms* as
  Poisson streams; each atom has a fixed preference list of servers and a call goes to the
  first free server on its atom's list. Service times are exponential with one rate ``mu`` for
  every server (travel included). The steady state is solved exactly from the balance equations
  of the continuous-time Markov chain (a linear system of ``2**N`` unknowns; fine for ``N``
  up to about 12). Two variants, as in Larson 1974:

  - ``queue="loss"`` (zero line capacity): a call that finds every server of its list busy is
    lost (in dronesim: declined, or abandoned at once, and left to the ground response).
    Preference lists may be partial (a server out of range is not on the list).
  - ``queue="infinite"`` (infinite line capacity, first come first served): a call that finds
    every server busy waits; the first server to finish takes it. Preference lists must then
    name every server. The queue attaches to the all-busy state as a birth-death tail with
    ratio ``r = lambda / (N mu)``, so ``P(all busy, k waiting) = r**k P(all busy, none
    waiting)``; a queued call is served by whichever server finishes first, which with equal
    rates is each busy server with probability ``1/N``.

Units: rates per second, times in seconds, unless the caller uses other consistent units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["erlang_b", "erlang_c", "MMc", "mmc", "HypercubeResult", "hypercube",
           "preference_atoms", "PreferenceAtoms"]


def _check_load(servers: int, load: float) -> None:
    if int(servers) != servers or servers < 1:
        raise ValueError(f"servers must be a whole number >= 1; got {servers!r}")
    if not (load >= 0 and math.isfinite(load)):
        raise ValueError(f"offered load must be finite and >= 0; got {load!r}")


def erlang_b(servers: int, load: float) -> float:
    """Erlang's loss formula: the probability that an arrival finds all servers busy in M/M/c/c.

    Parameters
    ----------
    servers
        Number of servers ``c`` (>= 1).
    load
        Offered load ``a = lambda / mu`` in erlangs (>= 0).

    Returns
    -------
    float
        ``B(c, a) = (a**c / c!) / sum_{k=0..c} a**k / k!``, by the recurrence
        ``B(k) = a B(k-1) / (k + a B(k-1))`` (Erlang 1917; Gross et al. 2008, eq. 2.52).

    Examples
    --------
    >>> round(erlang_b(1, 1.0), 6)   # one server: a / (1 + a)
    0.5
    """
    _check_load(servers, load)
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Erlang's delay formula: the probability that an arrival waits in M/M/c.

    Parameters
    ----------
    servers
        Number of servers ``c`` (>= 1).
    load
        Offered load ``a = lambda / mu`` in erlangs, ``0 <= a < c`` (a stable queue).

    Returns
    -------
    float
        ``C(c, a) = c B / (c - a (1 - B))`` with ``B = erlang_b(c, a)`` (Gross et al. 2008,
        section 2.3). Equal to ``rho = a`` for one server; ``1/3`` for two servers at ``a = 1``.
    """
    _check_load(servers, load)
    if load >= servers:
        raise ValueError(f"an M/M/c queue is stable only for load < servers; got load {load} "
                         f"with {servers} servers")
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1.0 - b))


@dataclass(frozen=True)
class MMc:
    """Steady-state figures of an M/M/c queue (first come first served, infinite waiting room).

    Attributes
    ----------
    arrival_rate, mean_service, servers
        The inputs: ``lambda`` (per unit time), ``1 / mu`` and ``c``.
    load
        Offered load ``a = lambda / mu`` (erlangs).
    utilisation
        ``rho = a / c``, the long-run fraction of time each server is busy.
    p_wait
        Erlang C: the probability that an arrival waits at all.
    mean_wait
        ``Wq = C / (c mu - lambda)``, the mean wait in queue over all arrivals.
    mean_queue_length
        ``Lq = lambda Wq`` (Little's law).
    mean_in_system
        ``L = Lq + a``.
    """

    arrival_rate: float
    mean_service: float
    servers: int
    load: float
    utilisation: float
    p_wait: float
    mean_wait: float
    mean_queue_length: float
    mean_in_system: float

    def p_wait_longer_than(self, t: float | np.ndarray) -> float | np.ndarray:
        """``P(Wq > t) = C exp(-(c mu - lambda) t)`` for ``t >= 0`` (Gross et al. 2008,
        eq. 2.37)."""
        mu = 1.0 / self.mean_service
        return self.p_wait * np.exp(-(self.servers * mu - self.arrival_rate) * np.asarray(t))

    def p_busy(self, n: int) -> float:
        """Probability that exactly ``n`` servers are busy (``n <= c``; ``n = c`` includes every
        state with a queue)."""
        if not 0 <= n <= self.servers:
            raise ValueError(f"n must be from 0 to {self.servers}; got {n}")
        a, c = self.load, self.servers
        terms = [a ** k / math.factorial(k) for k in range(c)]
        tail = a ** c / math.factorial(c) * c / (c - a)
        p0 = 1.0 / (sum(terms) + tail)
        return p0 * (terms[n] if n < c else tail)


def mmc(arrival_rate: float, mean_service: float, servers: int) -> MMc:
    """The M/M/c queue with Poisson arrivals at ``arrival_rate`` and exponential service of mean
    ``mean_service`` on ``servers`` identical servers (Erlang 1917; Gross et al. 2008, 2.3).

    Raises
    ------
    ValueError
        For a non-positive rate or service time, or an unstable queue (``lambda >= c mu``).
    """
    if not (arrival_rate > 0 and mean_service > 0):
        raise ValueError("arrival_rate and mean_service must be > 0")
    a = arrival_rate * mean_service
    c = int(servers)
    pc = erlang_c(c, a)  # also checks servers and stability
    wq = pc / (c / mean_service - arrival_rate)
    return MMc(float(arrival_rate), float(mean_service), c, a, a / c, pc, wq,
               arrival_rate * wq, arrival_rate * wq + a)


# --------------------------------------------------------------------------------------------
# The hypercube queueing model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HypercubeResult:
    """The exact steady state of a hypercube queueing model (Larson 1974).

    State ``s`` (an integer from 0 to ``2**N - 1``) has bit ``i`` set when server ``i`` is busy.

    Attributes
    ----------
    queue
        ``"loss"`` or ``"infinite"``.
    state_probabilities
        ``P(s)`` for each of the ``2**N`` states; with an infinite queue, the all-busy state
        ``2**N - 1`` holds every state with all servers busy, whatever the queue length.
    workloads
        Fraction of time each server is busy (Larson's ``rho_i``).
    dispatch
        ``(N, J)``: the fraction of all calls that are calls from atom ``j`` served by server
        ``i`` (queued calls included). Its total is the share of calls served: 1 with an
        infinite queue, ``1 - p_lost`` in the loss model.
    p_all_busy
        Long-run fraction of time every server is busy.
    p_lost
        Loss model: the fraction of calls lost (every server on the atom's list busy);
        0 with an infinite queue.
    p_wait
        Infinite queue: the fraction of calls that wait (every server busy); 0 in the loss
        model.
    mean_wait
        Infinite queue: mean wait in queue over all calls, ``P(all busy) / (N mu - lambda)``;
        0 in the loss model.
    mean_service
        The service time ``1 / mu`` used.
    """

    queue: str
    state_probabilities: np.ndarray
    workloads: np.ndarray
    dispatch: np.ndarray
    p_all_busy: float
    p_lost: float
    p_wait: float
    mean_wait: float
    mean_service: float

    @property
    def servers(self) -> int:
        return int(self.workloads.size)

    @property
    def dispatch_fractions(self) -> np.ndarray:
        """Fraction of the *served* calls that go to each server (sums to 1)."""
        per = self.dispatch.sum(axis=1)
        return per / per.sum()

    def busy_count_probabilities(self) -> np.ndarray:
        """``P(n servers busy)`` for ``n = 0 .. N`` (``n = N`` includes any queue)."""
        n = np.array([bin(s).count("1") for s in range(self.state_probabilities.size)])
        return np.bincount(n, weights=self.state_probabilities, minlength=self.servers + 1)

    def mean_travel(self, travel: np.ndarray) -> float:
        """Mean travel time (or distance) over served calls: ``sum_ij f_ij t_ij / sum_ij f_ij``
        where ``f_ij`` is :attr:`dispatch` and ``travel[i, j]`` the mean travel time (or
        distance) from server ``i``'s home to a call in atom ``j`` (Larson 1974, section 4).
        Queued calls are assumed to be answered from the server's home."""
        t = np.asarray(travel, float)
        if t.shape != self.dispatch.shape:
            raise ValueError(f"travel must have shape {self.dispatch.shape}; got {t.shape}")
        f = self.dispatch
        ok = f > 0
        return float((f[ok] * t[ok]).sum() / f.sum())


def _preference_lists(preferences: Sequence[Sequence[int]], n: int, complete: bool
                      ) -> list[list[int]]:
    out = []
    for j, pref in enumerate(preferences):
        lst = [int(i) for i in pref]
        if any(i < 0 or i >= n for i in lst):
            raise ValueError(f"atom {j}: preference list {lst} names a server outside 0..{n - 1}")
        if len(set(lst)) != len(lst):
            raise ValueError(f"atom {j}: preference list {lst} repeats a server")
        if complete and len(lst) != n:
            raise ValueError(f"atom {j}: with an infinite queue every preference list must name "
                             f"all {n} servers; got {lst}")
        out.append(lst)
    return out


def hypercube(atom_rates: Sequence[float] | np.ndarray, preferences: Sequence[Sequence[int]],
              mean_service: float, servers: int | None = None, queue: str = "infinite"
              ) -> HypercubeResult:
    """Solve Larson's hypercube queueing model exactly.

    Parameters
    ----------
    atom_rates
        Poisson arrival rate of calls from each demand atom ``j`` (per unit time; > = 0).
    preferences
        For each atom, its fixed preference list: server indices, most preferred first. A call
        goes to the first free server on its list.
    mean_service
        Mean service time ``1 / mu`` (exponential, the same for every server; travel, time on
        scene and return included).
    servers
        Number of servers ``N`` (default: one more than the largest index in any list).
    queue
        ``"infinite"`` (calls wait, first come first served; lists must be complete; needs
        ``lambda < N mu``) or ``"loss"`` (calls finding their list's servers all busy are lost).

    Returns
    -------
    HypercubeResult

    Notes
    -----
    The generator matrix ``Q`` has, for each state ``s`` and atom ``j``, a transition to
    ``s | 2**i`` at rate ``lambda_j`` where ``i`` is the first free server on atom ``j``'s list
    (none: the call is lost, or joins the queue of the all-busy state), and for each busy server
    ``i`` a transition to ``s & ~2**i`` at rate ``mu`` (Larson 1974, section 3). ``pi Q = 0``
    with ``sum(pi) = 1`` is solved as one linear system. With an infinite queue the states with
    ``k >= 1`` waiting calls form a birth-death tail on the all-busy state (arrivals ``lambda``,
    completions ``N mu``), balanced on its own, so the ``2**N`` balance equations are the same
    as the loss model's and the tail adds ``P(full) r / (1 - r)``, ``r = lambda / (N mu)``, to
    the all-busy probability.

    Complexity ``O(8**N)`` for the dense solve: ``N <= 12``.
    """
    lam = np.asarray(atom_rates, float)
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or (lam < 0).any():
        raise ValueError("atom_rates must be a non-empty sequence of finite rates >= 0")
    if len(preferences) != lam.size:
        raise ValueError(f"{lam.size} atom rates but {len(preferences)} preference lists")
    if not mean_service > 0:
        raise ValueError(f"mean_service must be > 0; got {mean_service!r}")
    if queue not in ("loss", "infinite"):
        raise ValueError(f"queue must be 'loss' or 'infinite'; got {queue!r}")
    n = int(servers) if servers is not None else 1 + max(
        (max(p) for p in preferences if len(p)), default=-1)
    if not 1 <= n <= 12:
        raise ValueError(f"the hypercube is solved for 1 to 12 servers; got {n}")
    prefs = _preference_lists(preferences, n, complete=queue == "infinite")
    mu = 1.0 / mean_service
    total = float(lam.sum())
    if total <= 0:
        raise ValueError("the total arrival rate must be > 0")
    if queue == "infinite" and total >= n * mu:
        raise ValueError(f"unstable: total arrival rate {total:g} >= N mu = {n * mu:g}")

    size = 1 << n
    states = np.arange(size)
    # assign[j, s]: the server an arrival from atom j is sent to in state s (-1: none free).
    assign = np.full((lam.size, size), -1, np.int64)
    for j, lst in enumerate(prefs):
        for i in reversed(lst):  # the last assignment written is the first free on the list
            free = (states >> i) & 1 == 0
            assign[j, free] = i
    q = np.zeros((size, size))
    for j in range(lam.size):
        if lam[j] == 0:
            continue
        ok = assign[j] >= 0
        q[states[ok], states[ok] | (1 << assign[j, ok])] += lam[j]
    for i in range(n):
        busy = (states >> i) & 1 == 1
        q[states[busy], states[busy] & ~(1 << i)] += mu
    np.fill_diagonal(q, 0.0)
    q[states, states] = -q.sum(axis=1)
    # pi Q = 0, sum(pi) = 1: replace one balance equation by the normalisation.
    a = q.T.copy()
    a[-1, :] = 1.0
    b = np.zeros(size)
    b[-1] = 1.0
    pi = np.linalg.solve(a, b)
    pi = np.clip(pi, 0.0, None)
    pi /= pi.sum()

    full = size - 1
    p_wait = mean_wait = p_lost = 0.0
    dispatch = np.zeros((n, lam.size))
    for j in range(lam.size):
        ok = assign[j] >= 0
        np.add.at(dispatch[:, j], assign[j, ok], lam[j] * pi[ok] / total)
    if queue == "infinite":
        r = total / (n * mu)
        tail = pi[full] * r / (1.0 - r)  # P(all busy and at least one call waiting)
        pi = pi / (1.0 + tail)
        dispatch /= (1.0 + tail)
        p_full = pi[full] + tail / (1.0 + tail)
        pi[full] = p_full
        # Calls arriving when every server is busy wait; each server is equally likely to be
        # the first to finish, whatever the atom (Poisson arrivals see time averages).
        dispatch += np.outer(np.full(n, 1.0 / n), lam / total) * p_full
        p_wait = p_full
        mean_wait = p_full / (n * mu - total)
    else:
        p_lost = float(sum(lam[j] * pi[assign[j] < 0].sum() for j in range(lam.size)) / total)
    workloads = np.array([pi[(states >> i) & 1 == 1].sum() for i in range(n)])
    return HypercubeResult(queue, pi, workloads, dispatch, float(pi[full]), p_lost, p_wait,
                           mean_wait, float(mean_service))


@dataclass(frozen=True)
class PreferenceAtoms:
    """Demand atoms formed by grouping calls with the same preference list.

    Attributes
    ----------
    preferences
        One tuple of server indices per atom, nearest first (servers beyond ``max_range``
        left off).
    shares
        Share of the (weighted) calls in each atom; sums to 1 over the atoms that have a
        server in range.
    mean_distance
        ``(N, J)``: mean distance from server ``i`` to the calls of atom ``j``.
    counts
        Number of points in each atom.
    unreached_share
        Share of calls with no server in range (left out of the atoms).
    """

    preferences: list[tuple[int, ...]]
    shares: np.ndarray
    mean_distance: np.ndarray
    counts: np.ndarray
    unreached_share: float

    def first_choice_shares(self, servers: int | None = None) -> np.ndarray:
        """Share of the (reached) calls whose nearest server is ``i``: the dispatch shares if
        every server were always free (each serving its own Voronoi district)."""
        n = servers if servers is not None else self.mean_distance.shape[0]
        first = np.array([p[0] for p in self.preferences], np.int64)
        return np.bincount(first, weights=self.shares, minlength=n)


def preference_atoms(x: np.ndarray, y: np.ndarray, server_x: Sequence[float],
                     server_y: Sequence[float], weights: np.ndarray | None = None,
                     max_range: float = math.inf) -> PreferenceAtoms:
    """Group call locations into hypercube atoms by their nearest-first preference lists.

    A closest-free-server dispatch rule (dronesim's ``nearest_idle``) prefers servers in order
    of straight-line distance, so every call with the same distance ordering belongs to one
    atom (at most ``N!`` atoms; Larson 1974 uses geographical atoms, whose preference lists are
    the same thing for point locations). Ties in distance go to the lower server index, as in
    ``nearest_idle``.

    Parameters
    ----------
    x, y
        Call locations (e.g. the simulated incidents, EPSG:27700 metres).
    server_x, server_y
        Home locations of the servers (the docks).
    weights
        Optional weight of each call (default 1).
    max_range
        Servers farther than this from a call are left off its list (dronesim's
        ``drones.max_range_m``); calls with no server in range are counted in
        ``unreached_share``.
    """
    px = np.asarray(x, float)
    py = np.asarray(y, float)
    sx = np.asarray(server_x, float)
    sy = np.asarray(server_y, float)
    if px.shape != py.shape or px.ndim != 1:
        raise ValueError("x and y must be 1-d arrays of the same length")
    w = np.ones(px.size) if weights is None else np.asarray(weights, float)
    d = np.hypot(px[None, :] - sx[:, None], py[None, :] - sy[:, None])  # (N, P)
    order = np.argsort(d, axis=0, kind="stable")  # nearest first; ties: lower index
    in_range = np.take_along_axis(d, order, axis=0) <= max_range
    keys = [tuple(int(i) for i, ok in zip(order[:, p], in_range[:, p]) if ok)
            for p in range(px.size)]
    atoms = sorted({k for k in keys if k})
    index = {k: a for a, k in enumerate(atoms)}
    label = np.array([index.get(k, -1) for k in keys], np.int64)
    reached = label >= 0
    total_w = w.sum()
    shares = np.bincount(label[reached], weights=w[reached], minlength=len(atoms)) / \
        w[reached].sum()
    counts = np.bincount(label[reached], minlength=len(atoms))
    mean_d = np.zeros((sx.size, len(atoms)))
    wsum = np.bincount(label[reached], weights=w[reached], minlength=len(atoms))
    for i in range(sx.size):
        mean_d[i] = np.bincount(label[reached], weights=(w * d[i])[reached],
                                minlength=len(atoms)) / wsum
    return PreferenceAtoms(atoms, shares, mean_d, counts,
                           float(w[~reached].sum() / total_w) if total_w else 0.0)
