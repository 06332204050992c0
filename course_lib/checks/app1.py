"""Checks of Application 1 (MLflow concepts with a scikit-learn baseline).

Each check asks the tracking server about the run, the grid or the model
version the trainee's answer names, never "the latest" or "all" runs of the
experiment: run the notebook again against the same server and the
experiment holds two grids and the registry one more version, and every
check still looks at this execution's answers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion

from course_lib.checks import (
    CheckFailed,
    passed,
    require,
    require_registered_with_alias,
    run_named,
)
from course_lib.model.baseline import EXPERIMENT, MODEL_NAME, grid_runs, metric_names
from course_lib.settings import DEFAULT_ALIAS as ALIAS

BEST_METRIC = "test_accuracy_subclass"
GRID_PARAMS = ("alpha", "max_features")


def _run(run_id: Any, what: str) -> Run:
    return run_named(run_id, what, "run.info.run_id")


def _check_in_experiment(run: Run, what: str) -> None:
    experiment = MlflowClient().get_experiment(run.info.experiment_id).name
    if experiment != EXPERIMENT:
        raise CheckFailed(
            f"{what} ({run.info.run_id}) is in experiment {experiment!r}, expected "
            f"{EXPERIMENT!r}: call mlflow.set_experiment({EXPERIMENT!r}) before start_run"
        )
    if run.info.status != "FINISHED":
        raise CheckFailed(
            f"{what} ({run.info.run_id}) is {run.info.status}, not FINISHED: log inside "
            "`with mlflow.start_run() as run:` so the run ends with the block"
        )


def _check_logged(run: Run, what: str) -> None:
    """The grid's params, every metric name and a logged model."""
    missing_params = [p for p in GRID_PARAMS if p not in run.data.params]
    if missing_params:
        raise CheckFailed(
            f"{what} ({run.info.run_id}) has no param {', '.join(map(repr, missing_params))}: "
            "log them with mlflow.log_params({...})"
        )
    missing = [m for m in metric_names() if m not in run.data.metrics]
    if missing:
        raise CheckFailed(
            f"{what} ({run.info.run_id}) lacks {len(missing)} of the {len(metric_names())} "
            f"metrics, e.g. {missing[0]!r}: log evaluate(pipeline, test, 'test_') and "
            "evaluate(pipeline, dev, 'dev_')"
        )
    if not (run.outputs and run.outputs.model_outputs):
        raise CheckFailed(
            f"{what} ({run.info.run_id}) logged no model: call mlflow.sklearn.log_model(...) "
            "inside the run"
        )


def check_first_run(first_run_id: Any) -> None:
    """App 1, exercise 1: one run by hand, with params, metrics and the model."""
    require(first_run_id, "first_run_id")
    run = _run(first_run_id, "first_run_id")
    _check_in_experiment(run, "first_run_id")
    _check_logged(run, "first_run_id")
    metrics = run.data.metrics
    passed(
        f"run {first_run_id[:8]}… has {len(run.data.params)} params, {len(metrics)} metrics "
        f"and a model; subclass accuracy {metrics['test_accuracy_subclass']:.3f} held out, "
        f"{metrics['dev_accuracy_subclass']:.3f} on real descriptions"
    )


def _grid_point(run: Run) -> tuple[float, int]:
    params = run.data.params
    return float(params["alpha"]), int(params["max_features"])


def check_grid(
    grid_run_id: Any, alphas: Sequence[float], max_features_values: Sequence[int]
) -> None:
    """App 1, exercise 2: one nested run per (alpha, max_features) under a parent run."""
    require(grid_run_id, "grid_run_id")
    parent = _run(grid_run_id, "grid_run_id")
    _check_in_experiment(parent, "grid_run_id")
    client = MlflowClient()
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{grid_run_id}'",
    )
    expected = {(float(a), int(m)) for a, m in product(alphas, max_features_values)}
    if len(children) != len(expected):
        raise CheckFailed(
            f"expected {len(expected)} runs in experiment {EXPERIMENT!r} under the grid run "
            f"{grid_run_id[:8]}…, found {len(children)}: start each grid point's run inside "
            "the grid's `with mlflow.start_run()` block (log_baseline_run nests it)"
        )
    for child in children:
        if child.info.status != "FINISHED":
            raise CheckFailed(f"run {child.info.run_id} of the grid is {child.info.status}")
        _check_logged(client.get_run(child.info.run_id), "a run of the grid")
    found = {_grid_point(child) for child in children}
    if found != expected:
        absent = sorted(expected - found)
        raise CheckFailed(
            f"the grid's runs cover {len(found)} distinct (alpha, max_features) pairs, "
            f"expected {len(expected)}; missing e.g. alpha={absent[0][0]:g}, "
            f"max_features={absent[0][1]}"
        )
    passed(
        f"{len(children)} runs under grid {grid_run_id[:8]}…, one per (alpha, max_features), "
        "each with its params, metrics and model"
    )


def check_best_run(best_run_id: Any, grid_run_id: Any) -> None:
    """App 1, exercise 3: the grid's run with the best held-out subclass accuracy."""
    require(best_run_id, "best_run_id")
    require(grid_run_id, "grid_run_id")
    if not isinstance(best_run_id, str):  # a table's row or column is not hashable
        raise CheckFailed(
            f"best_run_id should be one run id (a string, e.g. grid.loc[0, 'run_id']), "
            f"got {type(best_run_id).__name__}"
        )
    runs = grid_runs(EXPERIMENT, grid_run_id, BEST_METRIC)
    if runs.empty:
        raise CheckFailed(f"no finished run under the grid run {grid_run_id!r}: do exercise 2")
    column = f"metrics.{BEST_METRIC}"
    if best_run_id not in set(runs["run_id"]):
        raise CheckFailed(
            f"best_run_id={best_run_id!r} is not one of the grid's {len(runs)} runs: "
            "keep the runs whose tags.mlflow.parentRunId is grid_run_id"
        )
    best, mine = runs.iloc[0], runs.set_index("run_id").loc[best_run_id]
    if mine[column] < best[column]:
        raise CheckFailed(
            f"run {best_run_id[:8]}… has {BEST_METRIC} {mine[column]:.4f}, but run "
            f"{best['run_id'][:8]}… of the grid has {best[column]:.4f}"
        )
    passed(
        f"run {best_run_id[:8]}… is the best of the grid: {BEST_METRIC} {mine[column]:.3f} "
        f"(alpha={mine['params.alpha']}, max_features={mine['params.max_features']}), "
        f"dev_accuracy_subclass {mine['metrics.dev_accuracy_subclass']:.3f}"
    )


def _version_number(model_version: Any) -> str:
    if not all(hasattr(model_version, a) for a in ("name", "version")):
        raise CheckFailed(
            "model_version should be what mlflow.register_model returns (a ModelVersion), "
            f"got {type(model_version).__name__} {model_version!r}"
        )
    if model_version.name != MODEL_NAME:
        raise CheckFailed(
            f"the model is registered as {model_version.name!r}, expected {MODEL_NAME!r}"
        )
    return str(model_version.version)


def check_registered(model_version: Any, best_run_id: Any) -> None:
    """App 1, exercise 4: the best run's model registered, with the alias champion on it."""
    require(model_version, "model_version")
    version = _version_number(model_version)
    require_registered_with_alias(MODEL_NAME, version, best_run_id, ALIAS)
    passed(f"{MODEL_NAME} version {version} (from run {best_run_id[:8]}…) is @{ALIAS}")


def _logged_model_id(version: ModelVersion) -> str | None:
    """The logged model behind a version: ``model_id``, or its ``models:/<id>`` source.

    The server fills ``source`` but not always ``model_id`` for a version
    registered from ``models:/<id>``.
    """
    if version.model_id:
        return version.model_id
    source = version.source or ""
    return source.removeprefix("models:/") if source.startswith("models:/m-") else None


def _check_uri(uri: Any, what: str, expected: str) -> None:
    """``uri`` is ``expected``: the registered model by version (``/n``) or by alias (``@``)."""
    if isinstance(uri, str) and uri.strip().rstrip("/") == expected:
        return
    kind = f"the alias {ALIAS!r}" if "@" in expected else f"version {expected.rsplit('/', 1)[1]}"
    named = ""
    if isinstance(uri, str) and ("@" in uri) != ("@" in expected):
        named = " (it names " + ("an alias" if "@" in uri else "a version") + ")"
    raise CheckFailed(
        f"{what} is {uri!r}{named}, but it should name {kind} of {MODEL_NAME!r}: {expected!r}"
    )


def _check_loaded(model: Any, what: str, expected_id: str | None, uri: str) -> None:
    model_id = getattr(model, "model_id", None)
    if not hasattr(model, "metadata") or not hasattr(model, "predict"):
        raise CheckFailed(
            f"{what} should be a model loaded with mlflow.pyfunc.load_model({uri!r}), "
            f"got {type(model).__name__}"
        )
    if model_id != expected_id:
        raise CheckFailed(
            f"{what} is the logged model {model_id}, but {uri} is {expected_id}: load {uri!r}"
        )


def check_loaded_models(
    by_version: Any, champion: Any, model_version: Any, version_uri: Any, alias_uri: Any
) -> None:
    """App 1, exercise 5: the registered model loaded by its version and by its alias.

    A loaded ``PyFuncModel`` keeps its model id but not the URI it was loaded
    from, so two loads of the alias would look like one load of each URI
    whenever the alias points at the version.  The trainee's URIs are therefore
    checked too (one names the version, the other the alias), each model is
    compared with what the registry says its URI resolves to, and the two
    answers must be two loads, not one object under two names.
    """
    require(version_uri, "version_uri")
    require(alias_uri, "alias_uri")
    require(by_version, "by_version")
    require(champion, "champion")
    version = _version_number(model_version)
    client = MlflowClient()
    _check_uri(version_uri, "version_uri", f"models:/{MODEL_NAME}/{version}")
    _check_uri(alias_uri, "alias_uri", f"models:/{MODEL_NAME}@{ALIAS}")
    if by_version is champion:
        raise CheckFailed(
            "by_version and champion are one and the same loaded model: load each URI once, "
            "by_version = mlflow.pyfunc.load_model(version_uri) and "
            "champion = mlflow.pyfunc.load_model(alias_uri)"
        )
    _check_loaded(
        by_version,
        "by_version",
        _logged_model_id(client.get_model_version(MODEL_NAME, version)),
        version_uri,
    )
    target = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    _check_loaded(champion, "champion", _logged_model_id(target), alias_uri)
    passed(
        f"{version_uri} and {alias_uri} (version {target.version} today) loaded: both are the "
        f"logged model {champion.model_id}"
    )
