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
* Finished tasks of a long run (:mod:`dronesim.experiment`) are kept as they finish, recorded in
  ``.dronesim/ledger.jsonl``, so re-running the same command after an interruption runs only what
  is missing.
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
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError, naming

__all__ = ["OutputFolder", "check_output_path", "check_output_file", "write_output_file",
           "file_digest", "MANIFEST", "STATE_DIR", "write_text_atomic", "RUN_ENTRIES",
           "SWEEP_ENTRIES", "COMPARE_ENTRIES"]

MANIFEST = "manifest.json"
STATE_DIR = ".dronesim"
_LEDGER = "ledger.jsonl"
_LOCK = "lock"
_OWNER = "owner.json"
_MARK = "dronesim_output"
_CLI = "<command line>"

#: What each command writes at the top of its output folder (checked before a run: any of these
#: that exists and was not written by dronesim is refused).
RUN_ENTRIES = ("summary.json", "scenario.resolved.toml", "incidents.parquet", "missions.parquet",
               "plots", "tasks")
SWEEP_ENTRIES = ("summary.json", "scenario.resolved.toml", "sweep.csv", "boroughs.csv",
                 "sites.csv", "plots", "tasks")
COMPARE_ENTRIES = ("summary.json", "differences.csv", "values.csv", "scenarios", "plots", "tasks")


def file_digest(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file: how dronesim recognises a file it wrote, unchanged."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with naming(path):
            tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _recorded(folder: Path) -> dict[str, dict[str, Any]]:
    """Files dronesim recorded writing in ``folder`` (relative path -> size, sha256): the
    committed manifest's list, then the ledger of finished tasks (later entries win)."""
    files: dict[str, dict[str, Any]] = {}
    man = _read_json(folder / MANIFEST)
    if isinstance(man, dict) and man.get(_MARK) == 1 and isinstance(man.get("files"), dict):
        files.update({k: v for k, v in man["files"].items() if isinstance(v, dict)})
    ledger = folder / STATE_DIR / _LEDGER
    if ledger.is_file():
        for line in ledger.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed run
            if not isinstance(entry, dict) or "path" not in entry:
                continue
            if entry.get("deleted"):
                files.pop(entry["path"], None)
            else:
                files[entry["path"]] = {"size": entry.get("size"), "sha256": entry.get("sha256")}
    return files


def _is_own_folder(folder: Path) -> bool:
    man = _read_json(folder / MANIFEST)
    if isinstance(man, dict) and man.get(_MARK) == 1:
        return True
    owner = _read_json(folder / STATE_DIR / _OWNER)
    return isinstance(owner, dict) and owner.get(_MARK) == 1


def _unchanged(folder: Path, rel: str, rec: dict[str, Any]) -> bool:
    path = folder / rel
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != rec.get("size"):
            return False
        return file_digest(path)["sha256"] == rec.get("sha256")
    except OSError:
        return False


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
    cwd = Path.cwd().resolve()
    if target == cwd:
        raise InputError(_CLI, field, f"{where} is the current folder; name a new folder "
                                      "for the outputs (e.g. results/run1)")
    if target == Path(target.anchor) or target == Path.home().resolve():
        raise InputError(_CLI, field, f"{where} is {'/' if target == Path(target.anchor) else 'the home folder'}; "
                                      "name a new folder for the outputs")
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
    if not content:
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
    recorded = _recorded(target) if own else {}
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
        self.committed = False

    # --- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> OutputFolder:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder (if new), take the lock and clear what a killed run left."""
        missing = []
        p = self.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created.append(d)
        state = self.path / STATE_DIR
        if not state.exists():
            state.mkdir()
            self._created.append(state)
        self._lock()
        owner = state / _OWNER
        if not owner.exists():
            write_text_atomic(owner, json.dumps({_MARK: 1, "created": time.time(),
                                                 "pid": os.getpid()}) + "\n")
        # Staging and partial files of a run that was killed outright: ours, and stale.
        for stale in state.glob("staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = state / "partial"
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        self._staging = state / f"staging-{os.getpid()}"
        self._staging.mkdir()
        (state / "partial").mkdir()

    def _lock(self) -> None:
        path = self.path / STATE_DIR / _LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
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

    # --- writing ------------------------------------------------------------------------------
    def _record(self, entries: list[dict[str, Any]]) -> None:
        ledger = self.path / STATE_DIR / _LEDGER
        with naming(ledger), open(ledger, "a", encoding="utf-8") as fh:
            for e in entries:
                fh.write(json.dumps(e) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def recorded(self) -> dict[str, dict[str, Any]]:
        """Files of this folder dronesim wrote (relative path -> size, sha256)."""
        return _recorded(self.path)

    def owns(self, rel: str) -> bool:
        """True if ``rel`` (relative path) was written by dronesim and has not changed since."""
        rec = self.recorded().get(rel)
        return rec is not None and _unchanged(self.path, rel, rec)

    def _place(self, src: Path, rel: str) -> dict[str, Any]:
        dest = self.path / rel
        if (dest.exists() or dest.is_symlink()) and not self.owns(rel):
            raise InputError(_CLI, self.field, f"{self.path}: {rel} was not written by dronesim "
                                               "(or changed since); it is left as it is and the "
                                               "output is not written")
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest = file_digest(src)
        os.replace(src, dest)
        return {"path": rel, **digest}

    def keep(self, files: dict[str, Path]) -> None:
        """Move finished task files (relative destination -> file written under
        :attr:`partial`) into place now, and record them: a later run may resume from them."""
        placed: list[dict[str, Any]] = []
        try:
            for rel, src in files.items():
                placed.append(self._place(src, rel))
            self._record(placed)
        except BaseException:  # (a full disk): no file left in place that is not recorded
            for entry in placed:
                (self.path / entry["path"]).unlink(missing_ok=True)
            raise

    def forget(self, rels: Iterable[str]) -> None:
        """Delete files dronesim wrote earlier here and no longer wants (stale task parts)."""
        gone = []
        for rel in rels:
            if self.owns(rel):
                (self.path / rel).unlink()
                gone.append({"path": rel, "deleted": True})
                _prune_empty(self.path, (self.path / rel).parent)
        if gone:
            self._record(gone)

    def add(self, rel: str, src: Path) -> Path:
        """Add one file (staged at ``src``) to a complete output and to its manifest: a report
        or a GeoPackage written into a results folder after the run."""
        man = _read_json(self.path / MANIFEST)
        if not (isinstance(man, dict) and man.get(_MARK) == 1):
            raise InputError(_CLI, self.field, f"{self.path} is not a complete dronesim output "
                                               "(no manifest.json)")
        placed = self._place(src, rel)
        man.setdefault("files", {})[rel] = {k: v for k, v in placed.items() if k != "path"}
        man["files"] = dict(sorted(man["files"].items()))
        write_text_atomic(self.path / MANIFEST, json.dumps(man, indent=2, default=str) + "\n")
        self.committed = True
        return self.path / rel

    def commit(self, manifest: dict[str, Any], keep: Iterable[str] = ()) -> Path:
        """Move every staged file into place, delete dronesim's own files of an earlier run that
        this run did not write again (``keep``: task files this run kept), then write
        ``manifest.json`` listing every file of the output with its size and SHA-256."""
        staged = {p.relative_to(self.staging).as_posix(): p
                  for p in sorted(self.staging.rglob("*")) if p.is_file()}
        staged.pop(MANIFEST, None)
        # Check every destination first, so a refusal moves nothing.
        for rel in staged:
            dest = self.path / rel
            if (dest.exists() or dest.is_symlink()) and not self.owns(rel):
                raise InputError(_CLI, self.field, f"{self.path}: {rel} was not written by "
                                                   "dronesim (or changed since); it is left as "
                                                   "it is and the output is not written")
        before = self.recorded()
        files = {}
        for rel, src in staged.items():
            files[rel] = {k: v for k, v in self._place(src, rel).items() if k != "path"}
        keep = set(keep)
        for rel in keep:
            if rel in before:
                files[rel] = {"size": before[rel].get("size"), "sha256": before[rel].get("sha256")}
        stale = [rel for rel in before if rel not in files and rel != MANIFEST]
        self.forget(stale)
        body = {_MARK: 1, **manifest, "files": dict(sorted(files.items()))}
        write_text_atomic(self.path / MANIFEST, json.dumps(body, indent=2, default=str) + "\n")
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
    for d in Path(path).resolve().parents:
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
    if path.exists() or path.is_symlink():
        home = _results_folder_of(path)
        if home is not None:
            rel = path.resolve().relative_to(home).as_posix()
            rec = _recorded(home).get(rel)
            mine = rec is not None and _unchanged(home, rel, rec)
        else:
            mine = not path.is_symlink() and ours(path)
        if not mine:
            raise InputError(src, field, f"{path} exists and was not written by dronesim (or was "
                                         f"changed since); refusing to overwrite it (choose "
                                         f"another name for the {what})")
    return path


def write_output_file(file: str | Path, produce: Callable[[Path], None],
                      ours: Callable[[Path], bool], what: str, field: str = "") -> Path:
    """Write one output file safely (see :func:`check_output_file`): ``produce(tmp)`` writes a
    new file at ``tmp`` in the same folder, which is then renamed into place. Inside a dronesim
    output folder the folder is locked meanwhile and the file is added to its manifest, so a
    later run recognises it as dronesim's own. Nothing is left behind if ``produce`` fails."""
    path = check_output_file(file, ours, what, field)
    home = _results_folder_of(path)
    if home is not None:
        rel = path.resolve().relative_to(home).as_posix()
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
