"""A registered model as people use it from the command line: codes with labels, accuracy.

``course predict`` and ``course evaluate`` (and the end of ``course train``)
load a model from the registry (:func:`~course_lib.model.loading.load_registered`)
and show what it does; the label lookup and the scoring live here so the
commands only print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from course_lib.data.dataset import LoadReport, load_dataset
from course_lib.data.nomenclature import dotted_code, load_nomenclature
from course_lib.data.real_sample import dev_sample
from course_lib.errors import CourseError
from course_lib.model.evaluation import evaluate_pyfunc
from course_lib.model.loading import Registered
from course_lib.model.pyfunc import InvalidInput

UNREADABLE = "no word the model can read"


def predictions_table(model: Any, texts: Sequence[str], k: int) -> pd.DataFrame:
    """One row per description and rank: ``description, rank, code, label, probability``.

    A description with no readable word gets one row with rank 0 and the
    reason as its label, so nothing the person typed disappears.
    """
    try:
        predictions = model.predict(list(texts), params={"k": k})
    except InvalidInput as exc:
        raise CourseError(str(exc)) from exc
    nomenclature = load_nomenclature()
    rows = []
    for text, ranked in zip(texts, predictions, strict=True):
        if not ranked:
            rows.append((text, 0, "", UNREADABLE, float("nan")))
        for rank, p in enumerate(ranked, start=1):
            rows.append(
                (
                    text,
                    rank,
                    dotted_code(p["nace"]),
                    nomenclature.label(p["nace"]),
                    p["probability"],
                )
            )
    return pd.DataFrame(rows, columns=["description", "rank", "code", "label", "probability"])


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one registered model on one labelled set."""

    model_uri: str
    source: str
    rows: int
    metrics: dict[str, float]
    report: LoadReport | None
    """What loading dropped from a file; None for the shipped real rows."""


def evaluate_registered(registered: Registered, data: str | None = None) -> Evaluation:
    """Per-level accuracy of a model on ``data`` (default: the 212 real descriptions)."""
    if data is None:
        frame, report, source = dev_sample(), None, "the 212 real Sirene descriptions"
    else:
        frame, report = load_dataset(data)
        source = data
    metrics = evaluate_pyfunc(registered.model, frame)
    return Evaluation(registered.uri, source, len(frame), metrics, report)
