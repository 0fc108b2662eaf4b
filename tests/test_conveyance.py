"""Ambulance conveyance to hospital and handover (dronesim/engine/conveyance.py, issue 17)."""

from __future__ import annotations

import hashlib
import math
from statistics import NormalDist

import numpy as np
import pytest
from conftest import extends_baseline, run_cli, tiny_scenario_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from dronesim.engine.conveyance import (
    expected_busy_s,
    handover_lost_mean_s,
    handover_mean_s,
    lognormal_from_tail_shares,
)
from dronesim.engine.ground import borough_demand_share, units_per_borough
from dronesim.engine.replication import prepare, run_replication
from dronesim.inputs.demand import WEEK_S
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.inputs.sources import emergency_departments

AMB = {"incidents_per_week": 6000.0, "spatial_weight": "las", "time_profile": "flat",
       "priority_shares": [0.1, 0.9], "drone_suited_share": [0.1, 0.0],
       "ground": {"base": "patrol", "on_scene_mean_s": 3600.0, "staffing_utilisation": 0.5,
                  "travel_model": "straight"}}  # (the road model of the digest below)
NEW_COLS = ("t_hospital_arrival", "t_handover_end", "conveyed", "hospital")


def _scenario(ground: dict | None = None, **amb):
    a = {**AMB, **amb, "ground": {**AMB["ground"], **(ground or {})}}
    police = {"ground": {"travel_model": "straight"}}  # (the road model of the digest below)
    return scenario_from_dict(tiny_scenario_dict(services={"ambulance": a, "police": police}),
                              source="<tiny>")


def _run(scn):
    return run_replication(prepare(scn), 0)


def _digest(inc) -> str:
    h = hashlib.blake2b(digest_size=16)
    for c in inc.columns:
        if c not in NEW_COLS:
            h.update(c.encode())
            h.update(inc[c].astype(str).str.cat(sep="|").encode())
    return h.hexdigest()


#: The digest of this scenario's incident table (every column it had) computed with the code
#: before conveyance existed (commit 9da3026): conveyance off must leave every record as it was.
BEFORE = "c307d10da04e8eb6c5b38e8d4a79ea7c"


@pytest.mark.parametrize("ground", [{}, {"conveyance_share": []},
                                    {"conveyance_share": [0.0, 0.0],
                                     "handover_over_30min_share": 0.5}])
def test_off_leaves_every_record_as_before(ground):
    inc = _run(_scenario(ground)).incidents
    assert len(inc) == 1870
    assert _digest(inc) == BEFORE
    assert not inc["conveyed"].any() and (inc["hospital"] == -1).all()
    assert inc["t_hospital_arrival"].isna().all() and inc["t_handover_end"].isna().all()


DETERMINISTIC = {"conveyance_share": [1.0, 1.0], "call_handling_cv": 0.0, "travel_cv": 0.0,
                 "on_scene_cv": 0.0, "turnout_s": 45.0, "circuity": 1.4, "speed_m_s": 18.0}


@pytest.fixture(scope="module")
def all_conveyed():
    scn = _scenario(DETERMINISTIC)
    return scn, _run(scn)


def test_one_incident_timeline_by_hand(all_conveyed, london):
    scn, res = all_conveyed
    inc = res.incidents
    amb = inc[(inc["service"] == "ambulance") & inc["t_ground_dispatch"].notna()]
    r = amb.iloc[0]
    g = scn.services["ambulance"].ground
    eds = emergency_departments(london)
    ex, ey = eds["x"].to_numpy(), eds["y"].to_numpy()
    d_ed = np.hypot(ex - r["x"], ey - r["y"])
    h = int(np.argmin(d_ed))
    # Call handling and every variability off: dispatch = call + 155 s.
    assert r["t_ground_dispatch"] == pytest.approx(r["t_call"] + g.call_handling_mean_s)
    # Scene: dispatch + turnout + 1.4 x distance / 18 m/s; clear 3600 s later.
    assert r["t_ground_arrival"] == pytest.approx(
        r["t_ground_dispatch"] + 45.0 + 1.4 * r["ground_distance_m"] / 18.0)
    assert r["t_ground_clear"] == pytest.approx(r["t_ground_arrival"] + 3600.0)
    # Conveyed to the nearest ED by straight line, by the same road model without turnout.
    assert r["conveyed"] and r["hospital"] == h
    assert r["t_hospital_arrival"] == pytest.approx(r["t_ground_clear"] + 1.4 * d_ed[h] / 18.0)
    # Then the handover; the unit is free at the hospital when it ends.
    assert r["t_handover_end"] > r["t_hospital_arrival"]
    later = amb[(amb["ground_unit"] == r["ground_unit"])
                & (amb["t_ground_dispatch"] > r["t_ground_dispatch"])]
    if len(later):
        nxt = later.iloc[0]
        assert nxt["t_ground_dispatch"] >= r["t_handover_end"]
        assert nxt["ground_distance_m"] == pytest.approx(
            math.hypot(nxt["x"] - ex[h], nxt["y"] - ey[h]))


def test_every_next_job_starts_from_the_hospital(all_conveyed, london):
    _, res = all_conveyed
    inc = res.incidents
    eds = emergency_departments(london)
    ex, ey = eds["x"].to_numpy(), eds["y"].to_numpy()
    amb = inc[(inc["service"] == "ambulance") & inc["t_ground_dispatch"].notna()]
    pairs = 0
    for _, jobs in amb.sort_values("t_ground_dispatch").groupby("ground_unit"):
        prev = None
        for _, r in jobs.iterrows():
            if prev is not None:
                h = int(prev["hospital"])
                assert r["t_ground_dispatch"] >= prev["t_handover_end"] - 1e-9
                assert r["ground_distance_m"] == pytest.approx(
                    math.hypot(r["x"] - ex[h], r["y"] - ey[h]), abs=1e-6)
                pairs += 1
            prev = r
    assert pairs > 500
    police = inc[inc["service"] == "police"]
    assert not police["conveyed"].any() and police["t_handover_end"].isna().all()


def test_shares_by_priority_and_handover_tail_match_the_parameters():
    scn = _scenario({"conveyance_share": [0.8, 0.3]}, incidents_per_week=30_000.0)
    inc = _run(scn).incidents
    amb = inc[(inc["service"] == "ambulance") & inc["t_ground_dispatch"].notna()]
    for p, share in ((1, 0.8), (2, 0.3)):
        x = amb.loc[amb["priority"] == p, "conveyed"]
        sd = math.sqrt(share * (1 - share) / len(x))
        assert abs(x.mean() - share) < 4 * sd, (p, x.mean(), len(x))
    c = amb[amb["conveyed"]]
    hand = (c["t_handover_end"] - c["t_hospital_arrival"]).to_numpy()
    g = scn.services["ambulance"].ground
    n = hand.size
    assert n > 1500
    for limit, share in ((1800.0, g.handover_over_30min_share),
                         (3600.0, g.handover_over_60min_share)):
        assert abs((hand > limit).mean() - share) < 4 * math.sqrt(share * (1 - share) / n)
    mu, sigma = lognormal_from_tail_shares(0.2, 0.07)
    sd_mean = handover_mean_s(g) * math.sqrt(math.exp(sigma ** 2) - 1) / math.sqrt(n)
    assert abs(hand.mean() - handover_mean_s(g)) < 4 * sd_mean


@settings(max_examples=50, deadline=None)
@given(st.floats(0.02, 0.9), st.floats(0.05, 0.95))
def test_the_fitted_lognormal_has_both_tail_shares(p30, ratio):
    p60 = p30 * ratio
    mu, sigma = lognormal_from_tail_shares(p30, p60)
    tail = NormalDist(mu, sigma)
    assert 1 - tail.cdf(math.log(1800)) == pytest.approx(p30, rel=1e-9)
    assert 1 - tail.cdf(math.log(3600)) == pytest.approx(p60, rel=1e-9)


def test_published_figures_give_the_documented_handover():
    g = _scenario({"conveyance_share": [0.75, 0.55]}).services["ambulance"].ground
    mu, sigma = lognormal_from_tail_shares(0.20, 0.07)
    assert math.exp(mu) / 60 == pytest.approx(12.0, abs=0.05)  # median, min
    assert handover_mean_s(g) / 60 == pytest.approx(21.7, abs=0.05)
    # E[(T - 15 min)+] by formula against a large sample of the same lognormal.
    t = np.random.default_rng(1).lognormal(mu, sigma, 2_000_000)
    assert handover_lost_mean_s(g) == pytest.approx(np.maximum(t - 900.0, 0).mean(), rel=5e-3)


def test_handover_kpis_are_the_records_summed(all_conveyed):
    scn, res = all_conveyed
    k = res.kpis
    inc = res.incidents
    w = inc[(inc["t_call"] >= res.warmup_s) & (inc["t_call"] < res.horizon_s)
            & (inc["service"] == "ambulance")]
    weeks = (res.horizon_s - res.warmup_s) / WEEK_S
    hand = (w["t_handover_end"] - w["t_hospital_arrival"]).dropna()
    amb = k["by_service"]["ambulance"]
    assert amb["handover_hours_per_week"] == pytest.approx(hand.sum() / 3600 / weeks, rel=1e-9)
    assert amb["handover_lost_hours_per_week"] == pytest.approx(
        np.maximum(hand - 900.0, 0).sum() / 3600 / weeks, rel=1e-9)
    assert amb["conveyance_s"] == pytest.approx(
        (w["t_hospital_arrival"] - w["t_ground_clear"]).mean(), rel=1e-9)
    assert amb["conveyed_share"] == pytest.approx(w["conveyed"].mean())
    # Unit-time idle: busy from dispatch to the end of the handover, within the window.
    units = units_per_borough(scn.services["ambulance"], prepare(scn).london).sum()
    a = inc[inc["service"] == "ambulance"]
    busy = (np.minimum(a["t_handover_end"], res.horizon_s)
            - np.maximum(a["t_ground_dispatch"], res.warmup_s)).clip(lower=0).sum()
    span = res.horizon_s - res.warmup_s
    assert amb["ground_unit_availability"] == pytest.approx(1 - busy / (units * span), rel=1e-9)
    assert "conveyed_share" not in k["by_service"]["police"]


def test_staffing_counts_conveyance_and_handover(london):
    on = _scenario({"conveyance_share": [0.75, 0.55]}).services["ambulance"]
    off = _scenario().services["ambulance"]
    assert not expected_busy_s(off, london).any()
    extra = expected_busy_s(on, london)
    share = 0.1 * 0.75 + 0.9 * 0.55
    assert extra.min() > share * handover_mean_s(on.ground)  # plus the drive to the ED
    rate = on.incidents_per_week / WEEK_S * borough_demand_share(on, london)
    want = np.maximum(2, np.ceil(rate * (3600.0 + extra) / 0.5))
    assert (units_per_borough(on, london) == want).all()
    assert units_per_borough(on, london).sum() > units_per_borough(off, london).sum()


@pytest.mark.parametrize("ground, field, problem", [
    ('conveyance_share = [0.5, 1.5]', "services.ambulance.ground.conveyance_share",
     "within [0, 1]"),
    ('conveyance_share = [0.5]', "services.ambulance.ground.conveyance_share",
     "one share per priority (2); got 1"),
    ('handover_target_s = -60.0', "services.ambulance.ground.handover_target_s", ">= 0"),
    ('conveyance_share = [0.5, 0.5]\nhandover_over_60min_share = 0.3',
     "services.ambulance.ground.handover_over_60min_share", "below"),
])
def test_bad_input_is_one_line_naming_file_and_field(tmp_path, capsys, ground, field, problem):
    path = extends_baseline(tmp_path / "bad.toml", f"""
[services.ambulance]
priority_shares = [0.1, 0.9]
drone_suited_share = [0.1, 0.0]
[services.ambulance.ground]
{ground}
""")
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dronesim: error: {path}: {field}: ") and problem in lines[0]
