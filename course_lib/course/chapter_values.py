"""The model outputs chapter 2 quotes, computed from the model the book's build trained.

A chapter is a markdown page: it runs no code, and a figure typed into it by
hand goes stale the day the corpus or the defaults change.  Application 2's
solution trains the default model during ``course build``; one of its cells,
tagged ``book-only`` (left out of the lab and of the page, see
:data:`course_lib.course.labs.BOOK_TAG`), calls :func:`glue_chapter2`, which
*glues* these values into the executed notebook (myst-nb's ``glue``).
Chapter 2 pastes them with
``{glue:text}`apps/app2_fasttext_mlflow.ipynb::<key>:<format>```.  A key the
chapter asks for and the notebook did not glue is a Sphinx warning, and the
strict build fails on it, naming the key.

The sentences whose truth depends on the model (which code looks like the
input without meaning the same) are computed here too, so the chapter never
claims what this build's model does not do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from course_lib.data.nomenclature import LEVELS
from course_lib.data.preprocessing import clean_texts
from course_lib.errors import CourseError
from course_lib.model.evaluation import accuracy_interval
from course_lib.model.fasttext_model import Hyperparameters
from course_lib.model.registered import predictions_table

PREFIX = "ch2_"
"""Every key chapter 2 pastes starts with it (one namespace per chapter)."""
OYSTERS = "vendeur d'huîtres sur les marchés"
"""The description of the one-vs-all example: two market-stall codes."""
BAKER = "boulanger"
"""The description of the character n-gram example."""
HAIRDRESSERS = ["COIFFEUR", "coiffeur, & 98789"]
"""Two spellings the logged model cleans to the same words: the same answer, twice."""
NEIGHBOUR_CODES = 5
"""How many of the baker's ranked codes are searched for a look-alike."""
SHARED_LETTERS = 4
"""A look-alike word shares at least this many first letters with the cleaned input."""
ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}
METRICS = [f"accuracy_{level}" for level in LEVELS] + ["top5_accuracy_subclass"]


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """fastText's character n-grams of one word, with its ``<`` and ``>`` boundary marks."""
    marked = f"<{word}>"
    return [
        marked[i : i + n] for i in range(len(marked)) for n in range(minn, maxn + 1)
        if i + n <= len(marked) and marked[i : i + n] not in ("<", ">")
    ]  # fmt: skip


def shared_ngrams(a: str, b: str) -> list[str]:
    """The character n-grams (default ``minn``, ``maxn``) two words share, in ``a``'s order."""
    params = Hyperparameters()
    theirs = set(char_ngrams(b, params.minn, params.maxn))
    seen: list[str] = []
    for gram in char_ngrams(a, params.minn, params.maxn):
        if gram in theirs and gram not in seen:
            seen.append(gram)
    return seen


def look_alike(ranked: pd.DataFrame, stem: str) -> str:
    """One sentence on the first candidate that only *looks* like the input.

    ``ranked`` is :func:`predictions_table` for one description.  A look-alike
    is a code below the first, from another division, with a word of its
    label (cleaned) that shares at least :data:`SHARED_LETTERS` first letters
    with the cleaned input ``stem``.  When there is none, the sentence says so:
    the chapter states what this build's model does, not what a model once did.
    """
    first = ranked.iloc[0]
    for row in ranked.iloc[1:].itertuples(index=False):
        if row.code[:2] == first.code[:2]:
            continue
        for word in clean_texts([row.label])[0].split():
            if word != stem and word[:SHARED_LETTERS] == stem[:SHARED_LETTERS]:
                grams = ", ".join(shared_ngrams(stem, word))
                return (
                    f"Its {ORDINALS[row.rank]} guess, with a probability of {row.probability:.3f}, "
                    f"is {row.code}, {row.label}: the cleaned input {stem} and {word}, "
                    f"a word of that label, share the character n-grams {grams}."
                )
    return (
        f"In this build's model, none of the {len(ranked) - 1} codes after the first comes "
        f"from another division with a label word sharing the first {SHARED_LETTERS} "
        f"letters of {stem}."
    )


def ranked(model: Any, text: str, k: int) -> pd.DataFrame:
    """``course predict``'s table for one description; refuses fewer than ``k`` codes."""
    table = predictions_table(model, [text], k)
    if len(table) < k or (table["rank"] == 0).any():
        raise CourseError(f"the model gave {len(table)} code(s) for {text!r}, not {k}")
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class TrainedRun:
    """What chapter 2 needs from a training run."""

    model: Any
    """The logged model (raw descriptions in, as ``course predict`` loads it)."""
    metrics: Mapping[str, float]
    training_rows: int
    """Descriptions in the training part."""
    dev_rows: int
    """Real descriptions the ``dev_…`` metrics were measured on."""


def same_answer(model: Any, texts: list[str], k: int) -> dict[str, Any]:
    """The logged model's raw answer (``predict``, as a consumer calls it) for ``texts``,
    which must all get the same ``k`` codes: the chapter says so, and the build checks it."""
    answers = model.predict(texts, params={"k": k})
    if any(answer != answers[0] for answer in answers) or len(answers[0]) != k:
        raise CourseError(f"the model answers {texts} differently, or with fewer codes: {answers}")
    values: dict[str, Any] = {}
    for rank, p in enumerate(answers[0], start=1):
        values |= {f"hairdresser_nace_{rank}": p["nace"],
                   f"hairdresser_probability_{rank}": float(p["probability"])}  # fmt: skip
    return values


def chapter2_values(run: TrainedRun, labels_only: Mapping[str, float]) -> dict[str, Any]:
    """Every value chapter 2 pastes, keyed without :data:`PREFIX`.

    ``labels_only`` is what :func:`course_lib.bench.model.baseline_official_texts`
    returns: fastText trained on the official labels and notes only.
    """
    values: dict[str, Any] = {}
    oysters = ranked(run.model, OYSTERS, 2)
    for row in oysters.itertuples(index=False):
        values |= {
            f"oysters_code_{row.rank}": row.code,
            f"oysters_label_{row.rank}": row.label,
            f"oysters_probability_{row.rank}": float(row.probability),
        }
    values["oysters_probability_sum"] = float(oysters["probability"].sum())
    baker = ranked(run.model, BAKER, NEIGHBOUR_CODES)
    first = baker.iloc[0]
    values |= {
        "baker_code_1": first.code,
        "baker_label_1": first.label,
        "baker_probability_1": float(first.probability),
        "baker_look_alike": look_alike(baker, clean_texts([BAKER])[0]),
    }
    values |= same_answer(run.model, HAIRDRESSERS, 2)
    needed = [f"{part}_{m}" for m in METRICS for part in ("test", "dev")] + ["train_seconds"]
    missing = [key for key in needed if key not in run.metrics]
    if missing:
        raise CourseError(f"the run's metrics lack {', '.join(missing)}: not a course train run?")
    values |= {key: float(run.metrics[key]) for key in needed}
    interval = accuracy_interval(run.metrics["dev_accuracy_subclass"], run.dev_rows)
    values |= {
        "dev_subclass_low": interval.low,
        "dev_subclass_high": interval.high,
        "dev_rows": run.dev_rows,
        "training_rows": run.training_rows,
        "labels_only_subclass": float(labels_only["accuracy_subclass"]),
        "labels_only_rows": int(labels_only["training_rows"]),
    }
    return values


def trained_run(run_id: str) -> TrainedRun:
    """A training run as chapter 2 needs it, read from the tracking server."""
    import json

    import mlflow

    from course_lib.data.real_sample import dev_sample
    from course_lib.tracking.registry import logged_model_uri

    run = mlflow.get_run(run_id)
    inputs = [d for d in run.inputs.dataset_inputs if d.dataset.name == "training-data"]
    if not inputs:
        raise CourseError(f"run {run_id} logged no training-data input: was it a course train run?")
    rows = int(json.loads(inputs[0].dataset.profile)["num_rows"])
    model = mlflow.pyfunc.load_model(logged_model_uri(run_id))
    return TrainedRun(model, dict(run.data.metrics), rows, len(dev_sample()))


def glue_values(values: Mapping[str, Any], glue: Callable[..., None] | None = None) -> list[str]:
    """Glue every value under :data:`PREFIX` + its key, without showing it; returns the keys."""
    if glue is None:
        from myst_nb import glue
    keys = []
    for key, value in values.items():
        glue(PREFIX + key, value, display=False)
        keys.append(PREFIX + key)
    return keys


def glue_chapter2(run_id: str, labels_only: Mapping[str, float]) -> list[str]:
    """Glue what chapter 2 quotes about the default run ``run_id``; returns the keys."""
    return glue_values(chapter2_values(trained_run(run_id), labels_only))
