"""Shared fixtures: a real MLflow server and a small trained model, once per session.

The tests never touch the developer's own state folder: they point
``COURSE_STATE_DIR`` at a temporary folder, start their own ``mlflow server``
on a free port and stop it by its pid at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from course_lib import tracking
from course_lib.api_process import ApiProcess, start_api, stop_api
from course_lib.train import TrainConfig, TrainResult, run_training


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("course-state")
    previous = os.environ.get("COURSE_STATE_DIR")
    os.environ["COURSE_STATE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("COURSE_STATE_DIR", None)
    else:
        os.environ["COURSE_STATE_DIR"] = previous


@pytest.fixture(scope="session")
def mlflow_server(state_dir: Path) -> Iterator[str]:
    """A real tracking server for the whole session; its URI is exported."""
    server = tracking.start_server(record=False)
    os.environ["MLFLOW_TRACKING_URI"] = server.uri
    mlflow.set_tracking_uri(server.uri)
    yield server.uri
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracking.stop_server(server)
    assert not tracking._alive(server.pid), "the MLflow server outlived the tests"


ROOT = Path(__file__).resolve().parents[1]
CI_PARAMETERS = {"rows": 3_000}
"""What the labs run with in the tests: a corpus small enough for CI."""


@pytest.fixture(scope="session")
def executed_solutions(
    mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every solution run once by papermill, in course order, on CI-sized data."""
    from course_lib.notebooks import run_solutions

    out = tmp_path_factory.mktemp("executed")
    return {p.stem: p for p in run_solutions(ROOT, out, CI_PARAMETERS)}


@pytest.fixture(scope="session")
def trained(mlflow_server: str) -> TrainResult:
    """The default model (default corpus and hyperparameters, about 30 s), registered
    as ``fasttext-test`` with alias champion: behaviour tests check what trainees get."""
    config = TrainConfig(
        experiment="tests",
        model_name="fasttext-test",
        alias="champion",
    )
    return run_training(config, status=lambda _: None)


@pytest.fixture(scope="session")
def served_api(trained: TrainResult) -> Iterator[ApiProcess]:
    """``course serve`` as a real process, behind SSP Cloud's proxy prefix (as on VSCode)."""
    api = start_api(model="fasttext-test", version="champion", root_path="/proxy/8000")
    yield api
    stop_api(api)
