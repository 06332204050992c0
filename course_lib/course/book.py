"""``course build``: execute the solutions once, then build the book from them.

The book shows executed notebooks, so the build itself never runs code
(``execute_notebooks: off`` in ``_config.yml``): papermill runs each solution
once, the executed copies go to ``book/apps/`` with every answer folded behind
a toggle, and Jupyter Book builds strictly (any warning fails).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat

from course_lib.course.labs import BOOK_TAG, SOLUTION_MARKER, SOLUTION_TAG, STUB_PREFIX
from course_lib.course.notebooks import Report, check_solutions
from course_lib.course.repository import write_clone_snippet
from course_lib.errors import CourseError

HIDE_TAG = "hide-input"
"""myst-nb folds a cell's code behind a "show" toggle; its output stays visible."""
INJECTED_TAG = "injected-parameters"
"""The cell papermill adds after the ``parameters`` cell, with the values it ran with."""
REMOVE_TAG = "remove-cell"
"""myst-nb leaves the cell out of the page (code and output)."""


def book_copy(executed: Path, target: Path) -> Path:
    """Executed solution → book page: answers folded, lab markers, papermill's
    injected parameters and the cells that glue a chapter's values removed (their
    glued values stay in the notebook, for the chapter to paste).

    Refuses a notebook with an error output: the book never shows a failed cell.
    """
    notebook = nbformat.read(executed, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            raise CourseError(f"{executed.name}, cell {index}: {errors[0].get('ename')}; not built")
        tags = cell.metadata.get("tags", [])
        if INJECTED_TAG in tags or BOOK_TAG in tags:  # papermill's "rows = 3000", glue: noise
            cell.metadata["tags"] = [*tags, REMOVE_TAG]
        if SOLUTION_TAG in tags:
            lines = cell.source.splitlines()
            kept = [
                line for line in lines
                if line.strip() != SOLUTION_MARKER and not line.strip().startswith(STUB_PREFIX)
            ]  # fmt: skip
            cell.source = "\n".join(kept)
            cell.metadata["tags"] = [*tags, HIDE_TAG]
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


def jupyter_book_command(root: Path) -> list[str]:
    """A strict build: warnings are errors, broken references too."""
    executable = Path(sys.executable).with_name("jupyter-book")
    return [str(executable), "build", str(root), "-W", "-n", "--keep-going"]


EXTRA = Path("book") / "apps" / "extra"
"""Copied to the site's root as is (``html_extra_path``): pages the lab wrote."""


def copy_dashboard(root: Path) -> Path:
    """The dashboard Application 4 wrote (in the state folder) → the site, for chapter 4.

    The page is what the executed lab produced, as the notebooks are, so the
    chapter shows the run the book was built from; a build without it fails.
    """
    from course_lib import settings
    from course_lib.monitoring.dashboard import PAGE_NAME

    page = settings.state_dir() / "monitoring" / PAGE_NAME
    if not page.is_file():
        raise CourseError(f"{page} is missing: Application 4 writes it; run course build again")
    target = root / EXTRA / PAGE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, target)
    return target


def build_book(root: Path, executed: list[Path]) -> Path:
    """Copy the executed notebooks into the book and build it; returns index.html."""
    for notebook in executed:
        book_copy(notebook, root / "book" / "apps" / notebook.name)
    copy_dashboard(root)
    write_clone_snippet(root)
    result = subprocess.run(jupyter_book_command(root), capture_output=True, text=True)
    log = root / "_build" / "build.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        problems = [
            ln
            for ln in (result.stdout + result.stderr).splitlines()
            if "WARNING" in ln or "ERROR" in ln
        ]
        raise CourseError(
            "the book did not build cleanly:\n" + "\n".join(problems[:20]) + f"\n(full log: {log})"
        )
    return root / "_build" / "html" / "index.html"


def build(
    root: Path,
    rows: int,
    status: Callable[[str], object] = print,
    report: Report = lambda path, seconds: None,
) -> Path:
    """``course build``: run the solutions once on ``rows`` rows, then build the book."""
    executed = check_solutions(root, rows, status=status, report=report)
    status("building the book (strict: any warning fails)…")
    return build_book(root, executed)
