"""The notebooks in ``notebooks/`` run top to bottom on a CPU (nbclient, ``python3`` kernel of
this interpreter), and are committed without outputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "data_inspection.ipynb",
        "quick_start.ipynb",
        "results_analysis.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: has outputs"


def _execute(notebook, path: Path) -> float:
    """Run ``notebook`` (read from ``path``) in a python3 kernel; seconds taken."""
    try:
        # the python3 kernel spec runs `python`, which jupyter_client maps to this interpreter
        KernelManager(kernel_name="python3").kernel_spec  # noqa: B018
    except NoSuchKernel:
        pytest.fail("no python3 kernel: python -m ipykernel install --sys-prefix")
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def _images(notebook) -> list:
    return [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    seconds = _execute(notebook, path)
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert not errors
    assert _images(notebook), f"{path.name} drew no figure"
    print(f"{path.name}: {seconds:.1f} s")


def test_results_notebook_plots_the_eao_curve_of_vot_runs(tmp_path):
    """With RUN_DIRS set to two VOT runs (the toolkit-checked polygon result set, scored from
    its results folder, and a shifted copy) the notebook ranks them and draws their EAO curve."""
    from siamfcpp.evaluation.pipeline import score_results
    from tests.test_compare import _shifted_copy
    from tests.test_vot_polygons import _vot, write_result_set

    workspace, tracker_dir = write_result_set(tmp_path)
    shifted = _shifted_copy(tracker_dir, tmp_path / "results" / "shifted", 4.0)
    runs = []
    for folder in (shifted, tracker_dir):
        score_results(_vot(workspace, [5, 15]), folder, tmp_path / f"run_{folder.name}")
        runs.append(str(tmp_path / f"run_{folder.name}"))
    path = next(p for p in NOTEBOOKS if p.name == "results_analysis.ipynb")
    notebook = nbformat.read(path, as_version=4)
    assert notebook.cells[1].source.startswith("RUN_DIRS")
    notebook.cells[1].source = f"RUN_DIRS = {runs!r}"
    _execute(notebook, path)
    text = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "['polytracker', 'shifted']" in text and "['eao']" in text
    assert len(_images(notebook)) == 1
