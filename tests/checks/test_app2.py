"""Application 2's checks, against real runs and registered versions.

The checks are tested against a private experiment and model name (patched
into the checks module) so these tests never touch the ``fasttext`` model
that the notebooks and the CLI tests use.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from course_lib.checks import CheckFailed
from course_lib.checks import app2 as checks
from course_lib.data.preprocessing import clean_text, clean_texts

EXPERIMENT = "app2-checks"
MODEL = "fasttext-app2-checks"
ROWS = 3000


@pytest.fixture
def private(monkeypatch, mlflow_server) -> None:
    monkeypatch.setattr(checks, "EXPERIMENT", EXPERIMENT)
    monkeypatch.setattr(checks, "MODEL_NAME", MODEL)


def fake_project_run(
    dim: int = 50,
    rows: int = ROWS,
    dev: float = 0.5,
    experiment: str = EXPERIMENT,
    project=True,
    test: float | None = None,
) -> str:
    """A finished run that looks like one `mlflow.projects.run` made (no training)."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    tags = {"mlflow.project.entryPoint": "main"} if project else {}
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    client.log_param(run_id, "dim", dim)
    client.log_param(run_id, "corpus_rows", rows)
    client.log_metric(run_id, "dev_accuracy_subclass", dev)
    client.log_metric(run_id, "test_accuracy_subclass", dev + 0.1 if test is None else test)
    client.set_terminated(run_id)
    return run_id


def passes(capsys, check, *args) -> str:
    capsys.readouterr()  # creating runs prints their links; keep only the check's output
    check(*args)
    out = capsys.readouterr().out
    assert out.startswith("✔"), out
    return out


LAB_EXAMPLES = list(checks.EXPECTED_CLEANED)


def test_the_pinned_cleaned_forms_are_what_the_course_cleaning_gives():
    assert clean_texts(LAB_EXAMPLES) == list(checks.EXPECTED_CLEANED.values())


def test_check_cleaned_refuses_wrong_answers():
    examples = LAB_EXAMPLES
    with pytest.raises(CheckFailed, match="not set yet"):
        checks.check_cleaned(examples, ...)
    with pytest.raises(CheckFailed, match="examples unchanged"):
        checks.check_cleaned(examples, list(examples))
    # lower case alone is the plausible half-answer
    with pytest.raises(CheckFailed, match="'coiffeur, & 98789' cleans to 'coiffeur', not"):
        checks.check_cleaned(examples, [t.lower() for t in examples])
    with pytest.raises(CheckFailed, match="expected 4 cleaned"):
        checks.check_cleaned(examples, ["coiffeur"])
    with pytest.raises(CheckFailed, match="one cleaned string per description"):
        checks.check_cleaned(examples, "coiffeur coiffeur")
    with pytest.raises(CheckFailed, match="keep the lab's examples"):
        checks.check_cleaned(["coiffeur"], ["coiffeur"])  # nothing left to clean


def test_check_cleaned_accepts_every_right_form(capsys):
    examples = LAB_EXAMPLES
    out = passes(capsys, checks.check_cleaned, examples, clean_texts(examples))
    assert "'Boulangerie-Pâtisserie' → 'boulanger patisser'" in out
    # the natural pandas answer, and a tuple
    series = pd.Series(examples).apply(clean_text)
    passes(capsys, checks.check_cleaned, examples, series)
    passes(capsys, checks.check_cleaned, pd.Series(examples), tuple(clean_texts(examples)))
    # an added description is checked against the course's cleaning of it
    more = [*examples, "Vente de pains"]
    passes(capsys, checks.check_cleaned, more, clean_texts(more))
    with pytest.raises(CheckFailed, match="'Vente de pains' cleans to"):
        checks.check_cleaned(more, [*clean_texts(examples), "vente de pains"])


def test_check_default_run(private, capsys):
    with pytest.raises(CheckFailed, match="not set yet"):
        checks.check_default_run(..., ROWS)
    with pytest.raises(CheckFailed, match="not a run on the tracking server"):
        checks.check_default_run("0123456789abcdef0123456789abcdef", ROWS)
    with pytest.raises(CheckFailed, match="expected 'app2-checks'"):
        checks.check_default_run(fake_project_run(experiment="elsewhere"), ROWS)
    with pytest.raises(CheckFailed, match="not started by MLflow Projects"):
        checks.check_default_run(fake_project_run(project=False), ROWS)
    with pytest.raises(CheckFailed, match="expected rows=3000"):
        checks.check_default_run(fake_project_run(rows=200_000), ROWS)
    with pytest.raises(CheckFailed, match="has dim=25, expected 50"):
        checks.check_default_run(fake_project_run(dim=25), ROWS)
    assert "dim 50" in passes(capsys, checks.check_default_run, fake_project_run(), ROWS)


def test_check_default_run_accepts_the_run_however_its_id_was_found(private, capsys):
    """``submitted.run_id`` is one way to the run; a trainee who ran the project from a
    terminal finds its id again on the tracking server, and that answer is as right."""
    run_id = fake_project_run()
    latest = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string="params.dim = '50' and tags.`mlflow.project.entryPoint` = 'main'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    from_table = latest.loc[0, "run_id"]
    assert from_table == run_id  # the search found the run just made
    assert "dim 50" in passes(capsys, checks.check_default_run, from_table, ROWS)
    # the same id as the client's Run gives it, as numpy's string type, and with the
    # corpus size read back from the run (a string) or from a numpy array
    (found,) = MlflowClient().search_runs(
        [latest.loc[0, "experiment_id"]], f"attributes.run_id = '{run_id}'"
    )
    passes(capsys, checks.check_default_run, found.info.run_id, ROWS)
    passes(capsys, checks.check_default_run, np.array([run_id])[0], ROWS)
    passes(capsys, checks.check_default_run, run_id, found.data.params["corpus_rows"])
    passes(capsys, checks.check_default_run, run_id, np.array([ROWS])[0])


def test_check_dim_runs(private, capsys):
    dims = [25, 100]
    with pytest.raises(CheckFailed, match="not set yet"):
        checks.check_dim_runs(..., dims, ROWS)
    with pytest.raises(CheckFailed, match="should be a dict"):
        checks.check_dim_runs([fake_project_run(dim=25)], dims, ROWS)
    with pytest.raises(CheckFailed, match="one run per dim"):
        checks.check_dim_runs({25: fake_project_run(dim=25)}, dims, ROWS)
    swapped = {25: fake_project_run(dim=100), 100: fake_project_run(dim=25)}
    with pytest.raises(CheckFailed, match="has dim=100, expected 25"):
        checks.check_dim_runs(swapped, dims, ROWS)
    right = {dim: fake_project_run(dim=dim) for dim in dims}
    assert "2 project runs" in passes(capsys, checks.check_dim_runs, right, dims, ROWS)
    # keys read back as strings (from a table's params.dim column) are right too
    as_text = {str(dim): fake_project_run(dim=dim) for dim in dims}
    assert "2 project runs" in passes(capsys, checks.check_dim_runs, as_text, dims, ROWS)


def test_check_best_run(private, capsys):
    # dim 25 leads on the real descriptions, dim 100 and the default tie on the held-out split
    default = fake_project_run(dev=0.20, test=0.40)
    dim_runs = {
        25: fake_project_run(dim=25, dev=0.30, test=0.35),
        100: fake_project_run(dim=100, dev=0.25, test=0.40),
    }
    with pytest.raises(CheckFailed, match="best_run_id is not set yet"):
        checks.check_best_run(..., default, dim_runs)
    with pytest.raises(CheckFailed, match="dim_runs is not set yet"):
        checks.check_best_run(default, default, ...)
    # the old rule, choosing on the 212 real rows, is the plausible wrong answer
    with pytest.raises(
        CheckFailed, match=r"has test_accuracy_subclass=0\.350, but run \w+ has 0\.400"
    ):
        checks.check_best_run(dim_runs[25], default, dim_runs)
    with pytest.raises(CheckFailed, match="not one of the runs this notebook started"):
        checks.check_best_run(fake_project_run(test=0.9), default, dim_runs)
    assert "dim 100" in passes(capsys, checks.check_best_run, dim_runs[100], default, dim_runs)
    # a run that ties the best is a right answer too
    assert "dim 50" in passes(capsys, checks.check_best_run, default, default, dim_runs)


def test_check_champion(private, small_model, capsys):
    client = MlflowClient()
    with pytest.raises(CheckFailed, match="not set yet"):
        checks.check_champion(..., small_model.run_id)
    with pytest.raises(CheckFailed, match="no version '999'"):
        checks.check_champion("999", small_model.run_id)
    version = mlflow.register_model(small_model.model_uri, MODEL)
    with pytest.raises(CheckFailed, match="not from the best run"):
        checks.check_champion(version, "another-run")
    with pytest.raises(CheckFailed, match="no alias 'champion' yet"):
        checks.check_champion(version, small_model.run_id)
    newer = mlflow.register_model(small_model.model_uri, MODEL)
    client.set_registered_model_alias(MODEL, "champion", newer.version)
    with pytest.raises(CheckFailed, match=f"points at version {newer.version}"):
        checks.check_champion(version, small_model.run_id)
    out = passes(capsys, checks.check_champion, newer, small_model.run_id)
    assert f"version {newer.version}" in out
    passes(capsys, checks.check_champion, newer.version, small_model.run_id)  # a plain version too


def ranked(*codes: str) -> list[dict]:
    return [{"nace": c, "probability": round(0.9 / (i + 1), 6)} for i, c in enumerate(codes)]


@pytest.fixture
def champion(monkeypatch, mlflow_server, small_model) -> str:
    """The small model as @champion of a name of its own (test_check_champion moves another)."""
    name = "fasttext-app2-predictions"
    monkeypatch.setattr(checks, "MODEL_NAME", name)
    version = mlflow.register_model(small_model.model_uri, name)
    MlflowClient().set_registered_model_alias(name, "champion", version.version)
    return f"models:/{name}/{version.version}"


DESCRIPTIONS = ["BOULANGERIE PATISSERIE", "COIFFEUR", "coiffeur, & 98789"]


def test_check_predictions_refuses_wrong_answers(champion):
    model = mlflow.pyfunc.load_model(champion)
    top3 = model.predict(DESCRIPTIONS, params={"k": 3})
    top1 = model.predict(DESCRIPTIONS, params={"k": 1})
    with pytest.raises(CheckFailed, match="top1 is not set yet"):
        checks.check_predictions(DESCRIPTIONS, ..., top3)
    with pytest.raises(CheckFailed, match="top3 is not set yet"):
        checks.check_predictions(DESCRIPTIONS, top1, ...)
    with pytest.raises(CheckFailed, match=r"expected 3: pass params=\{'k': 3\}"):
        checks.check_predictions(DESCRIPTIONS, top1, top1)
    with pytest.raises(CheckFailed, match="one per description"):
        checks.check_predictions(DESCRIPTIONS, top1[:2], top3)
    with pytest.raises(CheckFailed, match="not ranked by probability"):
        checks.check_predictions(DESCRIPTIONS, top1, [row[::-1] for row in top3])
    # well-formed, consistent predictions that the champion did not make (hand-written, or
    # another model's): the old check passed them
    hairdresser = ranked("9602A", "9602B", "9604Z")
    made_up = [ranked("1071C", "1071D", "4724Z"), hairdresser, list(hairdresser)]
    with pytest.raises(CheckFailed, match="but fasttext-app2-predictions@champion answers"):
        checks.check_predictions(DESCRIPTIONS, [row[:1] for row in made_up], made_up)
    # the champion's codes with other probabilities are another model's too
    other = [[p | {"probability": p["probability"] / 2} for p in row] for row in top3]
    with pytest.raises(CheckFailed, match="top3 for 'BOULANGERIE PATISSERIE'"):
        checks.check_predictions(DESCRIPTIONS, top1, other)
    with pytest.raises(CheckFailed, match="keep 'coiffeur, & 98789'"):
        checks.check_predictions(DESCRIPTIONS[:2], top1[:2], top3[:2])
    MlflowClient().delete_registered_model_alias(checks.MODEL_NAME, "champion")
    with pytest.raises(CheckFailed, match="exercise 5 first"):
        checks.check_predictions(DESCRIPTIONS, top1, top3)


def test_check_predictions_accepts_the_champion_however_loaded(champion, capsys):
    by_alias = mlflow.pyfunc.load_model(f"models:/{checks.MODEL_NAME}@champion")
    top1 = by_alias.predict(DESCRIPTIONS, params={"k": 1})
    top3 = by_alias.predict(DESCRIPTIONS, params={"k": 3})
    out = passes(capsys, checks.check_predictions, DESCRIPTIONS, top1, top3)
    assert f"both get {top1[1][0]['nace']}" in out
    # the same version loaded by its number, fed a DataFrame column
    by_version = mlflow.pyfunc.load_model(champion)
    frame = pd.DataFrame({"text": DESCRIPTIONS})
    top3 = by_version.predict(frame, params={"k": 3})
    top1 = by_version.predict(frame, params={"k": 1})
    passes(capsys, checks.check_predictions, DESCRIPTIONS, top1, top3)


# --- more wrong answers a trainee could give, and right answers the lab does not write ----


def test_check_cleaned_refuses_a_reordered_or_partial_answer():
    with pytest.raises(CheckFailed, match="'COIFFEUR' cleans to 'coiffeur', not 'boulanger"):
        checks.check_cleaned(LAB_EXAMPLES, sorted(clean_texts(LAB_EXAMPLES)))
    with pytest.raises(CheckFailed, match=r"should be a list .* got set"):
        checks.check_cleaned(LAB_EXAMPLES, set(clean_texts(LAB_EXAMPLES)))
    with pytest.raises(CheckFailed, match="expected 4 cleaned descriptions, found 2"):
        checks.check_cleaned(LAB_EXAMPLES, clean_texts(LAB_EXAMPLES)[:2])  # "the first two"


def test_check_cleaned_accepts_an_array_and_one_call_per_text(capsys):
    """``series.apply(clean_text).to_numpy()`` and a comprehension are as right as
    ``clean_texts``; the examples may come as a Series with its own index."""
    examples = pd.Series(LAB_EXAMPLES, index=[10, 11, 12, 13])
    passes(capsys, checks.check_cleaned, examples, examples.apply(clean_text).to_numpy())
    passes(capsys, checks.check_cleaned, LAB_EXAMPLES, [clean_text(t) for t in LAB_EXAMPLES])
    with pytest.raises(CheckFailed, match="'COIFFEUR' cleans to 'coiffeur', not 'COIFFEUR'"):
        checks.check_cleaned(LAB_EXAMPLES, np.array(["COIFFEUR", *clean_texts(LAB_EXAMPLES)[1:]]))


def test_check_dim_runs_refuses_the_default_run_reused(private):
    default = fake_project_run()
    with pytest.raises(CheckFailed, match=r"dim_runs\[25\] .* has dim=50, expected 25"):
        checks.check_dim_runs({25: default, 100: default}, [25, 100], ROWS)


def test_check_dim_runs_accepts_a_series_and_numpy_values(private, capsys):
    dims = np.array([25, 100])
    runs = pd.DataFrame(
        {"params.dim": ["25", "100"], "run_id": [fake_project_run(dim=d) for d in dims]}
    )
    by_dim = runs.set_index("params.dim")["run_id"]  # read back from a table of runs
    assert "2 project runs" in passes(capsys, checks.check_dim_runs, by_dim, dims, ROWS)
    as_numpy = {np.int64(d): np.str_(r) for d, r in zip(dims, runs["run_id"], strict=True)}
    passes(capsys, checks.check_dim_runs, as_numpy, [25, 100], ROWS)


def test_check_best_run_refuses_a_row_instead_of_its_id(private):
    default = fake_project_run(test=0.40)
    dim_runs = {25: fake_project_run(dim=25, test=0.30)}
    runs = pd.DataFrame({"run_id": [default, dim_runs[25]]})
    with pytest.raises(CheckFailed, match=r"one run id .*runs\.loc\[0, 'run_id'\].*got Series"):
        checks.check_best_run(runs.loc[0], default, dim_runs)


def test_check_best_run_accepts_the_best_however_found(private, capsys):
    default = fake_project_run(test=0.30)
    dim_runs = {25: fake_project_run(dim=25, test=0.45), 100: fake_project_run(dim=100, test=0.40)}
    ours = [default, *dim_runs.values()]
    found = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string="attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in ours)),
        order_by=["metrics.test_accuracy_subclass DESC"],
    )
    best = found["run_id"].to_numpy()[0]
    assert best == dim_runs[25]
    assert "dim 25" in passes(capsys, checks.check_best_run, best, default, dim_runs)
    as_series = pd.Series(dim_runs)  # dim_runs kept as a Series
    passes(capsys, checks.check_best_run, np.str_(best), default, as_series)


def test_check_champion_refuses_another_name(private, small_model):
    other = mlflow.register_model(small_model.model_uri, f"{MODEL}-typo")
    with pytest.raises(CheckFailed, match=rf"registered as '{MODEL}-typo', expected '{MODEL}'"):
        checks.check_champion(other, small_model.run_id)


def test_check_champion_accepts_the_version_however_given(private, small_model, capsys):
    client = MlflowClient()
    version = mlflow.register_model(small_model.model_uri, MODEL)
    client.set_registered_model_alias(MODEL, "champion", version.version)
    passes(capsys, checks.check_champion, int(version.version), small_model.run_id)
    by_alias = client.get_model_version_by_alias(MODEL, "champion")
    passes(capsys, checks.check_champion, by_alias, np.str_(small_model.run_id))
