"""What every test runs under, and the fixtures shared by the packages' tests.

By construction, the tests never touch a person's own course state or
tracking server: before anything is collected, ``COURSE_STATE_DIR`` points at
a fresh temporary folder and ``MLFLOW_TRACKING_URI`` is unset (the session's
own server sets it again); a run that changed ``.course/`` in the checkout
fails at the end anyway.

Markers (registered in ``pyproject.toml``): ``slow`` (minutes of work, real
server processes, the default 200,000-row model), ``notebook`` (papermill,
nbclient, nbval) and ``browser`` (headless Chromium), the last two implying
``slow``.  ``uv run pytest -m "not slow"`` is the quick loop.

The tests run on two pytest-xdist workers, each with its own state folder and
tracking server; tests that need the same costly session fixture (the executed
solutions, the default model, the served API) or the same module-scoped one
run on one worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from playwright.sync_api import Browser, sync_playwright

from course_lib.data.corpus import generate_corpus
from course_lib.data.dataset import train_test_split
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.model.training import TrainConfig, TrainResult, run_training
from course_lib.processes import alive
from course_lib.serving.process import ApiProcess, start_api, stop_api
from course_lib.tracking import server as tracking

ROOT = Path(__file__).resolve().parents[1]
CI_PARAMETERS = {"rows": 3_000}
"""What the labs run with in the tests: a corpus small enough for CI."""
USER_STATE = ROOT / ".course"

SMALL = TrainConfig(
    rows=12_000,
    experiment="tests-small",
    model_name="fasttext-small",
    alias="champion",
    params=Hyperparameters(dim=20, epoch=20, bucket=20_000),
)
"""A model trained in seconds for the contract tests of the wrapper, the API and the
commands (more epochs than the default make up for the smaller corpus: it still
gets everyday descriptions right); what trainees get, the default model, is
tested on ``trained``."""

_session: dict[str, object] = {}


def _snapshot(folder: Path) -> dict[str, float]:
    if not folder.exists():
        return {}
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")}


def pytest_configure(config: pytest.Config) -> None:
    state = Path(tempfile.mkdtemp(prefix="course-tests-"))
    _session.update(state=state, user_state=_snapshot(USER_STATE))
    os.environ["COURSE_STATE_DIR"] = str(state)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # as `course` and labs set it


SHARED = {
    "executed_solutions": "notebooks",
    "trained": "default-model",
    "served_api": "served-api",
}
"""Session fixtures too costly to build on both workers: their tests share one."""


def _worker_group(item: pytest.Item) -> str:
    """One xdist group per test: the costly fixture it needs, else its module (whose
    module-scoped fixtures are then built once)."""
    shared = [group for fixture, group in SHARED.items() if fixture in item.fixturenames]
    return shared[0] if shared else item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("notebook") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(_worker_group(item)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "user_state" in _session and _snapshot(USER_STATE) != _session["user_state"]:
        session.config.get_terminal_writer().line(
            f"the tests changed {USER_STATE}: they must only use COURSE_STATE_DIR", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    state = _session.get("state")
    if isinstance(state, Path):
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    """The session's state folder (``COURSE_STATE_DIR``), set before collection."""
    return Path(os.environ["COURSE_STATE_DIR"])


@pytest.fixture(scope="session")
def corpus_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A 3,000-row generated corpus, split: for tests that fit a model in-process."""
    return train_test_split(generate_corpus(3_000, seed=0, progress=False))


@pytest.fixture(scope="session")
def mlflow_server(state_dir: Path) -> Iterator[str]:
    """A real tracking server for the whole session; its URI is exported."""
    server = tracking.start_server(record=False)
    os.environ["MLFLOW_TRACKING_URI"] = server.uri
    mlflow.set_tracking_uri(server.uri)
    yield server.uri
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    tracking.stop_server(server)
    assert not alive(server.pid), "the MLflow server outlived the tests"


@pytest.fixture(scope="session")
def small_model(mlflow_server: str) -> TrainResult:
    """``fasttext-small`` @champion: a real training run through the course's code, small."""
    return run_training(SMALL, status=lambda _: None)


@pytest.fixture(scope="session")
def trained(mlflow_server: str) -> TrainResult:
    """The default model (default corpus and hyperparameters, about a minute), registered
    as ``fasttext-test`` with alias champion: what trainees get."""
    config = TrainConfig(experiment="tests", model_name="fasttext-test", alias="champion")
    return run_training(config, status=lambda _: None)


@pytest.fixture(scope="session")
def executed_solutions(
    mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every solution run once by papermill, in course order, on CI-sized data."""
    from course_lib.course.notebooks import run_solutions

    out = tmp_path_factory.mktemp("executed")
    return {p.stem: p for p in run_solutions(ROOT, out, CI_PARAMETERS)}


S3_BUCKET = "projet-formation"
"""The bucket of :func:`s3_bucket` (an SSP Cloud-like name)."""


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A real S3 API on loopback (moto's server) with :data:`S3_BUCKET`, reached the SSP
    Cloud way (``AWS_S3_ENDPOINT`` and keys in the environment); yields a boto3 client."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_S3_ENDPOINT": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "trainee",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    client.create_bucket(Bucket=S3_BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=S3_BUCKET).get("Contents", []):
        client.delete_object(Bucket=S3_BUCKET, Key=item["Key"])  # moto's store outlives its server
    server.stop()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def served_api(small_model: TrainResult) -> Iterator[ApiProcess]:
    """``course serve`` as a real process, behind SSP Cloud's proxy prefix (as on VSCode)."""
    api = start_api(model=SMALL.model_name, version="champion", root_path="/proxy/8000")
    yield api
    stop_api(api)
