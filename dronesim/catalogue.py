"""What can be chosen in a scenario, listed for people: dispatch policies and siting methods.

The text behind ``dronesim policies`` and ``dronesim siting-methods``: one line per entry with
a one-line description, then its parameters. Policies are read from the registry, so a policy a
user registered (``@register_policy``) is listed too; siting methods from the scenario schema, so
the list cannot drift from what a scenario accepts.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import textwrap

__all__ = ["policies_text", "siting_methods_text", "SITING_METHODS"]

#: One-line description of each ``[siting] method``.
SITING_METHODS = {
    "listed": "only the [[docks]] listed in the scenario",
    "file": "the listed docks plus every site of a GeoJSON, GeoPackage or CSV file "
            "(siting.file; lon/lat or BNG x/y)",
    "candidates": "the listed docks plus every usable candidate site of the siting.candidates "
                  "kinds (fire stations, hospitals, hexagonal lattice points)",
    "one_per_borough": "the listed docks plus one site per borough, at its population-weighted "
                       "centre",
    "hex_grid": "the listed docks plus a hexagonal lattice spaced for the reach within the "
                "target time",
    "max_coverage": "siting.sites sites in all, chosen from the candidates to cover the most "
                    "demand within the target time (MILP, Church and ReVelle 1974)",
    "min_sites": "the fewest candidate sites covering siting.share of demand within the target "
                 "time (set covering MILP, Toregas et al. 1971)",
    "p_median": "siting.sites sites in all, chosen to minimise mean distance to demand (MILP on "
                "1 km demand cells, ReVelle and Swain 1970)",
}


def _first_line(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split()).replace("``", "")


def _params(cls: type) -> str:
    parts = []
    for p in inspect.signature(cls).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        if d is inspect.Parameter.empty:
            parts.append(p.name)
        elif isinstance(d, float) and math.isinf(d):
            parts.append(f"{p.name} = inf")
        else:
            parts.append(f"{p.name} = {d!r}")
    return ", ".join(parts)


def _lines(name: str, what: str, extra: str, width: int) -> list[str]:
    head = textwrap.wrap(f"{name:<22}{what}", width, subsequent_indent=" " * 22) or [name]
    if extra:
        head += textwrap.wrap(extra, width, initial_indent=" " * 22,
                              subsequent_indent=" " * 22)
    return head


def policies_text(width: int = 100) -> str:
    """The registered dispatch policies, one per entry: name, what it does, its parameters
    (set them in ``[dispatch.params]``)."""
    from .dispatch import available_policies
    from .dispatch.registry import _REGISTRY

    lines = ["Dispatch policies ([dispatch] policy = \"name\"; parameters in [dispatch.params]):"]
    for name in available_policies():
        cls = _REGISTRY[name]
        params = _params(cls)
        lines += _lines(name, _first_line(cls.__doc__) or "(no description)",
                        f"parameters: {params}" if params else "", width)
    lines.append("Add your own with @dronesim.register_policy(\"name\") on a class with "
                 "decide(incident, fleet, now).")
    return "\n".join(lines)


def siting_methods_text(width: int = 100) -> str:
    """The ``[siting] method`` values, one per entry, with the settings they use."""
    from .scenario import SitingSpec

    field = {f.name: f for f in dataclasses.fields(SitingSpec)}["method"]
    choices = field.metadata["choices"]
    lines = ["Siting methods ([siting] method = \"name\"; listed docks are always kept):"]
    for name in choices:
        lines += _lines(name, SITING_METHODS.get(name, "(no description)"), "", width)
    spec = SitingSpec()
    lines.append(f"New sites get siting.drones_per_site drones (default {spec.drones_per_site});"
                 f" optimisation weighs demand by siting.weight (default {spec.weight!r}).")
    return "\n".join(lines)
