"""``course search``, ``course search-grid``, ``course search-best``: chapter 5's search.

``course search`` is the whole search on one machine.  The two others are its
halves as the Argo workflow's pods run them: one expands the grid into the
list the workflow fans out over, one picks and registers the best run once
every training pod has finished.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from course_lib import settings
from course_lib.cli.app import app, console, say
from course_lib.cli.options import CorpusRows, TrainingData

if TYPE_CHECKING:
    from course_lib.search.grid import Grid
    from course_lib.search.local import SearchResult
    from course_lib.search.selection import Selection

DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 4))
"""One single-threaded training per core, at most 4 (each holds its corpus in memory)."""

GridOption = Annotated[
    str | None,
    typer.Option(
        help="Grid file (YAML), or the grid as JSON text (default: the course's grid of 4)."
    ),
]
ExperimentOption = Annotated[
    str, typer.Option(help="MLflow experiment of the search's runs.")
]  # fmt: skip
RegisterOption = Annotated[
    str, typer.Option("--register", help="Register the best run as this model ('' to skip).")
]
AliasOption = Annotated[
    str | None,
    typer.Option(help="Point this alias (e.g. champion) at the registered best ('' for none)."),
]


@app.command()
def search(
    grid: GridOption = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Trainings run at once (worker processes).")
    ] = DEFAULT_WORKERS,
    experiment: ExperimentOption = settings.SEARCH_EXPERIMENT,
    data: TrainingData = None,
    rows: CorpusRows = settings.DEFAULT_ROWS,
    seed: Annotated[
        int, typer.Option(help="Seed of the corpus and of the split (the same for every run).")
    ] = settings.DEFAULT_SEED,
    register: RegisterOption = settings.DEFAULT_MODEL_NAME,
    alias: AliasOption = None,
    render: Annotated[
        bool,
        typer.Option(
            "--render", help="Write the Argo workflow for this grid instead of searching here."
        ),
    ] = False,
    out: Annotated[Path, typer.Option(help="Where --render writes the workflow.")] = Path(
        "search-workflow.yaml"
    ),
) -> None:
    """Train every configuration of a grid in parallel, then register the best.

    The best is chosen on the synthetic held-out split; its accuracy on the
    real descriptions is reported, with its 95 % interval, but never used to
    choose.  Ctrl-C stops every worker.
    """
    from course_lib.search.grid import grid_argument

    chosen_grid = grid_argument(grid)  # refused here, before anything starts
    if render:
        _render(chosen_grid, workers, out)
        return
    from course_lib.search.local import SearchPlan, run_search
    from course_lib.tracking.server import tracking_server

    plan = SearchPlan(
        chosen_grid, experiment, data or None, rows, seed, workers=workers,
        model_name=register or None, alias=alias or None,
    )  # fmt: skip
    with tracking_server() as uri:
        say(f"tracking server: {uri}")
        result = run_search(plan, status=say)
        console.print(_results_table(result))
    for failed in result.failed:
        say(f"config {failed.configuration.index} failed: {failed.error}")
    say(result.selection.summary())


def _render(grid: Grid, workers: int, out: Path) -> None:
    from course_lib.course.labs import course_folder
    from course_lib.deploy.manifests import VALUES_FILE, load_values
    from course_lib.search.workflows import render_search

    values = load_values(course_folder() / VALUES_FILE)
    out.write_text(render_search(values, grid, parallelism=workers), encoding="utf-8")
    say(
        f"wrote {out}: {grid.size} configuration(s), at most {workers} pod(s) at once; "
        f"submit it with `argo submit {out} --watch` on a cluster with Argo Workflows"
    )


def _results_table(result: SearchResult) -> Table:
    from course_lib.search.selection import REPORTED_METRIC, SELECTION_METRIC

    chosen = result.selection.chosen.run_id
    table = Table(title=f"search {result.plan.search_id}: subclass accuracy")
    for column in ("config", "settings", "held-out (chooses)", "real (reported)", "seconds", "run"):
        table.add_column(column, justify="right" if column != "settings" else "left")
    for outcome in result.outcomes:
        m = outcome.metrics
        table.add_row(
            str(outcome.configuration.index) + (" *" if outcome.run_id == chosen else ""),
            outcome.configuration.describe(result.plan.grid),
            f"{m.get(SELECTION_METRIC, math.nan):.3f}" if not outcome.error else "failed",
            f"{m.get(REPORTED_METRIC, math.nan):.3f}" if not outcome.error else "",
            f"{outcome.seconds:.0f}",
            (outcome.run_id or "")[:8],
        )
    table.caption = "* chosen on the held-out split"
    return table


@app.command("search-grid")
def search_grid(grid: GridOption = None) -> None:
    """Print a grid's configurations as one JSON list (what the Argo workflow fans out)."""
    from course_lib.search.grid import grid_argument

    items = [c.item() for c in grid_argument(grid).configurations()]
    print(json.dumps(items, separators=(",", ":")))  # stdout is the workflow's data: no markup


@app.command("search-best")
def search_best(
    search_id: Annotated[
        str, typer.Option("--search", help="The search's id (its runs' course.search tag).")
    ],
    experiment: ExperimentOption = settings.SEARCH_EXPERIMENT,
    register: RegisterOption = settings.DEFAULT_MODEL_NAME,
    alias: AliasOption = None,
) -> None:
    """Choose a search's best run on the held-out split, register it, report it."""
    from course_lib.search.selection import select_best
    from course_lib.tracking.server import tracking_server

    with tracking_server():
        selection = select_best(experiment, search_id, register or None, alias or None)
    console.print(_candidates_table(selection))
    say(selection.summary())


def _candidates_table(selection: Selection) -> Table:
    from course_lib.search.selection import REPORTED_METRIC, SELECTION_METRIC

    table = Table(title=f"search {selection.search_id}: subclass accuracy")
    for column in ("config", "status", "held-out (chooses)", "real (reported)", "run"):
        table.add_column(column, justify="right")
    for candidate in selection.candidates:
        m = candidate.metrics
        mark = " *" if candidate.run_id == selection.chosen.run_id else ""
        table.add_row(
            f"{candidate.config}{mark}",
            candidate.status,
            f"{m.get(SELECTION_METRIC, math.nan):.3f}",
            f"{m.get(REPORTED_METRIC, math.nan):.3f}",
            candidate.run_id[:8],
        )
    table.caption = "* chosen on the held-out split"
    return table
