"""Errors that reach the user as one line: file, field, problem.

Every check on user input (scenario files, data files, trace CSVs, command-line values) raises
:class:`InputError`. The command line prints ``str(error)`` and exits with status 2, so the message
must be complete on its own: which file, which field, what is wrong.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["InputError", "one_line", "input_file", "named_os_error", "naming"]


def one_line(text: str) -> str:
    """``text`` with every line break and control character written as an escape (``\\n``,
    ``\\x0c``, ...), so that a value quoted in a message cannot break it over lines."""
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


class InputError(ValueError):
    """Bad user input, reported as ``FILE: FIELD: PROBLEM``.

    Parameters
    ----------
    file
        The file the value came from (or ``"<command line>"``).
    field
        Dotted path of the offending key, e.g. ``"drones.speed_m_s"``; empty if the whole file
        is bad.
    problem
        What is wrong, in a few words.
    related
        Other dotted fields a cross-field check involved.
    """

    def __init__(self, file: str | Path, field: str, problem: str, *,
                 related: tuple[str, ...] = ()) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        #: Other fields a cross-field check involved (the error belongs to whichever file set
        #: the last of them; see :func:`dronesim.inputs.scenario.blame`).
        self.related = tuple(related)
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(one_line(f"{where}: {problem}"))


def input_file(path: str | Path, what: str = "file", *, source: str | Path | None = None,
               field: str = "", hint: str = "") -> Path:
    """``path`` if it is a readable regular file; else an :class:`InputError` saying why (not
    found, a folder, a name too long, not allowed), addressed to ``source`` and ``field`` when
    the name came from there (a scenario's ``demand.trace``), else to the file itself."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        problem = f"{what} not found"
    except NotADirectoryError:
        problem = f"{what} not found (part of the path is a file)"
    except PermissionError:
        problem = f"{what} cannot be read (permission denied)"
    except OSError as exc:
        problem = f"{what} cannot be opened ({exc.strerror or exc})"
    else:
        if stat.S_ISREG(st.st_mode):
            return p
        problem = (f"is a folder, not a {what}" if stat.S_ISDIR(st.st_mode)
                   else f"not a regular file (a {what} is expected)")
    if hint and "not found" in problem:
        problem += f" ({hint})"
    if source is not None:
        raise InputError(source, field, f"{problem}: {p}")
    raise InputError(p, field, problem)


def named_os_error(exc: OSError, path: str | Path) -> OSError:
    """``exc`` as an :class:`OSError` naming ``path``, with its errno and reason kept (an error
    while writing, e.g. a full disk, names no file: ``[Errno 28] No space left on device``);
    ``exc`` itself when it already names a file."""
    if getattr(exc, "filename", None):
        return exc
    reason = exc.strerror or str(exc)
    if "Detail: " in reason:  # pyarrow: "Error writing bytes to file. Detail: [errno 28] ..."
        reason = reason.rsplit("] ", 1)[-1]
    return OSError(exc.errno, reason, str(path))


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """An :class:`OSError` raised in the block that names no file is raised again naming
    ``path`` (:func:`named_os_error`)."""
    try:
        yield
    except OSError as exc:
        named = named_os_error(exc, path)
        if named is exc:
            raise
        raise named from None
