"""dronesim.theory.queueing against hand-computed and published values (no simulation here; the
simulation is checked against these functions in tests/test_queueing.py and the notebook
07_queueing_checks.ipynb)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dronesim.theory.queueing import erlang_b, erlang_c, hypercube, mmc, preference_atoms


def _erlang_b_direct(c: int, a: float) -> float:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def test_erlang_b_hand_values():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)  # a / (1 + a)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(3, 0.0) == 0.0
    # A published table value: 10 trunks offered 5 erlangs block 1.84% of calls.
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-6)
    for c, a in [(1, 0.3), (4, 2.5), (12, 9.0), (30, 25.0)]:
        assert erlang_b(c, a) == pytest.approx(_erlang_b_direct(c, a), rel=1e-12)


def test_erlang_b_large_systems_do_not_overflow():
    # 500 servers at 480 erlangs: a**c / c! overflows a float; the recurrence does not.
    b = erlang_b(500, 480.0)
    assert 0.0 < b < 0.05


def test_erlang_c_hand_values():
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1 waits with probability rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # c = 3, a = 2.1: top = a^3/3! * 3/(3-a) = 1.5435 * 3.3333 = 5.145;
    # sum_{k<3} a^k/k! = 1 + 2.1 + 2.205 = 5.305; C = 5.145 / 10.45 = 0.49234
    assert erlang_c(3, 2.1) == pytest.approx(5.145 / 10.45, rel=1e-9)
    with pytest.raises(ValueError, match="stable"):
        erlang_c(2, 2.0)
    with pytest.raises(ValueError, match="servers"):
        erlang_c(0, 0.5)


def test_mmc_figures():
    # M/M/1, lambda = 0.5, mu = 1: Wq = rho / (mu - lambda) = 1, Lq = 0.5, L = 1.
    q = mmc(0.5, 1.0, 1)
    assert (q.p_wait, q.mean_wait, q.mean_queue_length, q.mean_in_system) == pytest.approx(
        (0.5, 1.0, 0.5, 1.0))
    # The drone M/M/3 of tests/test_queueing.py: rho 0.7, 600 s service: Wq = 328.2 s.
    q = mmc(0.7 * 3 / 600, 600.0, 3)
    assert q.utilisation == pytest.approx(0.7)
    assert q.mean_wait == pytest.approx(328.2, abs=0.05)
    assert q.p_wait_longer_than(0.0) == pytest.approx(q.p_wait)
    assert q.p_wait_longer_than(600.0) == pytest.approx(q.p_wait * math.exp(-(3 - 2.1) / 600 * 600))
    assert sum(q.p_busy(n) for n in range(4)) == pytest.approx(1.0)
    assert q.p_busy(3) == pytest.approx(q.p_wait)  # PASTA: wait = all busy
    with pytest.raises(ValueError):
        mmc(1.0, 1.0, 1)


# ------------------------------------------------------------------------------------------
# Hypercube
# ------------------------------------------------------------------------------------------


def test_hypercube_two_servers_loss_hand_solved():
    """Two servers, atom A prefers (0, 1) at rate l1, atom B prefers (1, 0) at rate l2, mu 1.

    Balance equations (state: busy set): the number busy is Erlang's loss system, so
    P(none) = 1 / (1 + a + a^2/2), P(both) = a^2/2 P(none), P(one) = a P(none); subtracting the
    equations of {0} and {1}: (l + mu)(P{0} - P{1}) = (l1 - l2) P(none)."""
    l1, l2 = 0.9, 0.3
    lam, mu = l1 + l2, 1.0
    a = lam / mu
    p00 = 1 / (1 + a + a * a / 2)
    diff = (l1 - l2) / (lam + mu) * p00
    p10 = (a * p00 + diff) / 2  # server 0 busy only
    p01 = (a * p00 - diff) / 2
    p11 = a * a / 2 * p00
    h = hypercube([l1, l2], [(0, 1), (1, 0)], mean_service=1 / mu, queue="loss")
    np.testing.assert_allclose(h.state_probabilities, [p00, p10, p01, p11], rtol=1e-12)
    np.testing.assert_allclose(h.workloads, [p10 + p11, p01 + p11], rtol=1e-12)
    assert h.p_lost == pytest.approx(p11)  # both busy: any call is lost
    # Each server's throughput equals mu times its workload.
    np.testing.assert_allclose(h.dispatch.sum(axis=1) * lam, mu * h.workloads, rtol=1e-12)
    # Server 0 gets A's calls when free, and B's when 1 is busy and 0 free.
    assert h.dispatch[0, 0] == pytest.approx(l1 / lam * (p00 + p01))
    assert h.dispatch[0, 1] == pytest.approx(l2 / lam * p01)


def test_hypercube_two_servers_infinite_queue_hand_solved():
    """The same two servers with an infinite FCFS queue: the tail P(both, k waiting) =
    r^k P(both, none waiting), r = lambda / (2 mu), and the number busy is M/M/2."""
    l1, l2 = 0.9, 0.3
    lam, mu = l1 + l2, 1.0
    a = lam / mu
    r = lam / (2 * mu)
    p00 = 1 / (1 + a + a * a / 2 / (1 - r))
    diff = (l1 - l2) / (lam + mu) * p00
    p10, p01 = (a * p00 + diff) / 2, (a * p00 - diff) / 2
    p_full = a * a / 2 * p00 / (1 - r)
    h = hypercube([l1, l2], [(0, 1), (1, 0)], mean_service=1.0, queue="infinite")
    np.testing.assert_allclose(h.state_probabilities, [p00, p10, p01, p_full], rtol=1e-12)
    q = mmc(lam, 1.0, 2)
    assert h.p_wait == pytest.approx(q.p_wait)
    assert h.mean_wait == pytest.approx(q.mean_wait)
    assert h.dispatch.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(h.dispatch.sum(axis=1) * lam, mu * h.workloads, rtol=1e-12)


@pytest.mark.parametrize("queue", ["loss", "infinite"])
def test_hypercube_busy_count_is_erlang(queue):
    """With complete preference lists a call always takes a free server if there is one, so the
    number busy is the M/M/N (or M/M/N/N) birth-death chain, whatever the lists."""
    rng = np.random.default_rng(7)
    n, mean_service = 3, 600.0
    prefs = list(itertools.permutations(range(n)))
    rates = rng.uniform(0.1, 1.0, len(prefs))
    rates *= 0.65 * n / mean_service / rates.sum()
    lam = rates.sum()
    h = hypercube(rates, prefs, mean_service, queue=queue)
    a = lam * mean_service
    if queue == "loss":
        terms = np.array([a**k / math.factorial(k) for k in range(n + 1)])
        np.testing.assert_allclose(h.busy_count_probabilities(), terms / terms.sum(),
                                   rtol=1e-10)
        assert h.p_lost == pytest.approx(erlang_b(n, a))
    else:
        q = mmc(lam, mean_service, n)
        np.testing.assert_allclose(h.busy_count_probabilities(),
                                   [q.p_busy(k) for k in range(n + 1)], rtol=1e-10)
        assert h.mean_wait == pytest.approx(q.mean_wait)
    # Carried load: the workloads add up to the mean number busy.
    assert h.workloads.sum() == pytest.approx(
        (np.arange(n + 1) * h.busy_count_probabilities()).sum())
    # Every server's throughput is mu times its workload.
    np.testing.assert_allclose(h.dispatch.sum(axis=1) * lam, h.workloads / mean_service,
                               rtol=1e-10)
    # Asymmetric rates give unequal workloads (the point of the model).
    assert np.ptp(h.workloads) > 0.01


def test_hypercube_ordered_hunt_matches_erlang_overflow():
    """Every call hunts servers in the same order (0, 1, 2) in a loss system: server k carries
    a (B(k, a) - B(k+1, a)) erlangs, the classical ordered-hunting result (the overflow of the
    first k servers is the Erlang loss of k servers)."""
    a = 1.7
    h = hypercube([a], [(0, 1, 2)], mean_service=1.0, queue="loss")
    expect = [a * (erlang_b(k, a) if k else 1.0) - a * erlang_b(k + 1, a) for k in range(3)]
    np.testing.assert_allclose(h.workloads, expect, rtol=1e-10)


def test_hypercube_symmetric_servers_share_equally():
    prefs = list(itertools.permutations(range(3)))
    h = hypercube(np.full(6, 0.002 / 6), prefs, 600.0, queue="infinite")
    np.testing.assert_allclose(h.workloads, h.workloads[0])
    np.testing.assert_allclose(h.dispatch_fractions, 1 / 3)
    assert h.workloads[0] == pytest.approx(0.002 * 600 / 3)  # rho = a / N


def test_hypercube_partial_lists_loss_only():
    # Atom 1 can be served only by server 1: it loses calls whenever server 1 is busy.
    h = hypercube([0.5, 0.5], [(0, 1), (1,)], 1.0, queue="loss")
    p = h.state_probabilities
    lost = 0.5 * (p[3]) + 0.5 * (p[2] + p[3])  # atom 0: both busy; atom 1: server 1 busy
    assert h.p_lost == pytest.approx(lost)
    with pytest.raises(ValueError, match="every preference list"):
        hypercube([0.5, 0.5], [(0, 1), (1,)], 1.0, queue="infinite")
    with pytest.raises(ValueError, match="unstable"):
        hypercube([1.0, 1.0], [(0, 1), (1, 0)], 1.0, queue="infinite")
    with pytest.raises(ValueError, match="repeats"):
        hypercube([1.0], [(0, 0)], 1.0, queue="loss")


def test_hypercube_mean_travel():
    h = hypercube([0.5, 0.5], [(0, 1), (1, 0)], 1.0, queue="loss")
    travel = np.array([[1.0, 3.0], [3.0, 1.0]])
    f = h.dispatch
    assert h.mean_travel(travel) == pytest.approx((f * travel).sum() / f.sum())
    # Symmetric: own-district calls (travel 1) more often than cross calls (travel 3).
    assert 1.0 < h.mean_travel(travel) < 2.0


def test_preference_atoms():
    # Servers at x = 0 and x = 10; calls at x = 1, 2 (prefer 0), 8 (prefers 1), 30 (out of
    # range 25 for server 0, so only server 1).
    x = np.array([1.0, 2.0, 8.0, 30.0])
    atoms = preference_atoms(x, np.zeros(4), [0.0, 10.0], [0.0, 0.0], max_range=25.0)
    assert atoms.preferences == [(0, 1), (1,), (1, 0)]
    np.testing.assert_allclose(atoms.shares, [0.5, 0.25, 0.25])
    np.testing.assert_array_equal(atoms.counts, [2, 1, 1])
    np.testing.assert_allclose(atoms.mean_distance, [[1.5, 30.0, 8.0], [8.5, 20.0, 2.0]])
    assert atoms.unreached_share == 0.0
    far = preference_atoms(np.array([100.0, 1.0]), np.zeros(2), [0.0], [0.0], max_range=25.0)
    assert far.unreached_share == pytest.approx(0.5)


def test_first_choice_shares():
    x = np.array([1.0, 2.0, 8.0, 30.0])
    atoms = preference_atoms(x, np.zeros(4), [0.0, 10.0], [0.0, 0.0], max_range=25.0)
    np.testing.assert_allclose(atoms.first_choice_shares(), [0.5, 0.5])
