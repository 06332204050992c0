"""Application 1's checks, against real runs and registered versions of the baseline.

The checks are tested against a private experiment and model name (patched
into the checks module), so these tests never touch the ``nace-baseline``
experiment and model the lab itself creates on the same server.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from course_lib.checks import CheckFailed
from course_lib.checks import app1 as checks
from course_lib.data.real_sample import dev_sample
from course_lib.model import baseline
from course_lib.tracking.registry import logged_model_uri

EXPERIMENT = "app1-checks"
MODEL = "nace-baseline-app1-checks"
ALPHAS = [1e-5, 1e-3]
MAX_FEATURES = [2_000]


@pytest.fixture(scope="module")
def logged(mlflow_server, corpus_split) -> dict[str, str]:
    """Real runs in a private experiment: one complete, one incomplete, a grid of two."""
    train, test = corpus_split
    dev = dev_sample()
    mlflow.set_experiment(EXPERIMENT)
    pipeline = baseline.make_pipeline(alpha=1e-5, max_features=2_000).fit(
        train["text"], train["nace"]
    )
    with mlflow.start_run() as first:
        mlflow.log_params({"alpha": 1e-5, "max_features": 2_000})
        mlflow.log_metrics(
            baseline.evaluate(pipeline, test, "test_") | baseline.evaluate(pipeline, dev, "dev_")
        )
        baseline.log_pipeline(pipeline)
    with mlflow.start_run() as incomplete:
        mlflow.log_params({"alpha": 1e-5, "max_features": 2_000})
        mlflow.log_metrics(baseline.evaluate(pipeline, dev, "dev_"))
    with mlflow.start_run(run_name="grid-search") as grid:
        for alpha in ALPHAS:
            for max_features in MAX_FEATURES:
                baseline.log_baseline_run(train, test, dev, alpha=alpha, max_features=max_features)
    runs = baseline.grid_runs(EXPERIMENT, grid.info.run_id, checks.BEST_METRIC)
    scores = runs[f"metrics.{checks.BEST_METRIC}"]
    assert scores.iloc[0] > scores.iloc[-1], "the grid's two runs should not tie"
    return {
        "first": first.info.run_id,
        "incomplete": incomplete.info.run_id,
        "grid": grid.info.run_id,
        "best": runs.loc[0, "run_id"],
        "worst": runs.loc[len(runs) - 1, "run_id"],
    }


@pytest.fixture
def private(monkeypatch, mlflow_server) -> None:
    monkeypatch.setattr(checks, "EXPERIMENT", EXPERIMENT)
    monkeypatch.setattr(checks, "MODEL_NAME", MODEL)


@pytest.fixture(scope="module")
def versions(logged) -> dict[str, mlflow.entities.model_registry.ModelVersion]:
    return {
        which: mlflow.register_model(logged_model_uri(logged[which]), MODEL)
        for which in ("worst", "best")
    }


def _passes(capsys, check, *args) -> str:
    check(*args)
    out = capsys.readouterr().out
    assert out.startswith("✔"), out
    return out


def test_every_check_says_not_set_yet_on_a_stub(private):
    calls = [
        lambda: checks.check_first_run(...),
        lambda: checks.check_grid(..., ALPHAS, MAX_FEATURES),
        lambda: checks.check_best_run(..., ...),
        lambda: checks.check_registered(..., ...),
        lambda: checks.check_loaded_models(..., ..., ..., ..., ...),
    ]
    for call in calls:
        with pytest.raises(CheckFailed, match="not set yet"):
            call()


def test_log_baseline_run_logs_params_metrics_and_model(logged):
    run = MlflowClient().get_run(logged["best"])
    assert {"alpha", "max_features", "ngram_range", "train_rows"} <= set(run.data.params)
    assert set(baseline.metric_names()) <= set(run.data.metrics)
    assert run.data.tags["mlflow.parentRunId"] == logged["grid"]
    assert run.outputs.model_outputs


def test_check_first_run(private, logged, capsys):
    with pytest.raises(CheckFailed, match="run id"):
        checks.check_first_run(42)
    with pytest.raises(CheckFailed, match="not a run"):
        checks.check_first_run("0123456789abcdef")
    with pytest.raises(CheckFailed, match="lacks 6 of the 12 metrics"):
        checks.check_first_run(logged["incomplete"])
    _passes(capsys, checks.check_first_run, logged["first"])


def test_check_first_run_wants_the_experiment(logged, monkeypatch, capsys):
    monkeypatch.setattr(checks, "EXPERIMENT", "nace-baseline-elsewhere")
    with pytest.raises(CheckFailed, match="expected 'nace-baseline-elsewhere'"):
        checks.check_first_run(logged["first"])


def test_check_grid(private, logged, capsys):
    with pytest.raises(CheckFailed, match=r"expected 3 runs in experiment 'app1-checks'.*found 2"):
        checks.check_grid(logged["grid"], [*ALPHAS, 1e-4], MAX_FEATURES)
    with pytest.raises(CheckFailed, match=r"missing e\.g\. alpha=0\.0001"):
        checks.check_grid(logged["grid"], [1e-5, 1e-4], MAX_FEATURES)
    with pytest.raises(CheckFailed, match="found 0"):
        checks.check_grid(logged["first"], ALPHAS, MAX_FEATURES)
    out = _passes(capsys, checks.check_grid, logged["grid"], ALPHAS, MAX_FEATURES)
    assert "2 runs" in out


def test_check_best_run(private, logged, capsys):
    with pytest.raises(CheckFailed, match="of the grid has"):
        checks.check_best_run(logged["worst"], logged["grid"])
    with pytest.raises(CheckFailed, match="not one of the grid's 2 runs"):
        checks.check_best_run(logged["first"], logged["grid"])
    _passes(capsys, checks.check_best_run, logged["best"], logged["grid"])


def test_check_registered(private, logged, versions, capsys):
    client = MlflowClient()
    if checks.ALIAS in client.get_registered_model(MODEL).aliases:
        client.delete_registered_model_alias(MODEL, checks.ALIAS)
    with pytest.raises(CheckFailed, match="ModelVersion"):
        checks.check_registered("1", logged["best"])
    with pytest.raises(CheckFailed, match="comes from run"):
        checks.check_registered(versions["worst"], logged["best"])
    with pytest.raises(CheckFailed, match="no alias 'champion' yet"):
        checks.check_registered(versions["best"], logged["best"])
    client.set_registered_model_alias(MODEL, checks.ALIAS, versions["worst"].version)
    with pytest.raises(CheckFailed, match="points at version"):
        checks.check_registered(versions["best"], logged["best"])
    client.set_registered_model_alias(MODEL, checks.ALIAS, versions["best"].version)
    _passes(capsys, checks.check_registered, versions["best"], logged["best"])


def test_check_loaded_models(private, versions, capsys):
    best, worst = versions["best"], versions["worst"]
    MlflowClient().set_registered_model_alias(MODEL, checks.ALIAS, best.version)
    version_uri, alias_uri = f"models:/{MODEL}/{best.version}", f"models:/{MODEL}@{checks.ALIAS}"
    by_version = mlflow.pyfunc.load_model(version_uri)
    champion = mlflow.pyfunc.load_model(alias_uri)
    other = mlflow.pyfunc.load_model(f"models:/{MODEL}/{worst.version}")
    raw = mlflow.sklearn.load_model(version_uri)
    uris = (version_uri, alias_uri)
    with pytest.raises(CheckFailed, match=r"mlflow\.pyfunc\.load_model"):
        checks.check_loaded_models(raw, champion, best, *uris)
    with pytest.raises(CheckFailed, match=f"models:/{MODEL}/{best.version} is"):
        checks.check_loaded_models(other, champion, best, *uris)
    with pytest.raises(CheckFailed, match=f"models:/{MODEL}@champion is"):
        checks.check_loaded_models(by_version, other, best, *uris)
    _passes(capsys, checks.check_loaded_models, by_version, champion, best, *uris)
    assert list(champion.predict(baseline.EXAMPLES)) == list(raw.predict(baseline.EXAMPLES))


def test_check_loaded_models_refuses_the_alias_loaded_twice(private, versions, capsys):
    """The alias points at the version, so both loads have one model id: the URIs tell."""
    best = versions["best"]
    MlflowClient().set_registered_model_alias(MODEL, checks.ALIAS, best.version)
    version_uri, alias_uri = f"models:/{MODEL}/{best.version}", f"models:/{MODEL}@{checks.ALIAS}"
    champion = mlflow.pyfunc.load_model(alias_uri)
    again = mlflow.pyfunc.load_model(alias_uri)
    assert again.model_id == champion.model_id  # what the model id alone cannot tell apart
    with pytest.raises(CheckFailed, match=r"version_uri .*\(it names an alias\).*should name"):
        checks.check_loaded_models(again, champion, best, alias_uri, alias_uri)
    with pytest.raises(CheckFailed, match="one and the same loaded model"):
        checks.check_loaded_models(champion, champion, best, version_uri, alias_uri)
    with pytest.raises(CheckFailed, match=r"alias_uri .*\(it names a version\)"):
        checks.check_loaded_models(again, champion, best, version_uri, version_uri)
    with pytest.raises(CheckFailed, match=f"should name version {best.version}"):
        checks.check_loaded_models(again, champion, best, f"models:/{MODEL}/1000", alias_uri)


def test_check_loaded_models_accepts_equivalent_spellings(private, versions, capsys):
    """A trailing slash, or the version number as an int in an f-string, name the same URIs."""
    best = versions["best"]
    MlflowClient().set_registered_model_alias(MODEL, checks.ALIAS, best.version)
    version_uri = f"models:/{MODEL}/{int(best.version)}/"
    alias_uri = f"models:/{MODEL}@{checks.ALIAS}"
    by_version = mlflow.pyfunc.load_model(version_uri)
    champion = mlflow.pyfunc.load_model(alias_uri)
    out = _passes(
        capsys, checks.check_loaded_models, by_version, champion, best, version_uri, alias_uri
    )
    assert f"version {best.version} today" in out


# --- more wrong answers a trainee could give, and right answers the lab does not write ----


def test_check_first_run_refuses_plausible_wrong_runs(private, logged):
    client = MlflowClient()
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    with pytest.raises(CheckFailed, match=r"a run id \(a string, e\.g\. run\.info\.run_id\)"):
        checks.check_first_run(client.get_run(logged["first"]))  # the Run, not its id
    # params and every metric, but no model: log_model forgotten
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "alpha", 1e-5)
    client.log_param(run_id, "max_features", 3_000)
    for name in baseline.metric_names():
        client.log_metric(run_id, name, 0.5)
    with pytest.raises(CheckFailed, match="is RUNNING, not FINISHED"):
        checks.check_first_run(run_id)  # start_run() without `with`: never ended
    client.set_terminated(run_id)
    with pytest.raises(CheckFailed, match=r"logged no model: call mlflow\.sklearn\.log_model"):
        checks.check_first_run(run_id)
    # metrics without prefixes: evaluate(pipeline, test) merged with evaluate(pipeline, dev)
    bare = client.create_run(experiment_id).info.run_id
    client.log_param(bare, "alpha", 1e-5)
    client.log_param(bare, "max_features", 3_000)
    client.log_metric(bare, "accuracy_subclass", 0.5)
    client.set_terminated(bare)
    with pytest.raises(CheckFailed, match=r"lacks 12 of the 12 metrics.*'test_'"):
        checks.check_first_run(bare)


def test_check_first_run_accepts_a_run_logged_another_way(private, logged, capsys):
    """``log_baseline_run`` logs more params and metrics (and nests under the grid): as
    right; so is the id read back from the table of runs, as numpy's string."""
    _passes(capsys, checks.check_first_run, logged["best"])
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT], order_by=["attributes.start_time"])
    found = runs["run_id"].to_numpy()[0]
    assert found == logged["first"]
    _passes(capsys, checks.check_first_run, np.str_(found))


def test_check_grid_refuses_a_child_or_a_zip(private, logged):
    with pytest.raises(CheckFailed, match="found 0: start each grid point's run inside"):
        checks.check_grid(logged["best"], ALPHAS, MAX_FEATURES)  # a grid point, not the parent
    # zip(alphas, max_features_values) instead of product: 2 runs where 4 were asked
    with pytest.raises(CheckFailed, match=r"expected 4 runs .* found 2"):
        checks.check_grid(logged["grid"], ALPHAS, [*MAX_FEATURES, 5_000])


def test_check_grid_accepts_arrays_in_any_order(private, logged, capsys):
    out = _passes(
        capsys, checks.check_grid, np.str_(logged["grid"]), np.array(ALPHAS[::-1]),
        np.array(MAX_FEATURES, dtype=np.int64),
    )  # fmt: skip
    assert "2 runs" in out
    _passes(capsys, checks.check_grid, logged["grid"], ("1e-05", "0.001"), ["2000"])


@pytest.fixture(scope="module")
def scored_grid(mlflow_server) -> dict[str, str]:
    """A grid of three made-up runs: ``held_out`` leads on test_, ``dev`` on dev_, ``tie``
    ties ``held_out`` on test_ (no training: check_best_run reads params and metrics)."""
    client = MlflowClient()
    mlflow.set_experiment(EXPERIMENT)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    parent = client.create_run(experiment_id, run_name="scored-grid").info.run_id
    runs = {"grid": parent}
    for name, alpha, test, dev in (
        ("held_out", 1e-5, 0.60, 0.30),
        ("dev", 1e-4, 0.50, 0.40),
        ("tie", 1e-6, 0.60, 0.20),
    ):
        run_id = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
        client.log_param(run_id, "alpha", alpha)
        client.log_param(run_id, "max_features", 1_000)
        client.log_metric(run_id, "test_accuracy_subclass", test)
        client.log_metric(run_id, "dev_accuracy_subclass", dev)
        client.set_terminated(run_id)
        runs[name] = run_id
    client.set_terminated(parent)
    return runs


def test_check_best_run_refuses_plausible_wrong_choices(private, scored_grid):
    grid = baseline.grid_runs(EXPERIMENT, scored_grid["grid"], checks.BEST_METRIC)
    # chosen on the 212 real rows: the tempting, wrong rule
    with pytest.raises(CheckFailed, match=r"0\.5000, but run \w+… of the grid has 0\.6000"):
        checks.check_best_run(scored_grid["dev"], scored_grid["grid"])
    # sorted the wrong way: the worst run
    worst = grid.sort_values(f"metrics.{checks.BEST_METRIC}").iloc[0]["run_id"]
    with pytest.raises(CheckFailed, match="of the grid has"):
        checks.check_best_run(worst, scored_grid["grid"])
    with pytest.raises(CheckFailed, match="not one of the grid's 3 runs"):
        checks.check_best_run(scored_grid["grid"], scored_grid["grid"])  # the parent run
    # the best row, or a one-row column, instead of the id: a message, not a TypeError
    with pytest.raises(CheckFailed, match=r"one run id .*grid\.loc\[0, 'run_id'\].*Series"):
        checks.check_best_run(grid.loc[0], scored_grid["grid"])
    with pytest.raises(CheckFailed, match="got Series"):
        checks.check_best_run(grid.head(1)["run_id"], scored_grid["grid"])


def test_check_best_run_accepts_the_best_however_found(private, scored_grid, capsys):
    grid_id = scored_grid["grid"]
    client = MlflowClient()
    (top,) = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{grid_id}'",
        order_by=[f"metrics.{checks.BEST_METRIC} DESC", "attributes.start_time ASC"],
        max_results=1,
    )
    assert top.info.run_id == scored_grid["held_out"]
    _passes(capsys, checks.check_best_run, top.info.run_id, grid_id)
    table = baseline.grid_runs(EXPERIMENT, grid_id, checks.BEST_METRIC)
    by_idxmax = table.loc[table[f"metrics.{checks.BEST_METRIC}"].idxmax(), "run_id"]
    _passes(capsys, checks.check_best_run, by_idxmax, grid_id)
    _passes(capsys, checks.check_best_run, np.str_(scored_grid["held_out"]), grid_id)
    _passes(capsys, checks.check_best_run, scored_grid["tie"], grid_id)  # a tie is right too


def test_check_registered_refuses_another_name(private, logged, capsys):
    other = mlflow.register_model(logged_model_uri(logged["best"]), f"{MODEL}-typo")
    with pytest.raises(CheckFailed, match=rf"registered as '{MODEL}-typo', expected '{MODEL}'"):
        checks.check_registered(other, logged["best"])


def test_check_registered_accepts_another_uri_and_a_refetched_version(
    private, logged, versions, capsys
):
    """``runs:/<id>/model`` registers the same logged model (MLflow resolves it), and the
    version read back from the registry is as good as the one register_model returned."""
    client = MlflowClient()
    from_run = mlflow.register_model(f"runs:/{logged['best']}/model", MODEL)
    assert from_run.run_id == logged["best"]
    client.set_registered_model_alias(MODEL, checks.ALIAS, int(from_run.version))
    _passes(capsys, checks.check_registered, from_run, logged["best"])
    _passes(capsys, checks.check_registered, client.get_model_version_by_alias(MODEL, "champion"),
            logged["best"])  # fmt: skip
    client.set_registered_model_alias(MODEL, checks.ALIAS, versions["best"].version)
