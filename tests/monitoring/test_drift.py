"""Drift indicators on synthetic days: shifts are flagged, stable traffic is not.

The days are drawn around the training corpus's section mix
(:mod:`tests.monitoring.synthetic`): multinomial section counts, binomial
low-confidence answers, skewed lengths, beta-binomial unknown words, with a
weekly rhythm whose Sundays carry 15 % of a weekday.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.errors import CourseError
from course_lib.monitoring.drift import (
    FLAGS,
    DayStatus,
    chi2_quantile,
    compute_drift,
    drift_report,
    psi,
)
from course_lib.monitoring.thresholds import THRESHOLDS, Thresholds
from tests.conftest import ROOT
from tests.monitoring import synthetic

CHANGE_DAY = 21
STABLE_DAYS_JUDGED = {300: 7_160, 500: 6_156, 2_000: 7_160, 10_000: 7_160}
"""What the seeded false-alarm histories judge, by weekday volume (none is flagged)."""
DETECTION_DELAYS = {0: 23, 1: 27}
"""Days from the change to the first flag over the 50 seeded ramps: chapter 4 quotes them."""


def judged(table: pd.DataFrame) -> pd.DataFrame:
    """The days actually judged (neither reference nor too quiet)."""
    return table[table["status"].isin([DayStatus.OK.value, DayStatus.DRIFT.value])]


# --- the PSI itself ---------------------------------------------------------------------


def test_psi_is_zero_for_the_same_mix_and_symmetric() -> None:
    a = pd.Series({"A": 100, "B": 300, "C": 600})
    b = pd.Series({"A": 200, "B": 300, "C": 500})
    assert psi(a, a * 7, pseudo_count=0) == pytest.approx(0.0)
    assert psi(a, b, pseudo_count=0) == pytest.approx(psi(b, a, pseudo_count=0))
    by_hand = sum((p - q) * np.log(p / q) for p, q in ((0.1, 0.2), (0.3, 0.3), (0.6, 0.5)))
    assert psi(a, b, pseudo_count=0) == pytest.approx(by_hand)


def test_psi_smooths_a_section_seen_on_one_side_only() -> None:
    """Without smoothing ln(p / 0) is infinite; with half a prediction it is large but finite,
    and a section absent on both sides changes nothing."""
    day = pd.Series({"A": 10, "B": 0})
    reference = pd.Series({"A": 5, "B": 5})
    value = psi(day, reference)
    expected = (10.5 / 11 - 0.5) * np.log((10.5 / 11) / 0.5) + (0.5 / 11 - 0.5) * np.log(
        (0.5 / 11) / 0.5
    )
    assert np.isfinite(value) and value == pytest.approx(expected)
    assert psi(day, pd.concat([reference, pd.Series({"Z": 0})])) == pytest.approx(value)
    assert np.isnan(psi(pd.Series(dtype=float), reference))


# --- stable and shifted traffic ---------------------------------------------------------


def test_a_stable_history_raises_no_flag() -> None:
    daily, sections = synthetic.aggregates(days=2 * 365, seed=11)
    report = compute_drift(daily, sections)
    days = judged(report.table)
    assert len(days) > 600
    assert not days["alert"].any(), days[days["alert"]]
    weekdays = days[days["date"].dt.weekday < 5]
    assert weekdays["psi"].median() < 0.03  # about chi-square(20) / 2,000: noise only


def test_a_shifted_section_mix_is_flagged_from_the_first_changed_day() -> None:
    changed = synthetic.stable().shifted("H", 0.30)
    daily, sections = synthetic.aggregates(days=28, seed=3, change_day=CHANGE_DAY, changed=changed)
    table = compute_drift(daily, sections).table
    before, after = table.iloc[7:CHANGE_DAY], judged(table.iloc[CHANGE_DAY:])
    assert not before["alert"].any()
    assert after["psi_flag"].all() and len(after) >= 5
    assert (after["status"] == DayStatus.DRIFT.value).all()
    assert not after[["low_confidence_flag", "length_flag", "unknown_flag"]].any().any()


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"low_share": 0.40}, "low_confidence_flag"),
        ({"chars_median": 25.0}, "length_flag"),
        ({"chars_median": 70.0}, "length_flag"),
        ({"unknown_rate": 0.13}, "unknown_flag"),
    ],
)
def test_each_other_indicator_is_flagged_on_its_own(change: dict, flag: str) -> None:
    changed = replace(synthetic.stable(), **change)
    daily, sections = synthetic.aggregates(days=28, seed=5, change_day=CHANGE_DAY, changed=changed)
    table = compute_drift(daily, sections).table
    after = judged(table.iloc[CHANGE_DAY:])
    assert after[flag].all()
    others = [f for f in ("psi_flag", "low_confidence_flag", "length_flag", "unknown_flag")]
    others.remove(flag)
    assert not after[others].any().any()
    assert not table.iloc[:CHANGE_DAY]["alert"].any()


def test_a_day_under_the_minimum_volume_is_not_enough_data_even_when_it_moved() -> None:
    daily, sections = synthetic.aggregates(
        days=28, seed=8, change_day=CHANGE_DAY, changed=synthetic.stable().shifted("H", 0.5)
    )
    daily = daily.astype({column: float for column in daily.columns.drop("date")})
    quiet = daily["date"] == daily["date"].iloc[-1]
    scale = 60 / daily.loc[quiet, "predictions"].iloc[0]
    for column in daily.columns.drop("date"):
        daily.loc[quiet, column] = daily.loc[quiet, column] * scale
    last = sections["date"] == daily["date"].iloc[-1]
    sections.loc[last, "predictions"] = (sections.loc[last, "predictions"] * scale).round()
    row = compute_drift(daily, sections).table.iloc[-1]
    assert row["status"] == DayStatus.LOW_VOLUME.value
    assert row["psi"] > THRESHOLDS.psi_alert  # it did move, and is still not judged
    assert not row["alert"]


def test_the_noise_limit_keeps_quiet_stable_days_from_alerting() -> None:
    """At 150 predictions a day chance alone puts the PSI past the effect-size threshold on
    most days; the limit at that volume (about 0.37) is what keeps them quiet."""
    daily, sections = synthetic.aggregates(days=400, per_weekday=150, seed=9, weekday=(1,) * 7)
    limits = Thresholds(min_reference_volume=1_000)  # the reference week: 1,050 predictions
    table = judged(compute_drift(daily, sections, limits).table)
    assert (table["psi"] > THRESHOLDS.psi_alert).mean() > 0.5
    assert (table["psi_limit"] > 0.3).all()
    assert not table["psi_flag"].any()


def test_limits_are_the_effect_size_on_busy_days_and_the_noise_on_quiet_ones() -> None:
    daily, sections = synthetic.aggregates(days=14, seed=1)
    ref = compute_drift(daily, sections).reference
    limits = ref.limits(pd.Series([100_000, 300]), THRESHOLDS)
    busy, quiet = limits.iloc[0], limits.iloc[1]
    assert busy["psi_limit"] == THRESHOLDS.psi_alert
    chi2 = chi2_quantile(ref.degrees_of_freedom, THRESHOLDS.noise_z)
    assert quiet["psi_limit"] == pytest.approx(chi2 * (1 / 300 + 1 / ref.predictions))
    p0 = ref.low_confidence_share
    assert busy["low_confidence_limit"] == pytest.approx(p0 + THRESHOLDS.low_confidence_margin)
    se = np.sqrt(p0 * (1 - p0) * (1 / 300 + 1 / ref.predictions))
    normal = p0 + THRESHOLDS.noise_z * se  # the arcsine limit is a little above, for the skew
    assert normal < quiet["low_confidence_limit"] < normal + 0.01
    assert busy["length_high"] == pytest.approx(ref.typical_chars * (1 + THRESHOLDS.length_change))
    assert busy["length_low"] == pytest.approx(ref.typical_chars / (1 + THRESHOLDS.length_change))
    assert quiet["length_high"] > busy["length_high"]
    assert (
        quiet["unknown_limit"]
        > busy["unknown_limit"]
        == pytest.approx(ref.unknown_share + THRESHOLDS.unknown_margin)
    )


@pytest.mark.parametrize(("df", "exact"), [(5, 28.309), (10, 38.451), (19, 54.120)])
def test_the_chi_square_quantile_is_close_and_on_the_safe_side(df: int, exact: float) -> None:
    """Exact values: scipy.stats.chi2.ppf(1 - norm.sf(4), df)."""
    approx = chi2_quantile(df, 4.0)
    assert exact <= approx <= exact * 1.03


# --- not enough history -----------------------------------------------------------------


def test_no_data_gives_an_empty_report_not_a_crash() -> None:
    empty = pd.DataFrame(
        columns=["date", "predictions", "low_confidence", "log_chars", "words", "unknown_words"]
    )
    report = compute_drift(empty, pd.DataFrame(columns=["date", "section", "predictions"]))
    assert report.empty and report.reference is None
    assert report.reason == "no predictions yet"


@pytest.mark.parametrize("days", [1, 7])
def test_too_short_a_history_has_no_reference(days: int) -> None:
    """The reference is the first 7 days: 7 days of history leave nothing to check."""
    daily, sections = synthetic.aggregates(days=days, seed=1)
    report = compute_drift(daily, sections)
    assert report.reference is None
    assert f"{days} day(s) of history" in report.reason
    assert (report.table["status"] == DayStatus.NO_REFERENCE.value).all()
    assert not report.table["alert"].any() and report.table["psi"].isna().all()


def test_a_reference_with_too_few_predictions_is_not_used() -> None:
    daily, sections = synthetic.aggregates(days=14, per_weekday=40, seed=1)
    report = compute_drift(daily, sections)
    assert report.reference is None and "too few to compare days with" in report.reason


def test_an_explicit_reference_window() -> None:
    """After a new model version, say, the reference can be re-based on a later week."""
    changed = synthetic.stable().shifted("H", 0.30)
    daily, sections = synthetic.aggregates(days=35, seed=4, change_day=14, changed=changed)
    window = (date(2026, 11, 16), date(2026, 11, 22))  # the third week: already changed
    report = compute_drift(daily, sections, reference=window)
    table = report.table
    assert report.reference.describe() == "2026-11-16 → 2026-11-22"
    assert judged(table.iloc[:7])["psi_flag"].all()  # the old mix is now the drift
    assert not judged(table.iloc[23:])["alert"].any()
    with pytest.raises(CourseError, match="ends before it starts"):
        compute_drift(daily, sections, reference=(window[1], window[0]))


def test_thresholds_can_be_tried_without_touching_the_defaults() -> None:
    changed = synthetic.stable().shifted("H", 0.17)  # PSI about 0.06, under 0.1
    daily, sections = synthetic.aggregates(days=28, seed=3, change_day=CHANGE_DAY, changed=changed)
    assert not compute_drift(daily, sections).table["psi_flag"].any()
    strict = judged(compute_drift(daily, sections, Thresholds(psi_alert=0.04)).table)
    weekdays = strict[strict["date"].dt.weekday < 5]
    assert weekdays[weekdays.index >= CHANGE_DAY]["psi_flag"].all()  # n ≈ 2,000: limit 0.04
    assert not strict[strict.index < CHANGE_DAY]["alert"].any()


# --- through the parquet datasets -------------------------------------------------------


def test_the_report_reads_the_datasets_as_the_etl_writes_them(tmp_path: Path) -> None:
    changed = synthetic.stable().shifted("H", 0.30)
    frame = synthetic.history(days=14, per_weekday=800, change_day=10, changed=changed)
    synthetic.write_datasets(tmp_path, frame)
    report = drift_report(tmp_path)
    table = report.table
    assert len(table) == 14 and report.reference.predictions == int(
        frame[frame["date"] <= date(2026, 11, 8)].shape[0]
    )
    assert table["predictions"].sum() == len(frame)
    assert not table.iloc[:10]["alert"].any()
    assert judged(table.iloc[10:])["psi_flag"].all()
    assert drift_report(tmp_path / "nothing").empty


# --- the measurement behind the thresholds ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("per_weekday", "weekly"), [(300, False), (500, True), (2_000, True), (10_000, True)]
)
def test_false_alarm_rate_over_twenty_stable_years(per_weekday: int, weekly: bool) -> None:
    """20 histories of a year each: the share of stable days flagged (printed; -s shows it).

    The design rate is about 1 in 10,000 judged days (four indicators, each past
    a 4-standard-error limit with probability 3e-5); more than 3 in 10,000 would
    mean a noise limit is too tight."""
    judged_days = 0
    flagged = dict.fromkeys(FLAGS, 0)
    worst = 0.0
    for seed in range(20):
        daily, sections = synthetic.aggregates(
            days=365,
            per_weekday=per_weekday,
            seed=100 + seed,
            weekday=synthetic.WEEKDAY if weekly else (1.0,) * 7,
        )
        days = judged(compute_drift(daily, sections).table)
        judged_days += len(days)
        for flag in FLAGS:
            flagged[flag] += int(days[flag].sum())
        worst = max(worst, float(days["psi"].max()))
    alarms = sum(flagged.values())
    print(
        f"\n{per_weekday:,} a weekday{', weekends quiet' if weekly else ', every day'}: "
        f"{alarms} of {judged_days:,} stable days flagged ({alarms / judged_days:.4%}) "
        f"{flagged}; largest PSI {worst:.3f}"
    )
    assert alarms / judged_days <= 3e-4
    assert alarms == 0 and judged_days == STABLE_DAYS_JUDGED[per_weekday]  # chapter 4's figures


@pytest.mark.slow
def test_detection_delay_of_a_change_that_builds_up_over_three_days() -> None:
    """The planted change of ``course traffic`` grows over three days (a third, two thirds,
    all).  Here: H 9 % → 30 % and low-confidence 25 % → 40 % at full strength."""
    changed = replace(synthetic.stable().shifted("H", 0.30), low_share=0.40)
    delays = []
    for seed in range(50):
        daily, sections = synthetic.aggregates(
            days=35, seed=200 + seed, change_day=CHANGE_DAY, changed=changed, ramp=3
        )
        table = compute_drift(daily, sections).table
        assert not table.iloc[:CHANGE_DAY]["alert"].any()
        first = table.index[table["alert"]].min()
        delays.append(int(first - CHANGE_DAY))
    counts = pd.Series(delays).value_counts().sort_index()
    print(f"\ndays from the change to the first flag (0 = the change day): {counts.to_dict()}")
    assert max(delays) <= 3
    assert counts.to_dict() == DETECTION_DELAYS  # chapter 4's figures


def test_chapter_4_quotes_the_seeded_measurements():
    """The slow tests above hold the measurements; this holds the chapter to them."""
    text = " ".join((ROOT / "book" / "ch4_monitoring.md").read_text().split())
    stable = sum(STABLE_DAYS_JUDGED.values())
    assert f"no flag on {stable:,} stable days" in text
    first, second = DETECTION_DELAYS[0], DETECTION_DELAYS[1]
    assert f"on its first day in {first} of {first + second} runs" in text
    assert f"on its second day in the other {second}" in text
