"""Malformed input of every kind: one line naming the file, the field and the problem; exit 2;
no traceback; nothing written anywhere (the folder tree is the same before and after).

Cases are grouped by kind: syntax, encoding, types, ranges, geometry, files, traces, command
line, output paths. Rerun them all with ``.venv/bin/python -m pytest tests/test_bad_input.py -v``
(the closing note of issue 7 lists them). A few also run as real subprocesses; and a hypothesis
property test mutates a valid scenario at random and checks that ``dronesim validate`` either
accepts it or refuses it in one line, never with a traceback.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MET_BASELINE, run_cli, write_toml

DRONESIM = Path(sys.executable).with_name("dronesim")
SHORT = ["--weeks", "0.05", "--replications", "1", "--workers", "1", "--quiet", "--no-plots"]
BASE = f'extends = "{MET_BASELINE.as_posix()}"\n'
TRACE_HEAD = "time,x,y,service\n"


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder below ``root`` with its content digest."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _child(tmp: Path, body: str, name: str = "s.toml") -> Path:
    return write_toml(tmp / name, BASE + body)


def _raw(tmp: Path, data: bytes, name: str = "s.toml") -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def _csv(tmp: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def _run(path: Path, *extra: str) -> list[str]:
    return ["run", str(path), *SHORT, *extra]


# A case: tmp folder -> (command line, strings the one error line must contain).
Case = Callable[[Path], tuple[list[str], list[str]]]
CASES: dict[str, dict[str, Case]] = {}


def case(kind: str, name: str):
    def deco(fn: Case) -> Case:
        CASES.setdefault(kind, {})[name] = fn
        return fn
    return deco


# --- syntax ---------------------------------------------------------------------------------
@case("syntax", "unclosed_table")
def _(t):
    p = write_toml(t / "s.toml", "[drones\nspeed_m_s = 20\n")
    return _run(p), [str(p), "TOML"]


@case("syntax", "duplicate_key")
def _(t):
    p = _child(t, "[drones]\nspeed_m_s = 20.0\nspeed_m_s = 21.0\n")
    return _run(p), [str(p), "TOML"]


@case("syntax", "unterminated_string")
def _(t):
    p = write_toml(t / "s.toml", 'name = "abc\n')
    return _run(p), [str(p), "TOML"]


@case("syntax", "extends_not_a_string")
def _(t):
    p = write_toml(t / "s.toml", "extends = 5\n")
    return _run(p), [str(p), "extends"]


@case("syntax", "extends_two_levels")
def _(t):
    mid = _child(t, "", "mid.toml")
    p = write_toml(t / "s.toml", f'extends = "{mid.name}"\n')
    return _run(p), [str(mid), "extends", "one level"]


@case("syntax", "empty_file")
def _(t):
    p = write_toml(t / "s.toml", "")
    return _run(p), [str(p), "empty scenario"]


@case("syntax", "comments_only")
def _(t):
    p = write_toml(t / "s.toml", "# nothing here\n\n# at all\n")
    return _run(p), [str(p), "empty scenario"]


# --- encoding -------------------------------------------------------------------------------
@case("encoding", "latin1_scenario")
def _(t):
    p = _raw(t, (BASE + "# caf\xe9 on the corner\n").encode("latin-1"))
    return _run(p), [str(p), "not UTF-8", "line 2"]


@case("encoding", "utf16_scenario")
def _(t):
    p = _raw(t, (BASE + 'name = "x"\n').encode("utf-16"))
    return _run(p), [str(p), "not UTF-8"]


@case("encoding", "binary_scenario")
def _(t):
    p = _raw(t, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return _run(p), [str(p), "UTF-8"]


@case("encoding", "nul_bytes")
def _(t):
    p = _raw(t, (BASE + 'name = "x"\n\x00\n').encode())
    return _run(p), [str(p), "NUL"]


@case("encoding", "latin1_parent_through_extends")
def _(t):
    parent = _raw(t, b'name = "p\xe9re"\n', "parent.toml")
    p = write_toml(t / "s.toml", 'extends = "parent.toml"\n')
    return _run(p), [str(parent.resolve()), "not UTF-8"]


@case("encoding", "latin1_trace")
def _(t):
    trace = t / "t.csv"
    trace.write_bytes("time,x,y,service,note\n0,531187,183392,police,caf\xe9\n".encode("latin-1"))
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "not UTF-8"]


@case("encoding", "huge_scenario_file")
def _(t):
    p = _raw(t, (BASE + "#" + "x" * 1_100_000 + "\n").encode())
    return _run(p), [str(p), "too large"]


# --- types ----------------------------------------------------------------------------------
@case("types", "speed_is_text")
def _(t):
    p = _child(t, '[drones]\nspeed_m_s = "fast"\n')
    return _run(p), [str(p), "drones.speed_m_s", "expected a number"]


@case("types", "replications_fraction")
def _(t):
    p = _child(t, "[simulation]\nreplications = 2.5\n")
    return ["run", str(p), "--weeks", "0.05", "--quiet"], [str(p), "simulation.replications",
                                                            "whole number"]


@case("types", "docks_not_tables")
def _(t):
    p = _child(t, "docks = 5\n")
    return _run(p), [str(p), "docks"]


@case("types", "service_not_table")
def _(t):
    p = _child(t, "[services]\npolice = 3\n")
    return _run(p), [str(p), "services.police", "table"]


@case("types", "bool_as_text")
def _(t):
    p = _child(t, '[services.police]\nuses_drones = "yes"\n')
    return _run(p), [str(p), "services.police.uses_drones", "true or false"]


@case("types", "unknown_key")
def _(t):
    p = _child(t, "wingspan_m = 1.0\n")
    return _run(p), [str(p), "wingspan_m", "unknown key"]


@case("types", "unknown_service")
def _(t):
    p = _child(t, "[services.coastguard]\nincidents_per_week = 10.0\n")
    return _run(p), [str(p), "services.coastguard", "unknown service"]


@case("types", "name_is_a_path")
def _(t):
    p = _child(t, 'name = "../x"\n')
    return _run(p), [str(p), "name", "label"]


@case("types", "name_empty")
def _(t):
    p = _child(t, 'name = ""\n')
    return _run(p), [str(p), "name", "label"]


@case("types", "name_with_separator")
def _(t):
    p = _child(t, 'name = "a/b"\n')
    return _run(p), [str(p), "name"]


# --- ranges ---------------------------------------------------------------------------------
@case("ranges", "negative_speed")
def _(t):
    p = _child(t, "[drones]\nspeed_m_s = -20.0\n")
    return _run(p), [str(p), "drones.speed_m_s", ">"]


@case("ranges", "zero_weeks")
def _(t):
    p = _child(t, "[simulation]\nweeks = 0\n")
    return ["run", str(p), "--replications", "1", "--quiet"], [str(p), "simulation.weeks"]


@case("ranges", "incidents_per_week_huge")
def _(t):
    p = _child(t, "[services.police]\nincidents_per_week = 1e9\n")
    return _run(p), [str(p), "services.police.incidents_per_week", "<="]


@case("ranges", "drones_per_dock")
def _(t):
    p = _child(t, "[[docks]]\nname = 'Big'\nx = 531187.0\ny = 183392.0\ndrones = 5000\n")
    return _run(p), [str(p), "docks[0].drones", "<="]


@case("ranges", "fleet_total")
def _(t):
    docks = "".join(f"[[docks]]\nname = 'd{k}'\nx = {531187.0 + 50 * k}\ny = 183392.0\n"
                    "drones = 1000\n" for k in range(6))
    p = _child(t, docks)
    return _run(p), [str(p), "docks", "6,000 drones"]


@case("ranges", "candidate_docks")
def _(t):
    p = _child(t, "[dispatch]\ncandidate_docks = 1000\n")
    return _run(p), [str(p), "dispatch.candidate_docks"]


@case("ranges", "priority_shares_sum")
def _(t):
    p = _child(t, "[services.police]\npriority_shares = [0.3, 0.3]\n")
    return _run(p), [str(p), "services.police.priority_shares", "sum to 1"]


@case("ranges", "endurance_too_short")
def _(t):
    p = _child(t, "[drones]\nendurance_s = 100.0\n")
    return _run(p), [str(p), "drones.endurance_s"]


@case("ranges", "memory_too_small")
def _(t):
    p = _child(t, "[services.police]\nincidents_per_week = 900000.0\n")
    return _run(p), [str(p), "services.police.incidents_per_week", "largest demand that fits"]


@case("ranges", "lattice_radius_too_small")
def _(t):
    p = _child(t, "[siting]\nmethod = 'hex_grid'\n[coverage]\nwithin_s = 45.0\n")
    return _run(p), [str(p), "siting.method", "lattice"]


@case("ranges", "no_drones")
def _(t):
    p = write_toml(t / "s.toml", 'name = "nodrones"\n[simulation]\nweeks = 0.1\n')
    return _run(p), [str(p), "docks", "no drones"]


@case("ranges", "bad_value_in_parent")
def _(t):
    parent = write_toml(t / "parent.toml", BASE.replace("extends", "# ") +
                        'name = "p"\n[drones]\nspeed_m_s = -3.0\n'
                        "[[docks]]\nname = 'a'\nx = 531187.0\ny = 183392.0\n")
    p = write_toml(t / "s.toml", 'extends = "parent.toml"\nname = "child"\n')
    return _run(p), [str(parent.resolve()), "drones.speed_m_s"]


# --- geometry -------------------------------------------------------------------------------
@case("geometry", "dock_in_paris")
def _(t):
    p = _child(t, "[[docks]]\nname = 'Paris'\nlon = 2.35\nlat = 48.85\n")
    return _run(p), [str(p), "docks[0]", "outside London"]


@case("geometry", "dock_at_grid_origin")
def _(t):
    p = _child(t, "[[docks]]\nname = 'Nowhere'\nx = 0.0\ny = 0.0\n")
    return _run(p), [str(p), "docks[0]", "outside London"]


@case("geometry", "dock_in_heathrow_zone")
def _(t):
    p = _child(t, "[[docks]]\nname = 'Runway'\nlon = -0.4543\nlat = 51.4700\n")
    return _run(p), [str(p), "docks[0]", "no-fly"]


@case("geometry", "dock_lon_without_lat")
def _(t):
    p = _child(t, "[[docks]]\nname = 'Half'\nlon = -0.1\n")
    return _run(p), [str(p), "docks[0]", "lat"]


@case("geometry", "no_fly_points")
def _(t):
    nf = _csv(t, json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                           "coordinates": [-0.1, 51.5]}}]}),
              "zones.geojson")
    p = _child(t, '[airspace]\nno_fly_files = ["zones.geojson"]\n')
    return _run(p), [str(nf), "geometry", "Polygon"]


@case("geometry", "site_file_outside_london")
def _(t):
    sites = _csv(t, "name,lon,lat,drones\nParis,2.35,48.85,2\n", "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n")
    return _run(p), [str(sites), "outside London"]


@case("geometry", "site_file_latlon_as_xy")
def _(t):
    sites = _csv(t, "name,x,y\nA,-0.1,51.5\n", "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n")
    return _run(p), [str(sites), "longitude/latitude"]


def _square(x: float, y: float, half: float = 150.0) -> str:
    """A GeoJSON square no-fly zone centred on x, y (EPSG:27700, declared: no reprojection)."""
    ring = [[x - half, y - half], [x + half, y - half], [x + half, y + half],
            [x - half, y + half], [x - half, y - half]]
    return json.dumps({"type": "FeatureCollection",
                       "crs": {"type": "name",
                               "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
                       "features": [{"type": "Feature", "properties": {"name": "Test zone"},
                                     "geometry": {"type": "Polygon", "coordinates": [ring]}}]})


@case("geometry", "site_file_dock_in_no_fly_zone")
def _(t):
    # Row 2 (Islington police station) lies in the zone: the CSV and its row are blamed, not
    # the scenario's docks[k] that the site becomes once the file is read.
    _csv(t, _square(531187, 183392), "zones.geojson")
    sites = _csv(t, "name,x,y\nCroydon,532500,165500\nIslington,531187,183392\n", "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n"
                  '[airspace]\nno_fly_files = ["zones.geojson"]\n')
    return _run(p), [(f"{sites}: row 2: site 'Islington' at (531187, 183392) is inside the "
                      "no-fly zone 'Test zone'")]


@case("geometry", "site_file_unknown_column")
def _(t):
    sites = _csv(t, "name,x,y,capacity\nIslington,531187,183392,4\n", "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n")
    return _run(p), [f"{sites}: capacity: unknown column", "name, drones, x, y", "lon, lat"]


def _bng_without_crs(geometry: dict) -> str:
    """A GeoJSON of British National Grid metres with no crs member (so read as WGS84)."""
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "A"}, "geometry": geometry}]})


@case("geometry", "site_geojson_metres_without_crs")
def _(t):
    sites = _csv(t, _bng_without_crs({"type": "Point", "coordinates": [531187, 183392]}),
                 "sites.geojson")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.geojson'\n")
    return _run(p), [f"{sites}: crs: no CRS", "not longitude/latitude (x 531,187",
                     "EPSG::27700"]


@case("geometry", "link_coverage_geojson_metres_without_crs")
def _(t):
    ring = [[525000, 175000], [535000, 175000], [535000, 185000], [525000, 175000]]
    cov = _csv(t, _bng_without_crs({"type": "Polygon", "coordinates": [ring]}), "link.geojson")
    p = _child(t, "[connectivity.files]\npolice = 'link.geojson'\n")
    return _run(p), [f"{cov}: crs: no CRS", "not longitude/latitude (x 525,000 to 535,000",
                     "EPSG::27700"]


# --- files ----------------------------------------------------------------------------------
@case("files", "scenario_missing")
def _(t):
    return _run(t / "missing.toml"), [str(t / "missing.toml"), "not found"]


@case("files", "scenario_is_a_folder")
def _(t):
    (t / "folder.toml").mkdir()
    return _run(t / "folder.toml"), [str(t / "folder.toml"), "folder"]


@case("files", "parent_missing")
def _(t):
    p = write_toml(t / "s.toml", 'extends = "nope.toml"\n')
    return _run(p), [str((t / "nope.toml").resolve()), "not found"]


@case("files", "siting_file_missing")
def _(t):
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'nope.csv'\n")
    return _run(p), ["nope.csv", "not found"]


@case("files", "no_fly_file_missing")
def _(t):
    p = _child(t, '[airspace]\nno_fly_files = ["nope.geojson"]\n')
    return _run(p), ["nope.geojson", "not found"]


@case("files", "site_file_drones_too_many")
def _(t):
    sites = _csv(t, "name,x,y,drones\nA,531187,183392,2000\n", "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n")
    return _run(p), [str(sites), "drones", "2000"]


@case("files", "site_file_fleet_too_large")
def _(t):
    rows = "".join(f"s{k},{531187 + 40 * k},183392,1000\n" for k in range(6))
    sites = _csv(t, "name,x,y,drones\n" + rows, "sites.csv")
    p = _child(t, "[siting]\nmethod = 'file'\nfile = 'sites.csv'\n")
    return _run(p), [str(sites), "drones", "6,000"]


@case("files", "connectivity_file_missing")
def _(t):
    p = _child(t, "[connectivity.files]\npolice = 'nope.geojson'\n")
    return _run(p), ["nope.geojson", "not found"]


@case("files", "trace_option_missing_file")
def _(t):
    return _run(MET_BASELINE, "--trace", str(t / "nope.csv")), ["<command line>", "--trace"]


# --- traces ---------------------------------------------------------------------------------
@case("traces", "span_absurd")
def _(t):
    trace = _csv(t, TRACE_HEAD + "0,531187,183392,police\n3.2e9,531187,183392,police\n")
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "line 3", "years"]


@case("traces", "rows_far_outside_london")
def _(t):
    trace = _csv(t, "time,lon,lat,service\n0,51.5,-0.1,police\n")  # lat and lon swapped
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "line 2", "outside London"]


@case("traces", "unknown_service")
def _(t):
    trace = _csv(t, TRACE_HEAD + "0,531187,183392,coastguard\n")
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "line 2", "coastguard"]


@case("traces", "empty_time")
def _(t):
    trace = _csv(t, TRACE_HEAD + ",531187,183392,police\n")
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "line 2", "time"]


@case("traces", "bad_priority")
def _(t):
    trace = _csv(t, "time,x,y,service,priority\n0,531187,183392,police,7\n")
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "priority"]


@case("traces", "header_only")
def _(t):
    trace = _csv(t, TRACE_HEAD)
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "no incidents"]


@case("traces", "negative_time")
def _(t):
    trace = _csv(t, TRACE_HEAD + "10,531187,183392,police\n-5,531187,183392,police\n")
    return _run(MET_BASELINE, "--trace", str(trace)), [str(trace), "line 3"]


def _no_parse(monkeypatch, trace: Path) -> None:
    """Make a parse of the trace CSV (pandas.read_csv in dronesim.inputs.sources) fail the test: a
    refusal must come before it. Other files are read as usual."""
    import pandas

    from dronesim.inputs import sources

    class Pandas:
        def __getattr__(self, name):
            return getattr(pandas, name)

        def read_csv(self, path, *a, **k):
            if Path(path) == trace:
                raise AssertionError("the trace was parsed")
            return pandas.read_csv(path, *a, **k)

    monkeypatch.setattr(sources, "pd", Pandas())


def test_trace_too_large_is_refused_on_its_line_count_before_parsing(tmp_path, capsys,
                                                                    monkeypatch):
    """A trace whose rows cannot fit is refused from its line count, never parsed (a large one
    once took minutes and gigabytes to parse before the memory check refused it); a tiny
    memory budget keeps the file small."""
    monkeypatch.setenv("DRONESIM_MEMORY_LIMIT", "500M")  # room for about 19,000 rows
    trace = _csv(tmp_path, TRACE_HEAD + "90000,531187,183392,police\n" * 100_000)
    _no_parse(monkeypatch, trace)
    before = _tree(tmp_path)
    code, _out, err = run_cli(_run(MET_BASELINE, "--trace", str(trace),
                                   "--out", str(tmp_path / "out")), capsys)
    assert code == 2, err
    _assert_one_line(err, [f"{trace}: 100,000 rows (lines counted before reading)",
                           "400 MB", "the largest trace that fits is about 19,"])
    assert _tree(tmp_path) == before


def test_trace_row_count_check_accepts_what_fits(tmp_path):
    from dronesim.inputs.scenario import load_scenario
    from dronesim.inputs.sources import count_rows
    from dronesim.limits import check_trace_rows

    trace = _csv(tmp_path, TRACE_HEAD + "90000,531187,183392,police\n" * 1000 + "\n")
    assert count_rows(trace) == 1001  # an upper bound: the blank line counts
    check_trace_rows(load_scenario(MET_BASELINE), trace, 100_000)  # no refusal


@pytest.mark.parametrize("times", ["0\n3.2e9", "2001-01-01T00:00:00\n2020-01-01T00:00:00",
                                   "2001-01-01T00:00:00Z\n2020-06-01T00:00:00+01:00"])
def test_trace_span_of_a_large_trace_is_refused_from_its_time_column_first(
        tmp_path, capsys, monkeypatch, times):
    """A large trace (here: any, the threshold lowered) whose times span more than 520 weeks is
    refused from a first pass over the time column alone, before the full parse."""
    from dronesim.inputs import sources

    monkeypatch.setattr(sources, "QUICK_SPAN_BYTES", 0)
    rows = "".join(f"{t},531187,183392,police\n" for t in times.split("\n"))
    trace = _csv(tmp_path, TRACE_HEAD + rows)
    _no_parse(monkeypatch, trace)
    code, _out, err = run_cli(_run(MET_BASELINE, "--trace", str(trace),
                                   "--out", str(tmp_path / "out")), capsys)
    assert code == 2, err
    _assert_one_line(err, [f"{trace}: time: 2 incidents reaching at least", "first pass",
                           "at most 520 weeks"])


# --- command line ---------------------------------------------------------------------------
@case("command line", "replications_zero")
def _(t):
    return ["run", str(MET_BASELINE), "--replications", "0"], ["<command line>",
                                                                "--replications"]


@case("command line", "weeks_negative")
def _(t):
    return ["run", str(MET_BASELINE), "--weeks", "-1"], ["--weeks"]


@case("command line", "weeks_nan")
def _(t):
    return ["run", str(MET_BASELINE), "--weeks", "nan"], ["--weeks"]


@case("command line", "weeks_beyond_schema")
def _(t):
    return ["run", str(MET_BASELINE), "--weeks", "1000"], ["<command line>", "--weeks", "520"]


@case("command line", "workers_zero")
def _(t):
    return ["run", str(MET_BASELINE), "--workers", "0"], ["--workers"]


@case("command line", "workers_absurd")
def _(t):
    return ["run", str(MET_BASELINE), "--workers", "100000"], ["--workers", "4096"]


@case("command line", "seed_negative")
def _(t):
    return ["run", str(MET_BASELINE), "--seed", "-1"], ["--seed"]


@case("command line", "fleet_descending")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "300:9"], ["--fleet", "goes down"]


@case("command line", "fleet_descending_step")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "300:9:10"], ["--fleet", "goes down"]


@case("command line", "fleet_step_zero")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "9:300:0"], ["--fleet", "STEP"]


@case("command line", "fleet_text")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "lots"], ["--fleet"]


@case("command line", "fleet_too_many_steps")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "1:5000:1"], ["--fleet", "more than"]


@case("command line", "steps_absurd")
def _(t):
    return ["sweep", str(MET_BASELINE), "--fleet", "9:300", "--steps", "100000"], ["--steps"]


@case("command line", "plugin_missing")
def _(t):
    return _run(MET_BASELINE, "--plugin", "no_such_module_x"), ["--plugin", "no_such_module_x"]


@case("command line", "plugin_raises")
def _(t):
    plug = _csv(t, "raise RuntimeError('broken on purpose')\n", "broken_plugin.py")
    return _run(MET_BASELINE, "--plugin", str(plug)), ["--plugin", "broken on purpose",
                                                       "line 1"]


@case("command line", "compare_one_scenario")
def _(t):
    return ["compare", str(MET_BASELINE)], ["<command line>", "at least two"]


@case("command line", "unknown_option")
def _(t):
    return ["run", str(MET_BASELINE), "--frobnicate"], ["<command line>", "frobnicate"]


# --- output paths ---------------------------------------------------------------------------
@case("output paths", "out_is_a_file")
def _(t):
    (t / "out").write_text("not a folder")
    return _run(MET_BASELINE, "--out", str(t / "out")), ["--out", "not a folder"]


@case("output paths", "out_inside_a_file")
def _(t):
    (t / "afile").write_text("x")
    return _run(MET_BASELINE, "--out", str(t / "afile" / "sub")), ["--out", "inside",
                                                                    "is a file"]


@case("output paths", "out_is_current_folder")
def _(t):
    return _run(MET_BASELINE, "--out", "."), ["--out", "current folder"]


@case("output paths", "out_holds_user_files")
def _(t):
    (t / "out").mkdir()
    (t / "out" / "thesis.docx").write_text("my thesis")
    return _run(MET_BASELINE, "--out", str(t / "out")), ["--out", "thesis.docx",
                                                         "--overwrite"]


@case("output paths", "overwrite_but_user_summary")
def _(t):
    (t / "out").mkdir()
    (t / "out" / "summary.json").write_text('{"mine": true}')
    return (_run(MET_BASELINE, "--out", str(t / "out"), "--overwrite"),
            ["--out", "summary.json", "not written by dronesim"])


@case("output paths", "overwrite_but_user_plot")
def _(t):
    (t / "out" / "plots").mkdir(parents=True)
    (t / "out" / "plots" / "map.png").write_bytes(b"my own map")
    return (_run(MET_BASELINE, "--out", str(t / "out"), "--overwrite"),
            ["--out", "plots/map.png"])


@case("output paths", "out_home_folder")
def _(t):
    return _run(MET_BASELINE, "--out", str(Path.home())), ["--out", "home folder"]


@case("output paths", "default_out_inside_a_file")
def _(t):
    (t / "results").write_text("a file named results")
    return _run(MET_BASELINE), ["--out", "is a file"]


@case("output paths", "geopackage_in_missing_folder")
def _(t):
    return (_run(MET_BASELINE, "--out", str(t / "out"), "--geopackage", str(t / "no" / "x.gpkg")),
            ["--geopackage", "does not exist"])


@case("output paths", "geopackage_is_a_users_file")
def _(t):
    (t / "survey.gpkg").write_bytes(b"a user's survey")
    return (_run(MET_BASELINE, "--out", str(t / "out"), "--geopackage", str(t / "survey.gpkg")),
            ["--geopackage", "not written by dronesim"])


@case("output paths", "report_of_a_users_folder")
def _(t):
    (t / "data").mkdir()
    (t / "data" / "notes.txt").write_text("mine")
    return ["report", str(t / "data")], [str(t / "data"), "not a dronesim results folder"]


ALL = [(kind, name) for kind, cases in CASES.items() for name in cases]


def _assert_one_line(err: str, must: list[str]) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("dronesim: error: "), lines[0]
    for m in must:
        assert m in lines[0], f"{m!r} not in {lines[0]!r}"


@pytest.mark.parametrize("kind,name", ALL, ids=[f"{k}:{n}" for k, n in ALL])
def test_bad_input(kind, name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs (results/...) would land here
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # '~' is a folder of the test's own
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("a user's file")
    if name == "memory_too_small":
        monkeypatch.setenv("DRONESIM_MEMORY_LIMIT", "2G")
    argv, must = CASES[kind][name](tmp_path)
    before = _tree(tmp_path)
    code, _out, err = run_cli(argv, capsys)
    assert code == 2, err
    _assert_one_line(err, must)
    assert _tree(tmp_path) == before  # nothing written, nothing removed


def test_api_run_keeping_tables_is_checked_against_memory(monkeypatch):
    """The Python API keeps every table in memory: a long run is refused with the largest that
    fits, naming simulation.weeks."""
    from dronesim.errors import InputError
    from dronesim.experiment.runner import run_scenario
    from dronesim.inputs.scenario import load_scenario

    monkeypatch.setenv("DRONESIM_MEMORY_LIMIT", "2G")
    scn = load_scenario(MET_BASELINE, {"simulation": {"weeks": 400.0}})
    with pytest.raises(InputError) as ei:
        run_scenario(scn, workers=1)
    assert ei.value.field == "simulation.weeks" and "largest run that fits" in str(ei.value)


def test_there_are_many_cases_of_every_kind():
    assert len(ALL) >= 40
    assert set(CASES) == {"syntax", "encoding", "types", "ranges", "geometry", "files",
                          "traces", "command line", "output paths"}
    assert all(len(c) >= 3 for c in CASES.values())


@pytest.mark.parametrize("kind,name", [("encoding", "latin1_scenario"),
                                       ("output paths", "out_holds_user_files"),
                                       ("traces", "span_absurd"),
                                       ("command line", "fleet_descending")])
def test_bad_input_subprocess(kind, name, tmp_path):
    argv, must = CASES[kind][name](tmp_path)
    before = _tree(tmp_path)
    r = subprocess.run([str(DRONESIM), *argv], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2
    _assert_one_line(r.stderr, must)
    assert r.stdout == ""
    assert _tree(tmp_path) == before


def test_locked_folder_is_refused(tmp_path, capsys):
    """A second run on a folder another run is writing is refused, and leaves it alone."""
    out = tmp_path / "out"
    (out / ".dronesim").mkdir(parents=True)
    (out / ".dronesim" / "owner.json").write_text('{"dronesim_output": 1}')
    fd = os.open(out / ".dronesim" / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running dronesim holds it
    try:
        before = _tree(tmp_path)
        code, _, err = run_cli(_run(MET_BASELINE, "--out", str(out)), capsys)
        assert code == 2
        _assert_one_line(err, ["--out", "another dronesim run"])
        assert _tree(tmp_path) == before
    finally:
        os.close(fd)


# --- random mutations (hypothesis, exploring: new examples on every run) ---------------------
def _leaves(table, prefix=()):
    for k, v in table.items():
        if isinstance(v, dict):
            yield from _leaves(v, (*prefix, k))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for i, item in enumerate(v):
                yield from _leaves(item, (*prefix, k, i))
        else:
            yield (*prefix, k)


def _baseline_table():
    from dronesim.inputs.scenario import load_scenario, scenario_to_dict

    table = scenario_to_dict(load_scenario(MET_BASELINE))
    table["simulation"]["weeks"] = 0.05
    return table


_TABLE = None
_AWKWARD = [0, -1, 1e308, -1e308, float("inf"), float("-inf"), float("nan"), 2**63, -2**63,
            "", "../..", "x" * 300, "\u00e9\u4e2d", True, False, [], [1, "a"], {}, {"a": 1},
            0.5, 10**9]


@pytest.mark.parametrize("seed_kind", ["mutate"])
def test_random_mutations_are_accepted_or_refused_in_one_line(seed_kind, tmp_path_factory):
    """Any single value of a valid scenario replaced by an awkward one (wrong type, extreme,
    NaN, huge, empty, a path): ``validate`` accepts it or refuses it in one line, exit 2."""
    import tomli_w
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from dronesim.cli import main

    global _TABLE
    if _TABLE is None:
        _TABLE = _baseline_table()
    leaves = sorted(_leaves(_TABLE), key=str)
    leaves = [p for p in leaves if p[:2] != ("siting", "method")]  # a valid method may run a MILP
    folder = tmp_path_factory.mktemp("mutations")
    values = st.one_of(st.sampled_from(_AWKWARD), st.integers(), st.floats(),
                       st.text(max_size=20), st.lists(st.floats(), max_size=3))

    @settings(derandomize=False,
              max_examples=int(os.environ.get("DRONESIM_FUZZ_EXAMPLES", "60")),
              deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(leaves), value=values)
    def check(path, value):
        import contextlib
        import copy
        import io

        table = copy.deepcopy(_TABLE)
        node = table
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        try:
            text = tomli_w.dumps(table)
        except (TypeError, ValueError):
            return  # not expressible in TOML at all
        f = folder / "m.toml"
        f.write_text(text, encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(["validate", str(f)])
            except SystemExit as exc:
                code = exc.code
        assert code in (0, 2), (path, value, err.getvalue())
        if code == 2:
            _assert_one_line(err.getvalue(), [str(f)])

    check()


def test_fleet_text_is_parsed_or_refused():
    """Any --fleet text gives sorted sizes within bounds, or an InputError for --fleet/--steps
    (never another exception)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dronesim.errors import InputError
    from dronesim.experiment.sweep import MAX_STEPS, parse_fleet
    from dronesim.inputs.scenario import MAX_FLEET

    part = st.one_of(st.integers(-10, 10_000).map(str), st.sampled_from(["", " ", "x", "1e3"]))
    text = st.one_of(st.text(max_size=15), st.lists(part, min_size=1, max_size=4).map(":".join),
                     st.lists(part, min_size=1, max_size=6).map(",".join))

    @settings(derandomize=False, max_examples=300, deadline=None, database=None)
    @given(text=text, steps=st.integers(-5, 10_000))
    def check(text, steps):
        try:
            sizes = parse_fleet(text, steps)
        except InputError as exc:
            assert exc.field in ("--fleet", "--steps") and "\n" not in str(exc)
            return
        assert sizes == sorted(set(sizes)) and 1 <= sizes[0] and sizes[-1] <= MAX_FLEET
        assert len(sizes) <= MAX_STEPS

    check()
