"""Drift indicators: how far each day's traffic is from a reference week.

The model cannot be scored in production (nobody sends the right code back),
so the course watches what it can see every day, against the first week of
the history (the reference):

- the **section mix** of the predicted codes (A agriculture … U
  extraterritorial), scored by the **population stability index** (PSI);
- the share of **low-confidence** answers (top probability under 0.5);
- the **typical length** of the descriptions (their geometric mean, in characters);
- the share of **unknown words** (words the model never saw in training).

Why PSI rather than a chi-square test.  Both compare two distributions over
the same categories, but a chi-square p-value measures *evidence* of a
difference, which grows with volume: on a weekday of 20,000 predictions a
shift of half a point in one section is "significant" (an alert every day
for a difference nobody cares about), while on a quiet Sunday of 300 a
genuine doubling of a small section is not.  PSI,
``sum((p - q) * ln(p / q))`` over sections, is an *effect size* (the
symmetrised Kullback-Leibler divergence): it does not grow with volume, so
its threshold says how large a change is worth a person's attention.

Its weakness is the other way round: sampling noise alone gives a small day
a sizeable PSI (about chi-square(k - 1) / n for k sections: 0.06 on average
at n = 300).  So a day is flagged only when the change is both **material**
(past the effect-size threshold of
:mod:`~course_lib.monitoring.thresholds`) and **beyond the noise** of that
day's volume: more than :data:`~course_lib.monitoring.thresholds.NOISE_Z`
standard errors for the typical length (on the log scale, where lengths are
about symmetric: a plain mean of skewed lengths has a long right tail that
gave false alarms on quiet days), as far on the arcsine scale for the
shares (which keeps the binomial's skew on small days), and past the
chi-square quantile of the same tail probability (3 in 100,000) for the PSI, with
``n_eff = 1 / (1/n + 1/N)`` (the day's and the reference's volumes; the
chi-square quantile by the Wilson-Hilferty approximation, within 1 % here).
On a busy day the effect size decides; on a quiet one the noise does; under
:data:`~course_lib.monitoring.thresholds.MIN_DAILY_VOLUME` the day is "not
enough data" rather than judged.  The noise of each indicator comes from the
reference itself: binomial for the low-confidence share, the spread of the
log lengths for the typical length, and for the unknown-word share (a
ratio of sums over descriptions of a few words each) the usual linearised
variance of a ratio estimator, ``sum((u - R w)^2)``.

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
    """The pooled reference window every day is compared with, and its noise."""

    start: date
    end: date
    predictions: int
    sections: pd.Series
    """Predictions per section over the window."""
    low_confidence_share: float
    typical_chars: float
    """Geometric mean of the descriptions' lengths (characters)."""
    log_chars_sd: float
    """Standard deviation of one description's log length."""
    unknown_share: float
    """NaN when the logs carry no word counts."""
    unknown_sd: float
    """Standard deviation of one description's contribution to the unknown-word share
    (``sqrt(mean((u - R w)^2)) / mean(w)``): the ratio's noise is this over sqrt(n).
    ``R (1 - R) / unknown_sd^2`` is what one description is worth in independent words,
    which puts the ratio on the binomial scale of :func:`_share_limit`."""

    def describe(self) -> str:
        return f"{self.start} → {self.end}"

    @property
    def degrees_of_freedom(self) -> int:
        """Sections present in the reference, minus one (at least one)."""
        return max(1, int((self.sections > 0).sum()) - 1)

    def limits(self, volume: pd.Series, thresholds: Thresholds) -> pd.DataFrame:
        """Per day of ``volume`` predictions, the value past which each indicator alerts:
        the effect-size threshold, or the noise at that volume when it is larger."""
        n = volume.astype(float).where(volume > 0)
        scale = 1 / n + 1 / self.predictions  # 1 / n_eff
        z = thresholds.noise_z
        chi2 = chi2_quantile(self.degrees_of_freedom, z)
        log_band = np.maximum(
            np.log1p(thresholds.length_change), z * self.log_chars_sd * np.sqrt(scale)
        )
        ratio = self.unknown_share
        words_worth = ratio * (1 - ratio) / self.unknown_sd**2 if self.unknown_sd > 0 else 1.0
        return pd.DataFrame(
            {
                "psi_limit": np.maximum(thresholds.psi_alert, chi2 * scale),
                "low_confidence_limit": np.maximum(
                    self.low_confidence_share + thresholds.low_confidence_margin,
                    _share_limit(self.low_confidence_share, scale, z),
                ),
                "length_low": self.typical_chars * np.exp(-log_band),
                "length_high": self.typical_chars * np.exp(log_band),
                "unknown_limit": np.maximum(
                    ratio + thresholds.unknown_margin, _share_limit(ratio, scale / words_worth, z)
                ),
            },
            index=volume.index,
        )


def _share_limit(p0: float, scale: pd.Series, z: float) -> pd.Series:
    """The share a sample of ``1 / scale`` draws exceeds with the tail of ``z`` when the
    true share is ``p0``, on the arcsine scale (``asin(sqrt(p))`` has variance ``1 / 4n``
    whatever ``p``): unlike ``p0 + z * sqrt(p0 (1 - p0) / n)`` it keeps the binomial's
    skew at small shares and volumes (exact tail 2e-6 to 3e-5 where the plain normal
    bound's is up to 5e-4, for 3e-5 intended)."""
    angle = np.arcsin(np.sqrt(p0)) + z * np.sqrt(scale) / 2
    return np.sin(np.minimum(angle, np.pi / 2)) ** 2


@dataclass(frozen=True)
class DriftReport:
    """One row per day with its indicators, their limits, verdicts and the day's status."""

    table: pd.DataFrame
    """Columns: date, predictions; psi, low_confidence_share, typical_chars, unknown_share;
    mean_chars (the plain mean length, shown, not judged);
    their limits psi_limit, low_confidence_limit, length_low, length_high, unknown_limit;
    psi_flag, low_confidence_flag, length_flag, unknown_flag; alert, status."""
    reference: Reference | None
    thresholds: Thresholds
    reason: str = ""
    """Why there is no reference, when there is none."""

    @property
    def empty(self) -> bool:
        return self.table.empty

    def day(self, when: date) -> pd.Series:
        """The row of one day (a :class:`CourseError` if the day has no data)."""
        rows = self.table[self.table["date"] == pd.Timestamp(when)]
        if rows.empty:
            raise CourseError(f"no predictions on {when}")
        return rows.iloc[0]


def chi2_quantile(df: int, z: float) -> float:
    """The chi-square(df) quantile with the upper tail of a normal's ``z`` (Wilson-Hilferty).

    Within 1.5 % of the exact value for df >= 5 at z = 4 (54.5 against 54.1 for
    df = 19), on the safe side; it keeps SciPy out of the package.
    """
    k = 2 / (9 * df)
    return float(df * (1 - k + z * np.sqrt(k)) ** 3)


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
    predictions and the sums) and
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
            "typical_chars": np.exp(_ratio(daily["log_chars"], daily["predictions"])),
            "mean_chars": daily["mean_chars"].astype(float) if "mean_chars" in daily else np.nan,
            "unknown_share": _ratio(daily["unknown_words"], daily["words"]),
        }
    )
    ref, reason = _reference(daily, counts, thresholds, reference)
    if ref is None:
        table["psi"] = np.nan
        for column in LIMITS:
            table[column] = np.nan
        for flag in FLAGS:
            table[flag] = False
        table["alert"] = False
        table["status"] = DayStatus.NO_REFERENCE.value
        return DriftReport(_ordered(table), None, thresholds, reason)
    by_day = psi_by_day(counts, ref.sections, thresholds.psi_pseudo_count)
    table["psi"] = table["date"].map(by_day).astype(float)
    table = pd.concat([table, ref.limits(table["predictions"], thresholds)], axis=1)
    table["psi_flag"] = table["psi"] > table["psi_limit"]
    table["low_confidence_flag"] = table["low_confidence_share"] > table["low_confidence_limit"]
    table["length_flag"] = (table["typical_chars"] < table["length_low"]) | (
        table["typical_chars"] > table["length_high"]
    )
    table["unknown_flag"] = table["unknown_share"] > table["unknown_limit"]  # NaN: False
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
LIMITS = ("psi_limit", "low_confidence_limit", "length_low", "length_high", "unknown_limit")
_COLUMNS = (
    "date",
    "predictions",
    "psi",
    "low_confidence_share",
    "typical_chars",
    "mean_chars",
    "unknown_share",
    *LIMITS,
    *FLAGS,
    "alert",
    "status",
)


_SUMS = (
    "low_confidence",
    "log_chars",
    "log_chars_sq",
    "words",
    "words_sq",
    "unknown_words",
    "unknown_words_sq",
    "unknown_x_words",
)
"""The ``daily_indicators`` sums the reference pools."""


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
    total = rows[list(_SUMS)].apply(pd.to_numeric, errors="coerce").sum()
    mean_log = total["log_chars"] / volume
    log_var = max(0.0, total["log_chars_sq"] / volume - mean_log**2)
    words, unknown = total["words"], total["unknown_words"]
    ratio = unknown / words if words > 0 else float("nan")
    residual = (
        total["unknown_words_sq"]
        - 2 * ratio * total["unknown_x_words"]
        + ratio**2 * total["words_sq"]
    )
    return (
        Reference(
            start=start,
            end=end,
            predictions=volume,
            sections=in_window.sum(axis=0).astype(float),
            low_confidence_share=float(total["low_confidence"]) / volume,
            typical_chars=float(np.exp(mean_log)),
            log_chars_sd=float(np.sqrt(log_var)),
            unknown_share=float(ratio),
            unknown_sd=float(np.sqrt(max(0.0, residual) * volume) / words)
            if words > 0
            else float("nan"),
        ),
        "",
    )
