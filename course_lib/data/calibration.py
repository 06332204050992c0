"""How much the generated corpus looks like real declarations, in figures.

Compares the properties that describe real register entries (length, case,
accents, the form's 140-character cut, repeats, how concentrated the codes
are) between the generated corpus and the 212 real rows.  Statistics that
depend on the sample size (repeats, top-10 share) are taken on random samples
of the corpus of the real set's size, averaged, so both columns mean the same.
Only aggregate figures of the real rows are used, never their texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from course_lib.data.dataset import ensure_generated, load_dataset
from course_lib.data.noise import MAX_LENGTH
from course_lib.data.real_sample import dev_sample


def profile(frame: pd.DataFrame) -> dict[str, float]:
    """Aggregate properties of a labelled set of descriptions."""
    text = frame["text"]
    shares = frame["nace"].value_counts(normalize=True)
    return {
        "median words": float(text.str.split().str.len().median()),
        "mean characters": float(text.str.len().mean()),
        "share upper case": float((text == text.str.upper()).mean()),
        "share with accents": float(text.str.contains(r"[À-ÿ]").mean()),
        "share cut at 140": float((text.str.len() >= MAX_LENGTH).mean()),
        "share with digits": float(text.str.contains(r"\d").mean()),
        "share repeating another row": float(text.duplicated().mean()),
        "share of the 10 top codes": float(shares.head(10).sum()),
    }


def matched_profile(corpus: pd.DataFrame, rows: int, draws: int = 30) -> dict[str, float]:
    """Mean :func:`profile` of ``draws`` random samples of ``rows`` rows."""
    samples = [profile(corpus.sample(rows, random_state=seed)) for seed in range(draws)]
    return pd.DataFrame(samples).mean().to_dict()


def compare_to_real(corpus: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """Side by side: generated (matched samples) and real, one row per property."""
    return pd.DataFrame(
        {"generated": matched_profile(corpus, len(real)), "real": profile(real)}
    ).round(3)


@dataclass(frozen=True)
class CorpusReport:
    """A generated corpus as ``course data`` describes it."""

    path: Path
    rows: int
    codes: int
    sample: pd.DataFrame
    """A few rows to read."""
    real_rows: int
    comparison: pd.DataFrame | None
    """:func:`compare_to_real`, or None when the corpus is smaller than the real set."""


def corpus_report(rows: int, seed: int, sample_rows: int = 8) -> CorpusReport:
    """Generate (or reuse) the corpus of ``rows`` rows for ``seed`` and describe it."""
    path = ensure_generated(rows, seed)
    frame, _ = load_dataset(str(path))
    real = dev_sample()
    comparison = compare_to_real(frame, real) if len(frame) >= len(real) else None
    return CorpusReport(
        path=path,
        rows=len(frame),
        codes=int(frame["nace"].nunique()),
        sample=frame.sample(min(sample_rows, len(frame)), random_state=seed),
        real_rows=len(real),
        comparison=comparison,
    )
