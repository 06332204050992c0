"""Accuracy at every level of the nomenclature.

A wrong subclass can still be the right section: "BOULANGERIE" predicted as
10.71D (pâtisserie) instead of 10.71C is a good answer at the class level.
Reporting top-1 accuracy at each of the five levels, and top-5 at subclass
level, shows where the model errs, not only how often.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from course_lib.nomenclature import LEVELS, load_nomenclature


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
