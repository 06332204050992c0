"""Finding the MLflow servers of a state folder, and the runs in its database, from a test."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psutil


def mlflow_servers_under(state: Path | str) -> list[int]:
    """MLflow server processes on this state folder (their supervisors left out)."""
    database = f"sqlite:///{state}/mlflow/mlflow.db"
    commands = {p.pid: p.info["cmdline"] or [] for p in psutil.process_iter(["cmdline"])}
    return [
        pid
        for pid, command in commands.items()
        if database in command and "course_lib.processes" not in command
    ]


def run_statuses(state: Path | str) -> list[str]:
    """The status of every run in the folder's database, read without a server."""
    with sqlite3.connect(Path(state) / "mlflow" / "mlflow.db") as database:
        return [status for (status,) in database.execute("SELECT status FROM runs")]
