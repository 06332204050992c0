"""When the tracking server goes away during a run: one clear line, and nothing lost.

MLflow's client retries a dead server for minutes, then raises a chain of ten
tracebacks, and the model trained meanwhile is gone with the process.  The
course's commands bound the retries (see ``course_lib.cli.app``); here a
server error is recognised as such (the server no longer answers its
``/health``), told in one sentence, and a trained model that could not be
logged is kept in the state folder with what is needed to log it later
(``course log-saved FOLDER``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.exceptions import MlflowException

from course_lib import settings
from course_lib.errors import CourseError, ServerUnavailable
from course_lib.tracking.server import is_healthy

SERVER_ERRORS = (MlflowException, requests.RequestException, ConnectionError)
KEPT_FILE = "kept.json"
MODEL_FILE = "model.bin"


def _server_is_gone() -> str | None:
    """The tracking URI if the server there no longer answers, else None."""
    uri = mlflow.get_tracking_uri()
    return None if is_healthy(uri, timeout=5.0) else uri


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


@contextlib.contextmanager
def server_errors_explained(what: str) -> Iterator[None]:
    """A server that went away during ``what`` is one sentence, not MLflow's tracebacks."""
    try:
        yield
    except SERVER_ERRORS as exc:
        uri = _server_is_gone()
        if uri is None:  # the server answers: an error of another kind
            raise
        raise ServerUnavailable(
            f"the tracking server at {uri} stopped answering while {what} "
            f"({_first_line(exc)}): start it again (`course mlflow`, or your platform's "
            "MLflow service) and run the command again"
        ) from exc


@dataclass(frozen=True)
class Kept:
    """A trained model that was not logged, and what its run had logged so far."""

    folder: Path
    run_id: str
    experiment: str
    params: dict[str, Any]
    metrics: dict[str, float]
    register_as: str | None
    alias: str | None

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE


def keep(model_path: Path, run: dict[str, Any]) -> Path:
    """Copy the model and its run's record into ``<state>/unlogged/<time>-<run>/``."""
    folder = (
        settings.state_dir() / "unlogged" / f"{time.strftime('%Y%m%d-%H%M%S')}-{run['run_id'][:8]}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, folder / MODEL_FILE)
    (folder / KEPT_FILE).write_text(json.dumps(run, indent=2) + "\n")
    return folder


def read_kept(folder: Path) -> Kept:
    """What :func:`keep` wrote, or a message saying the folder is not such a record."""
    try:
        record = json.loads((folder / KEPT_FILE).read_text())
        kept = Kept(folder=folder, **record)
    except (OSError, ValueError, TypeError) as exc:
        raise CourseError(
            f"{folder} is not a model kept by `course train` (no readable {KEPT_FILE}: "
            f"{_first_line(exc)}); kept models are in {settings.state_dir() / 'unlogged'}"
        ) from exc
    if not kept.model_path.is_file():
        raise CourseError(f"{folder} has no {MODEL_FILE}: nothing to log")
    return kept


@contextlib.contextmanager
def kept_if_the_server_goes_away(model_path: Path, run: dict[str, Any]) -> Iterator[None]:
    """Around the logging of a trained model: if the server goes away, keep the model."""
    try:
        yield
    except SERVER_ERRORS as exc:
        uri = _server_is_gone()
        if uri is None:
            raise
        folder = keep(model_path, run)
        raise CourseError(
            f"the tracking server at {uri} stopped answering while the run was logged "
            f"({_first_line(exc)}); the trained model is kept in {folder}: once the server "
            f"is back, log and register it with `course log-saved {folder}`"
        ) from exc
