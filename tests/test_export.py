"""The GeoPackage export, read back with pyogrio: layers per kind of results folder, CRS
EPSG:27700, incidents snapped to the grid, borough figures equal to summary.json, coverage the
reach computed for the target time (not a fixed radius), sites per sweep step, and the output
rules (foreign folders and files refused, nothing half-written)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from dronesim.errors import InputError
from dronesim.outputs.geopackage import ABOUT_LAYER, export_geopackage


@pytest.fixture(scope="module")
def packages(results_folders, tmp_path_factory):
    root = tmp_path_factory.mktemp("gpkg")
    return {kind: export_geopackage(results_folders[kind], root / f"{kind}.gpkg")
            for kind in ("run", "sweep", "compare")}


def _layers(path) -> dict[str, str | None]:
    return {str(n): (None if g is None else str(g)) for n, g in pyogrio.list_layers(path)}


EXPECTED = {
    "run": {"boroughs", "docks", "coverage", "flight_range", "incidents", "no_fly_zones",
            "exposure", ABOUT_LAYER},
    "sweep": {"boroughs", "sites", "coverage", "flight_range", "no_fly_zones", ABOUT_LAYER},
    "compare": {"boroughs", "docks", "coverage", "flight_range", "no_fly_zones", ABOUT_LAYER},
}


@pytest.mark.parametrize("kind", ["run", "sweep", "compare"])
def test_layers_and_crs(packages, kind):
    layers = _layers(packages[kind])
    assert set(layers) == EXPECTED[kind]
    assert layers[ABOUT_LAYER] is None  # an attribute table
    for name, geom in layers.items():
        if geom is None:
            continue
        info = pyogrio.read_info(packages[kind], layer=name)
        assert info["crs"] == "EPSG:27700", name
        assert info["features"] > 0, name
    about = pyogrio.read_dataframe(packages[kind], layer=ABOUT_LAYER)
    kv = dict(zip(about["key"], about["value"]))
    assert kv["kind"] == kind and kv["crs"] == "EPSG:27700"
    assert any(k.startswith("attribution:") for k in kv)


def test_incidents_snapped_to_the_grid(packages, results_folders):
    inc = pyogrio.read_dataframe(packages["run"], layer="incidents")
    x, y = inc.geometry.x.to_numpy(), inc.geometry.y.to_numpy()
    assert np.allclose(np.mod(x, 100.0), 50.0) and np.allclose(np.mod(y, 100.0), 50.0)
    assert set(inc["replication"]) == {0}
    assert "t_call" not in inc.columns and "call_hour" in inc.columns
    raw = pd.read_parquet(results_folders["run"] / "incidents.parquet",
                          columns=["replication", "t_call", "x", "y"])
    s = json.loads((results_folders["run"] / "summary.json").read_text())
    lo = s["warmup_hours"] * 3600
    hi = lo + s["weeks"] * 7 * 86400
    raw = raw[(raw["replication"] == 0) & (raw["t_call"] >= lo) & (raw["t_call"] < hi)]
    assert len(inc) == len(raw)
    # The points are the incidents' own cell centres (as multisets of eastings and northings).
    for got, col in ((x, "x"), (y, "y")):
        want = (np.floor(raw[col].to_numpy() / 100) + 0.5) * 100
        assert np.allclose(np.sort(got), np.sort(want))


def test_grid_size_option(results_folders, tmp_path):
    out = export_geopackage(results_folders["run1"], tmp_path / "g.gpkg", grid_m=250.0)
    inc = pyogrio.read_dataframe(out, layer="incidents")
    assert np.allclose(np.mod(inc.geometry.x, 250.0), 125.0)
    assert np.allclose(np.mod(inc.geometry.y, 250.0), 125.0)
    for bad in (0.5, 0, -100, float("nan")):
        with pytest.raises(InputError, match="grid"):
            export_geopackage(results_folders["run1"], tmp_path / "h.gpkg", grid_m=bad)
    assert not (tmp_path / "h.gpkg").exists()


def test_all_replications_option(results_folders, tmp_path):
    out = export_geopackage(results_folders["run"], tmp_path / "a.gpkg", all_replications=True)
    inc = pyogrio.read_dataframe(out, layer="incidents", read_geometry=False,
                                 columns=["replication"])
    assert set(inc["replication"]) == {0, 1}


def test_borough_figures_equal_the_summary(packages, results_folders):
    s = json.loads((results_folders["run"] / "summary.json").read_text())
    b = pyogrio.read_dataframe(packages["run"], layer="boroughs").set_index("gss_code")
    assert len(b) == 33
    for r in s["per_borough"]:
        row = b.loc[r["gss_code"]]
        assert row["name"] == r["name"]
        if r["ground_response_s"]:
            assert row["ground_mean_s"] == pytest.approx(r["ground_response_s"]["mean"])
            assert not row["no_incidents"]
        else:
            assert row["no_incidents"] and math.isnan(row["ground_mean_s"])
        d = r["drone_response_s"]
        if d and d["n"]:
            assert row["drone_mean_s"] == pytest.approx(d["mean"])
        assert row["coverage_population_share"] == pytest.approx(
            r["coverage_population_share"])
    assert bool(b.loc["E09000001", "no_incidents"])  # City of London: policed by the City


def test_coverage_is_the_reach_within_the_target(packages, results_folders):
    s = json.loads((results_folders["run"] / "summary.json").read_text())
    cov = pyogrio.read_dataframe(packages["run"], layer="coverage")
    rng = pyogrio.read_dataframe(packages["run"], layer="flight_range")
    docks = pyogrio.read_dataframe(packages["run"], layer="docks")
    assert cov["reach_m"].iloc[0] == pytest.approx(s["coverage"]["radius_m"]) == 1400.0
    assert cov["population_share"].iloc[0] == pytest.approx(s["coverage"]["population_share"])
    assert rng["range_m"].iloc[0] == 2000.0
    fp = cov.geometry.iloc[0]
    # Every point of the footprint lies within the reach of a dock, and it is smaller than the
    # flight-range area (the reach within 2:00 is 1.4 km, the range 2 km).
    pts = shapely.points(shapely.get_coordinates(fp.boundary))
    d = np.min([shapely.distance(pts, p) for p in docks.geometry], axis=0)
    assert d.max() <= 1400.0 + 1.0
    assert fp.area < 0.6 * rng.geometry.iloc[0].area
    assert set(docks["name"]) == {"Islington", "West End", "Hyde Park"}
    assert docks["drones"].sum() == 9


def test_sweep_sites_and_coverage_per_step(packages, results_folders):
    s = json.loads((results_folders["sweep"] / "summary.json").read_text())
    sites = pyogrio.read_dataframe(packages["sweep"], layer="sites")
    csv = pd.read_csv(results_folders["sweep"] / "sites.csv")
    assert sites.groupby("step").size().tolist() == csv.groupby("step").size().tolist()
    assert np.allclose(sites.geometry.x, csv["x"]) and np.allclose(sites.geometry.y, csv["y"])
    cov = pyogrio.read_dataframe(packages["sweep"], layer="coverage").sort_values("step")
    assert cov["fleet_size"].tolist() == [st["fleet_size"] for st in s["steps"]]
    for row, st in zip(cov.itertuples(), s["steps"]):
        assert row.population_share == pytest.approx(st["population_share"], rel=1e-6)
        assert row.boroughs_covered == st["boroughs_covered"]
    b = pyogrio.read_dataframe(packages["sweep"], layer="boroughs")
    assert len(b) == 33 * len(s["steps"])


def test_compare_layers_per_scenario(packages, results_folders):
    s = json.loads((results_folders["compare"] / "summary.json").read_text())
    labels = [x["label"] for x in s["scenarios"]]
    docks = pyogrio.read_dataframe(packages["compare"], layer="docks")
    assert sorted(docks["scenario"].unique()) == sorted(labels)
    for x in s["scenarios"]:
        assert docks.loc[docks["scenario"] == x["label"], "drones"].sum() == x["fleet_size"]
    cov = pyogrio.read_dataframe(packages["compare"], layer="coverage")
    assert sorted(cov["scenario"]) == sorted(labels)


# ---------------------------------------------------------------------------------------------
# Output rules
# ---------------------------------------------------------------------------------------------


def test_refuses_a_folder_that_is_not_results(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="not a dronesim results folder") as err:
        export_geopackage(tmp_path, tmp_path / "out.gpkg")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_never_replaces_a_file_dronesim_did_not_write(results_folders, tmp_path):
    theirs = tmp_path / "theirs.gpkg"
    theirs.write_bytes(b"my data")
    with pytest.raises(InputError, match="not written by dronesim"):
        export_geopackage(results_folders["run1"], theirs)
    assert theirs.read_bytes() == b"my data"
    # A GeoPackage of someone else's (no dronesim_about table) is not replaced either.
    import geopandas as gpd

    other = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=27700).to_file(other)
    with pytest.raises(InputError, match="not written by dronesim"):
        export_geopackage(results_folders["run1"], other)
    assert _layers(other) == {"other": "Point"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.gpkg", "theirs.gpkg"]


def test_replaces_its_own_file(results_folders, tmp_path):
    out = tmp_path / "x.gpkg"
    export_geopackage(results_folders["run1"], out)
    export_geopackage(results_folders["sweep"], out)
    assert "sites" in _layers(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gpkg"]


def test_failure_leaves_nothing_half_written(results_folders, tmp_path, monkeypatch):
    import dronesim.outputs.geopackage as ex

    real = pyogrio.write_dataframe
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(pyogrio, "write_dataframe", flaky)
    with pytest.raises(OSError):
        ex.export_geopackage(results_folders["run1"], tmp_path / "y.gpkg")
    assert list(tmp_path.iterdir()) == []


def test_output_path_checks(results_folders, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        export_geopackage(results_folders["run1"], tmp_path / "missing" / "x.gpkg")
    (tmp_path / "dir.gpkg").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        export_geopackage(results_folders["run1"], tmp_path / "dir.gpkg")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        export_geopackage(results_folders["run1"], f / "x.gpkg")


def test_incident_table_as_one_file_or_parts(results_folders, tmp_path):
    import pyarrow.parquet as pq

    dst = tmp_path / "parts"
    shutil.copytree(results_folders["run1"], dst)
    # A run writes one Parquet part per replication; the same table as one file reads alike.
    table = pq.read_table(dst / "incidents.parquet")
    shutil.rmtree(dst / "incidents.parquet")
    pq.write_table(table, dst / "incidents.parquet")
    a = export_geopackage(results_folders["run1"], tmp_path / "a.gpkg")
    b = export_geopackage(dst, tmp_path / "b.gpkg")
    ia = pyogrio.read_dataframe(a, layer="incidents")
    ib = pyogrio.read_dataframe(b, layer="incidents")
    assert len(ia) == len(ib) > 0
    assert sorted(ia.geometry.x) == sorted(ib.geometry.x)


def test_exposure_layer_is_the_exposure_grid(packages, results_folders):
    from dronesim.outputs.exposure import results_exposure

    layer = pyogrio.read_dataframe(packages["run"], layer="exposure")
    grid = results_exposure(results_folders["run"]).grid
    assert len(layer) == len(grid) > 0
    np.testing.assert_allclose(layer["passes_per_week"], grid["passes_per_week"])
    np.testing.assert_allclose(layer.geometry.area, 100.0 * 100.0)
    np.testing.assert_allclose(layer.geometry.centroid.x, grid["x"])
