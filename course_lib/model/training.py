"""Training entry point: data → fastText → metrics → MLflow run → registry.

Used by ``course train`` and by the ``MLproject`` (``mlflow run .``); under
``mlflow run`` the run already exists (``MLFLOW_RUN_ID``) and ``start_run``
continues it.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from course_lib import settings
from course_lib.data.dataset import LoadReport, load_dataset, train_test_split
from course_lib.data.examples import EXAMPLES
from course_lib.data.preprocessing import clean_texts
from course_lib.data.real_sample import dev_sample
from course_lib.errors import CourseError
from course_lib.model import fasttext_model as ft
from course_lib.model.evaluation import evaluate_fasttext
from course_lib.model.pyfunc import log_model
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


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    model_uri: str
    model_version: str | None
    report: LoadReport


def _log_run_inputs(config: TrainConfig, report: LoadReport, train: pd.DataFrame) -> None:
    mlflow.log_params(config.params.as_dict())
    mlflow.log_params(
        {
            "data_source": report.source if config.data else "generated corpus",
            "data_rows": report.rows_kept,
            "rows_dropped": report.rows_read - report.rows_kept,
            "seed": config.seed,
            "test_size": config.test_size,
        }
    )
    if config.data is None:
        mlflow.log_params({"corpus_rows": config.rows})
    with warnings.catch_warnings():  # a local path matches two equivalent source types
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        dataset = mlflow.data.from_pandas(train, source=report.source, name="training-data")
    mlflow.log_input(dataset, context="training")


def run_training(config: TrainConfig, status=print, progress: bool = False) -> TrainResult:
    """Train, evaluate, log and (optionally) register.

    ``status`` receives one line per step; ``progress`` turns on fastText's
    progress line (for a terminal).
    """
    frame, report = load_dataset(config.data, n_rows=config.rows, seed=config.seed)
    status(f"data: {report.summary()}")
    train, test = train_test_split(frame, config.test_size, config.seed)
    if test.empty:
        raise CourseError(
            f"{report.source} has too few rows per code to hold out {config.test_size:.0%} "
            f"for testing ({len(frame):,} rows, {frame['nace'].nunique()} codes): "
            "give more rows per code or a larger --test-size."
        )
    if "MLFLOW_RUN_ID" not in os.environ:  # under `mlflow run` the run has its experiment
        mlflow.set_experiment(config.experiment)
    with mlflow.start_run() as run:
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
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.bin"
            model.save_model(str(path))
            info = log_model(path, EXAMPLES, registered_model_name=config.model_name)
        version = str(info.registered_model_version) if config.model_name else None
        if config.model_name and config.alias:
            registry.set_alias(config.model_name, config.alias, version)
    return TrainResult(
        run.info.run_id, run.info.experiment_id, metrics, info.model_uri, version, report
    )
