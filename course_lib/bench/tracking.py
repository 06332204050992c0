"""The tracking server the course starts, next to MLflow's default one.

MLflow 3's ``mlflow server`` starts a job runner and huey consumers for
server-side jobs the course never runs.  The course turns them off
(:data:`course_lib.tracking.server.SERVER_ENV`); this suite measures what
that saves, each server started on a fresh state folder (the first start
migrates the database) and again on the same folder (every later command):
time until ``/health`` answers, processes, and the memory of all of them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import psutil

from course_lib.tracking import server as tracking

SETTLE_S = 3.0
"""Seconds after ``/health`` answers before memory is read: workers finish starting."""
DEFAULT_SERVER = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"}


@contextlib.contextmanager
def state_folder() -> Iterator[None]:
    """A temporary state folder, and no configured tracking server, for the duration:
    a benchmark's servers and runs never touch the user's (both restored after)."""
    names = ("COURSE_STATE_DIR", "MLFLOW_TRACKING_URI")
    previous = {name: os.environ.get(name) for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        os.environ["COURSE_STATE_DIR"] = folder
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _tree(pid: int) -> list[psutil.Process]:
    """The supervisor the course starts the server under is left out: MLflow's own only."""
    return psutil.Process(pid).children(recursive=True)


def _start_and_measure(env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    server = tracking.start_server(record=False, env=env)
    healthy_s = time.perf_counter() - started
    try:
        time.sleep(SETTLE_S)
        processes = _tree(server.pid)
        rss = sum(p.memory_info().rss for p in processes if p.is_running())
        return {"healthy_s": healthy_s, "processes": len(processes), "rss_mb": rss / 2**20}
    finally:
        tracking.stop_server(server)


def measure(env: dict[str, str], repeat: int = 2) -> dict[str, Any]:
    """A first start (fresh database) and the best of ``repeat`` later ones."""
    with state_folder():
        first = _start_and_measure(env)
        later = [_start_and_measure(env) for _ in range(repeat)]
    best = min(later, key=lambda m: m["healthy_s"])
    return {
        "first_start_healthy_s": first["healthy_s"],
        "healthy_s": best["healthy_s"],
        "processes": best["processes"],
        "rss_mb": max(m["rss_mb"] for m in later),
    }


def run_tracking_benchmarks(repeat: int = 2) -> dict[str, Any]:
    """MLflow's default server vs the course's, each on its own fresh state folder."""
    default = measure(DEFAULT_SERVER, repeat)
    course = measure(tracking.SERVER_ENV, repeat)
    return {
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "mlflow_default": default,
        "course": course,
        "memory_ratio": default["rss_mb"] / course["rss_mb"],
        "startup_ratio": default["healthy_s"] / course["healthy_s"],
    }
