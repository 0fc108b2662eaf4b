"""Streamed records: demand drawn in chunks, record chunks to sinks, KPIs from running aggregates.

* The same seed gives the same incidents whatever the chunk size or process.
* A replication's tables do not depend on the chunk size; records written to Parquet equal the
  tables kept in memory.
* The aggregates over chunks equal :func:`oracle.replication_kpis` (tests/oracle.py) of the whole
  table (counts and shares exactly, means to rounding, quantiles within the histogram's bin width).
* Memory holds a few chunks, not the run.
"""

from __future__ import annotations

import json
import math
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import oracle
import pandas as pd
import pytest
from conftest import MET_BASELINE, SCENARIOS

from dronesim.engine import aggregates, records
from dronesim.engine.aggregates import LogLinearBins
from dronesim.engine.replication import prepare, run_replication
from dronesim.engine.sinks import NullSink, ParquetSink
from dronesim.errors import InputError
from dronesim.inputs.demand import WEEK_S, demand_chunks, generate_incidents
from dronesim.inputs.scenario import load_scenario
from dronesim.inputs.streams import Streams
from dronesim.kpis import statistics as metrics

DAY = 86_400.0
COLS = ("t_call", "x", "y", "borough", "service", "priority", "suited", "handling_s",
        "turnout_s", "travel_factor", "ground_on_scene_s", "drone_loiter_s")


@pytest.fixture(scope="module")
def three():
    scn = load_scenario(SCENARIOS / "london_three_services.toml",
                        {"simulation": {"weeks": 1.6, "warmup_hours": 12}})
    return prepare(scn)


def _same(a, b) -> None:
    assert len(a) == len(b)
    for c in COLS:
        np.testing.assert_array_equal(getattr(a, c), getattr(b, c), err_msg=c)


def _incidents(prep, rep: int = 0):
    return generate_incidents(prep.scenario, prep.london, Streams(prep.scenario.simulation.seed,
                                                                  rep), prep.horizon_s)


@pytest.mark.parametrize("chunk_s", [DAY, 3.5 * DAY, WEEK_S, 10 * DAY, 100 * WEEK_S])
def test_same_incidents_whatever_the_chunk_size(three, chunk_s):
    whole = _incidents(three)
    chunks = list(demand_chunks(three.scenario, three.london,
                                Streams(three.scenario.simulation.seed, 0), three.horizon_s,
                                chunk_s=chunk_s))
    assert chunks[-1][1] == math.inf
    for (inc, until), k in zip(chunks, range(len(chunks))):
        if len(inc):  # each chunk holds its own slice of simulated time
            assert inc.t_call.min() >= k * chunk_s and inc.t_call.max() < until
    joined = chunks[0][0]
    for inc, _ in chunks[1:]:
        joined = joined.take(np.arange(len(joined)))
        joined = type(joined)(**{c: np.concatenate([getattr(joined, c), getattr(inc, c)])
                                 for c in COLS}, service_names=inc.service_names)
    _same(joined, whole)


def _draw(args):
    scn_dict, source, rep = args
    from dronesim.inputs.scenario import scenario_from_dict

    scn = scenario_from_dict(scn_dict, source=source)
    prep = prepare(scn)
    return _incidents(prep, rep)


def test_same_incidents_in_another_process(three):
    from dronesim.inputs.scenario import scenario_to_dict

    with ProcessPoolExecutor(max_workers=1) as pool:
        other = pool.submit(_draw, (scenario_to_dict(three.scenario), three.scenario.source,
                                    1)).result()
    _same(other, _incidents(three, 1))


def test_a_week_does_not_depend_on_the_horizon(three):
    # Each week draws from its own streams: a longer run starts with the same incidents.
    longer = prepare(three.scenario.replace(simulation=three.scenario.simulation.__class__(
        weeks=3.0, warmup_hours=12, replications=1, seed=three.scenario.simulation.seed)))
    a, b = _incidents(three), _incidents(longer)
    n = int(np.searchsorted(a.t_call, WEEK_S))
    assert n > 0
    _same(a.take(np.arange(n)), b.take(np.arange(n)))
    assert not np.array_equal(_incidents(three, 0).t_call[:50], _incidents(three, 1).t_call[:50])


def test_tables_do_not_depend_on_the_chunk_size(three):
    week = run_replication(three, 0)
    day = run_replication(three, 0, chunk_s=DAY)
    pd.testing.assert_frame_equal(week.incidents, day.incidents)
    pd.testing.assert_frame_equal(week.missions, day.missions)
    # KPIs alike: sums accumulated over other chunks differ only by rounding.
    _alike(week.kpis, day.kpis, "kpis")


def _alike(a, b, path: str) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _alike(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _alike(x, y, f"{path}[{k}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12), path
    else:
        assert a == b, path


def test_given_incidents_replace_the_generated_ones(three):
    inc = _incidents(three)
    a = run_replication(three, 0)
    b = run_replication(three, 0, incidents=inc)
    pd.testing.assert_frame_equal(a.incidents, b.incidents)
    # A different set: only those incidents are simulated.
    few = inc.take(np.arange(0, len(inc), 7))
    c = run_replication(three, 0, incidents=few)
    assert len(c.incidents) == len(few)
    np.testing.assert_array_equal(c.incidents["t_call"], few.t_call)


def test_parquet_sink_equals_memory_tables(three, tmp_path):
    mem = run_replication(three, 0, chunk_s=2 * DAY)
    sink = ParquetSink(tmp_path / "inc.parquet", tmp_path / "mis.parquet")
    streamed = run_replication(three, 0, sink=sink, chunk_s=2 * DAY)
    assert streamed.incidents is None and streamed.missions is None
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "inc.parquet"), mem.incidents)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "mis.parquet"), mem.missions)
    _alike(streamed.kpis, mem.kpis, "kpis")
    assert streamed.n_incidents == len(mem.incidents)


def test_parquet_sink_in_a_folder(tiny_scenario, tmp_path):
    prep = prepare(tiny_scenario())
    run_replication(prep, 0, sink=ParquetSink(tmp_path / "out"))
    mem = run_replication(prep, 0)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "incidents.parquet"),
                                  mem.incidents)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "missions.parquet"),
                                  mem.missions)
    run_replication(prep, 0, sink=ParquetSink(tmp_path / "records.parquet"))
    assert len(pd.read_parquet(tmp_path / "records_missions.parquet")) == len(mem.missions)


def test_parquet_sink_types_an_empty_mission_file(tiny_scenario, tmp_path):
    prep = prepare(tiny_scenario(services={"police": {"drone_suited_share": [0.0, 0.0]}}))
    sink = ParquetSink(tmp_path / "inc.parquet", tmp_path / "mis.parquet")
    run_replication(prep, 0, sink=sink)
    mis = pd.read_parquet(tmp_path / "mis.parquet")
    full = run_replication(prepare(tiny_scenario()), 0).missions
    # (Parquet keeps no categories of an empty categorical column, as DataFrame.to_parquet.)
    assert len(mis) == 0 and list(mis.columns) == list(full.columns)
    assert [str(t) if str(t) != "category" else "category" for t in mis.dtypes] == \
        [str(t) if str(t) != "category" else "category" for t in full.dtypes]


# --- aggregates against the whole table ------------------------------------------------------

def _close(agg, ref, path: str, bins: LogLinearBins) -> None:
    if isinstance(ref, dict):
        assert set(agg) >= set(ref), path
        for k in ref:
            _close(agg[k], ref[k], f"{path}.{k}", bins)
        return
    if isinstance(ref, float) and math.isnan(ref):
        assert isinstance(agg, float) and math.isnan(agg), (path, agg)
        return
    if path.endswith((".median", ".p90")):
        lo, width = bins.edges(bins.index(np.array([ref])))
        assert abs(agg - ref) <= width[0] + 1e-9, (path, agg, ref, width)
        return
    if isinstance(ref, bool) or isinstance(ref, int | np.integer):
        assert agg == ref, (path, agg, ref)
        return
    assert agg == pytest.approx(ref, rel=1e-12, abs=1e-12), (path, agg, ref)


def _reference_kpis(res, prep):
    k = oracle.replication_kpis(res.incidents, res.missions, warmup_s=res.warmup_s,
                                 horizon_s=res.horizon_s, fleet_size=res.fleet_size,
                                 pilots=res.pilots)
    by = {}
    for name in prep.scenario.services:
        inc = res.incidents[res.incidents["service"] == name]
        mis = res.missions[res.missions["service"] == name]
        by[name] = oracle.replication_kpis(inc, mis, warmup_s=res.warmup_s,
                                            horizon_s=res.horizon_s,
                                            fleet_size=res.fleet_size, pilots=res.pilots)
    return k, by


@pytest.mark.parametrize("case", ["three", "busy"])
def test_aggregates_equal_kpis_of_the_whole_table(three, case):
    if case == "three":
        prep = three
    else:  # queues, abandonments and pilot waits
        prep = prepare(load_scenario(MET_BASELINE, {
            "simulation": {"weeks": 0.4, "warmup_hours": 6},
            "services": {"police": {"drone_suited_share": [1.0, 0.2]}}}))
    res = run_replication(prep, 0, chunk_s=DAY)
    bins = LogLinearBins()
    ref, by = _reference_kpis(res, prep)
    _close(res.kpis, ref, "kpis", bins)
    for name in prep.scenario.services:
        _close(res.kpis["by_service"][name], by[name], f"by_service.{name}", bins)
    assert res.kpis["drone"]["n"] > 20 and res.kpis["ground"]["n"] > 1000

    # Suited incidents reached within the target, overall, per service and per borough.
    w = metrics.in_window(res.incidents, res.warmup_s, res.horizon_s)
    within = prep.scenario.coverage.within_s
    hit = w["drone_suited"] & (w["drone_outcome"] == "on_scene") & (
        w["drone_response_s"] <= within)
    assert res.kpis["suited_within_target"] == hit[w["drone_suited"]].mean()
    rows = {r["gss_code"]: r for r in res.kpis["per_borough"]}
    weeks = (res.horizon_s - res.warmup_s) / WEEK_S
    for code, g in w.groupby("gss_code"):
        r = rows[code]
        on = g["drone_outcome"] == "on_scene"
        assert r["incidents_per_week"] == pytest.approx(len(g) / weeks, rel=1e-12)
        assert r["drone_deployments_per_week"] == pytest.approx(on.sum() / weeks, rel=1e-12)
        assert r["suited"] == int(g["drone_suited"].sum())
        gr = g["ground_response_s"].to_numpy()
        gr = gr[~np.isnan(gr)]
        assert r["ground"]["n"] == gr.size
        assert r["ground"]["mean"] == pytest.approx(gr.mean(), rel=1e-12)
        _close(r["ground"]["median"], float(np.median(gr)), "borough.median", bins)
        if on.any():
            dr = g.loc[on, "drone_response_s"].to_numpy()
            assert r["drone"]["mean"] == pytest.approx(dr.mean(), rel=1e-12)
            assert r["p_drone_first"] == (dr < g.loc[on, "ground_response_s"]).mean()


def test_histogram_quantiles_within_one_bin():
    rng = np.random.default_rng(3)
    bins = LogLinearBins()
    for v in (rng.exponential(100, 501), rng.lognormal(7, 1, 2000), np.array([5.0]),
              np.array([0.0, 0.0, 3000.0]), rng.uniform(0, 5e6, 999)):
        h = np.bincount(bins.index(v), minlength=bins.n)
        for q in (0.5, 0.9, 0.0, 1.0):
            want = float(np.quantile(v, q))
            got = bins.quantile(h, q)
            # one bin of the values interpolated between (the larger of the two)
            width = bins.edges(bins.index(np.array([want])))[1][0]
            assert abs(got - want) <= 2 * width, (q, got, want)
    # The stated resolution: 0.5 s below 1,024 s, at most 1/1,024 of the value above.
    lo, w = bins.edges(np.arange(bins.n))
    assert w[lo < 1024].max() == 0.5
    assert (w[lo >= 1024] / lo[lo >= 1024]).max() <= 1 / 1024 + 1e-12
    np.testing.assert_array_equal(bins.index(lo[:-1] + w[:-1] / 2), np.arange(bins.n - 1))


def test_histograms_widen_as_higher_bins_are_hit(three, monkeypatch):
    """The histograms start narrow and widen (Aggregates._widen) when a higher bin is hit:
    started 8 bins wide (so that every chunk widens them) they give the KPIs of the default
    start, to the bit, and they end as wide as the highest bin hit, not all 31,744."""
    wide = run_replication(three, 0, chunk_s=DAY).kpis
    widths = []
    real = aggregates.Aggregates.kpis

    def kpis(self):
        widths.append({k: h.shape[1] for k, h in self.hist.items()})
        return real(self)

    monkeypatch.setattr(aggregates.Aggregates, "kpis", kpis)
    monkeypatch.setattr(aggregates, "HIST_WIDTH", 8)
    narrow = run_replication(three, 0, chunk_s=DAY).kpis
    assert json.dumps(narrow, sort_keys=True) == json.dumps(wide, sort_keys=True)
    bins = LogLinearBins()
    assert all(8 < w < bins.n for w in widths[0].values()), widths


def test_coded_string_columns_give_the_same_tables(three, monkeypatch):
    """gss_code and mutual_aid_from are built from their codes (MissionChunk.coded): the
    tables, and what pyarrow makes of them for Parquet, are those built from the strings."""
    coded = run_replication(three, 0, chunk_s=DAY)
    monkeypatch.setattr(records, "_STR_DTYPE", None)
    plain = run_replication(three, 0, chunk_s=DAY)
    assert coded.incidents.equals(plain.incidents)
    assert coded.missions.equals(plain.missions)
    assert (coded.incidents["gss_code"] != "").all()
    cols = ["gss_code", "mutual_aid_from"]
    import pyarrow as pa

    assert pa.Table.from_pandas(coded.incidents[cols]).schema.equals(
        pa.Table.from_pandas(plain.incidents[cols]).schema)


def test_fingerprints_tell_identical_incidents(three):
    a = run_replication(three, 0, sink=NullSink()).kpis["demand_fingerprint"]
    b = run_replication(three, 0, sink=NullSink(), chunk_s=DAY).kpis["demand_fingerprint"]
    c = run_replication(three, 1, sink=NullSink()).kpis["demand_fingerprint"]
    assert a == b
    assert set(a) == {"all", "police", "fire", "ambulance"}
    assert all(a[k] != c[k] for k in a)
    # More fire demand: fire's incidents differ, police's do not.
    scn = three.scenario
    fire = dict(scn.services)
    import dataclasses

    fire["fire"] = dataclasses.replace(fire["fire"], incidents_per_week=5000.0)
    d = run_replication(prepare(scn.replace(services=fire)), 0,
                        sink=NullSink()).kpis["demand_fingerprint"]
    assert d["police"] == a["police"] and d["fire"] != a["fire"] and d["all"] != a["all"]


def test_kpis_are_small(three):
    k = run_replication(three, 0, sink=NullSink()).kpis
    assert len(pickle.dumps(k)) < 20_000


def test_memory_holds_a_few_chunks_not_the_run(tiny_scenario):
    prep = prepare(tiny_scenario(simulation={"weeks": 3.0, "warmup_hours": 2.0}))
    res = run_replication(prep, 0, sink=NullSink(), chunk_s=DAY)
    per_day = res.n_incidents / (prep.horizon_s / DAY)
    assert res.n_incidents > 8000
    assert res.peak_held < 4 * per_day, (res.peak_held, per_day)


# --- no ground response --------------------------------------------------------------------

def test_ground_none_runs_drones_only(tiny_scenario):
    scn = tiny_scenario(drones={"loiter": "exponential", "loiter_mean_s": 300.0},
                        services={"police": {"ground": {"base": "none"}}})
    res = run_replication(prepare(scn), 0)
    df = res.incidents
    assert df["t_ground_arrival"].isna().all() and (df["ground_unit"] == -1).all()
    assert res.ground_units == {"police": 0}
    on = df["drone_outcome"] == "on_scene"
    assert on.sum() > 50
    assert set(df.loc[on, "drone_leave_reason"].astype(str)) <= {"task_done", "battery"}
    assert math.isnan(res.kpis["ground"]["mean"])


def test_ground_none_needs_exponential_loiter(tiny_scenario):
    with pytest.raises(InputError, match=r"services\.police\.ground\.base.*exponential"):
        tiny_scenario(services={"police": {"ground": {"base": "none"}}})


# --- observers: the caller (the runner) owns what counts the KPIs ---------------------------
class _Counter:
    """An observer of its own: counts the chunks and rows it is handed."""

    def __init__(self) -> None:
        self.shape = None
        self.rows = [0, 0]
        self.chunks = 0

    def start(self, shape) -> None:
        self.shape = shape

    def add_incidents(self, chunk) -> None:
        self.rows[0] += len(chunk)
        self.chunks += 1

    def add_missions(self, chunk) -> None:
        self.rows[1] += len(chunk)

    def kpis(self) -> dict:
        return {"counted_incidents": self.rows[0], "counted_missions": self.rows[1]}


def test_observers_receive_every_chunk_and_their_kpis_are_the_result(three):
    counter = _Counter()
    agg = aggregates.Aggregates(three)
    res = run_replication(three, 0, sink=NullSink(), observers=[agg, counter])
    assert counter.shape is not None and counter.shape.fleet_size == res.fleet_size
    assert counter.shape.pilots == res.pilots and agg.pilots == res.pilots
    assert counter.shape.ground_units == res.ground_units
    assert counter.rows == [res.n_incidents, res.n_missions] and counter.chunks > 1
    assert res.kpis["counted_incidents"] == res.n_incidents
    # The default observer is the running aggregates: the same KPIs, bit for bit.
    default = run_replication(three, 0, sink=NullSink())
    both = {k: v for k, v in res.kpis.items() if not k.startswith("counted_")}
    assert json.dumps(both, sort_keys=True) == json.dumps(default.kpis, sort_keys=True)


def test_without_observers_no_engine_kpi_is_counted(three):
    res = run_replication(three, 0, sink=NullSink(), observers=[])
    assert "drone" not in res.kpis and "by_service" not in res.kpis
    assert res.n_incidents > 0  # the records were still written


def test_the_runner_hands_the_aggregates_to_each_task(three):
    from dronesim.experiment.runner import task_observers

    watch = task_observers(three)
    assert [type(o) for o in watch] == [aggregates.Aggregates]
