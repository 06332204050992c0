"""Training entry point: data → fastText → metrics → MLflow run → registry.

Used by ``course train`` and by the ``MLproject`` (``mlflow run .``); under
``mlflow run`` the run already exists (``MLFLOW_RUN_ID``) and ``start_run``
continues it.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from course_lib import settings
from course_lib.data.dataset import LoadReport, load_dataset, train_test_split
from course_lib.data.examples import EXAMPLES
from course_lib.data.preprocessing import clean_texts
from course_lib.data.real_sample import dev_sample
from course_lib.errors import CourseError
from course_lib.model import fasttext_model as ft
from course_lib.model.evaluation import evaluate_fasttext
from course_lib.model.pyfunc import log_model
from course_lib.model.unlogged import (
    SERVER_ERRORS,
    kept_if_the_server_goes_away,
    read_kept,
    server_errors_explained,
)
from course_lib.tracking import registry


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; all of it is logged as params."""

    data: str | None = None
    """Parquet/CSV path, https URL or s3:// URI; None for the generated corpus."""
    rows: int = settings.DEFAULT_ROWS
    seed: int = settings.DEFAULT_SEED
    test_size: float = settings.DEFAULT_TEST_SIZE
    params: ft.Hyperparameters = field(default_factory=ft.Hyperparameters)
    experiment: str = settings.DEFAULT_EXPERIMENT
    model_name: str | None = settings.DEFAULT_MODEL_NAME
    alias: str | None = None
    force_register: bool = False
    """Register even a model trained on too little data (see :func:`refusal_to_register`)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Set on the run: a search marks its runs ``course.search`` and ``course.config``."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    model_uri: str
    model_version: str | None
    report: LoadReport


def run_params(config: TrainConfig, report: LoadReport) -> dict[str, Any]:
    """What a training run logs as params: the hyperparameters and the data's origin."""
    params: dict[str, Any] = config.params.as_dict() | {
        "data_source": report.source if config.data else "generated corpus",
        "data_rows": report.rows_kept,
        "rows_dropped": report.rows_read - report.rows_kept,
        "seed": config.seed,
        "test_size": config.test_size,
    }
    if config.data is None:
        params["corpus_rows"] = config.rows
    return params


def _log_run_inputs(config: TrainConfig, report: LoadReport, train: pd.DataFrame) -> None:
    if config.tags:
        mlflow.set_tags(config.tags)
    mlflow.log_params(run_params(config, report))
    with warnings.catch_warnings():  # a local path matches two equivalent source types
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        dataset = mlflow.data.from_pandas(train, source=report.source, name="training-data")
    _log_input(dataset)


def _log_input(dataset: Any, attempts: int = 4) -> None:
    """``mlflow.log_input``, retried when another run registered the same dataset meanwhile.

    MLflow 3.17's SQL store looks for the dataset, then inserts it: two runs of a
    search logging the same data at the same moment both miss it, and the second
    insert fails on the unique key (seen with two workers).  Asked again, the
    server finds the row the other run wrote.
    """
    for attempt in range(1, attempts + 1):
        try:
            mlflow.log_input(dataset, context="training")
            return
        except MlflowException as exc:
            if attempt == attempts or "unique constraint" not in str(exc).lower():
                raise
            time.sleep(0.2 * attempt)


def _held_out(frame: pd.DataFrame, report: LoadReport, test_size: float, seed: int):
    """The split, or a message that says what the data lacks (not a useless remedy)."""
    train, test = train_test_split(frame, test_size, seed)
    if not test.empty:
        return train, test
    per_code = frame["nace"].value_counts()
    needed = math.ceil(0.5 / test_size)  # pandas rounds each code's share to whole rows
    size = f"{len(frame):,} rows, {len(per_code)} code(s)"
    if per_code.max() == 1:
        raise CourseError(
            f"{report.source} has one row per code ({size}): a code needs rows on both sides "
            f"of the held-out split; give at least {max(needed, 2)} rows per code."
        )
    raise CourseError(
        f"{report.source} has too few rows per code to hold out {test_size:.0%} for testing "
        f"({size}, at most {per_code.max()} per code): with --test-size {test_size:g}, a code "
        f"needs {needed} rows to have one held out."
    )


def refusal_to_register(train: pd.DataFrame) -> str | None:
    """Why a model trained on ``train`` should not become the newest registered version.

    ``course predict`` and ``course serve`` take the newest version by default:
    a model of 5 rows and one code, registered, silently replaced a real one.
    """
    rows, codes = len(train), train["nace"].nunique()
    if rows >= settings.MIN_REGISTER_ROWS and codes >= settings.MIN_REGISTER_CODES:
        return None
    return (
        f"trained on {rows:,} rows of {codes} code(s), fewer than the "
        f"{settings.MIN_REGISTER_ROWS:,} rows and {settings.MIN_REGISTER_CODES} codes a useful "
        "classifier needs"
    )


@contextlib.contextmanager
def _mlflow_run() -> Iterator[mlflow.ActiveRun]:
    """A run that ends KILLED when interrupted (Ctrl-C, SIGTERM, SIGHUP), FAILED on an
    error, FINISHED otherwise; ending it may fail when the server is gone, quietly."""
    run = mlflow.start_run()
    try:
        yield run
    except BaseException as exc:
        with contextlib.suppress(Exception):
            mlflow.end_run("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    mlflow.end_run()


def run_training(config: TrainConfig, status=print, progress: bool = False) -> TrainResult:
    """Train, evaluate, log and (optionally) register.

    ``status`` receives one line per step; ``progress`` turns on fastText's
    progress line (for a terminal).  If the tracking server goes away while
    the run is being logged, the trained model is kept on disk and the error
    says how to log it later (:mod:`course_lib.model.unlogged`).
    """
    frame, report = load_dataset(config.data, n_rows=config.rows, seed=config.seed)
    status(f"data: {report.summary()}")
    train, test = _held_out(frame, report, config.test_size, config.seed)
    register_as = config.model_name
    refusal = refusal_to_register(train) if register_as and not config.force_register else None
    if refusal:
        status(f"not registering {register_as}: {refusal} (--force-register registers it anyway)")
        register_as = None
    if "MLFLOW_RUN_ID" not in os.environ:  # under `mlflow run` the run has its experiment
        with server_errors_explained("starting the run"):
            mlflow.set_experiment(config.experiment)
    with server_errors_explained("the run was logged"), _mlflow_run() as run:
        _log_run_inputs(config, report, train)
        p = config.params
        status(
            f"training fastText on {len(train):,} rows "
            f"(loss {p.loss}, dim {p.dim}, {p.epoch} epochs)…"
        )
        started = time.perf_counter()
        texts, labels = clean_texts(train["text"]), train["nace"].tolist()
        model = ft.train(texts, labels, config.params, progress=progress)
        train_seconds = time.perf_counter() - started
        metrics = {f"test_{k}": v for k, v in evaluate_fasttext(model, test).items()}
        metrics |= {f"dev_{k}": v for k, v in evaluate_fasttext(model, dev_sample()).items()}
        metrics["train_seconds"] = train_seconds
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.bin"
            model.save_model(str(path))
            kept = {
                "run_id": run.info.run_id, "experiment": config.experiment,
                "params": run_params(config, report), "metrics": metrics,
                "register_as": register_as, "alias": config.alias,
            }  # fmt: skip
            with kept_if_the_server_goes_away(path, kept):
                mlflow.log_metrics(metrics)
                info = log_model(path, EXAMPLES, registered_model_name=register_as)
                version = str(info.registered_model_version) if register_as else None
                if register_as and config.alias:
                    registry.set_alias(register_as, config.alias, version)
    return TrainResult(
        run.info.run_id, run.info.experiment_id, metrics, info.model_uri, version, report
    )


@dataclass(frozen=True)
class Relogged:
    run_id: str
    model_uri: str
    model_name: str | None
    model_version: str | None


def log_saved(folder: Path) -> Relogged:
    """``course log-saved``: log and register a model kept when the server went away.

    A new run gets the kept params, metrics and model (tagged with the run it
    replaces, which is marked FAILED); the folder is removed once logged.
    """
    kept = read_kept(folder)
    with server_errors_explained(f"the model kept in {folder} was logged"):
        mlflow.set_experiment(kept.experiment)
        with _mlflow_run() as run:
            mlflow.set_tag("course.kept_from_run", kept.run_id)
            mlflow.log_params(kept.params)
            mlflow.log_metrics(kept.metrics)
            info = log_model(kept.model_path, EXAMPLES, registered_model_name=kept.register_as)
            version = str(info.registered_model_version) if kept.register_as else None
            if kept.register_as and kept.alias:
                registry.set_alias(kept.register_as, kept.alias, version)
        with contextlib.suppress(*SERVER_ERRORS):
            mlflow.MlflowClient().set_terminated(kept.run_id, "FAILED")
    shutil.rmtree(folder)
    return Relogged(run.info.run_id, info.model_uri, kept.register_as, version)
