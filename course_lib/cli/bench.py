"""``course bench``: the benchmarks, side by side with the simple approach."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from course_lib import settings
from course_lib.bench import suites
from course_lib.bench.suites import Suite
from course_lib.cli.app import app, console, say


@app.command()
def bench(
    suite: Annotated[
        Suite,
        typer.Option(
            help="model (cleaning, prediction, training, accuracy), serving (the API), "
            "tracking (the MLflow server), monitoring (the prediction log and the ETL) "
            "or search (the local search runner: 1 vs 2 workers)."
        ),
    ] = Suite.model,
    rows: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help=f"Model, search: corpus size for training (model {settings.DEFAULT_ROWS:,}, "
            f"search {suites.SEARCH_ROWS:,}).",
        ),
    ] = None,
    preprocess_rows: Annotated[
        int, typer.Option(min=100, help="Model: descriptions cleaned by both paths.")
    ] = suites.PREPROCESS_ROWS,
    seeds: Annotated[
        int, typer.Option(min=1, help="Model: corpus seeds for the accuracy spread.")
    ] = suites.SEEDS,
    model: Annotated[
        str, typer.Option("--model", help="Serving, monitoring: the registered model to serve.")
    ] = settings.DEFAULT_MODEL_NAME,
    version: Annotated[
        str | None,
        typer.Option(help="Monitoring: the version of --model to serve (default: the newest)."),
    ] = None,
    endurance_seconds: Annotated[
        float, typer.Option(min=1, help="Serving, monitoring: length of the sustained load.")
    ] = suites.ENDURANCE_S,
    requests_: Annotated[
        int,
        typer.Option(
            "--requests",
            min=10,
            help="Serving: GETs per latency measurement; monitoring: GETs per server per round.",
        ),
    ] = suites.LATENCY_REQUESTS,
    etl_lines: Annotated[
        int, typer.Option(min=100, help="Monitoring: log lines parsed by both ETL paths.")
    ] = suites.ETL_LINES,
    log_max_bytes: Annotated[
        int,
        typer.Option(
            min=10_000,
            help="Monitoring: size at which the API's log file rotates under the sustained load.",
        ),
    ] = suites.LOG_MAX_BYTES,
    grid_sizes: Annotated[
        str,
        typer.Option(help="Search: grid sizes timed with 2 workers, comma-separated."),
    ] = ",".join(map(str, suites.SEARCH_SIZES)),
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the JSON (default: benchmarks/<suite>.json)."),
    ] = None,
) -> None:
    """Benchmarks side by side with the simple approach; table + JSON."""
    output = output or suite.default_output
    if version is not None and suite is not Suite.monitoring:
        raise typer.BadParameter("only --suite monitoring takes a version", param_hint="--version")
    if suite is Suite.monitoring:
        from course_lib.bench.monitoring import benchmark_registered as benchmark_monitoring

        results = benchmark_monitoring(
            model, version, etl_lines, requests_, endurance_seconds, log_max_bytes, status=say
        )
        _report(results, [suites.monitoring_table(results)], [], output, suites.monitoring_summary)
        return
    if suite is Suite.search:
        from course_lib.bench.search import run_search_benchmarks

        sizes = _sizes(grid_sizes)
        results = run_search_benchmarks(rows or suites.SEARCH_ROWS, sizes, status=say)
        _report(results, [suites.search_table(results)], [], output, suites.search_summary)
        return
    if suite is Suite.tracking:
        from course_lib.bench.tracking import run_tracking_benchmarks

        say("starting MLflow's default server and the course's, twice each (about a minute)…")
        results = run_tracking_benchmarks()
        _report(results, [suites.tracking_table(results)], [], output, suites.tracking_summary)
        return
    if suite is Suite.serving:
        from course_lib.bench.serving import benchmark_registered

        results = benchmark_registered(model, requests_, endurance_seconds, status=say)
        _report(results, [suites.serving_table(results)], [], output, suites.serving_summary)
        return
    from course_lib.bench.model import run_benchmarks

    rows = rows or settings.DEFAULT_ROWS
    say(f"benchmarking on a {rows:,}-row corpus (a few minutes)…")
    results = run_benchmarks(rows, preprocess_rows, tuple(range(seeds)))
    tables, notes = suites.model_tables(results), suites.model_notes(results)
    _report(results, tables, notes, output, suites.model_summary)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1 or max(sizes) > 200:
        raise typer.BadParameter(
            f"{text!r}: give grid sizes between 1 and 200, comma-separated, e.g. 4,8,16",
            param_hint="--grid-sizes",
        )
    return sizes


def _report(
    results: dict[str, Any],
    tables: list[Table],
    notes: list[str],
    output: Path,
    summary: Callable[[dict[str, Any], Path], str],
) -> None:
    """Every suite ends the same way: its tables and notes, the JSON, one summary line."""
    for table in tables:
        console.print(table)
    for line in notes:
        say(line)
    suites.save(results, output)
    say(summary(results, output))
