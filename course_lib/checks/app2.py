"""Checks of Application 2 (a custom framework in MLflow: fastText via MLflow Projects).

The checks ask the tracking server, not the notebook, whether a run or a
model version is what the exercise wanted, so they hold when the notebook is
run again against the same server (runs accumulate, versions go up): each
check looks only at the run ids and the version the trainee's answer names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Run

from course_lib.checks import (
    CheckFailed,
    passed,
    require,
    require_registered_with_alias,
    run_named,
)
from course_lib.settings import DEFAULT_ALIAS as ALIAS
from course_lib.settings import DEFAULT_MODEL_NAME as MODEL_NAME

EXPERIMENT = "nace-fasttext-dim"
"""The experiment of Application 2's MLflow Projects runs (the solution names it too)."""
BEST_METRIC = "test_accuracy_subclass"
"""What the best run is chosen on: the synthetic held-out split, as in Applications 1 and 5."""
REPORTED_METRIC = "dev_accuracy_subclass"
"""What is reported, never chosen on: the 212 real descriptions."""
INVARIANT = ("COIFFEUR", "coiffeur, & 98789")


EXPECTED_CLEANED = {
    "COIFFEUR": "coiffeur",
    "coiffeur, & 98789": "coiffeur",
    "Boulangerie-Pâtisserie": "boulanger patisser",
    "vendeur d'huîtres": "vendeur huitr",
}
"""The lab's examples as the course's cleaning gives them, written down once.

An answer is compared with these, not with a second call of the function the
trainee was asked to call, so the check stays a test when the cleaning
changes (a test pins these against ``clean_texts``).
"""


def _as_list(value: Any, what: str) -> list:
    """A list, a tuple, a pandas Series (``texts.apply(...)``) or its ``.to_numpy()`` as a
    plain list of Python values."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.Series) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return value.tolist()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise CheckFailed(
            f"{what} should be a list (or a pandas Series) with one cleaned string per "
            f"description, got {type(value).__name__}"
        )
    return list(value)


def check_cleaned(examples: Sequence[str], cleaned: Any) -> None:
    """App 2, exercise 1: the descriptions as the model sees them after preprocessing.

    The lab's examples must still be there (more may be added): their cleaned
    forms are known in advance.  Added ones are compared with the course's
    cleaning of that description alone.  An answer equal to its input fails
    even where the cleaning would leave some words as they are.
    """
    from course_lib.data.preprocessing import clean_text

    require(cleaned, "cleaned")
    answer = _as_list(cleaned, "cleaned")
    raw_texts = list(examples)
    missing = [text for text in EXPECTED_CLEANED if text not in raw_texts]
    if missing:
        raise CheckFailed(
            f"keep the lab's examples in examples (you may add more): missing "
            f"{', '.join(map(repr, missing))}"
        )
    if len(answer) != len(raw_texts):
        raise CheckFailed(f"expected {len(raw_texts)} cleaned descriptions, found {len(answer)}")
    if answer == raw_texts:
        raise CheckFailed(
            "cleaned is examples unchanged: apply course_lib.data.preprocessing.clean_texts"
        )
    for raw, got in zip(raw_texts, answer, strict=True):
        want = EXPECTED_CLEANED.get(raw)
        if want is None:
            want = clean_text(raw)
        if got != want:
            raise CheckFailed(
                f"{raw!r} cleans to {want!r}, not {got!r}: "
                "use course_lib.data.preprocessing.clean_texts"
            )
    pairs = "; ".join(f"{raw!r} → {got!r}" for raw, got in zip(raw_texts, answer, strict=True))
    passed(f"what fastText sees: {pairs}")


def _run(run_id: Any, what: str) -> Run:
    return run_named(run_id, what, "submitted.run_id")


def _check_project_run(run: Run, what: str, rows: Any, dim: Any | None = None) -> None:
    """A finished MLflow Projects run of entry point main in EXPERIMENT, with these params."""
    run_id = run.info.run_id
    experiment = MlflowClient().get_experiment(run.info.experiment_id).name
    if experiment != EXPERIMENT:
        raise CheckFailed(
            f"{what} ({run_id}) is in experiment {experiment!r}, expected {EXPERIMENT!r}: "
            f"pass experiment_name={EXPERIMENT!r}"
        )
    if run.data.tags.get("mlflow.project.entryPoint") != "main":
        raise CheckFailed(
            f"{what} ({run_id}) was not started by MLflow Projects: "
            'use mlflow.projects.run(uri=..., entry_point="main", ...)'
        )
    if run.info.status != "FINISHED":
        raise CheckFailed(
            f"{what} ({run_id}) is {run.info.status}, not FINISHED: read the output of the "
            "cell that ran it"
        )
    params = run.data.params
    if params.get("corpus_rows") != str(rows):
        raise CheckFailed(
            f"{what} ({run_id}) trained on a corpus of {params.get('corpus_rows')} rows, "
            f"expected rows={rows}: pass parameters={{'rows': rows, ...}}"
        )
    if dim is not None and params.get("dim") != str(dim):
        raise CheckFailed(f"{what} ({run_id}) has dim={params.get('dim')}, expected {dim}")
    missing = [m for m in (BEST_METRIC, REPORTED_METRIC) if m not in run.data.metrics]
    if missing:
        raise CheckFailed(f"{what} ({run_id}) logged no {', '.join(missing)}: did training finish?")


def _summary(run: Run) -> str:
    metrics = run.data.metrics
    return (
        f"dim {run.data.params.get('dim')}: subclass accuracy "
        f"{metrics[BEST_METRIC]:.3f} held out, "
        f"{metrics[REPORTED_METRIC]:.3f} on real descriptions"
    )


def check_default_run(default_run_id: Any, rows: Any) -> None:
    """App 2, exercise 2: the project run with default hyperparameters."""
    from course_lib.model.fasttext_model import Hyperparameters

    require(default_run_id, "default_run_id")
    run = _run(default_run_id, "default_run_id")
    _check_project_run(run, "default_run_id", rows, dim=Hyperparameters().dim)
    passed(f"project run {default_run_id[:8]}… with the defaults, {_summary(run)}")


def _as_mapping(dim_runs: Any) -> Mapping:
    """``{dim: run_id}`` as a dict, or a Series indexed by dim (``runs.set_index(...)``)."""
    import pandas as pd

    if isinstance(dim_runs, pd.Series):
        return dim_runs.to_dict()
    if not isinstance(dim_runs, Mapping):
        raise CheckFailed(
            f"dim_runs should be a dict {{dim: run_id}}, got {type(dim_runs).__name__}"
        )
    return dim_runs


def check_dim_runs(dim_runs: Any, dims: Sequence[int], rows: Any) -> None:
    """App 2, exercise 3: one project run per value of ``dims``, as ``{dim: run_id}``."""
    require(dim_runs, "dim_runs")
    dim_runs = _as_mapping(dim_runs)
    if sorted(str(d) for d in dim_runs) != sorted(str(d) for d in dims):
        raise CheckFailed(
            f"expected one run per dim in dims={list(dims)}, found keys {list(dim_runs)}"
        )
    summaries = []
    for dim, run_id in dim_runs.items():
        run = _run(run_id, f"dim_runs[{dim!r}]")
        _check_project_run(run, f"dim_runs[{dim!r}]", rows, dim=dim)
        summaries.append(_summary(run))
    passed(f"{len(dim_runs)} project runs; " + "; ".join(summaries))


def check_best_run(best_run_id: Any, default_run_id: Any, dim_runs: Any) -> None:
    """App 2, exercise 4: the run with the highest held-out accuracy among ours.

    Choosing on the real descriptions (the old rule, and the tempting one)
    fails unless that run also leads on the held-out split; a tie with the
    top run passes, since either is a right answer.
    """
    require(best_run_id, "best_run_id")
    require(default_run_id, "default_run_id")
    require(dim_runs, "dim_runs")
    dim_runs = _as_mapping(dim_runs)
    if not isinstance(best_run_id, str):  # a table's row would make `in` ambiguous
        raise CheckFailed(
            f"best_run_id should be one run id (a string, e.g. runs.loc[0, 'run_id']), "
            f"got {type(best_run_id).__name__}"
        )
    candidates = [default_run_id, *dim_runs.values()]
    if best_run_id not in candidates:
        raise CheckFailed(
            f"best_run_id={best_run_id!r} is not one of the runs this notebook started "
            f"({', '.join(map(str, candidates))})"
        )
    scores = {r: _run(r, "run").data.metrics.get(BEST_METRIC, float("-inf")) for r in candidates}
    top = max(scores, key=scores.__getitem__)
    if scores[best_run_id] < scores[top]:
        raise CheckFailed(
            f"run {best_run_id} has {BEST_METRIC}={scores[best_run_id]:.3f}, but run {top} "
            f"has {scores[top]:.3f}: sort by metrics.{BEST_METRIC} (the held-out split), "
            f"highest first, not by the real descriptions' {REPORTED_METRIC}"
        )
    dim = _run(best_run_id, "best_run_id").data.params.get("dim")
    passed(f"best run {best_run_id[:8]}… (dim {dim}): {BEST_METRIC} = {scores[best_run_id]:.3f}")


def check_champion(model_version: Any, best_run_id: Any) -> None:
    """App 2, exercise 5: the best run registered as ``fasttext`` with alias ``champion``."""
    require(model_version, "model_version")
    require(best_run_id, "best_run_id")
    name = getattr(model_version, "name", MODEL_NAME)
    if name != MODEL_NAME:  # its number, looked up under MODEL_NAME, would be another model
        raise CheckFailed(
            f"the model is registered as {name!r}, expected {MODEL_NAME!r}: "
            f"mlflow.register_model(logged_model_uri(best_run_id), {MODEL_NAME!r})"
        )
    version = str(getattr(model_version, "version", model_version))
    require_registered_with_alias(MODEL_NAME, version, best_run_id, ALIAS)
    passed(f"{MODEL_NAME} version {version} (run {best_run_id[:8]}…) is @{ALIAS}")


def _check_ranked(predictions: Any, what: str, n: int, k: int) -> None:
    if isinstance(predictions, str) or not isinstance(predictions, Sequence):
        raise CheckFailed(
            f"{what} should be what model.predict returns (a list), "
            f"got {type(predictions).__name__}"
        )
    if len(predictions) != n:
        raise CheckFailed(f"{what} has {len(predictions)} rows, expected one per description ({n})")
    for i, row in enumerate(predictions):
        if not isinstance(row, Sequence) or len(row) != k:
            size = len(row) if isinstance(row, Sequence) else type(row).__name__
            raise CheckFailed(
                f"{what}[{i}] holds {size} predictions, expected {k}: pass params={{'k': {k}}}"
            )
        if not all(isinstance(p, Mapping) and {"nace", "probability"} <= set(p) for p in row):
            raise CheckFailed(f"{what}[{i}] should be dicts with 'nace' and 'probability': {row}")
        probabilities = [p["probability"] for p in row]
        if probabilities != sorted(probabilities, reverse=True):
            raise CheckFailed(f"{what}[{i}] is not ranked by probability: {row}")


def _champion_predictions(descriptions: Sequence[str], k: int) -> list:
    """What ``models:/<name>@champion`` itself answers for ``descriptions``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = f"models:/{MODEL_NAME}@{ALIAS}"
    try:
        champion = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise CheckFailed(
            f"cannot load {uri} ({exc.message}): register the best run and set the alias "
            "in exercise 5 first"
        ) from exc
    return champion.predict(list(descriptions), params={"k": k})


def _require_from_champion(descriptions: Sequence[str], answer: Any, what: str, k: int) -> None:
    """The answer is the champion's own: same codes, same probabilities, row by row.

    Shapes alone would pass hand-written rankings or another model's output;
    asking the champion is the one way to know where the predictions came from.
    """
    expected = _champion_predictions(descriptions, k)
    for text, got, want in zip(descriptions, answer, expected, strict=True):
        codes = [p["nace"] for p in got]
        if codes != [p["nace"] for p in want] or not all(
            math.isclose(float(g["probability"]), w["probability"], abs_tol=1e-5)
            for g, w in zip(got, want, strict=True)
        ):
            raise CheckFailed(
                f"{what} for {text!r} is {got}, but {MODEL_NAME}@{ALIAS} answers {want}: "
                f'predict with the champion, mlflow.pyfunc.load_model("models:/{MODEL_NAME}'
                f'@{ALIAS}")'
            )


def check_predictions(descriptions: Sequence[str], top1: Any, top3: Any) -> None:
    """App 2, exercise 6: ranked predictions of the champion with k=1 and k=3.

    The check asks the champion for the same descriptions and compares: the
    predictions must be its own, not another run's or hand-written ones.
    """
    require(top1, "top1")
    require(top3, "top3")
    _check_ranked(top1, "top1", len(descriptions), 1)
    _check_ranked(top3, "top3", len(descriptions), 3)
    for i, (one, three) in enumerate(zip(top1, top3, strict=True)):
        if one[0]["nace"] != three[0]["nace"]:
            raise CheckFailed(
                f"for {descriptions[i]!r} the best code is {one[0]['nace']} with k=1 but "
                f"{three[0]['nace']} with k=3: both should come from the same model"
            )
    _require_from_champion(descriptions, top3, "top3", 3)
    _require_from_champion(descriptions, top1, "top1", 1)
    missing = [text for text in INVARIANT if text not in descriptions]
    if missing:
        raise CheckFailed(f"keep {', '.join(map(repr, missing))} in descriptions")
    a, b = (top1[list(descriptions).index(text)][0]["nace"] for text in INVARIANT)
    if a != b:
        raise CheckFailed(
            f"{INVARIANT[0]!r} gets {a} but {INVARIANT[1]!r} gets {b}: the model should clean "
            "both descriptions to the same words"
        )
    passed(
        f"k=1 and k=3 for {len(descriptions)} descriptions; "
        f"{INVARIANT[0]!r} and {INVARIANT[1]!r} both get {a}"
    )
