"""``dronesim init`` and ``--version``; the README and docs/ as a newcomer's guide that cannot
drift from the code (the scenario-key page is generated from the schema)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import dronesim
from dronesim.cli.catalogue import scenario_keys_markdown
from dronesim.experiment.runner import prepare_checked
from dronesim.inputs.scenario import scenario_to_dict

REPO = Path(__file__).resolve().parents[1]
DRONESIM = Path(sys.executable).with_name("dronesim")
DOCS = sorted((REPO / "docs").glob("*.md"))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(DRONESIM), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_version() -> None:
    out = _cli("--version", cwd=REPO)
    assert out.returncode == 0
    assert out.stdout.strip() == f"dronesim {dronesim.__version__}"


def test_init_writes_a_starter_that_is_todays_met_service(tmp_path: Path) -> None:
    out = _cli("init", "mine", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "mine"
    assert sorted(p.name for p in folder.iterdir()) == ["scenario.toml", "sites.csv"]
    assert _cli("validate", "mine/scenario.toml", cwd=tmp_path).returncode == 0
    # The starter is the baseline in every value that matters, with its docks from the CSV:
    # a planner editing it starts from the calibrated model, not from toy values.
    base = prepare_checked(dronesim.load_scenario(REPO / "scenarios/met_baseline.toml"))
    mine = prepare_checked(dronesim.load_scenario(folder / "scenario.toml"))
    a, b = scenario_to_dict(base.scenario), scenario_to_dict(mine.scenario)
    for key in ("name", "description", "docks", "siting"):
        a.pop(key), b.pop(key)
    assert a == b
    assert list(base.docks.names) == list(mine.docks.names)
    assert list(base.docks.drones) == list(mine.docks.drones)
    assert base.docks.x == pytest.approx(mine.docks.x, abs=1e-6)
    assert base.docks.y == pytest.approx(mine.docks.y, abs=1e-6)


@pytest.mark.parametrize("content", ["file", "folder"])
def test_init_refuses_a_folder_that_holds_anything(tmp_path: Path, content: str) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    mine = target / "notes.txt"
    mine.write_text("mine")
    if content == "folder":
        mine.unlink()
        (target / "sub").mkdir()
    out = _cli("init", "taken", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not empty" in out.stderr
    assert sorted(p.name for p in target.iterdir()) == (["notes.txt"] if content == "file"
                                                        else ["sub"])


def test_init_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    out = _cli("init", "notes.txt", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not a folder" in out.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_scenario_keys_page_is_generated_from_the_schema() -> None:
    page = (REPO / "docs" / "scenario-keys.md").read_text(encoding="utf-8")
    assert page == scenario_keys_markdown(), "docs/scenario-keys.md is stale: run `make docs`"


def test_scenario_keys_page_lists_every_key_of_every_section() -> None:
    import dataclasses
    import typing

    from dronesim.inputs.scenario import Scenario

    page = scenario_keys_markdown()
    seen = 0

    def walk(cls: type) -> None:
        nonlocal seen
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal") or (cls is Scenario and f.name == "source"):
                continue
            tp = hints[f.name]
            args = typing.get_args(tp)
            sub = (tp if dataclasses.is_dataclass(tp) else
                   args[0] if args and dataclasses.is_dataclass(args[0]) else
                   args[-1] if args and dataclasses.is_dataclass(args[-1]) else None)
            if sub is not None:
                walk(sub)  # type: ignore[arg-type]
            else:
                assert f"| `{f.name}` |" in page, f"{cls.__name__}.{f.name} missing"
                seen += 1

    walk(Scenario)
    assert seen > 100


def test_readme_is_a_short_guide() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    text = "\n".join(lines)
    for command in ("make run", "make test", "dronesim run", "dronesim sweep", "dronesim compare",
                    "dronesim report", "dronesim export", "--plugin", "dronesim init"):
        assert command in text, command


@pytest.mark.parametrize("path", [REPO / "README.md", *DOCS], ids=lambda p: p.name)
def test_no_diary_in_readme_or_docs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in (r"\bissue #?\d+", r"closing note", r"\bgit [0-9a-f]{7,40}\b",
                    r"\bcommit [0-9a-f]{7,40}\b"):
        assert not re.search(pattern, text, re.I), (path.name, pattern)


@pytest.mark.parametrize("path", [REPO / "README.md", *DOCS], ids=lambda p: p.name)
def test_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), (path.name, target)
