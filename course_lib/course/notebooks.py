"""Running the applications end to end with papermill (``course check``).

papermill reads ``.ipynb`` only, so each jupytext solution is converted
first.  Notebooks run in course order against one tracking server, in the
project folder (so relative paths such as ``MLproject`` resolve), with
parameters injected into the cell tagged ``parameters`` (e.g. a small corpus
for CI).  A failure names the notebook and the cell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

from course_lib import settings
from course_lib.course.labs import solution_files
from course_lib.errors import CourseError

Report = Callable[[Path, float], object]


def to_ipynb(source: Path, target: Path) -> Path:
    """Write a jupytext markdown notebook as ``.ipynb`` (what papermill reads)."""
    notebook = jupytext.read(source, fmt="md:myst")
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


def execute(
    notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path, timeout: int = 1200
) -> None:
    """Run one notebook; raise :class:`CourseError` naming the failing cell."""
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, cwd=str(cwd),
            kernel_name="python3", progress_bar=False, execution_timeout=timeout,
        )  # fmt: skip
    except PapermillExecutionError as exc:
        raise CourseError(
            f"{notebook.name} failed in cell {exc.exec_count or exc.cell_index} "
            f"({exc.ename}: {exc.evalue.strip()[:500]}); the executed notebook is {output}"
        ) from exc


def run_solutions(
    root: Path, out_dir: Path, parameters: dict[str, Any], report=lambda path, seconds: None
) -> list[Path]:
    """Execute every solution in order; returns the executed notebooks.

    ``report(path, seconds)`` is called after each notebook (progress for the CLI).
    """
    executed = []
    for solution in solution_files(root):
        source = to_ipynb(solution, out_dir / "sources" / f"{solution.stem}.ipynb")
        output = out_dir / f"{solution.stem}.ipynb"
        started = time.perf_counter()
        execute(source, output, parameters, cwd=root)
        report(output, time.perf_counter() - started)
        executed.append(output)
    return executed


def check_solutions(
    root: Path,
    rows: int,
    out_dir: Path | None = None,
    status: Callable[[str], object] = print,
    report: Report = lambda path, seconds: None,
) -> list[Path]:
    """``course check``: every solution against the tracking server, on ``rows`` rows.

    Executed copies go to ``out_dir`` (default: ``executed/`` in the state folder).
    """
    from course_lib.tracking.server import tracking_server

    with tracking_server() as uri:
        status(f"executing the solutions against {uri}, corpus of {rows:,} rows…")
        out = out_dir or settings.state_dir() / "executed"
        return run_solutions(root, out, {"rows": rows}, report)
