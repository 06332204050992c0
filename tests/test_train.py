"""A real training run against the session's tracking server."""

from mlflow import MlflowClient

from course_lib.corpus import GENERATOR_VERSION
from course_lib.nomenclature import LEVELS


def test_run_logs_params_metrics_data_and_model(trained, mlflow_server):
    run = MlflowClient().get_run(trained.run_id)
    params = run.data.params
    for name in ("dim", "lr", "epoch", "wordNgrams", "minn", "maxn", "minCount", "bucket", "loss"):
        assert name in params
    assert params["dim"] == "50" and params["loss"] == "ova"
    assert params["data_source"] == "generated corpus" and params["corpus_rows"] == "200000"
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
    assert (
        dataset.dataset.source and f"corpus-v{GENERATOR_VERSION}-n200000" in dataset.dataset.source
    )


def test_model_is_registered_with_the_alias(trained):
    client = MlflowClient()
    version = client.get_model_version_by_alias("fasttext-test", "champion")
    assert version.version == trained.model_version
    assert version.run_id == trained.run_id
