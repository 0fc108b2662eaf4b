"""The notebooks in notebooks/ run from top to bottom without error and are committed stripped.

Every ``*.ipynb`` in notebooks/ is found by the glob below and gets each test, so a new notebook
is executed without editing this file. Each one answers one question: numbered ``NN_name``,
a first markdown cell that is its title and question, a ``FULL`` switch between the small size
the tests run and the size to quote, and a closing "What this shows" cell.

Each notebook is executed with nbclient in a fresh ``python3`` kernel whose working directory is
the notebooks folder, as when a researcher opens it in Jupyter. When no ``python3`` kernelspec
is registered, jupyter_client falls back to ipykernel in the interpreter running the tests, so
``pip install -e ".[test]"`` is enough. Executed outputs are never written back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300


def test_the_notebooks_are_found():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 7, names
    numbers = [n.split("_", 1)[0] for n in names]
    assert all(len(k) == 2 and k.isdigit() for k in numbers), names
    assert len(set(numbers)) == len(numbers), f"two notebooks share a number: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path: Path) -> None:
    """Title and question first, a FULL switch, and a closing "what this shows" cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith(f"# {path.name[:2]} "), (
        f"{path.name}: the first cell should be the title '# {path.name[:2]} ...'")
    assert "**Question" in first, f"{path.name}: the first cell should state the question"
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "FULL = False" in code, f"{path.name}: no FULL = False switch"
    last = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and "What this shows" in last, (
        f"{path.name}: the last cell should say what this shows, and the caveats")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path: Path) -> None:
    """Committed notebooks carry no outputs or execution counts (plain JSON, no Jupyter needed)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat v4 notebook"
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    dirty += [i for i, cell in enumerate(nb["cells"]) if cell.get("attachments")]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       "clear all outputs and save before committing (Jupyter: Edit > Clear "
                       "Outputs of All Cells)")
    assert nb["metadata"].get("kernelspec", {}).get("name") == KERNEL, (
        f"{path.name}: kernelspec should be {KERNEL!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path) -> None:
    reason = 'needs the test extras: pip install -e ".[test]"'
    nbformat = pytest.importorskip("nbformat", reason=reason)
    nbclient = pytest.importorskip("nbclient", reason=reason)
    pytest.importorskip("ipykernel", reason=reason)
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        # The message names the failing cell and carries its traceback.
        pytest.fail(f"{path.name} failed after {time.perf_counter() - t0:.0f} s:\n{exc}",
                    pytrace=False)
    errors = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"{path.name}: error outputs in cells {errors}"
