"""``course labs``, ``course check``, ``course build``: the labs and the book."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from course_lib import settings
from course_lib.cli.app import app, say

Rows = Annotated[
    int,
    typer.Option(
        min=settings.MIN_NOTEBOOK_ROWS, help="Corpus size for the notebooks (CI uses 3000)."
    ),
]


def _report_notebook(path: Path, seconds: float) -> None:
    say(f"  {path.stem}: {seconds:.0f} s")


@app.command()
def labs(
    check: Annotated[bool, typer.Option("--check", help="Only report stale labs.")] = False,
) -> None:
    """Generate the trainees' notebooks (labs/) from the solutions (solutions/)."""
    from course_lib.course.labs import course_folder, require_fresh_labs, write_labs

    root = course_folder()
    if check:
        require_fresh_labs(root)
        say("labs/ matches solutions/")
        return
    written = write_labs(root)
    say(f"{len(written)} labs written: {', '.join(p.name for p in written)}")


@app.command("check")
def check_solutions(
    rows: Rows = settings.DEFAULT_ROWS,
    output: Annotated[
        Path | None, typer.Option(help="Folder for executed notebooks (default: state folder).")
    ] = None,
) -> None:
    """Run every solution end to end with papermill (instructors, before a session)."""
    from course_lib.course.labs import course_folder
    from course_lib.course.notebooks import check_solutions as run_all

    executed = run_all(course_folder(), rows, output, status=say, report=_report_notebook)
    say(f"{len(executed)} notebooks ran end to end; executed copies in {executed[0].parent}")


@app.command()
def build(rows: Rows = settings.DEFAULT_ROWS) -> None:
    """Execute the solutions once and build the book from them, strictly."""
    from course_lib.course.book import build as build_all
    from course_lib.course.labs import course_folder

    started = time.perf_counter()
    index = build_all(course_folder(), rows, status=say, report=_report_notebook)
    say(f"book built in {time.perf_counter() - started:.0f} s: open {index}")
