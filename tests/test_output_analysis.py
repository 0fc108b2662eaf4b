"""dronesim.theory.output_analysis against hand-computed values (Law & Kelton 2000; White 1997)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronesim.theory.output_analysis import (
    binned_means,
    cycle_difference,
    half_width,
    mser,
    replications_needed,
    sequential_stop,
    welch_moving_average,
)


def test_binned_means():
    t = np.array([0.5, 1.5, 1.7, 3.2, 0.1, 2.5])
    v = np.array([1.0, 2.0, 4.0, 5.0, 7.0, np.nan])
    rep = np.array([0, 0, 0, 0, 1, 1])
    out = binned_means(t, v, rep, bin_width=1.0, end=4.0)
    np.testing.assert_array_equal(out, [[1.0, 3.0, np.nan, 5.0],
                                        [7.0, np.nan, np.nan, np.nan]])


def test_cycle_difference():
    period = 4
    cycle = np.tile([1.0, 3.0, 2.0, 0.0], 6)
    transient = np.where(np.arange(24) < 3, 5.0, 0.0)
    # A pure cycle leaves zeros; a transient shorter than a cycle is left as it was.
    np.testing.assert_array_equal(cycle_difference(cycle, period), np.zeros(20))
    np.testing.assert_array_equal(cycle_difference(cycle + transient, period), transient[:20])
    two = np.vstack([cycle + transient, cycle - transient])
    np.testing.assert_array_equal(cycle_difference(two, period),
                                  np.vstack([transient[:20], -transient[:20]]))
    with pytest.raises(ValueError):
        cycle_difference(cycle, 24)


def test_welch_moving_average_hand_values():
    # Law & Kelton eq. 9.4: i <= w averages Y_1..Y_{2i-1}; i > w averages Y_{i-w}..Y_{i+w}.
    y = np.array([5.0, 1.0, 3.0, 2.0, 8.0])
    np.testing.assert_allclose(welch_moving_average(y, 1), [5.0, 3.0, 2.0, 13 / 3])
    np.testing.assert_allclose(welch_moving_average(y, 2), [5.0, 3.0, 19 / 5])
    np.testing.assert_allclose(welch_moving_average(y, 0), y)
    # Rows are replications: averaged first, NaN ignored.
    reps = np.array([[4.0, 0.0, 3.0, 2.0, 8.0], [6.0, 2.0, np.nan, 2.0, 8.0]])
    np.testing.assert_allclose(welch_moving_average(reps, 1), [5.0, 3.0, 2.0, 13 / 3])
    with pytest.raises(ValueError):
        welch_moving_average(y, 3)


def test_mser_hand_computed():
    # Batch size 1, z = [4, 0, 2, 0]: MSER(0) = 11/16, MSER(1) = (24/9)/9, MSER(2) = 2/4.
    r = mser(np.array([4.0, 0.0, 2.0, 0.0]), batch_size=1)
    np.testing.assert_allclose(r.statistic, [11 / 16, 24 / 81, 0.5])
    assert (r.batches_deleted, r.truncation, r.reliable) == (1, 1, True)
    # MSER-5: the same on batch means of five.
    r5 = mser(np.repeat([4.0, 0.0, 2.0, 0.0], 5))
    assert (r5.batches_deleted, r5.truncation) == (1, 5)
    np.testing.assert_allclose(r5.batch_means, [4.0, 0.0, 2.0, 0.0])


def test_mser_finds_a_decaying_transient():
    rng = np.random.default_rng(1997)
    t = np.arange(2000)
    y = 20 * np.exp(-t / 30) + rng.normal(0, 1, t.size)
    r = mser(y)
    # The bias is below a tenth of the noise (1) after 30 ln 200 = 159 observations, and
    # clearly above it before 60.
    assert 60 <= r.truncation <= 250
    assert r.reliable


def test_mser_flags_a_series_without_steady_state():
    r = mser(np.arange(100.0))  # still climbing at the end: no steady state to find
    assert not r.reliable
    assert r.batches_deleted <= 10


def test_half_width():
    # [1, 2, 3]: S = 1, t_{2, 0.975} = 4.302653
    assert half_width([1.0, 2.0, 3.0]) == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert math.isnan(half_width([1.0]))


def test_replications_needed_hand_values():
    pilot = [9.0, 11.0]  # mean 10, S = sqrt(2)
    # absolute 1: i = 10 gives t9 sqrt(2/10) = 2.2622 * 0.4472 = 1.0117 > 1;
    #             i = 11 gives t10 sqrt(2/11) = 2.2281 * 0.4264 = 0.9501 <= 1.
    assert replications_needed(pilot, absolute=1.0) == 11
    # relative 0.1: gamma' = 0.1 / 1.1, target 0.9091; i = 11: 0.9501 > 0.9091;
    #               i = 12: t11 sqrt(2/12) = 2.2010 * 0.4082 = 0.8986 <= 0.9091.
    assert replications_needed(pilot, relative=0.1) == 12
    assert replications_needed(pilot, absolute=100.0) == 2  # the pilot is enough
    assert replications_needed([5.0, 5.0, 5.0], absolute=0.1) == 3  # no variance
    with pytest.raises(ValueError):
        replications_needed(pilot)
    with pytest.raises(ValueError):
        replications_needed([1.0], absolute=1.0)
    with pytest.raises(ValueError, match="non-zero mean"):
        replications_needed([-1.0, 1.0], relative=0.1)


def test_sequential_stop():
    # Alternating 9, 11: S^2(i) about 1.1, mean about 10; the relative half-width falls below
    # gamma' = 0.05 / 1.05 = 0.0476 when t_{i-1} S / sqrt(i) <= 0.476.
    v = np.tile([9.0, 11.0], 30)
    i = sequential_stop(v, relative=0.05, n0=10)
    assert i is not None and 10 <= i <= 60
    g = 0.05 / 1.05
    assert half_width(v[:i]) / abs(v[:i].mean()) <= g
    assert half_width(v[:i - 1]) / abs(v[:i - 1].mean()) > g or i == 10
    assert sequential_stop(v[:12], relative=0.001, n0=10) is None
