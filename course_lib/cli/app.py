"""The one Typer application every command module registers onto, and its entry point.

Command modules import ``app`` and ``console`` from here; :func:`main` turns a
:class:`~course_lib.errors.CourseError` (a user's mistake, a server down) into
one message and exit code 1, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from course_lib.errors import CourseError

app = typer.Typer(
    help="An introduction to MLOps with MLflow: the course's command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(soft_wrap=True)  # summary lines stay whole in logs; tables fit the width
err_console = Console(stderr=True, soft_wrap=True)


def say(line: str) -> None:
    """A status line from the library, printed as it is (no rich markup in user text)."""
    console.print(line, markup=False, highlight=False)


def main() -> None:
    """Console-script entry point: user errors become one clear message and exit 1."""
    # One summary line per step is ours to print; MLflow's per-file download
    # bars would drown it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "no pip" under uv
    try:
        app()
    except CourseError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(1)
