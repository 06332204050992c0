"""nbval: re-run the executed solutions and compare their deterministic outputs.

Every check cell (the cell importing from ``course_lib.checks``; its ✔ line)
and every cell tagged ``nbval-check-output`` in
the solutions must print the same thing twice, once the tracking URI, run ids,
model versions, temporary paths and durations are sanitized
(``nbval_sanitize.cfg``). Other cells are re-run but not compared (lax mode).
"""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.notebook

CHECK_TAG = "nbval-check-output"


def _tag_deterministic_cells(notebook: nbformat.NotebookNode) -> int:
    tagged = 0
    for cell in notebook.cells:
        if cell.cell_type == "code" and "from course_lib.checks" in cell.source:
            tags = cell.metadata.setdefault("tags", [])
            if CHECK_TAG not in tags:
                tags.append(CHECK_TAG)
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
            tagged += 1
    return tagged


def test_executed_solutions_reproduce_their_checked_outputs(executed_solutions, mlflow_server):
    folder = ROOT / "test-artifacts" / "nbval"
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for name, path in executed_solutions.items():
        notebook = nbformat.read(path, as_version=4)
        assert _tag_deterministic_cells(notebook) > 0, f"{name}: nothing for nbval to compare"
        copy = folder / f"{name}.ipynb"
        nbformat.write(notebook, copy)
        copies.append(str(copy))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
         "-p", "no:cacheprovider", "-q", "-n", "0", "--rootdir", str(folder), *copies],
        capture_output=True, text=True, cwd=folder, env=os.environ, timeout=1200,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:]
    assert " passed" in out.stdout and " failed" not in out.stdout
