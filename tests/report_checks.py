"""Checks shared by the HTML-report tests: does a number shown in the page equal the value in
summary.json it claims to show?

Each number the report shows carries ``data-path`` (JSON list: its place in summary.json) and
``data-fmt`` (how it is written). The text is parsed back independently of the report's own
formatting code and compared with the summary value within the rounding of its format.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from typing import Any

#: Largest difference the rounding of each format allows (in the summary's units).
_TOLERANCE = {"mmss": 0.5, "pct": 0.0005, "num": 0.05, "num0": 0.5, "num2": 0.005, "int": 0.0,
              "diff-s": 0.05, "diff-share": 0.0005, "diff-per_week": 0.05, "diff-gbp": 0.05,
              "diff-hours_per_week": 0.05, "diff-hours_per_day": 0.05, "diff-count": 0.05,
              "diff-index": 0.05}


def resolve(summary: dict[str, Any], path: list[Any]) -> Any:
    d: Any = summary
    for k in path:
        d = d[k]
    return d


def parse(text: str, fmt: str) -> float | None:
    """The number a piece of report text stands for (None for "-")."""
    t = text.strip().replace("\u2212", "-").replace(",", "")
    if t == "-":
        return None
    if fmt in ("mmss", "time") and re.fullmatch(r"-?\d+:\d\d", t):
        sign = -1 if t.startswith("-") else 1
        m, s = t.lstrip("-").split(":")
        return sign * (int(m) * 60 + int(s))
    if fmt == "time":
        return float(t.removesuffix(" s"))
    if fmt == "pct":
        return float(t.removesuffix("%")) / 100
    if fmt == "diff-share":
        return float(t.removesuffix(" pp")) / 100
    if fmt == "diff-s":
        return float(t.removesuffix(" s"))
    return float(t)


def check_value(summary: dict[str, Any], path: list[Any], fmt: str, text: str) -> None:
    """Assert that ``text`` (format ``fmt``) shows the summary value at ``path``."""
    value = resolve(summary, path)
    shown = parse(text, fmt)
    where = f"{json.dumps(path)} ({fmt}): page {text!r}, summary {value!r}"
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        assert shown is None, where
        return
    assert shown is not None, where
    if fmt == "time":
        tol = 0.5 if abs(value) >= 60 else 0.05
    else:
        tol = _TOLERANCE[fmt]
    assert abs(shown - float(value)) <= tol + 1e-9 * max(1.0, abs(value)), where


class _Collector(HTMLParser):
    """Every element with data-path: (path, fmt, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[list[Any], str, str]] = []
        self._open: list[list[Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-path" in a:
            self._open.append([json.loads(a["data-path"] or "[]"), a.get("data-fmt") or "", ""])

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open:
            path, fmt, text = self._open.pop()
            self.items.append((path, fmt, text))


def tagged_values(html_text: str) -> list[tuple[list[Any], str, str]]:
    """(path, fmt, text) of every tagged number of a report's HTML."""
    c = _Collector()
    c.feed(html_text)
    return c.items
