"""Lab notebooks generated from the solutions: one source of truth per application.

Each application is written once, in ``solutions/<app>.md`` (jupytext MyST
markdown).  A code cell tagged ``solution`` holds an exercise's answer:

- lines before a ``# SOLUTION`` line are set-up and stay in the lab;
- lines after it are the answer and are cut from the lab;
- ``# stub: <code>`` lines in the answer become the lab's code (a name set
  to ``...`` that the exercise's check then finds unanswered).

A code cell tagged ``book-only`` is for the book, not for trainees: it glues
values a chapter quotes (:mod:`course_lib.course.chapter_values`), so the lab
leaves it out and the book page removes it.

The lab (``labs/<app>.ipynb``) is the solution with every answer replaced by
its stub, no outputs, no execution counts and no cell ids, so a regenerated
lab is byte-identical and a test can tell when ``labs/`` is stale.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

from course_lib.errors import CourseError

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
SOLUTION_MARKER = "# SOLUTION"
STUB_PREFIX = "# stub: "
BOOK_TAG = "book-only"
"""A cell that only the book's build needs: not in the lab, not on the page."""


def solution_files(root: Path) -> list[Path]:
    """The applications in course order (file names start with app0, app1, …)."""
    return sorted((root / "solutions").glob("app*.md"))


def lab_path(root: Path, solution: Path) -> Path:
    return root / "labs" / f"{solution.stem}.ipynb"


def stub_source(source: str) -> str:
    """What a trainee sees in place of a solution cell."""
    lines = source.splitlines()
    if SOLUTION_MARKER in (line.strip() for line in lines):
        cut = next(i for i, line in enumerate(lines) if line.strip() == SOLUTION_MARKER)
        setup, answer = lines[:cut], lines[cut + 1 :]
    else:
        setup, answer = [], lines
    stubs = [
        line.strip()[len(STUB_PREFIX) :] for line in answer if line.strip().startswith(STUB_PREFIX)
    ]
    return "\n".join([*setup, *(stubs or ["..."])])


def make_lab(solution: Path) -> nbformat.NotebookNode:
    """The trainee's notebook for one solution file."""
    notebook = jupytext.read(solution, fmt="md:myst")
    notebook.cells = [c for c in notebook.cells if BOOK_TAG not in c.metadata.get("tags", [])]
    for cell in notebook.cells:
        cell.pop("id", None)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        tags = cell.metadata.get("tags", [])
        if SOLUTION_TAG in tags:
            cell.source = stub_source(cell.source)
            cell.metadata["tags"] = [EXERCISE_TAG if t == SOLUTION_TAG else t for t in tags]
    notebook.nbformat, notebook.nbformat_minor = 4, 4  # 4.4: no cell ids
    notebook.metadata.pop("jupytext", None)
    return notebook


def render_lab(solution: Path) -> str:
    return nbformat.writes(make_lab(solution)) + "\n"


def write_labs(root: Path) -> list[Path]:
    """(Re)generate every lab; returns the paths written."""
    written = []
    for solution in solution_files(root):
        path = lab_path(root, solution)
        path.parent.mkdir(exist_ok=True)
        path.write_text(render_lab(solution), encoding="utf-8")
        written.append(path)
    return written


def stale_labs(root: Path) -> list[Path]:
    """Labs missing or different from what their solution generates now."""
    return [
        lab_path(root, s)
        for s in solution_files(root)
        if not lab_path(root, s).exists()
        or lab_path(root, s).read_text(encoding="utf-8") != render_lab(s)
    ]


def course_folder(path: Path | None = None) -> Path:
    """The course's folder (holding ``solutions/``): the commands that build labs and
    the book run from it, and say so instead of failing on a missing file."""
    root = (path or Path.cwd()).resolve()
    if not (root / "solutions").is_dir():
        raise CourseError(
            f"no solutions/ folder in {root}: run this command from the course's folder"
        )
    return root


def require_fresh_labs(root: Path) -> None:
    """Raise, naming them, when labs differ from what their solutions generate."""
    stale = stale_labs(root)
    if stale:
        names = ", ".join(p.name for p in stale)
        raise CourseError(f"stale labs: {names}; regenerate them with `course labs`")
