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
from typing import cast

__all__ = ["policies_text", "siting_methods_text", "scenario_keys_markdown", "SITING_METHODS"]

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
    from ..dispatch import available_policies
    from ..dispatch.registry import _REGISTRY

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
    from ..inputs.scenario import SitingSpec

    field = {f.name: f for f in dataclasses.fields(SitingSpec)}["method"]
    choices = field.metadata["choices"]
    lines = ["Siting methods ([siting] method = \"name\"; listed docks are always kept):"]
    for name in choices:
        lines += _lines(name, SITING_METHODS.get(name, "(no description)"), "", width)
    spec = SitingSpec()
    lines.append(f"New sites get siting.drones_per_site drones (default {spec.drones_per_site});"
                 f" optimisation weighs demand by siting.weight (default {spec.weight!r}).")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Every scenario key, for docs/scenario-keys.md (generated; a test keeps the page in step)
# --------------------------------------------------------------------------------------------

#: How each top-level section is written in a scenario file (tables of tables, arrays of tables).
_SECTION_FORM = {"docks": "[[docks]]", "airframes": "[[airframes]]",
                 "services": "[services.<police|fire|ambulance>]"}


def _type_text(tp: object) -> str:
    import typing

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple:
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is not None and getattr(origin, "__name__", "") == "Mapping":
        return f"table of {_type_text(args[1])}" if len(args) == 2 else "table"
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return " or ".join(_type_text(a) for a in args if a is not type(None))
    if tp is typing.Any:
        return "any value"
    names = {float: "number", int: "whole number", str: "text", bool: "true/false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))  # type: ignore[call-overload]


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        d = f.default
    elif f.default_factory is not dataclasses.MISSING:
        d = f.default_factory()
    else:
        return ""
    if isinstance(d, float):
        if math.isnan(d):
            return "unset"
        if math.isinf(d):
            return "inf"
        return f"{d:g}"
    if isinstance(d, bool):
        return "true" if d else "false"
    if isinstance(d, str):
        return f'"{d}"'
    if isinstance(d, tuple):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in d) + "]"
    if isinstance(d, dict) or hasattr(d, "items"):
        return "{}" if not d else "{" + ", ".join(f"{k} = {v!r}" for k, v in d.items()) + "}"
    return str(d)


def _range_text(meta: object) -> str:
    m = dict(meta)  # type: ignore[call-overload]
    if m.get("choices"):
        return ", ".join(f'"{c}"' for c in m["choices"])
    parts = []
    for key, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        v = m.get(key)
        if v is not None:
            parts.append(f"{sym} {v:g}" if isinstance(v, float) else f"{sym} {v}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def scenario_keys_markdown() -> str:
    """Every scenario key with its type, default, allowed values and meaning, as Markdown.

    Read from the schema itself (the dataclasses of :mod:`dronesim.inputs.scenario`), so the page
    ``docs/scenario-keys.md`` (written by ``make docs``) cannot drift from what a scenario
    accepts: a test regenerates it and compares.
    """
    import typing

    from ..inputs.scenario import Scenario

    out = ["# Scenario keys", "",
           "<!-- Generated by `make docs` from the schema in dronesim/inputs/scenario.py; "
           "do not edit by hand. -->", "",
           "Every key a scenario file accepts, by section, with its default. Any other key is "
           "refused. Units: seconds (`_s`), metres (`_m`), metres per second (`_m_s`); "
           "coordinates in EPSG:27700 unless the key says longitude/latitude. A file may start "
           "with `extends = \"parent.toml\"` (one level; tables merge key by key, arrays are "
           "replaced whole).", ""]

    def section(cls: type, title: str, prefix: str) -> list[str]:
        hints = typing.get_type_hints(cls)
        rows: list[str] = []
        nested: list[tuple[type, str, str]] = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal") or (cls is Scenario and f.name in ("source",)):
                continue
            tp = hints[f.name]
            inner = typing.get_args(tp)
            # Field hints name classes: a dataclass found here is a class, not an instance.
            if dataclasses.is_dataclass(tp):
                nested.append((cast(type, tp), f"[{prefix}{f.name}]", f"{prefix}{f.name}."))
                continue
            if typing.get_origin(tp) is tuple and inner and dataclasses.is_dataclass(inner[0]):
                nested.append((cast(type, inner[0]),
                               _SECTION_FORM.get(f.name, f"[[{prefix}{f.name}]]"), ""))
                continue
            if (typing.get_origin(tp) is not None and len(inner) == 2
                    and dataclasses.is_dataclass(inner[1])):
                nested.append((cast(type, inner[1]),
                               _SECTION_FORM.get(f.name, f"[{prefix}{f.name}.<name>]"),
                               f"{prefix}{f.name}.<name>."))
                continue
            rows.append(f"| `{f.name}` | {_type_text(tp)} | {_cell(_default_text(f))} | "
                        f"{_cell(_range_text(f.metadata))} | {_cell(f.metadata.get('doc', ''))} |")
        lines = []
        if rows:
            lines += [f"## {title}", ""]
            doc = _first_line(cls.__doc__)
            if doc and cls is not Scenario:
                lines += [doc, ""]
            lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|",
                      *rows, ""]
        for sub, sub_title, sub_prefix in nested:
            if sub_title.startswith("[services.") and "ground" in sub_prefix:
                sub_title = "[services.<name>.ground]"
            lines += section(sub, sub_title, sub_prefix)
        return lines

    out += section(Scenario, "Top level", "")
    return "\n".join(out).rstrip() + "\n"
