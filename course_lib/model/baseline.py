"""Application 1's baseline: TF-IDF and a linear classifier, one MLflow run per grid point.

Before a custom framework (fastText, Application 2), the course tracks a
model MLflow knows natively: a scikit-learn pipeline, logged with
``mlflow.sklearn``.  The pipeline cleans the descriptions with the same
:func:`~course_lib.data.preprocessing.clean_texts` as fastText, so the two models
see the same words and their metrics (same names, same splits) compare.

The classifier is a linear SVM trained by stochastic gradient descent
(``SGDClassifier``, hinge loss, one binary model per class in parallel): on
this corpus ``LinearSVC`` took 5 times longer to fit and
``LogisticRegression`` 20 times longer, too slow for a grid of nine runs in a
lab.  Its scores (``decision_function``) rank the 732 classes, which gives
the top-5 accuracy.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from course_lib.data.examples import EXAMPLES
from course_lib.data.nomenclature import LEVELS, load_nomenclature
from course_lib.data.preprocessing import clean_texts
from course_lib.model.evaluation import accuracy_by_level
from course_lib.model.requirements import pinned
from course_lib.tracking.runs import plot_metric, runs_table

EXPERIMENT = "nace-baseline"
MODEL_NAME = "nace-baseline"
TRUSTED_TYPES = [
    "course_lib.model.baseline.clean_column",
    "course_lib.model.baseline.SparseSGDClassifier",
    "scipy.sparse._csr.csr_matrix",
]
"""What the pipeline holds beyond scikit-learn's own types.

MLflow saves scikit-learn models with skops, which refuses to load a type
nobody vouched for (a pickle would run any code it contains); these are the
course's cleaning function, its classifier and the sparse weights.
"""


def clean_column(texts: Any) -> list[str]:
    """:func:`clean_texts` for whatever a caller passes: list, Series, array or DataFrame.

    ``mlflow.pyfunc`` hands the model a DataFrame (one column, or ``text``),
    scikit-learn code passes a list or a Series: the pipeline accepts all of
    them, so the same model works from a notebook and behind an API.
    """
    if isinstance(texts, pd.DataFrame):
        texts = texts["text"] if "text" in texts.columns else texts.iloc[:, 0]
    elif isinstance(texts, np.ndarray) and texts.ndim == 2:
        texts = texts[:, 0]
    elif isinstance(texts, str):
        texts = [texts]
    return clean_texts(texts)


class SparseSGDClassifier(SGDClassifier):
    """``SGDClassifier`` whose weights are stored sparse once fitted.

    With the hinge loss 95–98 % of the 732 × vocabulary weights stay at
    exactly zero (a word's weight for a class moves only when a description
    holding the word falls inside that class's margin, which most never do),
    so storing them sparse makes each logged model ~20× smaller and predicts
    the same.
    """

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        super().fit(X, y, coef_init, intercept_init, sample_weight)
        return self.sparsify()


def make_pipeline(
    alpha: float = 1e-5, max_features: int | None = 10_000, ngram_range: tuple[int, int] = (1, 1)
) -> Pipeline:
    """Raw descriptions → cleaned text → TF-IDF → linear SVM.

    ``alpha`` is the regularisation strength (the inverse of an SVM's ``C``:
    larger means simpler weights); ``max_features`` keeps the most frequent
    words (or word n-grams, with ``ngram_range=(1, 2)``).
    """
    return Pipeline(
        [
            ("clean", FunctionTransformer(clean_column)),
            (
                "tfidf",
                TfidfVectorizer(
                    max_features=max_features, ngram_range=ngram_range, sublinear_tf=True
                ),
            ),
            ("classifier", SparseSGDClassifier(alpha=alpha, n_jobs=-1, random_state=0)),
        ]
    )


def pipeline_params(pipeline: Pipeline) -> dict[str, Any]:
    """The hyperparameters worth a column in the MLflow UI (not all 40 of scikit-learn's)."""
    tfidf, classifier = pipeline.named_steps["tfidf"], pipeline.named_steps["classifier"]
    return {
        "model": "tfidf+sgd",
        "alpha": classifier.alpha,
        "loss": classifier.loss,
        "max_features": tfidf.max_features,
        "ngram_range": "-".join(map(str, tfidf.ngram_range)),
    }


def rank_codes(pipeline: Pipeline, texts: Any, k: int = 5) -> list[list[str]]:
    """The ``k`` best codes per description, best first, from the classifier's scores."""
    scores = pipeline.decision_function(texts)
    if scores.ndim == 1:  # two classes only: one score, positive for classes_[1]
        scores = np.column_stack([-scores, scores])
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    classes = pipeline.classes_
    return [list(row) for row in classes[np.take_along_axis(top, order, axis=1)]]


def evaluate(pipeline: Pipeline, frame: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    """``<prefix>accuracy_<level>`` for the five levels and ``<prefix>top5_accuracy_subclass``.

    The same names as the fastText runs (``test_…`` on the held-out split,
    ``dev_…`` on the 212 real rows), so both models line up in one table.
    """
    metrics = accuracy_by_level(frame["nace"], rank_codes(pipeline, frame["text"], k=5))
    return {f"{prefix}{name}": value for name, value in metrics.items()}


def predictions_table(pipeline: Pipeline, texts: Sequence[str], k: int = 3) -> pd.DataFrame:
    """One row per description and rank: the code and its label, for people to read."""
    label = load_nomenclature().label
    rows = [
        {"description": text, "rank": rank, "code": code, "label": label(code)}
        for text, codes in zip(texts, rank_codes(pipeline, list(texts), k), strict=True)
        for rank, code in enumerate(codes, start=1)
    ]
    return pd.DataFrame(rows)


def pip_requirements() -> list[str]:
    """Pinned as installed: MLflow need not infer them (which loads the model again)."""
    return pinned(("mlflow", "scikit-learn", "scipy", "numpy", "pandas", "nltk"))


@contextlib.contextmanager
def _quiet_environment_logs() -> Iterator[None]:
    """Hide two notes MLflow prints for every logged model in a uv project.

    "Detected uv project" and "Failed to resolve installed pip version" (uv
    environments have no pip) say nothing about this model; nine of each
    would bury the run links a grid search prints.
    """
    loggers = [logging.getLogger(n) for n in ("mlflow.utils.uv_utils", "mlflow.utils.environment")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def log_pipeline(pipeline: Pipeline, name: str = "model"):
    """Log a fitted pipeline with an input example and pinned requirements.

    The model needs ``course_lib`` to load (its cleaning step), which every
    environment of the course has; Application 2 shows how a model carries its
    own code (``code_paths``) for environments that do not.  Requirements are
    given rather than inferred: in a uv project inference lists all ~180 locked
    packages of the course, and costs about a second per model.
    """
    with _quiet_environment_logs():
        return mlflow.sklearn.log_model(
            pipeline,
            name=name,
            input_example=EXAMPLES,
            pip_requirements=pip_requirements(),
            skops_trusted_types=TRUSTED_TYPES,
        )


def log_baseline_run(
    train: pd.DataFrame,
    test: pd.DataFrame,
    dev: pd.DataFrame,
    alpha: float,
    max_features: int | None,
    ngram_range: tuple[int, int] = (1, 1),
) -> str:
    """Train one grid point and log it as one run: params, metrics, model; returns the run id.

    Inside an active run (a grid search's parent run) the run is nested under
    it, so the MLflow UI shows the grid as one expandable row.
    """
    pipeline = make_pipeline(alpha, max_features, ngram_range)
    name = f"alpha={alpha:g} max_features={max_features}"
    with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as run:
        started = time.perf_counter()
        pipeline.fit(train["text"], train["nace"])
        seconds = time.perf_counter() - started
        mlflow.log_params(pipeline_params(pipeline) | {"train_rows": len(train)})
        metrics = evaluate(pipeline, test, "test_") | evaluate(pipeline, dev, "dev_")
        mlflow.log_metrics(metrics | {"train_seconds": seconds})
        log_pipeline(pipeline)
    return run.info.run_id


def grid_runs(experiment: str, parent_run_id: str, metric: str) -> pd.DataFrame:
    """The finished runs nested under ``parent_run_id``, best first for ``metric``.

    An experiment keeps every execution of a notebook; the parent run tells
    this grid's runs from those of earlier ones.
    """
    runs = runs_table(experiment, metric)
    column = "tags.mlflow.parentRunId"
    if column not in runs:
        return runs.iloc[0:0]
    return runs[runs[column] == parent_run_id].reset_index(drop=True)


def metric_names(prefixes: Iterable[str] = ("test_", "dev_")) -> list[str]:
    """Every metric a baseline run logs (and a fastText run too), in a stable order."""
    names = [f"accuracy_{level}" for level in LEVELS] + ["top5_accuracy_subclass"]
    return [f"{prefix}{name}" for prefix in prefixes for name in names]


def plot_grid(runs: pd.DataFrame, metric: str, ax=None):
    """``metric`` against ``max_features`` (log scale), one line per ``alpha``."""
    alphas = pd.to_numeric(runs["params.alpha"])
    for alpha in sorted(alphas.unique()):
        ax = plot_metric(runs[alphas == alpha], "max_features", metric, ax=ax)
        ax.lines[-1].set_label(f"alpha = {alpha:g}")
    ax.set_xscale("log")
    ax.legend(fontsize="small")
    return ax
