"""A registered model as the commands show it: codes with labels, accuracy on labelled rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from course_lib.errors import CourseError
from course_lib.model.loading import Registered, load_registered
from course_lib.model.registered import UNREADABLE, evaluate_registered, predictions_table
from tests.conftest import SMALL


@pytest.fixture(scope="module")
def champion(small_model) -> Registered:
    return load_registered(SMALL.model_name, alias="champion")


def test_every_description_keeps_a_row_even_without_a_readable_word(champion):
    table = predictions_table(champion.model, ["boulangerie", "123 & 456", "boulangerie"], k=2)
    assert list(table.columns) == ["description", "rank", "code", "label", "probability"]
    assert (
        table["description"].tolist() == ["boulangerie"] * 2 + ["123 & 456"] + ["boulangerie"] * 2
    )
    assert table["rank"].tolist() == [1, 2, 0, 1, 2]
    first = table.iloc[0]
    assert (first["code"], first["label"]) == ("10.71C", "Boulangerie et boulangerie-pâtisserie")
    unreadable = table.iloc[2]
    assert unreadable["label"] == UNREADABLE and math.isnan(unreadable["probability"])


def test_a_blank_description_is_a_course_error_naming_it(champion):
    with pytest.raises(CourseError, match="#1 is empty"):
        predictions_table(champion.model, ["taxi", "  "], k=1)


def test_evaluation_on_the_real_rows_or_on_a_file(champion, tmp_path):
    real = evaluate_registered(champion)
    assert real.rows == 212 and real.report is None and "212 real" in real.source
    assert real.metrics["top5_accuracy_subclass"] >= real.metrics["accuracy_subclass"]
    path = tmp_path / "labelled.csv"
    pd.DataFrame(
        {"nace": ["10.71C", "9602A", "not a code"], "text": ["boulangerie", "coiffure", "x"]}
    ).to_csv(path, index=False)
    mine = evaluate_registered(champion, str(path))
    assert mine.rows == 2 and mine.report.unknown_codes == 1 and mine.source == str(path)
    assert mine.model_uri == f"models:/{SMALL.model_name}@champion"
    assert mine.metrics["accuracy_section"] == 1.0
