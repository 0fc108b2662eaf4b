"""The notebooks in notebooks/ run from top to bottom without error and are committed stripped.

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path: Path) -> None:
    """Committed notebooks carry no outputs or execution counts (plain JSON, no Jupyter needed)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat v4 notebook"
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       "clear all outputs and save before committing (Jupyter: Edit > Clear "
                       "Outputs of All Cells)")
    assert nb["metadata"].get("kernelspec", {}).get("name") == KERNEL, (
        f"{path.name}: kernelspec should be {KERNEL!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason='needs the test extras: pip install -e ".[test]"')
    nbclient = pytest.importorskip("nbclient", reason='needs the test extras: pip install -e ".[test]"')
    pytest.importorskip("ipykernel", reason='needs the test extras: pip install -e ".[test]"')
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
