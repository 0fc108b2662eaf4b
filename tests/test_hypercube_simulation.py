"""The simulator against Larson's hypercube model (dronesim.theory.queueing.hypercube).

Three docks of one drone each, zero flight time, exponential time on scene and nearest-idle
dispatch make dronesim a hypercube queueing system with distinguishable servers
(dronesim.theory.verification.hypercube_scenario). Each drone's workload and share of
dispatches, the share of calls that wait (or are lost) and the mean flight distance must match
the exact model within the replication intervals. With nine figures judged at once, each
interval is a Bonferroni interval (family-wise 95%), so a correct model fails this test with
probability at most 5% over seeds, and the fixed seed makes it deterministic.

The intervals are also checked to be narrow enough to reject the naive model in which each
drone serves its own district (its nearest calls) as if the others were always free.
"""

from __future__ import annotations

import numpy as np
import pytest

from dronesim import run_scenario
from dronesim.theory.verification import hypercube_check, hypercube_scenario

# Central London, Stratford and Ealing (EPSG:27700): Charing Cross lies between the other two,
# so four of the six preference orders occur and the three districts differ in size.
DOCKS = [("Charing Cross", 530_100.0, 180_500.0), ("Stratford", 538_500.0, 184_300.0),
         ("Ealing", 517_900.0, 180_600.0)]


@pytest.mark.parametrize("queue, load", [("infinite", 0.6), ("loss", 0.8)])
def test_simulation_matches_hypercube(queue, load):
    scn = hypercube_scenario(DOCKS, load, queue=queue, replications=10, weeks=1.5)
    res = run_scenario(scn, workers=1)
    n_fig = 9 if queue == "infinite" else 8
    chk = hypercube_check(res, confidence=1 - 0.05 / n_fig)
    t = chk.table
    assert len(t) == n_fig
    outside = t[~t["within_ci"]]
    assert outside.empty, f"outside the intervals:\n{outside.to_string()}"
    # Every call was suited and in range; each drone saw thousands of dispatches.
    assert chk.atoms.unreached_share == 0.0
    assert len(chk.atoms.preferences) == 4
    # The intervals are narrow enough to mean something: the naive district shares lie outside
    # them, and workloads are pinned to within 3 percentage points.
    shares = t[t["figure"].str.startswith("share of dispatches")]
    naive = chk.atoms.first_choice_shares(3)
    assert ((naive < shares["ci_low"].to_numpy()) | (naive > shares["ci_high"].to_numpy())).any()
    work = t[t["figure"].str.startswith("workload")]
    assert (work["ci_high"] - work["ci_low"]).max() < 0.06
    # And the model is not trivially symmetric.
    assert np.ptp(chk.model.workloads) > 0.03
