"""``course traffic``, ``course etl``, ``course dashboard``, ``course monitor``: chapter 4.

Run in that order with no arguments, they go from nothing to an alert: weeks
of simulated prediction logs, parsed into parquet, drawn as a dashboard, and
checked against the drift and confidence thresholds.  Each reads and writes
the course's state folder unless told otherwise.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from course_lib import settings
from course_lib.cli.app import app, say
from course_lib.cli.options import Alias, ModelName, Version, model_reference


@app.command()
def traffic(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of history.")] = 28,
    change_day: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Day (0 = first) from which the traffic changes (default: a week before "
            "the end; a number past --days gives history with no change).",
        ),
    ] = None,
    per_day: Annotated[int, typer.Option(min=1, help="Predictions on an average weekday.")] = 2_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same logs).")] = 0,
    end: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: yesterday, UTC).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder of the log files (default: .course/logs/simulated).")
    ] = None,
    model: ModelName = settings.DEFAULT_MODEL_NAME,
    version: Version = None,
    alias: Alias = None,
) -> None:
    """Simulate weeks of API traffic: real predictions, simulated timestamps, a planted change."""
    from course_lib.monitoring.traffic import TrafficPlan, simulate_traffic
    from course_lib.tracking.server import tracking_server

    plan = TrafficPlan(
        days=days,
        change_day=change_day,
        per_day=per_day,
        seed=seed,
        end=_day(end, "--end") if end else None,
    )
    reference = model_reference(version, alias)
    with tracking_server():  # the configured server, the running one, or one for this command
        report = simulate_traffic(plan, model, reference, out_dir=out, status=say)
    say(report.summary())


@app.command()
def etl(
    source: Annotated[
        str | None,
        typer.Argument(help="Folder or s3:// prefix of log files (default: .course/logs)."),
    ] = None,
    dest: Annotated[
        str | None,
        typer.Option(
            help="Folder or s3:// prefix of the parquet datasets (default: .course/monitoring)."
        ),
    ] = None,
) -> None:
    """Parse prediction logs into date-partitioned parquet (incremental, idempotent)."""
    from course_lib.monitoring.etl import run_etl

    report = run_etl(source, dest, status=say)
    say(report.summary())


@app.command()
def dashboard(
    data: Annotated[
        str | None,
        typer.Option(
            help="Folder or s3:// prefix of the parquet datasets (default: .course/monitoring)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="HTML page to write (default: .course/monitoring/dashboard.html)."),
    ] = None,
) -> None:
    """Write the monitoring dashboard: one HTML page that works offline."""
    from course_lib.monitoring.dashboard import write_dashboard

    page = write_dashboard(data, out)
    size = page.stat().st_size / 1e6
    say(f"dashboard written to {page} ({size:.1f} MB, works offline: open it in a browser)")


@app.command()
def monitor(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Print one line; exit 1 when a threshold is crossed or there is no data.",
        ),
    ] = False,
    data: Annotated[
        str | None,
        typer.Option(
            help="Folder or s3:// prefix of the parquet datasets (default: .course/monitoring)."
        ),
    ] = None,
) -> None:
    """The indicators of the latest day against their thresholds (the alert).

    With --check (for a cron job): exit 1 on an alert, and on no data at all
    (the logs or the ETL stopped); exit 0 when the day is OK or cannot be
    judged yet (the first week, a day with too few predictions).
    """
    from course_lib.monitoring.alerts import evaluate_alerts

    state = evaluate_alerts(data)
    if not check:
        for line in state.details():
            say(line)
    say(state.summary())
    if check and state.exit_code:
        raise typer.Exit(state.exit_code)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date like 2026-11-30", param_hint=option
        ) from None
