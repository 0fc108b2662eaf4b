"""What ``dronesim run`` imports: libraries a run without the option that needs them never loads.

matplotlib (plots), scipy.optimize (dock siting by MILP) and scipy.stats (weather, intervals)
cost seconds of start-up between them; a run on listed docks, without weather or plots, has no
use for any of them (:mod:`dronesim._lazy`). Each check runs the real command in a fresh process.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MET_WEATHER_FREE, REPO

DEFERRED = ("matplotlib", "scipy.optimize", "scipy.stats")


def _loaded_by_run(args: list[str]) -> list[str]:
    code = ("import sys; from dronesim.cli import main; "
            f"rc = main({args!r}); "
            f"print(rc, sorted(m for m in {DEFERRED!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip().splitlines()[-1]
    rc, _, loaded = out.partition(" ")
    assert rc == "0", out
    return ast.literal_eval(loaded)


@pytest.mark.parametrize("with_trace", [False, True])
def test_run_without_plots_weather_or_siting_loads_no_optimiser_statistics_or_plotting(
        tmp_path: Path, with_trace: bool) -> None:
    args = ["run", str(MET_WEATHER_FREE), "--out", str(tmp_path / "out"), "--weeks", "0.02",
            "--replications", "1", "--workers", "1", "--no-plots", "--quiet"]
    if with_trace:
        trace = tmp_path / "trace.csv"
        trace.write_text("time,x,y,service,priority\n"
                         "2024-01-01T00:10:00,530000,180000,police,1\n"
                         "2024-01-01T00:40:00,531000,181500,police,2\n"
                         "2024-01-02T09:30:00,529500,179000,police,1\n"  # after the warm-up
                         "2024-01-02T10:00:00,532000,182000,police,1\n", encoding="utf-8")
        args += ["--trace", str(trace)]
    assert _loaded_by_run(args) == []


def test_lazy_module_imports_on_first_attribute_only() -> None:
    code = ("import sys; from dronesim._lazy import module; m = module('xml.dom.minidom'); "
            "before = 'xml.dom.minidom' in sys.modules; m.parseString; "
            "print(before, 'xml.dom.minidom' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]
