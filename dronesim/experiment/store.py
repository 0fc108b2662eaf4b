"""Output folders: dronesim writes only where it may, and never loses a file it did not write.

The rules (README, "Output folders")
------------------------------------
* dronesim writes only inside a folder it creates, or one it recognises as its own output: a
  folder holding a ``manifest.json`` that dronesim wrote (it carries ``"dronesim_output": 1`` and
  the list of files with their sizes and SHA-256), or the state folder ``.dronesim/`` of a run that
  was interrupted. An empty folder counts as new.
* An existing folder holding anything else is refused (one line, exit 2) before any simulation
  starts, unless ``--overwrite`` is given; even then only dronesim's own files are replaced, and a
  file dronesim would write that already exists and was not written by dronesim (or was changed
  since, its hash no longer matching) is refused. No command deletes or overwrites a file that
  dronesim did not write.
* The path is checked before the run: not the current folder, the home folder or ``/``, not a
  file, not inside a file, writable.
* Everything is written first into ``.dronesim/staging-<pid>/`` inside the folder and moved into
  place file by file (``os.replace``) only when the run is complete; ``manifest.json`` comes last.
  A run that fails or is interrupted (Ctrl-C, SIGTERM) removes its staging folder, and the output
  folder itself if it created it and nothing was finished in it. Staging and partial files left
  by a killed run (``kill -9``) are removed by the next run on the folder.
* Finished tasks of a long run (:mod:`dronesim.experiment.runner`) are kept as they finish,
  recorded in ``.dronesim/ledger.jsonl``, so re-running the same command after an interruption runs
  only what is missing.
* Records that drive deletion or replacement are never trusted: every path a manifest, the
  ledger or an intent names must be a plain relative path inside the folder (no ``..``, not
  absolute, no symbolic link on the way) and one of the names dronesim itself writes
  (:func:`record_problem`); anything else refuses the whole command (one line, exit 2) before
  anything is run, written or deleted.
* Placing files is a small commit protocol that survives ``kill -9`` at any instant: before any
  file is moved into place (a task's files in :meth:`OutputFolder.keep`, the final files in
  :meth:`OutputFolder.commit`, a report in :meth:`OutputFolder.add`) or deleted, an intent
  (``.dronesim/intent.json``: each file about to be placed with its size and SHA-256, each file
  about to be deleted, the manifest to write) is written and synced. The next run on the folder
  rolls it forward: the files in place whose digest matches the intent are recorded as
  dronesim's own, the manifest is finished if everything was placed, and the intent is removed.
  So a re-run after ``kill -9`` always resumes.
* Never inside dronesim itself: the package folder and, in a source checkout, the checkout's
  own folders (``data/``, ``scenarios/``, ``dronesim/``, ``tests/``, ...; ``results/`` is
  allowed) are refused, ``--overwrite`` or not.
* One run at a time: ``.dronesim/lock`` is held with ``flock`` for the whole run; a second run on
  the same folder is refused. The kernel releases the lock when the process dies, however it dies.
* Folders and files are created with the default modes, so they follow the user's umask.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import InputError, naming

__all__ = ["OutputFolder", "check_output_path", "check_output_file", "write_output_file",
           "file_digest", "MANIFEST", "STATE_DIR", "write_text_atomic", "RUN_ENTRIES",
           "SWEEP_ENTRIES", "COMPARE_ENTRIES", "record_problem", "OWN_FILES", "OWN_PARTS",
           "ADDED_SUFFIXES", "FAULT_STEPS", "SENSITIVITY_ENTRIES",
           "SENSITIVITY_FILES", "CSV_PART", "CSV_FILES"]

MANIFEST = "manifest.json"
STATE_DIR = ".dronesim"
_LEDGER = "ledger.jsonl"
_LOCK = "lock"
_OWNER = "owner.json"
_INTENT = "intent.json"
_MARK = "dronesim_output"
_CLI = "<command line>"

#: What each command writes at the top of its output folder (checked before a run: any of these
#: that exists and was not written by dronesim is refused).
RUN_ENTRIES = ("summary.json", "scenario.resolved.toml", "incidents.parquet", "missions.parquet",
               "plots", "tasks")
SWEEP_ENTRIES: tuple[str, ...] = ("summary.json", "scenario.resolved.toml", "sweep.csv",
                                  "boroughs.csv", "sites.csv", "plots", "tasks")
COMPARE_ENTRIES = ("summary.json", "differences.csv", "values.csv", "scenarios", "plots", "tasks")


#: The only paths an output folder's records (manifest, ledger, intent) may name: the fixed
#: files at the top, the files of each subfolder (``folder -> suffix``, a one-part name of
#: letters, digits and ``- _ .`` as :func:`dronesim.experiment.runner.safe_label` makes them), and a
#: report or GeoPackage added later at the top (``dronesim report`` / ``export``).
OWN_FILES: tuple[str, ...] = ("summary.json", "scenario.resolved.toml", "sweep.csv", "boroughs.csv",
             "sites.csv", "differences.csv", "values.csv")
OWN_PARTS = {"plots": ".png", "scenarios": ".toml", "tasks": ".json",
             "incidents.parquet": ".parquet", "missions.parquet": ".parquet"}
ADDED_SUFFIXES = (".html", ".gpkg")

#: ``dronesim sensitivity`` (dronesim.experiment.sensitivity): its own files, and its entries.
SENSITIVITY_FILES = ("sensitivity.json", "sensitivity.csv", "sensitivity.md")
OWN_FILES = OWN_FILES + SENSITIVITY_FILES
#: ``dronesim sweep``'s trade-off front (dronesim.kpis.pareto), written when the steps have costs.
OWN_FILES = OWN_FILES + ("front.csv",)
SWEEP_ENTRIES = SWEEP_ENTRIES + ("front.csv",)
SENSITIVITY_ENTRIES = ("summary.json", "scenario.resolved.toml", *SENSITIVITY_FILES, "plots",
                       "tasks")

#: ``dronesim dock-value`` (dronesim.experiment.dock_value): its own file, and its entries.
DOCK_VALUE_FILES = ("dock_value.csv",)
OWN_FILES = OWN_FILES + DOCK_VALUE_FILES
DOCK_VALUE_ENTRIES = ("summary.json", *DOCK_VALUE_FILES, "differences.csv", "values.csv",
                      "scenarios", "tasks")
#: ``dronesim export --csv`` (dronesim.outputs.csv_export): the tables as CSV, in a ``csv/``
#: part folder of a results folder, or at the top of a folder of their own.
CSV_PART = "csv"
CSV_FILES = ("incidents.csv", "missions.csv", "per_borough.csv", "sweep_steps.csv",
             "exposure_cells.csv", "exposure_top_cells.csv", "exposure_boroughs.csv",
             "exposure_summary.csv")
OWN_PARTS[CSV_PART] = ".csv"
OWN_FILES = OWN_FILES + CSV_FILES


def _is_added_name(rel: str) -> bool:
    """A report or GeoPackage added to an output folder: one top-level name ending .html or
    .gpkg (any case), not hidden."""
    return "/" not in rel and not rel.startswith(".") and rel.lower().endswith(ADDED_SUFFIXES)


def record_problem(rel: Any) -> str | None:
    """Why ``rel`` may not be a path recorded in an output folder, or None if it may: a
    normalised relative POSIX path (no ``..``, ``.`` or empty part, no backslash or control
    character) naming a file dronesim writes (:data:`OWN_FILES`, :data:`OWN_PARTS`, an added
    report or GeoPackage). The one definition used for manifests, ledgers and intents."""
    if not isinstance(rel, str) or not rel:
        return "is not a relative path"
    if "\\" in rel or any(not c.isprintable() for c in rel):
        return "holds a backslash or a control character"
    if rel.startswith("/"):
        return "is an absolute path"
    parts = rel.split("/")
    if ".." in parts:
        return "leads out of the output folder (a '..' part)"
    if any(part in ("", ".") for part in parts):
        return "is not a normalised path (an empty or '.' part)"
    if len(parts) == 1 and (rel in OWN_FILES or _is_added_name(rel)):
        return None
    if len(parts) == 2 and parts[0] in OWN_PARTS:
        name = parts[1]
        if (name.endswith(OWN_PARTS[parts[0]]) and not name.startswith(".")
                and all(c.isalnum() or c in "-_." for c in name)):
            return None
    return "is not a file dronesim writes"


def _link_problem(folder: Path, rel: str) -> str | None:
    """Why ``folder/rel`` is not a path inside ``folder`` on disk: a part of it (checked with
    ``lstat``, as far as it exists) is a symbolic link; or None."""
    p = folder
    for part in rel.split("/"):
        p = p / part
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot be checked ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return f"goes through a symbolic link ({p.relative_to(folder).as_posix()})"
    return None


def _vet(folder: Path, record: str, field: str, rel: Any, links: bool) -> str:
    """``rel`` if it may be recorded (:func:`record_problem`; with ``links``, also no symbolic
    link on disk), else an :class:`InputError` naming the record file, the path and why."""
    why = record_problem(rel)
    if why is None and links:
        why = _link_problem(folder, rel)
    if why is not None:
        raise InputError(folder / record, field, f"{rel!r} {why}; dronesim deletes or replaces "
                                                 "only its own files, so it leaves this folder "
                                                 "as it is (move the folder's files away, or "
                                                 "name another folder)")
    return rel


# --------------------------------------------------------------------------------------------
# Fault injection (a test hook)
# --------------------------------------------------------------------------------------------

#: TEST HOOK, never set in normal use: ``DRONESIM_FAULT=<step>`` or ``<step>:<n>`` kills the
#: process with SIGKILL the first (or n-th) time the commit protocol reaches ``step``, as a
#: ``kill -9`` or a power cut at that instant would (tests/test_output_safety.py). Costs one
#: environment lookup per step.
FAULT_STEPS = (
    "keep-intent",             # a task's intent written, nothing placed
    "keep-placed",             # after each task file placed (n-th file)
    "keep-recorded",           # task files recorded in the ledger, intent not yet removed
    "commit-intent",           # the final intent written, nothing placed
    "commit-placed",           # after each final file placed (n-th file)
    "commit-recorded",         # every final file placed and recorded in the ledger
    "commit-deleted",          # after each stale file deleted (n-th file)
    "commit-before-manifest",  # everything placed and deleted, no manifest yet
    "commit-manifest",         # manifest written, intent not yet removed
    "commit-cleanup",          # intent removed, the run state not yet cleared
    "add-intent", "add-placed", "add-manifest",  # a report or GeoPackage added (add)
)
_FAULT_ENV = "DRONESIM_FAULT"
_fault_count: dict[str, int] = {}


def _fault(step: str) -> None:
    want = os.environ.get(_FAULT_ENV)
    if not want:
        return
    name, _, nth = want.partition(":")
    if name == step:
        _fault_count[step] = _fault_count.get(step, 0) + 1
        if _fault_count[step] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# The project's own folders
# --------------------------------------------------------------------------------------------

#: Folders of a dronesim source checkout no output may go into (``results/`` may).
_CHECKOUT_FOLDERS = ("data", "scenarios", "dronesim", "tests", "notebooks", "scripts",
                     "benchmarks", "docs", ".git")


def _project_problem(target: Path) -> str | None:
    """What ``target`` (resolved) is, if it is dronesim's own folder or inside one: the package
    folder, or in a source checkout (the package's parent has a pyproject.toml naming dronesim)
    the checkout itself and its :data:`_CHECKOUT_FOLDERS`; else None."""
    pkg = Path(__file__).resolve().parents[1]  # the dronesim package
    if target == pkg or pkg in target.parents:
        return f"inside the dronesim package ({pkg})"
    root = pkg.parent
    inside = [d for d in (root / n for n in _CHECKOUT_FOLDERS)
              if target == d or d in target.parents]
    if target != root and not inside:
        return None  # (no need to read pyproject.toml: nothing of the checkout is at stake)
    try:
        meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(meta.get("project"), dict) and meta["project"].get("name") == "dronesim"):
        return None
    if target == root:
        return f"the dronesim source checkout itself ({root})"
    d = inside[0]
    return f"inside the dronesim checkout's own {d.name}/ folder ({d})"


def file_digest(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file: how dronesim recognises a file it wrote, unchanged."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def write_text_atomic(path: Path, text: str, tmp_dir: Path | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary file (in ``tmp_dir``, default the same
    folder), synced to disk, and a rename; the folder is synced too."""
    tmp = (tmp_dir or path.parent) / f".{path.name}.tmp-{os.getpid()}"
    try:
        with naming(path), open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _sync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _sync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, or None; a symbolic link is not followed (None)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def _state_dir(folder: Path) -> Path | None:
    """``folder/.dronesim`` if it is a real folder (not a symbolic link), else None."""
    state = folder / STATE_DIR
    return state if state.is_dir() and not state.is_symlink() else None


def _intent(folder: Path, links: bool = False) -> dict[str, Any] | None:
    """The intent of a commit step a killed run left (``.dronesim/intent.json``), its paths
    vetted (:func:`_vet`), or None."""
    state = _state_dir(folder)
    if state is None:
        return None
    body = _read_json(state / _INTENT)
    if not (isinstance(body, dict) and body.get(_MARK) == 1):
        return None
    record = f"{STATE_DIR}/{_INTENT}"
    for key in ("place", "delete"):
        if not isinstance(body.get(key), dict):
            body[key] = {}
        for rel in body[key]:
            _vet(folder, record, key, rel, links)
    man = body.get("manifest")
    if isinstance(man, dict):
        for rel in man.get("files") or {}:
            _vet(folder, record, "manifest.files", rel, links)
    else:
        body["manifest"] = None
    return body


def _recorded(folder: Path, links: bool = False) -> dict[str, dict[str, Any]]:
    """Files dronesim recorded writing in ``folder`` (relative path -> size, sha256): the
    committed manifest's list, then the ledger of finished tasks (later entries win), then the
    files of a killed run's intent that are in place with the intended digest.

    Every recorded path is vetted (:func:`record_problem`; with ``links``, also no symbolic
    link on disk): one that is not raises :class:`~dronesim.errors.InputError`."""
    files: dict[str, dict[str, Any]] = {}
    man = _read_json(folder / MANIFEST)
    if isinstance(man, dict) and man.get(_MARK) == 1 and isinstance(man.get("files"), dict):
        for rel, rec in man["files"].items():
            _vet(folder, MANIFEST, "files", rel, links)
            if isinstance(rec, dict):
                files[rel] = rec
    state = _state_dir(folder)
    ledger = None if state is None else state / _LEDGER
    if ledger is not None and ledger.is_file() and not ledger.is_symlink():
        record = f"{STATE_DIR}/{_LEDGER}"
        lines = ledger.read_text(encoding="utf-8", errors="replace").splitlines()
        for n, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed run
            if not isinstance(entry, dict) or "path" not in entry:
                continue
            rel = _vet(folder, record, f"line {n}", entry["path"], links)
            if entry.get("deleted"):
                files.pop(rel, None)
            else:
                files[rel] = {"size": entry.get("size"), "sha256": entry.get("sha256")}
    intent = _intent(folder, links)
    if intent is not None:
        for rel, rec in intent["place"].items():
            if isinstance(rec, dict) and _unchanged(folder, rel, rec):
                files[rel] = {"size": rec.get("size"), "sha256": rec.get("sha256")}
    return files


def _is_own_folder(folder: Path) -> bool:
    man = _read_json(folder / MANIFEST)
    if isinstance(man, dict) and man.get(_MARK) == 1:
        return True
    state = _state_dir(folder)
    owner = None if state is None else _read_json(state / _OWNER)
    return isinstance(owner, dict) and owner.get(_MARK) == 1


def _unchanged(folder: Path, rel: str, rec: dict[str, Any]) -> bool:
    """True if ``folder/rel`` is a regular file, reached through no symbolic link, with the
    recorded size and SHA-256."""
    path = folder / rel
    try:
        if record_problem(rel) is not None or _link_problem(folder, rel) is not None:
            return False
        if not path.is_file() or path.stat().st_size != rec.get("size"):
            return False
        return file_digest(path)["sha256"] == rec.get("sha256")
    except OSError:
        return False


def _state_link(folder: Path) -> str | None:
    """``.dronesim`` or the name of an entry in it that is a symbolic link (dronesim never makes
    one there: writing through it would write outside the folder), or None."""
    state = folder / STATE_DIR
    if state.is_symlink():
        return STATE_DIR
    if state.is_dir():
        try:
            for entry in os.scandir(state):
                if entry.is_symlink():
                    return f"{STATE_DIR}/{entry.name}"
        except OSError:
            return None
    return None


def _interrupted_start(state: Path) -> bool:
    """True if ``state`` (``.dronesim``) is what a run killed while creating it leaves: a real
    folder holding nothing but, perhaps, a half-written owner record."""
    if state.is_symlink() or not state.is_dir():
        return False
    try:
        names = os.listdir(state)
    except OSError:
        return False
    return all(n.startswith(f".{_OWNER}.tmp-") for n in names)


def _walk_files(path: Path) -> Iterator[Path]:
    if path.is_dir() and not path.is_symlink():
        for p in sorted(path.rglob("*")):
            if not p.is_dir() or p.is_symlink():
                yield p
    else:
        yield path


def check_output_path(path: Path, *, overwrite: bool = False, entries: Iterable[str] = (),
                      field: str = "--out") -> str:
    """Check an output folder before anything runs; returns ``"new"``, ``"own"`` or ``"foreign"``.

    Raises :class:`~dronesim.errors.InputError` (``<command line>: --out: ...``) when the folder
    may not be written: see the module docstring. ``entries`` are the top-level names the command
    writes (files, or folders such as ``plots``); any of them that exists and holds something
    dronesim did not write (or that changed since) is refused, ``--overwrite`` or not.
    """
    out = Path(path).expanduser()
    where = str(path)
    try:
        target = out.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(_CLI, field, f"{where}: cannot resolve ({exc})") from None
    project = _project_problem(target)
    if project is not None:
        raise InputError(_CLI, field, f"{where} is {project}; dronesim never writes its outputs "
                                      "there, --overwrite or not: name a folder elsewhere "
                                      "(e.g. results/run1)")
    cwd = Path.cwd().resolve()
    if target == cwd:
        raise InputError(_CLI, field, f"{where} is the current folder; name a new folder "
                                      "for the outputs (e.g. results/run1)")
    if target == Path(target.anchor) or target == Path.home().resolve():
        what = "/" if target == Path(target.anchor) else "the home folder"
        raise InputError(_CLI, field, f"{where} is {what}; name a new folder for the outputs")
    # The nearest existing ancestor must be a folder we may write into.
    probe = target
    while not probe.exists():
        if probe.is_symlink():
            raise InputError(_CLI, field, f"{where}: {probe} is a broken link")
        probe = probe.parent
    if probe != target:
        if not probe.is_dir():
            raise InputError(_CLI, field, f"{where} is inside {probe}, which is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise InputError(_CLI, field, f"{where} cannot be created: {probe} is not writable")
        return "new"
    if not target.is_dir():
        raise InputError(_CLI, field, f"{where} exists and is not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise InputError(_CLI, field, f"{where} is not writable")
    try:
        content = [p for p in target.iterdir()]
    except OSError as exc:
        raise InputError(_CLI, field, f"{where}: cannot list ({exc.strerror})") from None
    state = target / STATE_DIR
    linked = _state_link(target)
    if linked is not None:
        raise InputError(_CLI, field, f"{where}: {linked} is a symbolic link, which dronesim "
                                      "never makes; name another folder")
    if not content or (len(content) == 1 and content[0] == state and _interrupted_start(state)):
        return "new"
    own = _is_own_folder(target)
    if not own and not overwrite:
        shown = ", ".join(sorted(p.name for p in content)[:3])
        raise InputError(_CLI, field, f"{where} already holds files dronesim did not write "
                                      f"({shown}{', ...' if len(content) > 3 else ''}); name a "
                                      "new folder, or pass --overwrite to add dronesim's outputs "
                                      "beside them (nothing of yours is replaced or deleted)")
    if not own and (target / STATE_DIR).exists():
        raise InputError(_CLI, field, f"{where}: {STATE_DIR} was not made by dronesim; "
                                      "name another folder")
    # Every record is vetted now, before anything runs: a forged path refuses the command.
    recorded = _recorded(target, links=True) if own else {}
    for name in ((() if own else (MANIFEST,)) + tuple(entries)):
        entry = target / name
        if not entry.exists() and not entry.is_symlink():
            continue
        for f in _walk_files(entry):
            rel = f.relative_to(target).as_posix()
            rec = recorded.get(rel)
            if rec is None or not _unchanged(target, rel, rec):
                why = ("was not written by dronesim" if rec is None
                       else "has changed since dronesim wrote it")
                raise InputError(_CLI, field, f"{where}: {rel} {why}; dronesim never overwrites "
                                              "such a file: move it away or name another folder")
    return "own" if own else "foreign"


class OutputFolder:
    """An output folder for one command, checked, locked and written safely.

    Use as a context manager after every input check has passed::

        folder = OutputFolder(out, overwrite=args.overwrite, entries=RUN_ENTRIES)  # checks
        with folder:                      # creates, locks, clears stale staging
            ...write into folder.staging...
            folder.commit(manifest)       # moves staged files into place, manifest last

    Leaving the block without :meth:`commit` (an error, Ctrl-C) removes the staging folder and,
    if this run created the output folder and finished nothing in it, the folder too.
    """

    def __init__(self, path: Path, *, overwrite: bool = False, entries: Iterable[str] = (),
                 field: str = "--out") -> None:
        self.path = Path(path).expanduser()
        self.entries = tuple(entries)
        self.overwrite = overwrite
        self.field = field
        self.state = check_output_path(self.path, overwrite=overwrite, entries=self.entries,
                                       field=field)
        self._lock_fd: int | None = None
        self._created: list[Path] = []
        self._staging: Path | None = None
        self._records: dict[str, dict[str, Any]] | None = None
        self.committed = False

    # --- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> OutputFolder:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder (if new), take the lock and clear what a killed run left: finish
        (roll forward) its interrupted commit step, remove its staging and partial files."""
        missing = []
        p = self.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created.append(d)
        state = self.path / STATE_DIR
        linked = _state_link(self.path)
        if linked is not None:
            raise InputError(_CLI, self.field, f"{self.path}: {linked} is a symbolic link, "
                                               "which dronesim never makes; name another folder")
        if not state.exists():
            state.mkdir()
            self._created.append(state)
        owner = state / _OWNER
        if not owner.exists():  # first, so that a run killed from here on is recognised
            write_text_atomic(owner, json.dumps({_MARK: 1, "created": time.time(),
                                                 "pid": os.getpid()}) + "\n")
        self._lock()
        self._recover()
        # Staging, partial and temporary files of a run that was killed outright: ours, stale.
        for stale in state.glob("staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in state.glob(".*.tmp-*"):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink(missing_ok=True)
        partial = state / "partial"
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        self._staging = state / f"staging-{os.getpid()}"
        self._staging.mkdir()
        (state / "partial").mkdir()

    def _lock(self) -> None:
        path = self.path / STATE_DIR / _LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                info = ""
                try:
                    info = path.read_text(encoding="utf-8").strip()
                except OSError:
                    pass
                raise InputError(_CLI, self.field, f"{self.path} is being written by another "
                                                   f"dronesim run{f' ({info})' if info else ''}; "
                                                   "wait for it to finish or name another folder"
                                 ) from None
            # The lock file may have been replaced between open and flock: lock the one in place.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self._lock_fd = fd

    @property
    def staging(self) -> Path:
        """Where the run writes its final files before :meth:`commit`."""
        if self._staging is None:
            raise RuntimeError("output folder not open")
        return self._staging

    @property
    def partial(self) -> Path:
        """Where workers write a task's files before :meth:`keep` moves them into place."""
        return self.path / STATE_DIR / "partial"

    def close(self) -> None:
        """Remove staging; undo the folder if this run created it and kept nothing in it."""
        state = self.path / STATE_DIR
        if self._lock_fd is not None:
            self._recover()  # a commit step that failed part-way (an error, not a kill)
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        shutil.rmtree(state / "partial", ignore_errors=True)
        ledger = state / _LEDGER
        kept = ledger.is_file() and ledger.stat().st_size > 0  # finished tasks to resume from
        if self.committed:
            # A complete output needs no run state: the manifest now marks the folder as ours.
            for name in (_LEDGER, _OWNER):
                (state / name).unlink(missing_ok=True)
        if self._lock_fd is not None:
            if self.committed or not kept:
                (state / _LOCK).unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None
        if self.committed or not kept:
            if not kept:
                (state / _OWNER).unlink(missing_ok=True)
            try:
                state.rmdir()
            except OSError:
                pass
        if not kept and not self.committed:
            for d in reversed(self._created):
                if not d.exists():
                    continue
                try:
                    d.rmdir()  # only if empty: never removes anything else
                except OSError:
                    break

    # --- the commit protocol ------------------------------------------------------------------
    def _intend(self, op: str, place: dict[str, dict[str, Any]],
                delete: dict[str, dict[str, Any]] | None = None,
                manifest: dict[str, Any] | None = None) -> None:
        """Write and sync the intent of one commit step before anything is placed or deleted
        (see the module docstring)."""
        body = {_MARK: 1, "op": op, "pid": os.getpid(), "place": place, "delete": delete or {},
                "manifest": manifest}
        state = self.path / STATE_DIR
        write_text_atomic(state / _INTENT, json.dumps(body, default=str) + "\n", state)

    def _done(self) -> None:
        """The step is complete and recorded: remove its intent."""
        (self.path / STATE_DIR / _INTENT).unlink(missing_ok=True)
        _sync_dir(self.path / STATE_DIR)

    def _recover(self) -> None:
        """Roll forward the intent a killed (or failed) run left: the files in place with the
        intended digest are recorded as dronesim's own, the files intended for deletion that are
        gone are recorded as deleted, the manifest is finished if the step was complete; then
        the intent is removed. Paths are vetted first (:func:`_intent`)."""
        path = self.path / STATE_DIR / _INTENT
        if not path.exists() and not path.is_symlink():
            return
        intent = _intent(self.path, links=True)
        if intent is not None:
            placed = {rel: rec for rel, rec in intent["place"].items()
                      if isinstance(rec, dict) and _unchanged(self.path, rel, rec)}
            gone = [rel for rel in intent["delete"]
                    if not os.path.lexists(self.path / rel)]
            self._record([{"path": rel, "size": rec.get("size"), "sha256": rec.get("sha256")}
                          for rel, rec in placed.items()]
                         + [{"path": rel, "deleted": True} for rel in gone])
            man = intent["manifest"]
            if (man is not None and len(placed) == len(intent["place"])
                    and len(gone) == len(intent["delete"])):
                write_text_atomic(self.path / MANIFEST,
                                  json.dumps(man, indent=2, default=str) + "\n",
                                  self.path / STATE_DIR)
        self._done()

    # --- writing ------------------------------------------------------------------------------
    def _record(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` to the ledger, synced (after a line a killed run cut short)."""
        if not entries:
            return
        path = self.path / STATE_DIR / _LEDGER
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
        with naming(path), os.fdopen(fd, "r+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            cut = end > 0 and os.pread(fd, 1, end - 1) != b"\n"
            fh.write((("\n" if cut else "") + "".join(json.dumps(e) + "\n" for e in entries))
                     .encode("utf-8"))
            fh.flush()
            os.fsync(fd)
        if self._records is not None:  # the same as reading the ledger again
            for e in entries:
                if e.get("deleted"):
                    self._records.pop(e["path"], None)
                else:
                    self._records[e["path"]] = {"size": e.get("size"),
                                                "sha256": e.get("sha256")}

    def recorded(self) -> dict[str, dict[str, Any]]:
        """Files of this folder dronesim wrote (relative path -> size, sha256)."""
        if self._records is None:
            self._records = _recorded(self.path)
        return dict(self._records)

    def owns(self, rel: str) -> bool:
        """True if ``rel`` (relative path) was written by dronesim and has not changed since."""
        rec = (self.recorded() if self._records is None else self._records).get(rel)
        return rec is not None and _unchanged(self.path, rel, rec)

    def _check_dest(self, rel: str) -> None:
        """Refuse to place a file at ``rel`` unless the path is one dronesim writes, reached
        through no symbolic link, and free or holding dronesim's own unchanged file."""
        why = record_problem(rel) or _link_problem(self.path, rel)
        if why is not None:
            raise InputError(_CLI, self.field, f"{self.path}: {rel} {why}; the output is not "
                                               "written")
        dest = self.path / rel
        if (dest.exists() or dest.is_symlink()) and not self.owns(rel):
            raise InputError(_CLI, self.field, f"{self.path}: {rel} was not written by dronesim "
                                               "(or changed since); it is left as it is and the "
                                               "output is not written")

    def _move(self, src: Path, rel: str) -> None:
        dest = self.path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if _link_problem(self.path, rel) is not None:  # appeared since the check
            self._check_dest(rel)
        os.replace(src, dest)

    def _place_all(self, op: str, files: dict[str, Path], *,
                   keep: dict[str, dict[str, Any]] | None = None,
                   manifest: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Place ``files`` (relative destination -> staged file) by the commit protocol:
        check every destination, write the intent, move each file, record them; with
        ``manifest``, also delete dronesim's stale files (recorded, not placed nor in
        ``keep``) and write the manifest listing the placed and kept files. Returns the
        placed and kept files with their digests."""
        for rel in files:
            self._check_dest(rel)
        digests = {rel: file_digest(src) for rel, src in files.items()}
        listed = {**(keep or {}), **digests}
        delete: dict[str, dict[str, Any]] = {}
        body = None
        if manifest is not None:
            before = self.recorded()
            delete = {rel: rec for rel, rec in before.items()
                      if rel not in listed and rel != MANIFEST and self.owns(rel)}
            body = {**manifest, "files": dict(sorted(listed.items()))}
        self._intend(op, digests, delete, body)
        _fault(f"{op}-intent")
        moved: list[str] = []
        try:
            for rel, src in files.items():
                self._move(src, rel)
                moved.append(rel)
                _fault(f"{op}-placed")
            self._record([{"path": rel, **d} for rel, d in digests.items()])
        except BaseException:
            # An error (a full disk) or Ctrl-C before the files were recorded: take back what
            # this step placed, so no file is left in place that dronesim has not recorded.
            # (A kill -9 leaves the intent instead, which the next run rolls forward.)
            for rel in moved:
                (self.path / rel).unlink(missing_ok=True)
            self._done()
            raise
        _fault(f"{op}-recorded")
        if manifest is not None:
            self.forget(delete)
            _fault(f"{op}-before-manifest")
            write_text_atomic(self.path / MANIFEST, json.dumps(body, indent=2, default=str)
                              + "\n", self.path / STATE_DIR)
            self._records = None
            _fault(f"{op}-manifest")
        self._done()
        return listed

    def keep(self, files: dict[str, Path]) -> None:
        """Move finished task files (relative destination -> file written under
        :attr:`partial`) into place now, and record them: a later run may resume from them."""
        self._place_all("keep", files)

    def forget(self, rels: Iterable[str]) -> None:
        """Delete files dronesim wrote earlier here and no longer wants (stale task parts)."""
        for rel in rels:
            if self.owns(rel):
                (self.path / rel).unlink()
                self._record([{"path": rel, "deleted": True}])
                _fault("commit-deleted")
                _prune_empty(self.path, (self.path / rel).parent)

    def add(self, rel: str, src: Path) -> Path:
        """Add one file (staged at ``src``) to a complete output and to its manifest: a report
        or a GeoPackage written into a results folder after the run."""
        man = _read_json(self.path / MANIFEST)
        if not (isinstance(man, dict) and man.get(_MARK) == 1):
            raise InputError(_CLI, self.field, f"{self.path} is not a complete dronesim output "
                                               "(no manifest.json)")
        if not _is_added_name(rel):
            raise InputError(_CLI, self.field, f"{self.path}: {rel}: only a top-level file "
                                               f"ending {' or '.join(ADDED_SUFFIXES)} may be "
                                               "added to a dronesim output folder")
        self._check_dest(rel)
        files = man.get("files")
        if not isinstance(files, dict):
            files = {}
        body = dict(man)
        body["files"] = dict(sorted({**files, rel: file_digest(src)}.items()))
        self._intend("add", {rel: body["files"][rel]}, None, body)
        _fault("add-intent")
        self._move(src, rel)
        _fault("add-placed")
        write_text_atomic(self.path / MANIFEST, json.dumps(body, indent=2, default=str) + "\n",
                          self.path / STATE_DIR)
        self._records = None
        _fault("add-manifest")
        self._done()
        self.committed = True
        return self.path / rel

    def add_part(self, part: str, files: dict[str, Path]) -> list[Path]:
        """Add the files of one part folder (``name -> staged file``; ``dronesim export
        --csv``) to a complete output and its manifest, by the commit protocol; dronesim's own
        files of an earlier export into that part that this one does not write again are
        deleted. A destination that is not one dronesim writes, or holds a file dronesim did
        not write, refuses the whole step before anything is placed."""
        man = _read_json(self.path / MANIFEST)
        if not (isinstance(man, dict) and man.get(_MARK) == 1):
            raise InputError(_CLI, self.field, f"{self.path} is not a complete dronesim output "
                                               "(no manifest.json)")
        staged = {f"{part}/{name}": src for name, src in files.items()}
        for rel in staged:
            why = record_problem(rel)
            if why is not None:
                raise InputError(_CLI, self.field, f"{self.path}: {rel} {why}; the output is "
                                                   "not written")
        before = self.recorded()
        keep = {rel: {"size": rec.get("size"), "sha256": rec.get("sha256")}
                for rel, rec in before.items()
                if rel != MANIFEST and rel not in staged and not rel.startswith(f"{part}/")}
        body = {k: v for k, v in man.items() if k != "files"}
        self._place_all("add", staged, keep=keep, manifest=body)
        self.committed = True
        return [self.path / rel for rel in staged]

    def commit(self, manifest: dict[str, Any], keep: Iterable[str] = ()) -> Path:
        """Move every staged file into place, delete dronesim's own files of an earlier run that
        this run did not write again (``keep``: task files this run kept), then write
        ``manifest.json`` listing every file of the output with its size and SHA-256; all by
        the commit protocol (an intent first: a kill at any instant is rolled forward by the
        next run)."""
        staged = {p.relative_to(self.staging).as_posix(): p
                  for p in sorted(self.staging.rglob("*")) if p.is_file()}
        staged.pop(MANIFEST, None)
        before = self.recorded()
        kept = {rel: {"size": before[rel].get("size"), "sha256": before[rel].get("sha256")}
                for rel in set(keep) if rel in before}
        self._place_all("commit", staged, keep=kept, manifest={_MARK: 1, **manifest})
        _fault("commit-cleanup")
        self.committed = True
        return self.path


def _prune_empty(root: Path, d: Path) -> None:
    """Remove empty folders from ``d`` up to (not including) ``root``."""
    root = root.resolve()
    d = d.resolve()
    while d != root and root in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent


# --------------------------------------------------------------------------------------------
# One output file: a report or a GeoPackage, inside a results folder or anywhere
# --------------------------------------------------------------------------------------------


def _results_folder_of(path: Path) -> Path | None:
    """The dronesim output folder ``path`` lies in (its nearest ancestor holding a manifest
    dronesim wrote), or None."""
    parent = Path(path).expanduser().parent.resolve()
    for d in (parent, *parent.parents):
        if isinstance(m := _read_json(d / MANIFEST), dict) and m.get(_MARK) == 1:
            return d
        if (d / MANIFEST).exists():
            return None
    return None


def check_output_file(file: str | Path, ours: Callable[[Path], bool], what: str,
                      field: str = "") -> Path:
    """Check, before anything is built, that ``file`` may be written; returns the path.

    Inside a dronesim output folder an existing file is replaced only if that folder's manifest
    records it and it is unchanged since; elsewhere only if the file itself says dronesim wrote
    it (``ours(path)``: a report's generator tag, a GeoPackage's ``dronesim_about`` table).
    Inside a dronesim output folder only a top-level name ending ``.html`` or ``.gpkg`` may be
    written (:func:`record_problem`), and never inside dronesim's own folders.
    Raises :class:`~dronesim.errors.InputError` (one line) otherwise.
    """
    path = Path(file).expanduser()
    src = _CLI if field else path
    parent = path.parent if str(path.parent) else Path(".")
    if path.name in ("", ".", ".."):
        raise InputError(src, field, f"{path}: not a file name for the {what}")
    if not parent.exists():
        raise InputError(src, field, f"{path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(src, field, f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(src, field, f"{path}: folder {parent} is not writable")
    if path.is_dir():
        raise InputError(src, field, f"{path}: is a folder, not a file")
    project = _project_problem(parent.resolve())
    if project is not None:
        raise InputError(src, field, f"{path}: {parent} is {project}; dronesim never writes "
                                     f"there: choose another folder for the {what}")
    home = _results_folder_of(path)
    if home is not None:
        rel = path.parent.resolve().relative_to(home).joinpath(path.name).as_posix()
        if not _is_added_name(rel):
            raise InputError(src, field, f"{path} is inside the dronesim output folder {home}, "
                                         f"where only a top-level file ending "
                                         f"{' or '.join(ADDED_SUFFIXES)} may be added; choose "
                                         f"another name for the {what}")
    if path.exists() or path.is_symlink():
        if home is not None:
            rec = _recorded(home, links=True).get(rel)
            mine = rec is not None and _unchanged(home, rel, rec)
        else:
            mine = not path.is_symlink() and ours(path)
        if not mine:
            raise InputError(src, field, f"{path} exists and was not written by dronesim (or was "
                                         f"changed since); refusing to overwrite it (choose "
                                         f"another name for the {what})")
    return path


def write_output_file(file: str | Path, produce: Callable[[Path], object],
                      ours: Callable[[Path], bool], what: str, field: str = "") -> Path:
    """Write one output file safely (see :func:`check_output_file`): ``produce(tmp)`` writes a
    new file at ``tmp`` in the same folder, which is then renamed into place. Inside a dronesim
    output folder the folder is locked meanwhile and the file is added to its manifest, so a
    later run recognises it as dronesim's own. Nothing is left behind if ``produce`` fails."""
    path = check_output_file(file, ours, what, field)
    home = _results_folder_of(path)
    if home is not None:
        rel = path.parent.resolve().relative_to(home).joinpath(path.name).as_posix()
        folder = OutputFolder(home, entries=(rel,), field=field or "--out")
        with folder:
            tmp = folder.staging / path.name
            with naming(path):
                produce(tmp)
            folder.add(rel, tmp)
        return path
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")  # keeps the type
    try:
        with naming(path):
            produce(tmp)
        os.replace(tmp, path)
    finally:
        for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
    return path


#: ``dronesim site`` and ``dronesim size`` (dronesim.experiment.siting_search): own files, entries.
SITING_SEARCH_FILES = ("search.json", "trace.csv", "sites.csv", "size.json", "size_steps.csv",
                       "size_boroughs.csv")
OWN_FILES = OWN_FILES + tuple(f for f in SITING_SEARCH_FILES if f not in OWN_FILES)
SITE_ENTRIES = ("search.json", "trace.csv", "sites.csv")
SIZE_ENTRIES = ("size.json", "size_steps.csv", "size_boroughs.csv")
