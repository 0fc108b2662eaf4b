"""Fit the ground travel-time model (``travel_model = "fitted"``) to the LFB 2023 sample.

Usage:
    python scripts/fit_ground_travel.py              # fit on every month, write the table
    python scripts/fit_ground_travel.py --validate   # out-of-sample check, k-fold by month

Data (all derived, in ``data/``): ``calibration/lfb_travel_pairs.csv`` (incident, borough,
deploying station, straight-line distance, first-pump attendance), joined by ``incident_id`` to
``demand/lfb_incidents_2023.csv`` (call time, hence hour and weekday; incident coordinates) and
``sites/candidate_sites.csv`` (station coordinates); ``boroughs/thames.geojson`` gives the bank
of each end. Incidents with an attendance of 30 s or less are dropped (recording artefacts, as
in :func:`dronesim.experiment.calibration.fit_road_travel`).

Model (see :mod:`dronesim.inputs.travel`): attendance = c + h[hour bucket] x b[borough] x
(KW(d; a, v) + r x crossing). Fitted by least squares on the attendance in seconds (so that
means are unbiased): (1) c, a, v, r and the 48 hour factors with the borough factors fixed;
(2) each borough's factor by least squares given the rest, shrunk towards 1 (London) by
empirical Bayes with a method-of-moments between-borough variance; (1)-(2) repeated three
times. The hour factors are then rescaled to mean 1 over the sample (a, v absorb the scale).
The intercept c is turnout + a fixed road overhead: the table stores ``overhead_s = c - 79 s``,
79 s being LFB's average crew turnout (2015/16, urbs.london), the fire scenarios' ``turnout_s``.

Writes ``data/calibration/ground_travel_fit.json``. ``--validate`` fits on eleven months and
predicts the twelfth, for each month, through the engine's own travel function
(:meth:`FittedTravel.time_s`, station to incident at the call time), and prints per borough
the mean predicted and observed attendance, their correlation, the largest error and the
number of boroughs within 30 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dronesim.inputs.travel import (  # noqa: E402
    FIT_FILE,
    FittedTravel,
    _Banks,
    hour_of_week_bucket,
    kolesar_s,
)

#: LFB average crew turnout, 2015/16 (urbs.london; the fire scenarios' turnout_s).
LFB_TURNOUT_S = 79.0
#: Monday 2022-12-26 00:00: the replay's clock origin (scenarios/lfb_replay.toml).
CLOCK0 = pd.Timestamp("2022-12-26")


def load_pairs(data: Path) -> pd.DataFrame:
    """Station-incident pairs with call time (s from a Monday), month, both ends and banks."""
    pairs = pd.read_csv(data / "calibration" / "lfb_travel_pairs.csv")
    inc = pd.read_csv(data / "demand" / "lfb_incidents_2023.csv",
                      usecols=["incident_id", "call_time", "x", "y"])
    st = pd.read_csv(data / "sites" / "candidate_sites.csv", usecols=["site_id", "x", "y"])
    df = pairs.merge(inc, on="incident_id", how="inner")
    df = df.merge(st.rename(columns={"site_id": "station_site_id", "x": "sx", "y": "sy"}),
                  on="station_site_id", how="inner")
    df = df[df["first_pump_s"] > 30].reset_index(drop=True)
    call = pd.to_datetime(df["call_time"])
    df["t"] = (call - CLOCK0).dt.total_seconds()
    df["month"] = call.dt.month
    banks = _Banks(str(data))
    df["cross"] = (banks.of_many(df["sx"], df["sy"]) != banks.of_many(df["x"], df["y"])
                   ).astype(float)
    df["bucket"] = hour_of_week_bucket(df["t"].to_numpy())
    return df


def fit(df: pd.DataFrame, free_intercept: bool = False) -> dict:
    """The fitted table from a set of pairs (module docstring). The intercept is LFB's
    published crew turnout unless ``free_intercept``."""
    y = df["first_pump_s"].to_numpy(float)
    d = df["distance_m"].to_numpy(float)
    cross = df["cross"].to_numpy(float)
    k = df["bucket"].to_numpy(np.int64)
    codes = sorted(df["gss_code"].unique())
    j = df["gss_code"].map({c: n for n, c in enumerate(codes)}).to_numpy(np.int64)
    b = np.ones(len(codes))
    p0 = np.concatenate([[150.0, np.log(0.5), np.log(12.0), 30.0], np.zeros(47)])

    def parts(p: np.ndarray) -> tuple[float, float, float, float, np.ndarray]:
        h = np.exp(np.concatenate([[0.0], p[4:]]))
        c = p[0] if free_intercept else LFB_TURNOUT_S
        return c, float(np.exp(p[1])), float(np.exp(p[2])), p[3], h

    for _ in range(3):
        def resid(p: np.ndarray, bj: np.ndarray) -> np.ndarray:
            c, a, v, r, h = parts(p)
            return c + h[k] * bj * (kolesar_s(d, a, v) + r * cross) - y

        sol = least_squares(resid, p0, method="trf", args=(b[j],))
        p0 = sol.x
        c, a, v, r, h = parts(p0)
        drive = h[k] * (kolesar_s(d, a, v) + r * cross)
        sigma2 = float(np.mean(sol.fun ** 2))
        num = np.bincount(j, (y - c) * drive, len(codes))
        den = np.bincount(j, drive * drive, len(codes))
        raw = num / den
        var = sigma2 / den
        tau2 = max(0.0, float(np.mean((raw - 1.0) ** 2 - var)))
        b = 1.0 + (raw - 1.0) * tau2 / (tau2 + var)
    c, a, v, r, h = parts(p0)
    s = float(np.mean(h[k]))  # rescale: hour factors of mean 1, a and v absorb the scale
    h, a, v = h / s, a / (s * s), v / s
    pred = c + h[k] * b[j] * (kolesar_s(d, a, v) + r * cross)
    ratio = y / pred
    bands = [0, 1000, 2000, 3000, 5000, np.inf]
    cv_by_band = {}
    for lo, hi in zip(bands[:-1], bands[1:]):
        m = (d >= lo) & (d < hi)
        cv_by_band[f"{lo:g}-{hi:g}"] = round(float(ratio[m].std() / ratio[m].mean()), 3)
    return {
        "model": "attendance = turnout + overhead_s + hour_factor[bucket] x "
                 "borough_factor[gss] x (kolesar(d; accel_m_s2, cruise_m_s) + river_s x crossing)",
        "source": "data/calibration/lfb_travel_pairs.csv (LFB 2023 sample, deploying station); "
                  "scripts/fit_ground_travel.py",
        "n": int(y.size),
        "intercept_s": round(float(c), 2),
        "turnout_s": LFB_TURNOUT_S,
        "overhead_s": round(float(c) - LFB_TURNOUT_S, 2),
        "accel_m_s2": round(a, 5),
        "cruise_m_s": round(v, 4),
        "critical_distance_m": round(v * v / a, 1),
        "river_s": round(float(r), 2),
        "hour_factor": [round(float(x), 4) for x in h],
        "borough_factor": {cd: round(float(x), 4) for cd, x in zip(codes, b)},
        "between_borough_sd": round(float(np.sqrt(tau2)), 4),
        "residual_cv": round(float(ratio.std() / ratio.mean()), 3),
        "residual_cv_by_distance_m": cv_by_band,
        "rmse_s": round(float(np.sqrt(np.mean((y - pred) ** 2))), 1),
    }


def predict(table: dict, df: pd.DataFrame, data: Path) -> np.ndarray:
    """Attendance through the engine's travel function: turnout + time_s(station -> incident)."""
    from dronesim.inputs.geography import load_london

    codes = tuple(load_london(data).borough_codes)
    model = FittedTravel(table, data, codes)
    index = {c: n for n, c in enumerate(codes)}
    bor = df["gss_code"].map(index).fillna(-1).to_numpy(np.int64)
    drive = model.time_s(df["sx"].to_numpy(), df["sy"].to_numpy(), df["x"].to_numpy(),
                         df["y"].to_numpy(), df["t"].to_numpy(), 1.0, bor)
    return LFB_TURNOUT_S + drive


def validate(df: pd.DataFrame, data: Path) -> pd.DataFrame:
    """Out-of-fold predictions (each month predicted by a fit on the other eleven), per
    borough: n, observed and predicted mean attendance and their difference."""
    pred = np.full(len(df), np.nan)
    for m in sorted(df["month"].unique()):
        test = df["month"] == m
        table = fit(df[~test])
        pred[test.to_numpy()] = predict(table, df[test], data)
    out = df.assign(pred=pred)
    names = pd.read_csv(data / "calibration" / "lfb_attendance_by_borough.csv")
    name_col = "name" if "name" in names.columns else names.columns[1]
    label = dict(zip(names["gss_code"], names[name_col]))
    g = out.groupby("gss_code").agg(n=("pred", "size"), observed_s=("first_pump_s", "mean"),
                                    predicted_s=("pred", "mean"),
                                    sd=("first_pump_s", "std")).reset_index()
    g.insert(1, "borough", g["gss_code"].map(label))
    g["error_s"] = g["predicted_s"] - g["observed_s"]
    g["se_s"] = g["sd"] / np.sqrt(g["n"])
    return g.drop(columns="sd")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / "data")
    ap.add_argument("--validate", action="store_true",
                    help="out-of-sample check by month (writes nothing)")
    args = ap.parse_args(argv)
    df = load_pairs(args.data)
    if args.validate:
        g = validate(df, args.data)
        r = float(np.corrcoef(g["observed_s"], g["predicted_s"])[0, 1])
        worst = g.loc[g["error_s"].abs().idxmax()]
        within = int((g["error_s"].abs() <= 30).sum())
        print("Fire: first-pump attendance per borough, out of sample (12 folds by month)")
        print(f"{'borough':24s} {'n':>5s} {'observed s':>10s} {'predicted s':>11s} "
              f"{'error s':>8s} {'SE s':>5s}")
        for row in g.sort_values("borough").itertuples():
            print(f"{row.borough:24s} {row.n:5d} {row.observed_s:10.1f} {row.predicted_s:11.1f} "
                  f"{row.error_s:+8.1f} {row.se_s:5.1f}")
        all_obs = float(df["first_pump_s"].mean())
        print(f"London: observed mean {all_obs:.1f} s over {len(df):,} incidents")
        print(f"correlation r = {r:.3f}; max |error| {abs(worst.error_s):.1f} s "
              f"({worst.borough}); within 30 s: {within} of {len(g)}; beyond 2 SE: "
              f"{int((g['error_s'].abs() > 2 * g['se_s']).sum())}")
        return 0
    table = fit(df)
    target = args.data / FIT_FILE
    target.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}: n={table['n']}, intercept {table['intercept_s']} s, a "
          f"{table['accel_m_s2']} m/s2, v {table['cruise_m_s']} m/s, d_c "
          f"{table['critical_distance_m']} m, river {table['river_s']} s, residual cv "
          f"{table['residual_cv']}, rmse {table['rmse_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
