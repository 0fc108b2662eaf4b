"""A task's identity: everything that decides its result, as digests.

A task of :mod:`dronesim.experiment.runner` (one replication of one resolved scenario) is reused
from an output folder only when its identity matches in every part:

* ``scenario``: the resolved scenario (every default filled in, every dock listed), without
  ``simulation.replications`` (replication ``r`` draws from the streams of the seed and ``r``
  alone, so a run of 5 replications reuses the 3 of an earlier one) and without the names of its
  input files, whose content stands in for them:
* ``inputs``: the SHA-256 of the bytes of every file the scenario reads (:func:`input_files`: the
  trace, a sites file, no-fly zones, link-coverage polygons);
* ``data``: the SHA-256 of every file of the data folder (the built-in ``data/`` or
  ``$DRONESIM_DATA``);
* ``plugins``: the SHA-256 of the source of every ``--plugin`` module;
* ``code``: dronesim's version and a digest of the bytes of every ``.py`` file of the package;
* ``format``: :data:`TASK_FORMAT`.

Files count by content, never by path or modification time. Each file is hashed once per
process (a large trace once per command, streamed): the digests are cached under the file's
path, size, inode and change times. The code digest is computed once per process. The parts are
kept in each task record (``tasks/<key>.json``), so a re-run on other inputs can say what
changed (:func:`describe_change`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..inputs.scenario import _PATH_FIELDS, Scenario

__all__ = ["TASK_FORMAT", "PATH_FIELDS", "Identity", "task_identity", "input_files", "flatten",
           "code_digest", "data_digests", "plugin_digests", "file_sha256", "describe_change"]

#: Version of what a stored task holds; bump it when its meaning changes.
TASK_FORMAT = 3

#: The scenario fields naming files the scenario reads (section, key): a string, an array of
#: strings or a table of strings, each resolved relative to the scenario file's folder. The
#: scenario module's own list (it anchors them for ``extends``), so a new file field is hashed
#: once it is listed there; tests/test_identity.py checks the list against the schema.
PATH_FIELDS = _PATH_FIELDS
#: How each of them is named in a message.
_WHAT = {"demand.trace": "trace", "siting.file": "sites file",
         "airspace.no_fly_files": "no-fly zone file", "connectivity.files": "link-coverage file",
         "services.ground.travel_file": "travel file"}

_FILES: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (streamed), once per process for a file that has not changed."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns)
    digest = _FILES.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = _FILES[key] = h.hexdigest()
    return digest


def _base(scn: Scenario) -> Path:
    """The folder a scenario's relative file names are resolved against (as the model does)."""
    src = str(scn.source)
    return Path(src).parent if src and not src.startswith("<") else Path.cwd()


def input_files(scn: Scenario) -> dict[str, Path]:
    """Every file the scenario reads (its role, e.g. ``demand.trace`` or
    ``connectivity.files.police``, -> path), from the fields of :data:`PATH_FIELDS`. A sites file
    counts only with ``siting.method = "file"`` (a prepared scenario lists its docks instead)."""
    out: dict[str, Path] = {}
    base = _base(scn)
    for section, key in PATH_FIELDS:
        if (section, key) == ("siting", "file") and scn.siting.method != "file":
            continue
        if section == "services":  # per service: services.<name>.ground.travel_file
            sub, leaf = key.split(".")
            for name, spec in scn.services.items():
                value = getattr(getattr(spec, sub), leaf)
                # A travel file counts only when its model reads it (as a sites file does).
                if value and spec.ground.travel_model in ("matrix", "graph"):
                    p = Path(value).expanduser()
                    out[f"services.{name}.{key}"] = p if p.is_absolute() else base / p
            continue
        value = getattr(getattr(scn, section), key)
        role = f"{section}.{key}"
        if isinstance(value, str):
            named = {role: value} if value else {}
        elif isinstance(value, Mapping):
            named = {f"{role}.{k}": v for k, v in value.items()}
        else:
            named = {f"{role}[{k}]": v for k, v in enumerate(value)}
        for r, name in named.items():
            p = Path(name).expanduser()
            out[r] = p if p.is_absolute() else base / p
    return out


@functools.cache
def code_digest() -> str:
    """SHA-256 over every ``.py`` file of the dronesim package (relative path and bytes, sorted
    by path), once per process."""
    root = Path(__file__).resolve().parents[1]  # the dronesim package
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py"), key=lambda q: q.relative_to(root).as_posix()):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def data_digests(data_dir: str | Path | None) -> dict[str, str]:
    """SHA-256 of every file of the data folder (relative path -> digest; hidden files and
    ``*.md`` notes left out)."""
    from ..inputs.geography import default_data_dir

    root = (Path(data_dir) if data_dir is not None else default_data_dir()).resolve()
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.startswith(".") or name.endswith(".md") or not p.is_file():
                continue
            out[p.relative_to(root).as_posix()] = file_sha256(p)
    return dict(sorted(out.items()))


def _plugin_files(spec: str) -> list[Path]:
    """The source files of a plugin: its ``.py`` file, or the file(s) of an importable module
    (every ``.py`` file of a package)."""
    from .workers import plugin_module_name

    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        return [Path(spec).expanduser()]
    mod = sys.modules.get(plugin_module_name(spec))
    origin = getattr(mod, "__file__", None)
    folders = list(getattr(mod, "__path__", None) or [])
    if mod is None:
        found = importlib.util.find_spec(spec)
        origin = found.origin if found is not None else None
        folders = list(found.submodule_search_locations or []) if found is not None else []
    if folders:
        return sorted(p for d in folders for p in Path(d).rglob("*.py")
                      if "__pycache__" not in p.parts)
    return [Path(origin)] if origin and Path(origin).is_file() else []


def plugin_digests(specs: Sequence[str]) -> dict[str, dict[str, str]]:
    """Plugin module name -> ``{"file": ..., "sha256": ...}`` over its source file(s)."""
    from .workers import plugin_module_name

    out = {}
    for spec in specs:
        files = _plugin_files(spec)
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode() + b"\0" + file_sha256(p).encode())
        out[plugin_module_name(spec)] = {"file": str(files[0]) if files else spec,
                                         "sha256": h.hexdigest()}
    return out


def _scenario_part(scn: Scenario) -> dict[str, Any]:
    from ..inputs.scenario import scenario_to_dict

    plain = scenario_to_dict(scn)
    plain["simulation"] = {k: v for k, v in plain["simulation"].items() if k != "replications"}
    for section, key in PATH_FIELDS:  # the files' content stands for their names
        if section == "services":  # services.<name>.ground.travel_file
            sub, leaf = key.split(".")
            plain[section] = {name: {**svc, sub: {k: v for k, v in svc[sub].items()
                                                  if k != leaf}}
                              for name, svc in plain[section].items()}
            continue
        plain[section] = {k: v for k, v in plain[section].items() if k != key}
    return plain


@dataclass(frozen=True)
class Identity:
    """A factor's identity: ``parts`` (JSON-able, kept in task records) and their ``digest``."""

    parts: dict[str, Any]
    digest: str


def _digest(parts: Mapping[str, Any]) -> str:
    """SHA-256 of the parts that decide a result (file names and the version string aside)."""
    core = {"format": parts["format"], "scenario": parts["scenario"],
            "inputs": {r: v["sha256"] for r, v in parts["inputs"].items()},
            "data": parts["data"],
            "plugins": {n: v["sha256"] for n, v in parts["plugins"].items()},
            "code": parts["code"]}
    text = json.dumps(core, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def task_identity(scn: Scenario, data_dir: str | Path | None = None, plugins: Sequence[str] = ()
                  ) -> Identity:
    """The identity of a (prepared) scenario's tasks run with ``plugins`` on ``data_dir``."""
    from .._version import __version__

    parts = {
        "format": TASK_FORMAT,
        "scenario": _scenario_part(scn),
        "inputs": {role: {"file": str(p), "sha256": file_sha256(p)}
                   for role, p in input_files(scn).items()},
        "data": data_digests(data_dir),
        "plugins": plugin_digests(plugins),
        "code": {"version": __version__, "sha256": code_digest()},
    }
    parts = json.loads(json.dumps(parts, default=str))  # as it reads back from a task record
    return Identity(parts, _digest(parts))


# --------------------------------------------------------------------------------------------
# What changed between two identities, in words
# --------------------------------------------------------------------------------------------


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A nested scenario dict as ``{"section.key": value}`` (``docks[0].name`` for tables of
    tables): how two scenarios' settings are compared, key by key."""
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and obj and all(isinstance(v, Mapping) for v in obj):
        out = {}
        for k, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{k}]"))
        return out
    return {prefix: obj}


def _short(v: Any) -> str:
    text = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 30 else text[:27] + "..."


def _role_name(role: str) -> str:
    base = re.sub(r"\[\d+\]$", "", role)
    base = re.sub(r"^services\.[^.]+\.", "services.", base)  # services.<name>.ground...
    return _WHAT.get(base) or _WHAT.get(base.rsplit(".", 1)[0], "input file")


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between a stored task's identity parts (``old``) and this run's (``new``),
    as short phrases naming the concrete things (scenario values, input files, plugins, code)."""
    if not isinstance(old, Mapping) or old.get("format") != new["format"]:
        fmt = old.get("format") if isinstance(old, Mapping) else None
        return [(f"dronesim's code changed (the tasks were written by another dronesim, "
                 f"task format {fmt if fmt is not None else 'unknown'})")]
    out = []
    oc, nc = old.get("code") or {}, new["code"]
    if oc.get("sha256") != nc["sha256"]:
        same = oc.get("version") == nc["version"]
        out.append("dronesim's code changed" + ("" if same else
                                                 f" ({oc.get('version')} -> {nc['version']})"))
    fo, fn = flatten(old.get("scenario") or {}), flatten(new["scenario"])
    keys = [k for k in dict.fromkeys([*fo, *fn]) if fo.get(k, None) != fn.get(k, None)]
    if len(keys) == 1:
        k = keys[0]
        out.append(f"the scenario value {k} changed ({_short(fo.get(k))} -> {_short(fn.get(k))})")
    elif keys:
        shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
        out.append(f"the scenario values {shown} changed")
    oi, ni = old.get("inputs") or {}, new["inputs"]
    for role in dict.fromkeys([*oi, *ni]):
        a, b = oi.get(role), ni.get(role)
        what = _role_name(role)
        if a is None:
            out.append(f"the {what} {role} ({Path(b['file']).name}) was added")
        elif b is None:
            out.append(f"the {what} {role} ({Path(a['file']).name}) was removed")
        elif a.get("sha256") != b["sha256"]:
            named = Path(b["file"]).name
            was = Path(str(a.get("file"))).name
            out.append(f"the {what} {role} ({named if named == was else f'{was} -> {named}'}) "
                       "changed")
    od, nd = old.get("data") or {}, new["data"]
    changed = [k for k in dict.fromkeys([*od, *nd]) if od.get(k) != nd.get(k)]
    if changed:
        out.append(f"the data file{'s' if len(changed) > 1 else ''} "
                   f"{', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''} changed")
    op, np_ = old.get("plugins") or {}, new["plugins"]
    for name in dict.fromkeys([*op, *np_]):
        a, b = op.get(name), np_.get(name)
        if a is None:
            out.append(f"the plugin {name} was added")
        elif b is None:
            out.append(f"the plugin {name} was removed")
        elif a.get("sha256") != b["sha256"]:
            out.append(f"the plugin {name} ({Path(b['file']).name}) changed")
    return out or ["other inputs"]
