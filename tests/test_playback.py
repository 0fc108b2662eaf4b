"""The report's playback (dronesim.outputs.playback): the embedded day holds the incidents and
mission legs of that day (counted here from the tables themselves), stays small, and plays in
headless Chromium (tests/test_browser.py's browser): no request, no console error, play advances
the clock, the slider moves it. Refusals: a day outside the run, a replication not run, a sweep.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from dronesim.errors import InputError
from dronesim.outputs.html import write_html_report
from dronesim.outputs.playback import COORD_M, DAY_S, PlaybackOptions

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from test_browser import _open, browser  # noqa: E402,F401  (the module's browser fixture)

#: A day of the Met baseline stays well below this (docs/commands.md gives the measured size).
MAX_PLAYBACK_BYTES = 5_000_000


def _embedded(page_text: str) -> dict:
    m = re.search(r'<script id="playback-data" type="application/json">(.*?)</script>',
                  page_text, re.S)
    assert m, "no playback data in the page"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def playback_report(results_folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("playback") / "run.html"
    write_html_report(results_folders["run"], out, playback=PlaybackOptions(replication=1))
    return out


def test_embedded_day_has_the_days_incidents_and_legs(results_folders, playback_report):
    folder = results_folders["run"]
    text = playback_report.read_text()
    data = _embedded(text)
    assert len(text.encode()) < MAX_PLAYBACK_BYTES + 2_000_000
    assert len(json.dumps(data).encode()) < MAX_PLAYBACK_BYTES
    summary = json.loads((folder / "summary.json").read_text())
    t0 = summary["warmup_hours"] * 3600 + (data["day"] - 1) * DAY_S
    assert data["replication"] == 1 and data["day_start_s"] == round(t0)
    inc = pd.read_parquet(folder / "incidents.parquet")
    inc = inc[(inc["replication"] == 1) & (inc["t_call"] >= t0) & (inc["t_call"] < t0 + DAY_S)]
    mis = pd.read_parquet(folder / "missions.parquet")
    mis = mis[(mis["replication"] == 1) & (mis["t_landed"] >= t0) & (mis["t_launch"] < t0 + DAY_S)]
    assert len(inc) > 100 and len(mis) > 0
    assert data["counts"] == {"incidents": len(inc), "missions": len(mis)}
    i = data["incidents"]
    assert len(i["t"]) == len(inc) and all(isinstance(v, int) for v in i["x"][:50])
    assert i["t"] == sorted(i["t"]) and 0 <= i["t"][0] and i["t"][-1] < DAY_S
    # ground arrivals where the table has them, seconds from the day's start
    first = inc.sort_values("t_call", kind="stable").iloc[0]
    assert i["g"][0] == round(first["t_ground_arrival"] - t0)
    on = int((inc["drone_outcome"].astype(str) == "on_scene").sum())
    assert i["c"].count(1) == on
    m = data["missions"]
    assert all(a <= b <= c <= d for a, b, c, d in zip(m["t0"], m["t1"], m["t2"], m["t3"]))
    assert data["coord_m"] == COORD_M


def test_playback_plays_in_chromium(browser, playback_report, tmp_path):  # noqa: F811
    ctx, page, problems = _open(browser, playback_report, {"width": 1280, "height": 900})
    try:
        page.wait_for_selector("html[data-playback-ready='1']", timeout=15_000)
        t_start = int(page.get_attribute("#pb-svg", "data-t"))
        clock0 = page.text_content("#pb-clock")
        page.select_option("#pb-speed", "3600")
        page.click("#pb-play")
        page.wait_for_timeout(600)
        page.click("#pb-play")  # pause
        t_played = int(page.get_attribute("#pb-svg", "data-t"))
        assert t_played > t_start + 600  # 0.6 s at 3600x: ten minutes and more
        assert page.text_content("#pb-clock") != clock0
        assert page.get_attribute("#pb-play", "aria-pressed") == "false"
        page.eval_on_selector("#pb-slider", "e=>{e.value='43200';"
                                            "e.dispatchEvent(new Event('input'))}")
        assert int(page.get_attribute("#pb-svg", "data-t")) == 43200
        assert page.text_content("#pb-clock").endswith("12:00:00")
        assert page.locator("#pb-inc circle").count() > 0  # incidents open at noon
        assert problems == []
        page.locator("#playback").screenshot(path=str(tmp_path / "playback.png"))
    finally:
        ctx.close()


def test_playback_refusals(results_folders, tmp_path):
    with pytest.raises(InputError, match="--playback-day"):
        write_html_report(results_folders["run"], tmp_path / "a.html",
                          playback=PlaybackOptions(day=9))
    with pytest.raises(InputError, match="--replication"):
        write_html_report(results_folders["run"], tmp_path / "b.html",
                          playback=PlaybackOptions(replication=7))
    with pytest.raises(InputError, match="playback needs the folder of a run"):
        write_html_report(results_folders["sweep"], tmp_path / "c.html",
                          playback=PlaybackOptions())
    plain = write_html_report(results_folders["run"], tmp_path / "plain.html").read_text()
    assert "playback-data" not in plain  # off unless asked for


def test_report_command_playback(results_folders, tmp_path, capsys):
    from dronesim.cli import main

    out = tmp_path / "cli.html"
    assert main(["report", str(results_folders["run"]), "--out", str(out), "--playback",
                 "--playback-day", "1"]) == 0
    assert _embedded(out.read_text())["day"] == 1
    assert main(["report", str(results_folders["run"]), "--out", str(tmp_path / "x.html"),
                 "--playback", "--playback-day", "0"]) == 2
    assert "--playback-day: 0 is outside" in capsys.readouterr().err


def test_replayed_incidents_are_snapped(results_folders):
    """A replayed trace is drawn at 100 m cell centres (as the GeoPackage export does): every
    incident x, in 10 m units, then differs from another by whole 100 m."""
    from dronesim.outputs.playback import playback_data
    from dronesim.outputs.results import open_results

    res = open_results(results_folders["run"])
    docks = pd.DataFrame({"x": [530000.0] * 50, "y": [180000.0] * 50})
    fine = playback_data(res, 503000.0, 203000.0, docks, 20.0)
    coarse = playback_data(res, 503000.0, 203000.0, docks, 20.0, snap_m=100.0)
    xs, ys = coarse["incidents"]["x"], coarse["incidents"]["y"]
    assert {(x - xs[0]) % 10 for x in xs} == {0} and {(y - ys[0]) % 10 for y in ys} == {0}
    assert {(x - fine["incidents"]["x"][0]) % 10 for x in fine["incidents"]["x"]} != {0}
    assert coarse["counts"] == fine["counts"]
