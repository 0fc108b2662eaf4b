"""Price years: every money figure carries the year of its prices, and is uprated to the
scenario's ``[costs] price_year`` by one index (issue 17, item 4).

What this module owns
---------------------
* :func:`price_index`: the yearly index, read from ``data/calibration/price_index.csv``
  (``year,cpih_index_2015_100``).
* :func:`uprate_factor` / :func:`uprate`: a price of year ``a`` in prices of year ``b`` is
  ``price x index[b] / index[a]`` (the ratio of the annual index values).
* :func:`check_years`: the scenario check (one-line error naming the file and field) that
  ``price_year`` and every base year are years the index holds.

Source
------
ONS, "CPIH INDEX 00: ALL ITEMS 2015=100", series L522, dataset MM23 (Consumer price
inflation), annual averages 2010-2025, hand-transcribed (see ``data/README.md``). CPIH is the
ONS's lead measure of consumer prices; it is a general price index, not a pay index, so an
uprated police on-cost (84% of the service's yearly cost) follows consumer prices, not police
pay awards (an assumption; the PSSRU Unit Costs of Health and Social Care pay indices would be
the alternative for staff costs). No 2026 annual value exists until the ONS publishes
December 2026 (January 2027): the latest price year is 2025.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError

__all__ = ["INDEX_FILE", "price_index", "uprate_factor", "uprate", "check_years"]

#: The index file, relative to the package's data folder.
INDEX_FILE = Path("calibration") / "price_index.csv"


@functools.cache
def price_index(path: str | None = None) -> dict[int, float]:
    """Year -> annual index value (default: the committed CPIH table)."""
    if path is None:
        from .geography import default_data_dir

        file = default_data_dir() / INDEX_FILE
    else:
        file = Path(path)
    with open(file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = {int(r["year"]): float(r["cpih_index_2015_100"]) for r in rows}
    if not out or any(not v > 0 for v in out.values()):
        raise ValueError(f"{file}: needs one positive index value per year")
    return out


def uprate_factor(from_year: int, to_year: int, index: dict[int, float] | None = None) -> float:
    """``index[to_year] / index[from_year]``; 1 when ``to_year`` is 0 (prices as entered)."""
    if not to_year:
        return 1.0
    idx = price_index() if index is None else index
    for y in (from_year, to_year):
        if y not in idx:
            raise ValueError(f"no price index value for {y} (index holds {min(idx)}-{max(idx)})")
    return idx[to_year] / idx[from_year]


def uprate(price: float, from_year: int, to_year: int,
           index: dict[int, float] | None = None) -> float:
    """``price`` of ``from_year`` in prices of ``to_year`` (``to_year`` 0: unchanged)."""
    return price * uprate_factor(from_year, to_year, index)


def check_years(price_year: int, base_years: Iterable[int], file: str, field: str) -> None:
    """Raise :class:`InputError` unless ``price_year`` and every base year are in the index."""
    idx = price_index()
    lo, hi = min(idx), max(idx)
    if price_year not in idx:
        raise InputError(file, field, f"{price_year} is outside the price index "
                         f"({lo}-{hi}, ONS CPIH L522, data/calibration/price_index.csv)")
    for y in base_years:
        if y not in idx:
            raise InputError(file, field, f"a price's base year {y} is outside the price "
                             f"index ({lo}-{hi})")
