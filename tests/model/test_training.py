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
