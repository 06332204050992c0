"""A real training run (the session's small one) against the session's tracking server."""

import pytest
from mlflow import MlflowClient

from course_lib.data.corpus import GENERATOR_VERSION
from course_lib.data.nomenclature import LEVELS
from course_lib.model.training import TrainConfig
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
