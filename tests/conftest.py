"""Shared fixtures for the dronesim test suite.

* A deterministic, database-free hypothesis profile (``dronesim``) loaded for every test.
* ``tiny_scenario``: a builder for small in-memory scenarios (validated with
  :func:`dronesim.inputs.scenario.scenario_from_dict`), so tests state only what they vary.
* Paths to the repository, its scenarios and the baseline scenario.
* Helpers shared by several modules (deep merge, running the CLI in-process).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")  # no display in tests, set before matplotlib loads
# Matplotlib's caches in a folder of their own, so tests that move HOME see no stray files.
os.environ.setdefault("MPLCONFIGDIR", os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"dronesim-tests-mpl-{os.getuid()}"))

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dronesim",
    derandomize=True,  # same examples on every run: a failure is reproducible by rerunning
    database=None,  # no .hypothesis folder, nothing carried between runs
    deadline=None,  # simulations vary in wall time; correctness is what is tested
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("DRONESIM_HYPOTHESIS_PROFILE", "dronesim"))

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
MET_BASELINE = SCENARIOS / "met_baseline.toml"
#: The Met baseline with every hour flyable (issue 17: met_baseline.toml is operational, with
#: weather, night rules and faults); the tests pinned to a weather-free model use this.
MET_WEATHER_FREE = SCENARIOS / "met_baseline_weather_free.toml"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

#: Points known to lie inside London (EPSG:27700), away from the Thames and borough borders.
INSIDE = {
    "islington": (531187.0, 183392.0),  # Islington police station (Islington)
    "croydon": (532500.0, 165500.0),  # Croydon town centre (Croydon)
    "stratford": (538500.0, 184500.0),  # Stratford (Newham)
    "westminster": (530000.0, 180000.0),  # Westminster, south of Trafalgar Square
    "hyde_park": (527356.0, 180346.0),  # Hyde Park police station (Westminster)
}


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merged key by key, everything else (arrays included) replaced: as ``extends``."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def tiny_scenario_dict(**over: Any) -> dict[str, Any]:
    """A small scenario as a nested dict (TOML-shaped): two docks, light police demand.

    Keyword arguments are top-level tables merged on top (``drones={"speed_m_s": 25.0}``).
    """
    base: dict[str, Any] = {
        "name": "tiny",
        "description": "test fixture",
        "simulation": {"weeks": 0.2, "warmup_hours": 2.0, "replications": 1, "seed": 7},
        "drones": {"speed_m_s": 20.0, "decision_s": 10.0, "launch_overhead_s": 20.0,
                   "climb_s": 10.0, "descent_s": 10.0, "max_range_m": 3000.0},
        "docks": [
            {"name": "Islington", "x": INSIDE["islington"][0], "y": INSIDE["islington"][1],
             "drones": 2},
            {"name": "Croydon", "x": INSIDE["croydon"][0], "y": INSIDE["croydon"][1],
             "drones": 1},
        ],
        "services": {"police": {"incidents_per_week": 3000.0, "spatial_weight": "crime",
                                "time_profile": "flat", "priority_shares": [0.5, 0.5],
                                "drone_suited_share": [1.0, 0.5]}},
        "control_room": {"pilots": 2},
        "dispatch": {"policy": "earliest_arrival", "max_queue_wait_s": 300.0},
    }
    return deep_merge(base, over)


@pytest.fixture
def tiny_scenario():
    """Builder: ``tiny_scenario(**tables) -> Scenario`` (validated)."""
    from dronesim.inputs.scenario import scenario_from_dict

    def build(**over: Any):
        return scenario_from_dict(tiny_scenario_dict(**over), source="<tiny>")

    return build


@pytest.fixture(scope="session")
def london():
    from dronesim.inputs.geography import load_london

    return load_london()


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``dronesim.cli.main`` in-process; returns (status, stdout, stderr).

    argparse errors leave through ``SystemExit``; both ways count as the exit status.
    """
    from dronesim.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def extends_baseline(path: Path, body: str) -> Path:
    """A scenario file in a temporary folder that extends the real baseline by absolute path."""
    return write_toml(path, f'extends = "{MET_BASELINE.as_posix()}"\n{body}')


# --------------------------------------------------------------------------------------------
# Small results folders of each kind (HTML report, GeoPackage export, browser tests)
# --------------------------------------------------------------------------------------------

#: Command lines writing the small results folders: 2 replications (1 for ``run1``), short
#: horizons, so that all four take a few seconds.
RESULTS_COMMANDS = {
    "run": ["run", SCENARIOS / "met_baseline.toml", "--replications", "2", "--weeks", "0.1",
            "--no-plots"],
    "run1": ["run", SCENARIOS / "met_baseline.toml", "--replications", "1", "--weeks", "0.05",
             "--no-plots"],
    "sweep": ["sweep", SCENARIOS / "met_growth.toml", "--fleet", "9,30", "--replications", "2",
              "--weeks", "0.1"],
    "compare": ["compare", SCENARIOS / "bluelight_separate.toml",
                SCENARIOS / "bluelight_shared.toml", "--replications", "2", "--weeks", "0.1",
                "--no-plots"],
}


@pytest.fixture(scope="session")
def results_folders(tmp_path_factory) -> dict[str, Path]:
    """Results folders written by the command line, by kind: run, run1 (one replication),
    sweep, compare. Written once per session; tests must not change them (copy first)."""
    import contextlib
    import io

    from dronesim.cli import main

    root = tmp_path_factory.mktemp("results")
    out = {}
    for kind, argv in RESULTS_COMMANDS.items():
        folder = root / kind
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv] + ["--out", str(folder), "--quiet"])
        assert code == 0, f"{kind}: {err.getvalue()}"
        out[kind] = folder
    return out


def snapshot(*roots: Path) -> dict[str, object]:
    """Every path under ``roots``: a file's bytes, a link's target, a folder's presence (for
    checking that a refused command changed nothing)."""
    out: dict[str, object] = {}
    for root in roots:
        for p in [root, *sorted(root.rglob("*"))]:
            if p.is_symlink():
                out[str(p)] = ("link", os.readlink(p))
            elif p.is_dir():
                out[str(p)] = "dir"
            else:
                out[str(p)] = p.read_bytes()
    return out
