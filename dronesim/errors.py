"""Errors that reach the user as one line: file, field, problem.

Every check on user input (scenario files, data files, trace CSVs, command-line values) raises
:class:`InputError`. The command line prints ``str(error)`` and exits with status 2, so the message
must be complete on its own: which file, which field, what is wrong.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input, reported as ``FILE: FIELD: PROBLEM``.

    Parameters
    ----------
    file
        The file the value came from (or ``"<command line>"``).
    field
        Dotted path of the offending key, e.g. ``"drones.speed_m_s"``; empty if the whole file is bad.
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
        #: the last of them; see :func:`dronesim.scenario.blame`).
        self.related = tuple(related)
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(f"{where}: {problem}")
