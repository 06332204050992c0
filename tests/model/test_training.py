"""A real training run (the session's small one) against the session's tracking server."""

from dataclasses import replace

import pytest
from mlflow import MlflowClient

from course_lib.data.corpus import GENERATOR_VERSION
from course_lib.data.nomenclature import LEVELS
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.model.training import TrainConfig, run_training
from tests.conftest import SMALL


def test_run_logs_params_metrics_data_and_model(small_model, mlflow_server):
    run = MlflowClient().get_run(small_model.run_id)
    params = run.data.params
    assert {k: params[k] for k in SMALL.params.as_dict()} == {
        k: str(v) for k, v in SMALL.params.as_dict().items()
    }
    assert params["data_source"] == "generated corpus"
    assert params["corpus_rows"] == str(SMALL.rows)
    metrics = run.data.metrics
    for prefix in ("test_", "dev_"):
        for level in LEVELS:
            assert 0 <= metrics[f"{prefix}accuracy_{level}"] <= 1
        assert metrics[f"{prefix}top5_accuracy_subclass"] >= metrics[f"{prefix}accuracy_subclass"]
    # coarser levels are easier: section accuracy bounds subclass accuracy
    assert metrics["test_accuracy_section"] >= metrics["test_accuracy_subclass"]
    assert metrics["test_accuracy_subclass"] > 0.5
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == "training-data"
    assert f"corpus-v{GENERATOR_VERSION}-n{SMALL.rows}-seed{SMALL.seed}" in dataset.dataset.source


def test_model_is_registered_with_the_alias(small_model):
    version = MlflowClient().get_model_version_by_alias(SMALL.model_name, "champion")
    assert version.version == small_model.model_version
    assert version.run_id == small_model.run_id


@pytest.mark.slow
def test_the_default_run_trains_on_the_default_corpus(trained):
    """What ``course train`` does with no option: 200,000 rows, the default settings."""
    params = MlflowClient().get_run(trained.run_id).data.params
    default = TrainConfig()
    assert params["corpus_rows"] == str(default.rows)
    assert params["dim"] == str(default.params.dim) and params["loss"] == default.params.loss


def test_too_little_data_is_logged_but_not_registered_unless_forced(mlflow_server, tmp_path):
    """Five rows of one code became the newest version, which predict and serve then used."""
    path = tmp_path / "tiny.csv"
    path.write_text("nace,text\n" + "5610A,restaurant\n" * 5)
    said: list[str] = []
    tiny = TrainConfig(data=str(path), model_name="fasttext-tiny", experiment="tests-tiny",
                       params=Hyperparameters(dim=4, epoch=1, bucket=100))  # fmt: skip
    refused = run_training(tiny, status=said.append)
    assert refused.model_version is None
    assert any("not registering fasttext-tiny: trained on 4 rows of 1 code(s)" in s for s in said)
    assert not MlflowClient().search_model_versions("name = 'fasttext-tiny'")
    forced = run_training(replace(tiny, force_register=True), status=lambda _: None)
    assert forced.model_version == "1"


def test_a_dataset_logged_by_two_runs_at_once_is_retried_not_lost(monkeypatch):
    """MLflow's SQL store checks then inserts: the slower of two concurrent runs hit
    the unique key (seen with two search workers); asked again, it finds the row."""
    from mlflow.exceptions import MlflowException

    from course_lib.model import training

    calls = []

    def log_input(dataset, context):
        calls.append(context)
        if len(calls) == 1:
            raise MlflowException("BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint "
                                  "failed: datasets.experiment_id, datasets.name")  # fmt: skip

    monkeypatch.setattr(training.mlflow, "log_input", log_input)
    monkeypatch.setattr(training.time, "sleep", lambda seconds: None)
    training._log_input(object())
    assert calls == ["training", "training"]

    def refused(dataset, context):
        calls.append(context)
        raise MlflowException("PERMISSION_DENIED: not yours")

    calls.clear()
    monkeypatch.setattr(training.mlflow, "log_input", refused)
    with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
        training._log_input(object())
    assert len(calls) == 1  # other errors are not retried


def test_the_retry_gives_up_after_its_attempts(monkeypatch):
    from mlflow.exceptions import MlflowException

    from course_lib.model import training

    def always(dataset, context):
        raise MlflowException("duplicate key value violates unique constraint")

    monkeypatch.setattr(training.mlflow, "log_input", always)
    monkeypatch.setattr(training.time, "sleep", lambda seconds: None)
    with pytest.raises(MlflowException, match="unique constraint"):
        training._log_input(object(), attempts=3)
