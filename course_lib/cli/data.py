"""``course data``: the generated corpus, and how it compares with real descriptions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from course_lib import settings
from course_lib.cli.app import app, console


@app.command()
def data(
    rows: Annotated[
        int, typer.Option(min=1, help="Number of descriptions to generate.")
    ] = settings.DEFAULT_ROWS,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed, same corpus).")
    ] = settings.DEFAULT_SEED,
) -> None:
    """Generate the training corpus (cached in the state folder) and describe it."""
    from course_lib.data.calibration import corpus_report

    report = corpus_report(rows, seed)
    console.print(report.sample.to_string(index=False), markup=False)
    if report.comparison is not None:
        table = Table(title=f"generated ({report.real_rows}-row samples) vs "
                      f"{report.real_rows} real descriptions")  # fmt: skip
        for column in ("property", "generated", "real"):
            table.add_column(column, justify="right")
        for name, row in report.comparison.iterrows():
            table.add_row(str(name), f"{row['generated']:.3f}", f"{row['real']:.3f}")
        console.print(table)
    console.print(
        f"[bold]{report.rows:,} descriptions, {report.codes} subclasses[/bold] in {report.path}"
    )
