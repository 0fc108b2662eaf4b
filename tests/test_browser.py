"""The HTML reports in a real browser: Debian's Chromium, headless, driven by Playwright.

Each report (run, sweep, compare; small sizes) is opened from a ``file://`` URL, and the test
asserts that the page makes no request (everything is inline), logs no console error and raises
no script error, that every headline number it renders equals summary.json's, and that the map
and tables respond (zoom, hover, sort, the step or scenario selector). Screenshots (laptop and
phone widths, full page) are saved under the test's temporary folder; their paths are printed
(``pytest -s``) and, when ``DRONESIM_SCREENSHOTS`` names a folder, copied there.

Chromium: ``/usr/bin/chromium`` (Debian's ``chromium`` package; Playwright's own browser
download needs the internet and is not used). When it is missing the test installs it with
``apt-get install -y chromium chromium-driver`` if it runs as root with apt available
(``.ci/run`` does the same beforehand), and otherwise skips with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from report_checks import check_value

from dronesim.outputs.html import write_html_report

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                    "-e '.[test]')")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _install_chromium() -> str:
    """Install Debian's Chromium when running as root with apt; the reason when not."""
    if os.name != "posix" or os.geteuid() != 0:
        return "Chromium is not installed and the tests do not run as root to install it " \
               "(apt-get install chromium)"
    if not shutil.which("apt-get"):
        return "Chromium is not installed and apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"installing Chromium failed: {' '.join(cmd)}: {exc}"
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            return f"installing Chromium failed: {' '.join(cmd)}: {last[0]}"
    return ""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import Error, sync_playwright

    exe = _find_chromium()
    if exe is None:
        reason = _install_chromium()
        exe = _find_chromium()
        if exe is None:
            pytest.skip(reason or "Chromium could not be found after installing it")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.skip(f"Chromium at {exe} does not start: {str(exc).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def report_files(results_folders, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("browser_reports")
    return {kind: (write_html_report(results_folders[kind], root / f"{kind}.html"),
                   json.loads((results_folders[kind] / "summary.json").read_text()))
            for kind in ("run", "sweep", "compare")}


def _open(browser, path: Path, viewport: dict):
    ctx = browser.new_context(viewport=viewport)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("request", lambda r: problems.append(f"request: {r.url[:120]}")
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-report-ready='1']", timeout=15_000)
    return ctx, page, problems


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    print(f"screenshot: {out}")
    keep = os.environ.get("DRONESIM_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    assert out.stat().st_size > 10_000
    return out


def _rendered(page) -> list[tuple[list, str, str]]:
    return page.eval_on_selector_all(
        "[data-path]",
        "els => els.map(e => [JSON.parse(e.getAttribute('data-path')), "
        "e.getAttribute('data-fmt'), e.textContent])")


@pytest.mark.parametrize("kind", ["run", "sweep", "compare"])
def test_report_renders_without_errors_and_shows_summary_numbers(browser, report_files, kind,
                                                                 tmp_path):
    path, summary = report_files[kind]
    for size, viewport in VIEWPORTS.items():
        ctx, page, problems = _open(browser, path, viewport)
        try:
            items = _rendered(page)
            assert len(items) >= 10
            for p, fmt, text in items:
                check_value(summary, p, fmt, text)
            # The headline cards are visible, not merely present.
            assert page.locator("#headline").is_visible()
            assert page.locator("#map-svg").bounding_box()["width"] > 200
            _screenshot(page, tmp_path, f"report_{kind}_{size}")
            # Nothing wider than the screen except inside its scrolling box.
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 1, f"{size}: page {overflow}px wider than the window"
        finally:
            ctx.close()
        assert problems == [], problems


def test_map_zoom_hover_and_layers(browser, report_files):
    path, summary = report_files["run"]
    ctx, page, problems = _open(browser, path, VIEWPORTS["laptop"])
    try:
        before = page.get_attribute("#map-svg", "viewBox")
        page.click("#zoom-in")
        after = page.get_attribute("#map-svg", "viewBox")
        w0, w1 = float(before.split()[2]), float(after.split()[2])
        assert w1 == pytest.approx(w0 / 1.5, rel=1e-6)
        box = page.locator("#map-svg").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, -200)
        assert float(page.get_attribute("#map-svg", "viewBox").split()[2]) < w1
        page.click("#zoom-reset")
        assert page.get_attribute("#map-svg", "viewBox") == before
        # Hover a borough: its name and figures appear.
        westminster = page.locator('path.b[data-code="E09000033"]')
        westminster.hover(force=True)
        tip = page.locator("#tip")
        assert tip.is_visible() and "Westminster" in tip.inner_text()
        assert "mean response" in tip.inner_text()
        # Shading by another figure recolours the boroughs.
        fill0 = westminster.evaluate("e => e.style.fill")
        page.select_option("#map-metric", "drone_deploy")
        assert westminster.evaluate("e => e.style.fill") != fill0
        # Layers switch on and off.
        page.check('input[data-layer="cells"]')
        assert page.locator("#layer-cells").is_visible()
        page.uncheck('input[data-layer="docks"]')
        assert not page.locator(".layer-docks").first.is_visible()
    finally:
        ctx.close()
    assert problems == [], problems


def test_borough_table_sorts(browser, report_files):
    path, summary = report_files["run"]
    ctx, page, problems = _open(browser, path, VIEWPORTS["laptop"])
    try:
        head = page.locator("#borough-table thead th").nth(1)  # incidents a week
        head.click()
        head.click()  # descending
        assert head.get_attribute("aria-sort") == "descending"
        first = page.locator("#borough-table tbody tr").first.locator("th").inner_text()
        busiest = max(summary["per_borough"], key=lambda r: r["incidents_per_week"] or 0)
        assert first.startswith(busiest["name"])
        page.locator("#borough-table thead th").nth(3).click()  # drone mean, ascending
        rows = page.eval_on_selector_all("#borough-table tbody tr",
                                         "rs => rs.map(r => r.cells[3].getAttribute("
                                         "'data-sort'))")
        vals = [float(v) for v in rows if v != ""]
        assert vals == sorted(vals) and rows[-1] == ""  # boroughs without drones last
    finally:
        ctx.close()
    assert problems == [], problems


@pytest.mark.parametrize("kind", ["sweep", "compare"])
def test_step_or_scenario_selector(browser, report_files, kind):
    path, _ = report_files[kind]
    ctx, page, problems = _open(browser, path, VIEWPORTS["laptop"])
    try:
        options = page.eval_on_selector_all("#map-group option", "os => os.map(o => o.value)")
        assert len(options) >= 2
        visible = page.eval_on_selector_all(
            ".grp", "gs => gs.filter(g => g.style.display !== 'none').map(g => g.dataset.group)")
        assert visible == [options[0]]
        page.select_option("#map-group", options[-1])
        visible = page.eval_on_selector_all(
            ".grp", "gs => gs.filter(g => g.style.display !== 'none').map(g => g.dataset.group)")
        assert visible == [options[-1]]
    finally:
        ctx.close()
    assert problems == [], problems


def test_hostile_label_neither_ends_nor_comments_out_the_data(browser, tmp_path):
    """A comparison labelled by a file name holding ``<!--<script>``, ``&`` and ``>`` (two
    scenarios of the same name): the page still runs its script, parses its data and offers
    the label in the scenario selector (before the JSON was escaped, ``<!--<script>`` inside
    the data block swallowed the rest of the page)."""
    from dronesim.cli import main
    from dronesim.outputs.html import build_html_report

    hostile = 'x<!--<script>&a>b'
    baseline = Path(__file__).resolve().parents[1] / "scenarios" / "met_baseline.toml"
    body = (f'extends = "{baseline.as_posix()}"\n'
            'name = "same"\n[simulation]\nweeks = 0.05\nreplications = 1\n')
    a, b = tmp_path / f"{hostile}.toml", tmp_path / "b.toml"
    a.write_text(body, encoding="utf-8")
    b.write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compare", str(a), str(b), "--out", str(out), "--quiet", "--no-plots"]) == 0
    page_file = tmp_path / "report.html"
    page_file.write_text(build_html_report(out), encoding="utf-8")
    ctx, page, problems = _open(browser, page_file, VIEWPORTS["laptop"])
    try:
        data = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
        assert hostile in data["metrics"]["pop"]["values"]
        options = page.eval_on_selector_all("#map-group option", "os => os.map(o => o.value)")
        assert options == [hostile, "b"]
        page.select_option("#map-group", hostile)
        assert page.locator("#map-metric").is_visible()
        assert page.evaluate("document.querySelectorAll('script').length") == 2
    finally:
        ctx.close()
    assert problems == [], problems
