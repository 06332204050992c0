"""``course mlflow``: the course's own tracking server, kept up until Ctrl-C (or stopped)."""

from __future__ import annotations

from typing import Annotated

import typer

from course_lib.cli.app import app, say
from course_lib.tracking.server import DEFAULT_PORT


@app.command("mlflow")
def mlflow_server(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = DEFAULT_PORT,
    stop: Annotated[
        bool,
        typer.Option("--stop", help="Stop every MLflow server running on this state folder."),
    ] = False,
) -> None:
    """Start the course's MLflow tracking server and keep it up until Ctrl-C (or --stop it)."""
    from course_lib import settings
    from course_lib.tracking.server import keep_server_up, stop_servers

    if stop:
        stopped = stop_servers()
        say(f"{stopped} MLflow server(s) stopped (state folder {settings.state_dir()})")
        return
    keep_server_up(port, status=say)
