"""scripts/build_data.py replaces its derived files by name, so it must never write into a
folder of the user's: only a new or empty folder, or the project's own data folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("build_data", ROOT / "scripts" / "build_data.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_data", mod)
    spec.loader.exec_module(mod)
    return mod


def test_a_users_folder_is_refused_before_anything_is_touched(tmp_path, capsys):
    mod = _script()
    user = tmp_path / "mine"
    (user / "boroughs").mkdir(parents=True)
    own = user / "boroughs" / "london_boroughs.geojson"  # same name as a derived file
    own.write_text("the user's own file")
    before = sorted(p.relative_to(user) for p in user.rglob("*"))
    assert mod.main([str(tmp_path / "no-such-source"), "--out", str(user)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--out holds files" in err and str(user) in err
    assert own.read_text() == "the user's own file"
    assert sorted(p.relative_to(user) for p in user.rglob("*")) == before


def test_a_file_as_out_is_refused(tmp_path):
    mod = _script()
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(mod.DataError, match="is a file"):
        mod.check_out_folder(f)
    assert f.read_text() == "x"


def test_the_projects_data_folder_and_new_or_empty_folders_are_accepted(tmp_path):
    mod = _script()
    mod.check_out_folder(ROOT / "data")
    mod.check_out_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    mod.check_out_folder(tmp_path / "empty")
