"""Worker processes that die with their parent, and user plugins imported into them.

Worker processes (a local process pool, or the processes of a Dask LocalCluster) must never
outlive the command that started them: a run killed with Ctrl-C, SIGTERM or ``kill -9`` leaves no
process behind. Each worker therefore

* asks the Linux kernel to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``),
* and, where that is not available or the parent is not the process that started the pool, runs a
  watchdog thread that ends the process within half a second of its parent going away;
* ignores SIGINT: Ctrl-C reaches every process of the terminal's group, and it is the parent that
  decides how to stop (it cancels the pool and reports in one line, with no traceback from every
  worker).

User plugins (``--plugin MODULE``) are Python modules that register dispatch policies with
:func:`dronesim.register_policy`. They are imported in the parent (so a broken plugin is reported
before anything runs) and again in every worker. A scenario file never names code to import:
only the command line can.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from ..errors import InputError, input_file

__all__ = ["init_worker", "die_with_parent", "load_plugins", "plugin_module_name"]

_PR_SET_PDEATHSIG = 1
_WATCHED = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent(watch_pid: int | None = None, poll_s: float = 0.5) -> None:
    """Make this process exit when its parent dies, or when ``watch_pid`` (the process that
    started the pool, which may be a grandparent through a fork server) is gone."""
    global _WATCHED
    if _WATCHED:
        return
    _WATCHED = True
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent == 1 or (watch_pid is not None and not _alive(watch_pid)):
        os._exit(1)  # orphaned before we got here

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent or (watch_pid is not None and not _alive(watch_pid)):
                os._exit(1)

    threading.Thread(target=watch, name="dronesim-parent-watch", daemon=True).start()


def plugin_module_name(spec: str) -> str:
    """The module name a plugin is imported under (a file ``x/my_rules.py`` -> ``my_rules``)."""
    p = Path(spec)
    return p.stem if p.suffix == ".py" else spec


def _changed_since_loaded(module: ModuleType, spec: str) -> bool:
    """True if ``module`` was loaded from the plugin file ``spec`` and the file has changed
    since (a long-lived process, e.g. a notebook, then runs the file as it is now)."""
    loaded = getattr(module, "__dronesim_sha256__", None)
    try:
        same_file = Path(module.__file__ or "").resolve() == Path(spec).expanduser().resolve()
        now = hashlib.sha256(Path(spec).expanduser().read_bytes()).hexdigest()
    except (OSError, TypeError):
        return False
    return same_file and loaded is not None and loaded != now


def _import_one(spec: str) -> ModuleType:
    name = plugin_module_name(spec)
    if (name in sys.modules and spec.endswith(".py")
            and not _changed_since_loaded(sys.modules[name], spec)):
        return sys.modules[name]
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = input_file(Path(spec).expanduser(), "plugin file", source="<command line>",
                          field="--plugin")
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise InputError("<command line>", "--plugin", f"{spec}: not a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        previous = sys.modules.get(name)
        sys.modules[name] = module
        try:
            # a marker of our own on the module (read back by _changed_since_loaded)
            vars(module)["__dronesim_sha256__"] = hashlib.sha256(path.read_bytes()).hexdigest()
            mod_spec.loader.exec_module(module)
        except BaseException:
            if previous is not None:
                sys.modules[name] = previous
            else:
                sys.modules.pop(name, None)
            raise
        return module
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(spec)


def load_plugins(specs: Sequence[str]) -> list[ModuleType]:
    """Import each plugin (a module name importable from the current folder, or a ``.py``
    file); any failure is one :class:`~dronesim.errors.InputError` naming the plugin and the
    line of the plugin that failed."""
    modules = []
    for spec in specs:
        try:
            modules.append(_import_one(spec))
        except InputError:
            raise
        except ModuleNotFoundError as exc:
            raise InputError("<command line>", "--plugin",
                             f"{spec}: no module named {exc.name!r} (give a module importable "
                             "from the current folder, or the path of a .py file)") from None
        except (Exception, SystemExit) as exc:  # a plugin may raise anything while importing
            where = ""
            for frame in reversed(traceback.extract_tb(exc.__traceback__)):
                if "dronesim" not in Path(frame.filename).parts[-2:-1]:
                    where = f" ({Path(frame.filename).name}, line {frame.lineno})"
                    break
            raise InputError("<command line>", "--plugin",
                             f"{spec}: importing it raised {type(exc).__name__}: {exc}{where}"
                             ) from None
    return modules


def init_worker(parent_pid: int, plugins: Sequence[str] = ()) -> None:
    """Initializer of every dronesim worker process (see the module docstring)."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if plugins:
        load_plugins(plugins)
