"""The package is a stack, not a ring: no import cycle anywhere (function-level and
``TYPE_CHECKING`` imports count), and each layer imports only from the layers below it.

The rules (``LAYERS``), bottom to top; a module may import its own sub-package and anything in a
lower layer, never a higher one::

    errors, _version            imports nothing of dronesim
    limits                      the machine's limits (cores, memory) and the checks against them
    inputs                      scenario, streams, geography, sources, demand, weather, ...
    kinematics                  flight times, charge needs, reach (dronesim/kinematics.py)
    siting                      sites, solvers, coverage
    dispatch                    the policy family
    kpis                        the registry, statistics, cost and value formulas
    engine                      kernel, prepared scenario, fleet, ..., replication
    theory                      queueing, output analysis, verification
    experiment                  runner, executors, workers, store, sweep, compare, calibration
    outputs                     tables, plots, reports, GeoPackage, results reader
    (the root)                  dronesim/__init__.py: the public API
    cli                         the command line (nothing imports it)

A checker that found nothing would pass whatever the code did, so the last tests plant a
violation in a copy of the package and check that it is found.
"""

from __future__ import annotations

import ast
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dronesim"

#: Bottom to top. Each entry: the first component of a module's path inside the package
#: (``engine`` for ``dronesim.engine.fleet``; top-level modules by their own name).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_version", "_lazy"),
    ("limits",),
    ("inputs",),
    ("kinematics",),  # dronesim/kinematics.py: flight and battery arithmetic
    ("siting",),
    ("dispatch",),
    ("kpis",),
    ("engine",),
    ("theory",),
    ("experiment",),
    ("outputs",),
    ("",),  # the package root (dronesim/__init__.py): the public API
    ("cli",),
]


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.with_suffix("").relative_to(root.parent).parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_edges(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its file (function-level and
    ``TYPE_CHECKING`` imports included). ``from . import x`` of a submodule is an edge to the
    submodule; of a name defined in a package ``__init__``, an edge to that package."""
    mods = _modules(root)
    top = root.name
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod != top and not mod.startswith(top + "."):
                    continue
                names = [f"{mod}.{a.name}" for a in node.names]
                subs = [n for n in names if n in mods]
                if subs:
                    edges[name].update(subs)
                if len(subs) < len(names) and mod in mods:
                    edges[name].add(mod)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        edges[name].add(a.name)
        edges[name].discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    nodes = set(edges) | {w for ws in edges.values() for w in ws}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYERS.index(("",))
    for k, names in enumerate(LAYERS):
        if parts[1] in names:
            return k
    raise AssertionError(f"{module}: in no layer; add its sub-package to LAYERS")


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer, and every import of the CLI but by the root."""
    out = []
    for a, targets in sorted(edges.items()):
        la = layer_of(a)
        for b in sorted(targets):
            lb = layer_of(b)
            same = a.split(".")[:2] == b.split(".")[:2]
            if same:
                continue
            if lb > la:
                out.append(f"{a} imports {b} ({LAYERS[la][0] or 'the root'} may not import "
                           f"{LAYERS[lb][0] or 'the root'})")
    return out


def test_every_module_is_in_a_layer() -> None:
    for name in _modules(PACKAGE):
        layer_of(name)


def test_no_import_cycle() -> None:
    assert cycles(import_edges()) == []


def test_each_layer_imports_only_from_below() -> None:
    assert violations(import_edges()) == []


def test_engine_imports_nothing_from_experiment_outputs_or_cli() -> None:
    edges = import_edges()
    for a, targets in edges.items():
        if a.startswith("dronesim.engine"):
            bad = [b for b in targets if b.split(".")[1:2] in (["experiment"], ["outputs"],
                                                               ["cli"])]
            assert not bad, (a, bad)


def _planted(tmp_path: Path, module: str, line: str) -> Path:
    root = tmp_path / "dronesim"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    path = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted():\n    {line}\n",
                    encoding="utf-8")
    return root


def test_an_engine_module_importing_the_cli_is_found(tmp_path: Path) -> None:
    engine = sorted(m for m in _modules(PACKAGE) if m.startswith("dronesim.engine."))[0]
    root = _planted(tmp_path, engine, "from dronesim.cli import main  # noqa")
    found = violations(import_edges(root))
    assert any(v.startswith(f"{engine} imports dronesim.cli") for v in found), found


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    # inputs.scenario is imported by the engine; make it import the engine back, in a function.
    engine = sorted(m for m in _modules(PACKAGE) if m.startswith("dronesim.engine."))[0]
    root = _planted(tmp_path, "dronesim.inputs.scenario", f"import {engine}  # noqa")
    assert cycles(import_edges(root)) != []
    assert any("dronesim.inputs.scenario imports" in v for v in violations(import_edges(root)))


@pytest.mark.parametrize("line", ["from .. import __version__", "from dronesim import Scenario"])
def test_importing_the_package_root_from_below_is_found(tmp_path: Path, line: str) -> None:
    root = _planted(tmp_path, "dronesim.inputs.scenario", line + "  # noqa")
    assert any("imports dronesim (" in v for v in violations(import_edges(root)))


def test_importing_dronesim_defers_plotting_and_statistics_libraries():
    """`import dronesim` (and the command line's module) leaves matplotlib and scipy.stats
    unimported: they cost start-up time that a run without plots or intervals does not need."""
    import subprocess
    import sys

    code = ("import sys, dronesim, dronesim.cli; "
            "print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out
