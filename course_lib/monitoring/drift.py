"""Drift indicators: how far each day's traffic is from a reference week.

The model cannot be scored in production (nobody sends the right code back),
so the course watches what it can see every day, against the first week of
the history (the reference):

- the **section mix** of the predicted codes (A agriculture … U
  extraterritorial), scored by the **population stability index** (PSI);
- the share of **low-confidence** answers (top probability under 0.5);
- the **mean length** of the descriptions (characters);
- the share of **unknown words** (words the model never saw in training).

Why PSI rather than a chi-square test.  Both compare two distributions over
the same categories, but a chi-square p-value measures *evidence* of a
difference, which grows with volume: on a weekday of 20,000 predictions a
shift of half a point in one section is "significant" (an alert every day
for a difference nobody cares about), while on a quiet Sunday of 300 a
genuine doubling of a small section is not.  PSI,
``sum((p - q) * ln(p / q))`` over sections, is an *effect size* (the
symmetrised Kullback-Leibler divergence): it does not grow with volume, so
one threshold means the same thing every day.  Its weakness is the other way
round, sampling noise on small days (about chi-square(k - 1) / n), which is
why a day under :data:`~course_lib.monitoring.thresholds.MIN_DAILY_VOLUME`
predictions is "not enough data" rather than judged.

Zero cells: a section seen on one side only would make ``ln(p / 0)``
infinite, so half a prediction is added to every section's count on both
sides (:data:`~course_lib.monitoring.thresholds.PSI_PSEUDO_COUNT`, additive
smoothing); sections absent on both sides are left out.

The reference is the first :data:`~course_lib.monitoring.thresholds.REFERENCE_DAYS`
calendar days of the history, pooled (a whole week, so weekday and weekend
traffic are both in it), or a window given explicitly (after a new model
version, say).  The training corpus's mix is not offered as a reference: it
is the mix of the *true* codes, and a model's predictions always differ from
it by its confusions, so every day would show a PSI that is the model's bias
rather than a change in the traffic.

:func:`drift_report` reads the datasets (two queries) and
:func:`compute_drift` does the arithmetic on their results, so the tests
and the false-alarm measurement feed it synthetic days directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.errors import CourseError
from course_lib.monitoring import queries
from course_lib.monitoring.thresholds import THRESHOLDS, Thresholds


class DayStatus(StrEnum):
    """How a day is judged."""

    NO_REFERENCE = "not enough history"
    """No reference yet (too few days or predictions before it): nothing to compare with."""
    REFERENCE = "reference"
    """The day is part of the reference window itself."""
    LOW_VOLUME = "not enough data"
    """Too few predictions to tell a change from noise."""
    OK = "ok"
    DRIFT = "drift"
    """At least one indicator is past its threshold."""


@dataclass(frozen=True)
class Reference:
    """The pooled reference window every day is compared with."""

    start: date
    end: date
    predictions: int
    sections: pd.Series
    """Predictions per section over the window."""
    low_confidence_share: float
    mean_chars: float
    unknown_share: float
    """NaN when the logs carry no word counts."""

    def describe(self) -> str:
        return f"{self.start} → {self.end}"


@dataclass(frozen=True)
class DriftReport:
    """One row per day with its indicators, their limits' verdicts and the day's status."""

    table: pd.DataFrame
    """Columns: date, predictions, psi, low_confidence_share, mean_chars, unknown_share,
    psi_flag, low_confidence_flag, length_flag, unknown_flag, alert, status."""
    reference: Reference | None
    thresholds: Thresholds
    reason: str = ""
    """Why there is no reference, when there is none."""

    @property
    def empty(self) -> bool:
        return self.table.empty

    def low_confidence_limit(self) -> float:
        """The low-confidence share above which a day alerts."""
        ref = self.reference.low_confidence_share if self.reference else np.nan
        return ref + self.thresholds.low_confidence_margin

    def length_limits(self) -> tuple[float, float]:
        """The mean lengths (characters) outside which a day alerts."""
        ref = self.reference.mean_chars if self.reference else np.nan
        change = self.thresholds.length_change
        return ref * (1 - change), ref * (1 + change)

    def unknown_limit(self) -> float:
        """The unknown-word share above which a day alerts."""
        ref = self.reference.unknown_share if self.reference else np.nan
        return ref + self.thresholds.unknown_margin

    def day(self, when: date) -> pd.Series:
        """The row of one day (a :class:`CourseError` if the day has no data)."""
        rows = self.table[self.table["date"] == pd.Timestamp(when)]
        if rows.empty:
            raise CourseError(f"no predictions on {when}")
        return rows.iloc[0]


def psi(observed: pd.Series, expected: pd.Series, pseudo_count: float = 0.5) -> float:
    """Population stability index of counts ``observed`` against counts ``expected``.

    Both are counts per category (a section letter → predictions); categories
    missing on one side count zero.  ``pseudo_count`` is added to every
    category present on either side before normalising (see the module's
    docstring).  Symmetric in its two arguments, 0 for identical mixes, NaN
    when either side is empty.
    """
    return float(psi_by_day(observed.to_frame().T, expected, pseudo_count).iloc[0])


def psi_by_day(counts: pd.DataFrame, expected: pd.Series, pseudo_count: float = 0.5) -> pd.Series:
    """:func:`psi` of every row of ``counts`` (days × categories) against ``expected``."""
    columns = counts.columns.union(expected.index)
    days = counts.reindex(columns=columns, fill_value=0).fillna(0).to_numpy(dtype=float)
    ref = expected.reindex(columns, fill_value=0).fillna(0).to_numpy(dtype=float)
    present = (days > 0) | (ref > 0)  # absent on both sides: left out, not smoothed
    p = np.where(present, days + pseudo_count, 0.0)
    q = np.where(present, ref + pseudo_count, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = p / p.sum(axis=1, keepdims=True)
        q = q / q.sum(axis=1, keepdims=True)
        terms = np.where(present, (p - q) * np.log(p / q), 0.0)
    value = terms.sum(axis=1)
    empty = (days.sum(axis=1) == 0) | (ref.sum() == 0)
    return pd.Series(np.where(empty, np.nan, value), index=counts.index, dtype=float)


def drift_report(
    data: Path | str,
    thresholds: Thresholds = THRESHOLDS,
    reference: tuple[date, date] | None = None,
) -> DriftReport:
    """The per-day drift indicators of the datasets under ``data`` (see :func:`compute_drift`)."""
    daily = queries.run(queries.DAILY_INDICATORS, data, low_confidence=thresholds.low_confidence)
    sections = queries.run(queries.DAILY_SECTION_MIX, data)
    return compute_drift(daily, sections, thresholds, reference)


def compute_drift(
    daily: pd.DataFrame,
    sections: pd.DataFrame,
    thresholds: Thresholds = THRESHOLDS,
    reference: tuple[date, date] | None = None,
) -> DriftReport:
    """Indicators per day against the reference window, with each day's verdict.

    ``daily`` has the columns of the ``daily_indicators`` query (date,
    predictions, low_confidence, text_chars, words, unknown_words) and
    ``sections`` those of ``daily_section_mix`` (date, section, predictions).
    ``reference`` is a (first, last) day window; by default the first
    ``thresholds.reference_days`` calendar days of the history.
    """
    daily = daily.assign(date=pd.to_datetime(daily["date"])).sort_values("date")
    daily = daily.reset_index(drop=True)
    sections = sections.assign(date=pd.to_datetime(sections["date"]))
    counts = (
        sections.pivot_table(
            index="date", columns="section", values="predictions", aggfunc="sum", fill_value=0
        )
        if not sections.empty
        else pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
    )
    table = pd.DataFrame(
        {
            "date": daily["date"],
            "predictions": daily["predictions"].astype(int),
            "low_confidence_share": _ratio(daily["low_confidence"], daily["predictions"]),
            "mean_chars": _ratio(daily["text_chars"], daily["predictions"]),
            "unknown_share": _ratio(daily["unknown_words"], daily["words"]),
        }
    )
    ref, reason = _reference(daily, counts, thresholds, reference)
    if ref is None:
        table["psi"] = np.nan
        for flag in FLAGS:
            table[flag] = False
        table["alert"] = False
        table["status"] = DayStatus.NO_REFERENCE.value
        return DriftReport(_ordered(table), None, thresholds, reason)
    by_day = psi_by_day(counts, ref.sections, thresholds.psi_pseudo_count)
    table["psi"] = table["date"].map(by_day).astype(float)
    report = DriftReport(table, ref, thresholds)
    low, high = report.length_limits()
    table["psi_flag"] = table["psi"] > thresholds.psi_alert
    table["low_confidence_flag"] = table["low_confidence_share"] > report.low_confidence_limit()
    table["length_flag"] = (table["mean_chars"] < low) | (table["mean_chars"] > high)
    table["unknown_flag"] = table["unknown_share"] > report.unknown_limit()  # NaN: False
    in_reference = (table["date"] >= pd.Timestamp(ref.start)) & (
        table["date"] <= pd.Timestamp(ref.end)
    )
    judged = ~in_reference & (table["predictions"] >= thresholds.min_daily_volume)
    for flag in FLAGS:
        table[flag] = table[flag] & judged
    table["alert"] = table[list(FLAGS)].any(axis=1)
    table["status"] = np.select(
        [in_reference, ~judged, table["alert"]],
        [DayStatus.REFERENCE.value, DayStatus.LOW_VOLUME.value, DayStatus.DRIFT.value],
        DayStatus.OK.value,
    )
    return DriftReport(_ordered(table), ref, thresholds)


FLAGS = ("psi_flag", "low_confidence_flag", "length_flag", "unknown_flag")
_COLUMNS = (
    "date",
    "predictions",
    "psi",
    "low_confidence_share",
    "mean_chars",
    "unknown_share",
    *FLAGS,
    "alert",
    "status",
)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    return table[list(_COLUMNS)].reset_index(drop=True)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Element-wise ratio, NaN where the denominator is 0 or missing."""
    num = pd.to_numeric(numerator, errors="coerce").astype(float)
    den = pd.to_numeric(denominator, errors="coerce").astype(float)
    return num / den.where(den > 0)


def _reference(
    daily: pd.DataFrame,
    counts: pd.DataFrame,
    thresholds: Thresholds,
    window: tuple[date, date] | None,
) -> tuple[Reference | None, str]:
    """The pooled reference window, or None and why not."""
    if daily.empty:
        return None, "no predictions yet"
    first = daily["date"].iloc[0].date()
    last = daily["date"].iloc[-1].date()
    if window is None:
        start, end = first, first + timedelta(days=thresholds.reference_days - 1)
        if last <= end:
            days = (last - first).days + 1
            return None, (
                f"{days} day(s) of history: the reference is the first "
                f"{thresholds.reference_days} days, and there must be a day after it to check"
            )
    else:
        start, end = window
        if start > end:
            raise CourseError(f"the reference window {start} → {end} ends before it starts")
    rows = daily[(daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))]
    volume = int(rows["predictions"].sum())
    if volume < thresholds.min_reference_volume:
        return None, (
            f"the reference {start} → {end} has {volume:,} predictions, fewer than "
            f"{thresholds.min_reference_volume:,}: too few to compare days with"
        )
    in_window = counts[(counts.index >= pd.Timestamp(start)) & (counts.index <= pd.Timestamp(end))]
    words = pd.to_numeric(rows["words"], errors="coerce").sum()
    unknown = pd.to_numeric(rows["unknown_words"], errors="coerce").sum()
    return (
        Reference(
            start=start,
            end=end,
            predictions=volume,
            sections=in_window.sum(axis=0).astype(float),
            low_confidence_share=float(rows["low_confidence"].sum()) / volume,
            mean_chars=float(pd.to_numeric(rows["text_chars"], errors="coerce").sum()) / volume,
            unknown_share=float(unknown / words) if words > 0 else float("nan"),
        ),
        "",
    )
