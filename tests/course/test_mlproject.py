"""`mlflow run .` with the project's MLproject, against the test server."""

import os
import shutil
import subprocess

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # `mlflow run .` trains in a subprocess


def test_mlflow_run_with_a_parameter_logs_a_run(mlflow_server, state_dir):
    command = [
        shutil.which("mlflow"), "run", str(ROOT), "--env-manager", "local",
        "--experiment-name", "mlproject",
        "-P", "dim=25", "-P", "rows=3000", "-P", "epoch=2", "-P", "bucket=5000",
        "-P", "register=fasttext-mlproject",
    ]  # fmt: skip
    env = {
        k: v for k, v in os.environ.items() if k not in {"MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"}
    }
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient()
    experiment = client.get_experiment_by_name("mlproject")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.params["dim"] == "25" and run.data.params["corpus_rows"] == "3000"
    assert run.info.status == "FINISHED"
    assert "test_accuracy_subclass" in run.data.metrics
    [version] = client.search_model_versions("name = 'fasttext-mlproject'")
    assert version.run_id == run.info.run_id


def test_mlproject_defaults_are_the_library_defaults():
    import yaml

    from course_lib.model.fasttext_model import Hyperparameters

    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    parameters = spec["entry_points"]["main"]["parameters"]
    for name, value in Hyperparameters().as_dict().items():
        assert str(parameters[name]["default"]) == str(value), name
    assert parameters["rows"]["default"] == 200_000
