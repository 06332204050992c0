"""``course workflows``: chapter 5's Argo workflows, rendered and checked offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from course_lib.cli.app import app, say
from course_lib.cli.options import CheckOnly, ValuesFile


@app.command()
def workflows(
    values: ValuesFile = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: infra/argo-workflows/).")
    ] = None,
    check: CheckOnly = False,
) -> None:
    """Render the Argo workflows (hello world, parameters, steps, DAG, search), checked offline.

    The image, namespace and tracking URI come from infra/values.yaml, the
    search's grid from the course's default grid; submit a file with
    `argo submit --watch infra/argo-workflows/hello-world.yaml`.
    """
    from course_lib.course.labs import course_folder
    from course_lib.search.workflows import sync_workflows

    root = course_folder() if values is None or out is None else Path.cwd()
    say(sync_workflows(root, values, out, check).summary())
