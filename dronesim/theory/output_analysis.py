"""Output analysis for steady-state simulation: warm-up and the number of replications.

Pure functions of arrays (no simulation), used by ``06_warmup_and_replications.ipynb``:

* :func:`binned_means`: an output series per replication (e.g. mean response of the calls of
  each hour), the raw material of both warm-up methods.
* :func:`cycle_difference`: each bin minus the bin one cycle later (dronesim's demand follows an
  hour-of-week profile, so the response series has a daily and weekly cycle that would hide or
  mimic a warm-up transient; the difference removes it and leaves the transient).
* :func:`welch_moving_average`: Welch's graphical method (Welch, P. D. 1983, "The statistical
  analysis of simulation results", in *The Computer Performance Modeling Handbook*, ed.
  S. Lavenberg, Academic Press, 268-328; as given by Law, A. M. & Kelton, W. D. 2000,
  *Simulation Modeling and Analysis*, 3rd ed., McGraw-Hill, section 9.5.1): average the series
  across replications, smooth it with a centred moving average of window ``w``, and read the
  warm-up as the time after which the curve is flat.
* :func:`mser`: MSER-5 (White, K. P. Jr. 1997, "An effective truncation heuristic for bias
  reduction in simulation output", *Simulation* 69(6):323-334; White, Cobb & Spratt 2000,
  "A comparison of five steady-state truncation heuristics for simulation", Proc. Winter
  Simulation Conference, 755-760): the truncation point that minimises the marginal standard
  error of the remaining batch means of 5 observations.
* :func:`half_width`, :func:`replications_needed` and :func:`sequential_stop`: Student-t
  confidence intervals over independent replications and the number of replications for a
  target absolute or relative half-width (Law & Kelton 2000, section 9.4.1: the approximate
  number ``n_a(beta)``/``n_r(gamma)`` from a pilot run, and the sequential procedure with the
  relative error adjusted to ``gamma' = gamma / (1 + gamma)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..kpis.statistics import t_quantile

__all__ = ["binned_means", "cycle_difference", "welch_moving_average", "MSERResult", "mser",
           "half_width", "replications_needed", "sequential_stop"]


def binned_means(t: np.ndarray, values: np.ndarray, replication: np.ndarray, bin_width: float,
                 end: float, start: float = 0.0) -> np.ndarray:
    """Mean of ``values`` in consecutive time bins, one row per replication.

    Parameters
    ----------
    t
        Time of each observation (e.g. the call time, seconds).
    values
        The observation (e.g. the response time); NaN values are left out.
    replication
        Replication number of each observation (0 .. R-1; rows are ``0 .. max``).
    bin_width, start, end
        Bins ``[start + k w, start + (k+1) w)`` up to ``end``.

    Returns
    -------
    numpy.ndarray
        ``(R, m)``: the mean of each replication's observations in each bin; NaN for a bin
        with no observation.
    """
    t = np.asarray(t, float)
    v = np.asarray(values, float)
    rep = np.asarray(replication, np.int64)
    if not (t.shape == v.shape == rep.shape):
        raise ValueError("t, values and replication must have the same shape")
    if not bin_width > 0 or not end > start:
        raise ValueError("need bin_width > 0 and end > start")
    m = int(math.ceil((end - start) / bin_width - 1e-9))
    ok = np.isfinite(v) & (t >= start) & (t < end)
    r = int(rep.max()) + 1 if rep.size else 0
    k = np.minimum(((t[ok] - start) // bin_width).astype(np.int64), m - 1)
    flat = rep[ok] * m + k
    sums = np.bincount(flat, weights=v[ok], minlength=r * m)
    counts = np.bincount(flat, minlength=r * m)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return out.reshape(r, m)


def cycle_difference(series: np.ndarray, period: int) -> np.ndarray:
    """Each bin minus the bin one cycle later: ``D_k = Y_k - Y_{k + period}``.

    dronesim's demand follows an hour-of-week profile, so its output series cycle daily and
    weekly, and a cycle hides or mimics a warm-up transient. Once the system has reached its
    periodic steady state, ``Y_k`` and ``Y_{k+period}`` have the same mean, so ``D_k`` has mean
    zero; a transient that ends within the first cycle shows as a non-zero mean of the first
    ``D_k`` only. Unlike subtracting a profile estimated from the same run, the reference bins
    are independent observations one cycle later, so the steady part of ``D`` keeps its full
    noise and Welch's plot and MSER read it without bias. Needs a run longer than two cycles
    to see a transient of up to one cycle.

    Parameters
    ----------
    series
        ``(m,)`` or ``(R, m)``, bins in time order (NaN allowed and propagated).
    period
        Cycle length in bins (168 for the weekly cycle in hourly bins, 28 in 6-hour bins).

    Returns
    -------
    numpy.ndarray
        ``(m - period,)`` or ``(R, m - period)``.
    """
    y = np.asarray(series, float)
    m = y.shape[-1]
    if not 1 <= period < m:
        raise ValueError(f"period must be from 1 to {m - 1} bins (the series length minus "
                         f"one); got {period}")
    return y[..., :m - period] - y[..., period:]


def welch_moving_average(series: np.ndarray, window: int) -> np.ndarray:
    """Welch's moving average (Law & Kelton 2000, section 9.5.1, eq. 9.4).

    Parameters
    ----------
    series
        ``(m,)`` the across-replication mean of each period, or ``(R, m)`` one row per
        replication (averaged first, NaN ignored).
    window
        ``w``, from 0 to ``(m - 1) / 2``. The smoothed value ``i`` (1-based) averages
        ``Y_{i-w} .. Y_{i+w}`` for ``i > w`` and ``Y_1 .. Y_{2i-1}`` for ``i <= w``.

    Returns
    -------
    numpy.ndarray
        ``m - w`` smoothed values, for periods ``1 .. m - w``.
    """
    y = np.asarray(series, float)
    if y.ndim == 2:
        ok = np.isfinite(y)
        count = ok.sum(axis=0)
        y = np.where(count > 0, np.where(ok, y, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)
    m = y.size
    w = int(window)
    if w < 0 or 2 * w + 1 > m:
        raise ValueError(f"window must be from 0 to (m - 1) / 2 = {(m - 1) // 2}; got {window}")
    out = np.empty(m - w)
    for i in range(1, m - w + 1):
        lo, hi = (i - w, i + w) if i > w else (1, 2 * i - 1)
        out[i - 1] = np.nanmean(y[lo - 1:hi])
    return out


@dataclass(frozen=True)
class MSERResult:
    """The MSER truncation of one series.

    Attributes
    ----------
    truncation
        Observations to delete from the start (``batch_size`` times the batches deleted).
    batches_deleted
        ``d*``, the number of batch means deleted.
    statistic
        ``MSER(d)`` for ``d = 0 .. len - 2`` batches deleted.
    batch_means
        The batch means the statistic was computed on.
    reliable
        False when the statistic is smallest in the second half of the series: the series is
        too short to show a steady state, and the truncation (capped at the first half) should
        not be trusted (White, Cobb & Spratt 2000).
    """

    truncation: int
    batches_deleted: int
    statistic: np.ndarray
    batch_means: np.ndarray
    reliable: bool


def mser(series: np.ndarray, batch_size: int = 5) -> MSERResult:
    """MSER-``b`` truncation point (MSER-5 with the default ``batch_size``; White 1997).

    The series is cut into consecutive non-overlapping batches of ``batch_size`` observations
    (an incomplete last batch is dropped) with means ``Z_1 .. Z_k``. For each number ``d`` of
    batches deleted from the start,
    ``MSER(d) = sum_{i>d} (Z_i - Zbar(d))**2 / (k - d)**2``, the squared marginal standard
    error of the truncated mean; ``d*`` minimises it over ``d <= k / 2``.

    Parameters
    ----------
    series
        One output series in time order (e.g. the across-replication mean response per hour,
        or one replication's series); NaN values are not allowed.
    batch_size
        Observations per batch (5 for MSER-5, 1 for MSER on the raw series).
    """
    y = np.asarray(series, float)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError("series must be one finite 1-d array (fill or drop empty bins first)")
    b = int(batch_size)
    k = y.size // b
    if b < 1 or k < 4:
        raise ValueError(f"need at least 4 batches of {b}; got {y.size} observations")
    z = y[:k * b].reshape(k, b).mean(axis=1)
    # Suffix sums give every MSER(d) in O(k).
    s1 = np.cumsum(z[::-1])[::-1]
    s2 = np.cumsum((z * z)[::-1])[::-1]
    d = np.arange(k - 1)
    n = k - d
    mean = s1[d] / n
    ss = np.maximum(s2[d] - n * mean * mean, 0.0)
    stat = ss / n**2
    half = k // 2
    d_star = int(np.argmin(stat[:half + 1]))
    reliable = bool(np.argmin(stat) <= half)
    return MSERResult(d_star * b, d_star, stat, z, reliable)


def half_width(values: Sequence[float] | np.ndarray, alpha: float = 0.05) -> float:
    """Half-width ``t_{n-1, 1-alpha/2} S / sqrt(n)`` of the Student-t confidence interval of the
    mean of independent values (NaN with fewer than two)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan
    return t_quantile(1 - alpha / 2, v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)


def replications_needed(values: Sequence[float] | np.ndarray, *, absolute: float | None = None,
                        relative: float | None = None, alpha: float = 0.05,
                        limit: int = 1_000_000) -> int:
    """Replications needed for a target half-width, from a pilot run (Law & Kelton 2000, 9.4.1).

    With the pilot's ``n`` values, mean ``Xbar`` and variance ``S**2`` (assumed not to change
    as replications are added):

    * absolute error ``beta``: ``n_a = min{i >= n : t_{i-1, 1-alpha/2} sqrt(S**2 / i) <= beta}``;
    * relative error ``gamma``: ``n_r = min{i >= n : t_{i-1, 1-alpha/2} sqrt(S**2 / i) / |Xbar|
      <= gamma'}`` with ``gamma' = gamma / (1 + gamma)``, the adjustment that makes the actual
      relative error at most ``gamma``.

    Give exactly one of ``absolute`` and ``relative``. Returns the pilot size ``n`` itself when
    it is already enough. Raises ``ValueError`` with fewer than two pilot values, and when more
    than ``limit`` replications would be needed (e.g. a relative target around a mean of 0).
    """
    if (absolute is None) == (relative is None):
        raise ValueError("give exactly one of absolute= and relative=")
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n < 2:
        raise ValueError("a pilot run of at least 2 replications is needed")
    s = float(v.std(ddof=1))
    if absolute is not None:
        if not absolute > 0:
            raise ValueError("absolute half-width must be > 0")
        target = float(absolute)
    else:
        if not relative > 0:  # type: ignore[operator]
            raise ValueError("relative error must be > 0")
        target = relative / (1 + relative) * abs(float(v.mean()))  # type: ignore[operator]
        if target == 0:
            raise ValueError("a relative target needs a non-zero mean")
    if s == 0:
        return n

    def ok(i: int) -> bool:
        return t_quantile(1 - alpha / 2, i - 1) * s / math.sqrt(i) <= target

    if ok(n):
        return n
    # t shrinks and 1/sqrt(i) falls as i grows: the condition is monotone; search by doubling.
    hi = n
    while not ok(hi):
        hi *= 2
        if hi > limit:
            raise ValueError(f"more than {limit:,} replications would be needed")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def sequential_stop(values: Sequence[float] | np.ndarray, relative: float, n0: int = 10,
                    alpha: float = 0.05) -> int | None:
    """Where Law & Kelton's sequential procedure stops on a sequence of replication values.

    After each replication ``i >= n0`` the procedure computes ``delta(i) = t_{i-1, 1-alpha/2}
    sqrt(S**2(i) / i)`` and stops at the first ``i`` with ``delta(i) / |Xbar(i)| <= gamma'``,
    ``gamma' = gamma / (1 + gamma)`` (Law & Kelton 2000, section 9.4.1; they recommend
    ``n0 >= 10`` and ``gamma <= 0.15``). Returns that ``i`` (the number of replications), or
    None when the given values never meet the target (run more).
    """
    v = np.asarray(values, float)
    if not relative > 0:
        raise ValueError("relative error must be > 0")
    if n0 < 2:
        raise ValueError("n0 must be >= 2")
    g = relative / (1 + relative)
    for i in range(n0, v.size + 1):
        m = float(v[:i].mean())
        if m != 0 and half_width(v[:i], alpha) / abs(m) <= g:
            return i
    return None
