"""Uncertainty on the real rows: Wilson's interval, and McNemar's paired test."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from course_lib.model.evaluation import accuracy_interval, paired_test, top1_right


def _wilson(correct: int, rows: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = correct / rows
    centre = (p + z * z / (2 * rows)) / (1 + z * z / rows)
    half = z / (1 + z * z / rows) * math.sqrt(p * (1 - p) / rows + z * z / (4 * rows * rows))
    return centre - half, centre + half


def test_the_interval_is_wilsons_and_about_six_points_each_side_at_073_on_212_rows():
    interval = accuracy_interval(155 / 212, 212)
    low, high = _wilson(155, 212)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)
    assert 0.055 < (interval.high - interval.low) / 2 < 0.065
    assert "95 % interval" in str(interval) and "212 rows" in str(interval)


def test_the_interval_stays_inside_zero_and_one_at_the_edges():
    assert accuracy_interval(1.0, 20).high == pytest.approx(1.0)
    assert accuracy_interval(0.0, 20).low == pytest.approx(0.0)
    assert accuracy_interval(1.0, 20).low > 0.8


def test_mcnemar_counts_the_discordant_rows_and_gives_the_exact_two_sided_p_value():
    first = [True] * 10 + [False] * 2 + [True] * 50 + [False] * 30
    second = [False] * 10 + [True] * 2 + [True] * 50 + [False] * 30
    test = paired_test(first, second)
    assert (test.only_first, test.only_second) == (10, 2)
    assert test.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)  # 2·P(X ≤ 2), X ~ B(12, ½)
    assert paired_test(second, first).p_value == pytest.approx(test.p_value)
    assert "McNemar" in str(test)


def test_equal_accuracies_from_different_rows_are_not_the_same_model():
    """Same accuracy, 0.5 each, yet they disagree on every row: p = 1, nothing to conclude;
    identical answers have no discordant row at all, and p = 1 too."""
    assert paired_test([True, False] * 20, [False, True] * 20).p_value == pytest.approx(1.0)
    assert paired_test([True, False] * 20, [True, False] * 20) == paired_test([], [])


def test_two_models_compared_on_different_rows_are_refused():
    with pytest.raises(ValueError, match="same rows"):
        paired_test([True] * 212, [True] * 211)


class _Model:
    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers

    def predict(self, texts, params):
        assert params == {"k": 1}
        return [[{"nace": a, "probability": 0.9}] if a else [] for a in self.answers]


def test_top1_right_is_aligned_on_the_frames_index_and_an_empty_answer_is_wrong():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "nace": ["10.71C", "47.81Z", "01.11Z"]},
                         index=[7, 3, 9])  # fmt: skip
    right = top1_right(_Model(["10.71C", "47.89Z", None]), frame)
    assert right.to_dict() == {7: True, 3: False, 9: False}
