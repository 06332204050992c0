"""The registry as the labs use it: a run's logged model, new versions, aliases, references."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from course_lib.errors import CourseError
from course_lib.tracking.registry import (
    logged_model_uri,
    register_run_model,
    resolve_model_uri,
    split_reference,
)
from tests.conftest import SMALL


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("3", ("3", None)), (" 12 ", ("12", None)), ("champion", (None, "champion")),
     ("v2", (None, "v2")), ("", (None, None)), (None, (None, None))],
)  # fmt: skip
def test_a_number_is_a_version_anything_else_an_alias(typed, expected):
    assert split_reference(typed) == expected


def test_model_uri_keeps_an_alias_and_pins_a_number(small_model):
    name = SMALL.model_name
    assert resolve_model_uri(name, alias="champion") == f"models:/{name}@champion"
    assert resolve_model_uri(name) == f"models:/{name}/{small_model.model_version}"
    with pytest.raises(CourseError, match="course train --alias gold"):
        resolve_model_uri(name, alias="gold")


def test_logged_model_uri_finds_the_model_of_a_run(small_model):
    uri = logged_model_uri(small_model.run_id)
    assert uri.startswith("models:/m-") and uri == small_model.model_uri


def test_logged_model_uri_explains_a_run_without_model_or_an_unknown_run(mlflow_server):
    mlflow.set_experiment("app2-helpers")
    with mlflow.start_run() as run:
        mlflow.log_param("dim", 50)
    with pytest.raises(CourseError, match="logged no model named 'model'"):
        logged_model_uri(run.info.run_id)
    with pytest.raises(CourseError, match="no run with id 'not-a-run'"):
        logged_model_uri("not-a-run")


def test_register_run_model_adds_a_version_and_moves_the_alias(small_model):
    client = MlflowClient()
    first = register_run_model(small_model.run_id, "fasttext-app2-helpers", alias="champion")
    second = register_run_model(small_model.run_id, "fasttext-app2-helpers")
    assert first.run_id == second.run_id == small_model.run_id
    assert int(second.version) == int(first.version) + 1
    champion = client.get_model_version_by_alias("fasttext-app2-helpers", "champion")
    assert champion.version == first.version
    loaded = mlflow.pyfunc.load_model("models:/fasttext-app2-helpers@champion")
    [[best]] = loaded.predict(["COIFFEUR"], params={"k": 1})
    assert set(best) == {"nace", "probability"}
