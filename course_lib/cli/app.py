"""The one Typer application every command module registers onto, and its entry point.

Command modules import ``app`` and ``console`` from here; :func:`main` turns a
:class:`~course_lib.errors.CourseError` (a user's mistake, a server down) into
one message and exit code 1 (75 when a server did not answer: worth retrying),
never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from course_lib.errors import CourseError
from course_lib.processes import interrupt_on_termination

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


MLFLOW_CLIENT_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}
"""MLflow's client settings for the course's commands (a value already set wins).

One summary line per step is ours to print; MLflow's per-file download bars
would drown it, and so would its two "View run" lines per run and its INFO
lines (a search ends many runs; the commands print the run page once).
MLflow sets its loggers' level from ``MLFLOW_LOGGING_LEVEL`` when it is
imported, after :func:`main` runs, so the level goes through the environment,
which the search's worker processes inherit too.

MLflow retries a failed request 7 times with a backoff factor of 2 (minutes,
meant for rate-limited platforms): when the tracking server dies mid-training,
a command sat silent for 514 s.  Two quick retries ride out a hiccup and then
let the command say the server went away.
"""


def main() -> None:
    """Console-script entry point: user errors become one clear message and exit 1."""
    for name, value in MLFLOW_CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    interrupt_on_termination()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "no pip" under uv
    try:
        app()
    except CourseError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 1))
