"""The HTML report without a browser: self-contained, the numbers it shows are summary.json's,
warnings where intervals are weak, every borough listed, attribution as data/README.md gives
it, and the output rules (only a dronesim results folder is read; a file dronesim did not write
is never replaced; nothing half-written is left). The browser checks are in test_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO
from report_checks import check_value, tagged_values

from dronesim.errors import InputError
from dronesim.outputs.geopackage import ATTRIBUTION
from dronesim.outputs.html import build_html_report, write_html_report


@pytest.fixture(scope="module")
def reports(results_folders, tmp_path_factory) -> dict[str, tuple[Path, str, dict]]:
    """kind -> (report path, its text, the folder's summary)."""
    out = {}
    root = tmp_path_factory.mktemp("reports")
    for kind, folder in results_folders.items():
        path = write_html_report(folder, root / f"{kind}.html")
        out[kind] = (path, path.read_text(encoding="utf-8"),
                     json.loads((folder / "summary.json").read_text()))
    return out


KINDS = ["run", "run1", "sweep", "compare"]


@pytest.mark.parametrize("kind", KINDS)
def test_report_is_self_contained(reports, kind):
    _, text, _ = reports[kind]
    assert text.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    assert "<link" not in text.lower() and "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", text, re.I)
    for m in re.finditer(r"""<img[^>]*src="([^"]{0,30})""", text):
        assert m.group(1).startswith("data:image/png;base64,")
    assert '<script id="report-data" type="application/json">' in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_number_shown_is_the_summary_value(reports, kind):
    _, text, summary = reports[kind]
    items = tagged_values(text)
    assert len(items) >= 10
    for path, fmt, shown in items:
        check_value(summary, path, fmt, shown)


def test_headline_figures_of_a_run(reports):
    _, text, s = reports["run"]
    paths = {json.dumps(p) for p, _, _ in tagged_values(text)}
    for p in (["drone_response_s", "mean"], ["drone_response_s", "ci95_mean", 0],
              ["ground_response_s", "mean"], ["suited_within_target", "mean"],
              ["drone_deployments_per_week", "mean"], ["coverage", "population_share"]):
        assert json.dumps(p) in paths, p
    assert "Officer response" in text and "m:ss" in text
    assert "reach 1.4 km" in text and "flight range 2.0 km" in text


@pytest.mark.parametrize("kind,expected", [
    ("run1", "1 replication: no confidence interval"), ("run", "only 2 replications"),
    ("sweep", "only 2 replications"), ("compare", "only 2 replications")])
def test_warning_when_replications_are_few(reports, kind, expected):
    _, text, _ = reports[kind]
    assert 'id="replication-warning"' in text and expected in text


def test_one_replication_shows_na(reports):
    _, text, s = reports["run1"]
    assert s["drone_response_s"]["ci95_mean"] == [None, None]
    assert "[n/a]" in text


def test_every_borough_in_the_table(reports):
    _, text, s = reports["run"]
    table = text[text.index('id="borough-table"'):]
    table = table[:table.index("</table>")]
    for r in s["per_borough"]:
        assert f">{r['name']}" in table, r["name"]
    assert "City of London <span class=\"tag\">no incidents</span>" in table


def test_sweep_and_compare_sections(reports):
    _, sweep, s = reports["sweep"]
    assert 'id="step-table"' in sweep and 'id="map-group"' in sweep
    for st in s["steps"]:
        assert f'<option value="{st["fleet_size"]} drones">' in sweep
    _, cmp_, c = reports["compare"]
    for svc in c["services"]:
        assert f'id="compare-{svc}"' in cmp_
    assert "bluelight_shared against bluelight_separate" in cmp_
    assert "Infrastructure of the services: dock sites shared" in cmp_


def test_attribution_matches_data_readme(reports):
    import html

    readme = " ".join((REPO / "data" / "README.md").read_text(encoding="utf-8").split())
    _, text, _ = reports["run"]
    for _name, statement in ATTRIBUTION:
        assert " ".join(statement.split()) in readme, statement  # verbatim, as licensed
        assert html.escape(statement) in text, statement


def test_assumptions_list_every_resolved_value(reports):
    _, text, _ = reports["run"]
    for key in ("drones.speed_m_s", "drones.max_range_m", "coverage.within_s",
                "services.police.incidents_per_week", "control_room.pilots",
                "dispatch.policy"):
        assert f"<code>{key}</code>" in text, key
    assert "Islington" in text and "position assumed" in text


def test_incident_table_as_one_file_or_parts(results_folders, tmp_path):
    src = results_folders["run"]
    dst = tmp_path / "parts"
    shutil.copytree(src, dst)
    # A run writes one Parquet part per replication; the same table as one file reads alike.
    table = pq.read_table(dst / "incidents.parquet")
    shutil.rmtree(dst / "incidents.parquet")
    pq.write_table(table, dst / "incidents.parquet")
    assert (dst / "incidents.parquet").is_file()
    assert len(list((src / "incidents.parquet").iterdir())) > 1
    one = build_html_report(src)
    many = build_html_report(dst)

    def numbers(t: str) -> list:
        return [(p, v) for p, _, v in tagged_values(t)]

    assert numbers(one) == numbers(many)


# ---------------------------------------------------------------------------------------------
# Output rules
# ---------------------------------------------------------------------------------------------


def test_refuses_a_folder_that_is_not_results(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as err:
        write_html_report(tmp_path)
    assert "not a dronesim results folder" in str(err.value)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(InputError, match="not found"):
        write_html_report(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text('{"x": 1}')
    (tmp_path / "summary.json").write_text("not json")
    with pytest.raises(InputError, match="not valid JSON"):
        write_html_report(tmp_path)


def test_never_replaces_a_file_dronesim_did_not_write(results_folders, tmp_path):
    mine = tmp_path / "report.html"
    mine.write_text("<html>my own page</html>")
    with pytest.raises(InputError, match="not written by dronesim"):
        write_html_report(results_folders["run1"], mine)
    assert mine.read_text() == "<html>my own page</html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_replaces_its_own_report_and_leaves_no_temporary_file(results_folders, tmp_path):
    out = tmp_path / "r.html"
    write_html_report(results_folders["run1"], out)
    first = out.read_text()
    write_html_report(results_folders["run1"], out)
    assert out.read_text().startswith("<!DOCTYPE html>") and len(first) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_default_report_goes_into_the_results_folder(results_folders, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(results_folders["run1"], folder)
    out = write_html_report(folder)
    assert out == folder / "report.html" and out.is_file()


def test_output_folder_must_exist(results_folders, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_html_report(results_folders["run1"], tmp_path / "no" / "r.html")
    assert not (tmp_path / "no").exists()


def test_failure_leaves_nothing_half_written(results_folders, tmp_path, monkeypatch):
    import dronesim.outputs.html as hr

    def boom(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(hr, "build_html_report", boom)
    with pytest.raises(RuntimeError):
        write_html_report(results_folders["run1"], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_removes_the_temporary_file(results_folders, tmp_path,
                                                          monkeypatch):
    import dronesim.experiment.store as outputs

    def boom(*_a):
        raise OSError("rename failed")

    monkeypatch.setattr(outputs.os, "replace", boom)
    with pytest.raises(OSError):
        write_html_report(results_folders["run1"], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# The JSON data block: no text in the data can end the <script> element or comment out the page
# --------------------------------------------------------------------------------------------

HOSTILE = 'x<!--<script>&a>b'  # a scenario label that reaches the JSON (a file name)


def _data_block(text: str) -> str:
    m = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', text,
                  re.DOTALL)
    assert m, "no data block"
    return m.group(1)


@pytest.mark.parametrize("value", [
    "<!--<script>", "</script><script>alert(1)</script>", "a & b > c", "]]>", "-->",
    "line\u2028sep\u2029para", "plain"])
def test_script_json_escapes_what_could_end_or_comment_out_the_element(value):
    from dronesim.outputs.html import script_json

    text = script_json({"name": value, value: [value, 1.5, None]})
    for ch in "<>&\u2028\u2029":
        assert ch not in text, (ch, text)
    assert json.loads(text) == {"name": value, value: [value, 1.5, None]}


def test_hostile_label_in_a_comparison_reaches_the_page_only_escaped(tmp_path):
    """Two scenarios of the same name are labelled by their file names, which may hold
    ``<!--<script>``, ``&`` and ``>``; the label is a key of the report's JSON data."""
    from dronesim.cli import main

    body = (f'extends = "{(REPO / "scenarios" / "met_baseline.toml").as_posix()}"\n'
            'name = "same"\n[simulation]\nweeks = 0.05\nreplications = 1\n')
    a = tmp_path / f"{HOSTILE}.toml"
    a.write_text(body, encoding="utf-8")
    (tmp_path / "b.toml").write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compare", str(a), str(tmp_path / "b.toml"), "--out", str(out), "--quiet",
                 "--no-plots"]) == 0
    text = build_html_report(out)
    block = _data_block(text)
    for ch in "<>&":
        assert ch not in block, (ch, block[:200])
    data = json.loads(block)
    assert HOSTILE in data["metrics"]["pop"]["values"]
    # The element ends where it should: the page's own script follows it.
    assert text.index(block) + len(block) == text.index("</script><script>")
