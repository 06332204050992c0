"""Accuracy at every level of the nomenclature.

A wrong subclass can still be the right section: "BOULANGERIE" predicted as
10.71D (pâtisserie) instead of 10.71C is a good answer at the class level.
Reporting top-1 accuracy at each of the five levels, and top-5 at subclass
level, shows where the model errs, not only how often.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from course_lib.data.nomenclature import LEVELS, load_nomenclature
from course_lib.data.preprocessing import clean_texts
from course_lib.model import fasttext_model as ft


def accuracy_by_level(
    true_codes: Sequence[str], ranked_codes: Sequence[Sequence[str]]
) -> dict[str, float]:
    """``accuracy_<level>`` (top-1) for the five levels and ``top5_accuracy_subclass``.

    ``ranked_codes`` holds each prediction's codes best first; an empty
    ranking (no readable word) counts as wrong.
    """
    nomenclature = load_nomenclature()
    truth = pd.Series(list(true_codes), dtype=object)
    top1 = pd.Series([r[0] if len(r) else None for r in ranked_codes], dtype=object)
    metrics = {
        f"accuracy_{level}": float(
            (nomenclature.at_level(truth, level) == nomenclature.at_level(top1, level)).mean()
        )
        for level in LEVELS
    }
    in_top5 = [t in list(r)[:5] for t, r in zip(truth, ranked_codes, strict=True)]
    metrics["top5_accuracy_subclass"] = float(pd.Series(in_top5, dtype=float).mean())
    return metrics


def evaluate_fasttext(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """Per-level top-1 and subclass top-5 accuracy of a raw fastText model on ``frame``."""
    ranked, _ = ft.predict_top_k(model, clean_texts(frame["text"]), k=5)
    return accuracy_by_level(frame["nace"], ranked)


def evaluate_pyfunc(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """The same figures for a loaded MLflow model (raw descriptions in, ranked codes out)."""
    predictions = model.predict(frame["text"].tolist(), params={"k": 5})
    return accuracy_by_level(frame["nace"], [[p["nace"] for p in row] for row in predictions])


@dataclass(frozen=True)
class Interval:
    """An accuracy measured on ``rows`` descriptions, with its 95 % confidence interval."""

    accuracy: float
    low: float
    high: float
    rows: int

    def __str__(self) -> str:
        return (
            f"{self.accuracy:.3f} (95 % interval {self.low:.3f}–{self.high:.3f}, {self.rows} rows)"
        )


def accuracy_interval(accuracy: float, rows: int) -> Interval:
    """The Wilson score interval of an accuracy on ``rows`` rows.

    On the 212 real descriptions an accuracy near 0.73 is known to about ±6
    points: two models closer than that may not differ at all.  Wilson's
    interval (scipy's ``binomtest``) stays inside 0–1 and is accurate for
    proportions near the edges, where the textbook ±1.96·SE is not.
    """
    from scipy.stats import binomtest

    correct = round(accuracy * rows)
    ci = binomtest(correct, rows).proportion_ci(confidence_level=0.95, method="wilson")
    return Interval(accuracy, float(ci.low), float(ci.high), rows)


def top1_right(model: Any, frame: pd.DataFrame) -> pd.Series:
    """For a loaded MLflow model, whether its best code is the true one, row by row
    (aligned on ``frame``'s index): what a paired comparison of two models needs."""
    ranked = model.predict(frame["text"].tolist(), params={"k": 1})
    best = [row[0]["nace"] if len(row) else None for row in ranked]
    return pd.Series(best, index=frame.index, dtype=object).eq(frame["nace"])


@dataclass(frozen=True)
class PairedTest:
    """Two models on the same rows: the rows only the first gets right, only the
    second, and McNemar's exact p-value."""

    only_first: int
    only_second: int
    p_value: float

    def __str__(self) -> str:
        return (
            f"right for the first model only: {self.only_first}, for the second only: "
            f"{self.only_second}; McNemar's exact test: p = {self.p_value:.2g}"
        )


def paired_test(first_right: Sequence[bool], second_right: Sequence[bool]) -> PairedTest:
    """McNemar's exact test of two models answered on the same rows.

    Two accuracies on the same 212 descriptions are not independent samples:
    most rows are right, or wrong, for both.  Only the discordant rows tell
    the models apart and, were the models equally good, each would fall on
    either side with probability ½; the exact test is a binomial test of one
    side's count among them (scipy's ``binomtest``, two-sided).  No discordant
    row: nothing tells them apart, p = 1.
    """
    from scipy.stats import binomtest

    if len(first_right) != len(second_right):
        raise ValueError(
            f"the two models answered {len(first_right)} and {len(second_right)} rows: "
            "compare them on the same rows"
        )
    pairs = [(bool(a), bool(b)) for a, b in zip(first_right, second_right, strict=True)]
    only_first = sum(a and not b for a, b in pairs)
    only_second = sum(b and not a for a, b in pairs)
    discordant = only_first + only_second
    p_value = binomtest(only_first, discordant, 0.5).pvalue if discordant else 1.0
    return PairedTest(only_first, only_second, float(p_value))
