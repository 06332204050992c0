"""Facts the chapters quote in prose, checked against the code that produces them.

The book is built with execution off (`_config.yml`), so a chapter's .md page cannot
compute its own outputs. These tests read the quoted value from the page and compare
it with what the code gives today: when the code changes, the page must change too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.projects._project_spec import load_project

from course_lib.data.nomenclature import load_nomenclature
from course_lib.data.preprocessing import clean_texts
from course_lib.data.sources import load_lexicon
from tests.conftest import ROOT

CH1 = (ROOT / "book" / "ch1_mlflow.md").read_text()
CH2 = (ROOT / "book" / "ch2_nace_fasttext.md").read_text()


def cleaning_table(page: str) -> list[tuple[str, str]]:
    """The rows of the "raw description | cleaned" table of a page."""
    start = page.index("| raw description | cleaned |")
    rows = []
    for line in page[start:].splitlines()[2:]:
        match = re.fullmatch(r"\| `(.*)` \| `(.*)` \|", line.strip())
        if match is None:
            break
        rows.append((match.group(1), match.group(2)))
    return rows


def test_the_cleaning_table_of_chapter_2_is_what_clean_texts_gives():
    rows = cleaning_table(CH2)
    assert len(rows) >= 5  # the table was found and read
    raw, quoted = zip(*rows, strict=True)
    assert list(clean_texts(list(raw))) == list(quoted)


@pytest.mark.parametrize(
    ("sentence", "word", "stem"),
    [
        ('"marchés" becomes `march`', "marchés", "march"),
        ('"pâtisserie" `patisser`', "pâtisserie", "patisser"),
        ('"boulangerie" becomes\n   `boulanger`', "boulangerie", "boulanger"),
        ('"boulanger" becomes `boulang`', "boulanger", "boulang"),
        ("`boulang`, and a word such as `boulon`\n(*boulons*", "boulons", "boulon"),
    ],
)
def test_the_stems_chapter_2_quotes_are_what_clean_texts_gives(sentence, word, stem):
    assert sentence in CH2
    assert clean_texts([word]) == [stem]


def test_the_lexicon_size_chapter_2_quotes_is_what_load_lexicon_returns():
    match = re.search(r"lexicon written for the course\*\*: ([\d,]+) phrases, at least (\w+)", CH2)
    assert match is not None
    lexicon = load_lexicon()
    assert int(match.group(1).replace(",", "")) == len(lexicon)
    assert match.group(2) == "four"
    per_code = lexicon.groupby("code").size().reindex(load_nomenclature().codes, fill_value=0)
    assert per_code.min() == 4


def test_mlflow_passes_float_parameters_unchecked_as_chapter_1_says():
    assert "`string` and `float` are not checked" in CH1
    main = load_project(str(ROOT)).get_entry_point("main")
    command = main.compute_command({"dim": "abc", "colour": "red"}, storage_dir=None)
    assert "--dim abc" in command  # a float parameter, not checked
    assert command.endswith("--colour red")  # undeclared: appended, not refused


@pytest.mark.parametrize(
    ("quoted", "where"),
    [
        ("`nace-fasttext` unless", "course_lib/settings.py"),
        ("`nace-baseline`", "solutions/app1_mlflow_concepts.md"),
        ("`nace-fasttext-dim`", "solutions/app2_fasttext_mlflow.md"),
        ("`nace-fasttext-retrain`", "solutions/app3_serving.md"),
        ("`nace-fasttext-search`", "course_lib/settings.py"),
    ],
)
def test_the_experiments_chapter_1_names_are_the_ones_the_code_uses(quoted, where):
    assert quoted in CH1
    name = quoted.split("`")[1]
    assert f'"{name}"' in (ROOT / where).read_text()


def test_the_cleaning_figure_shows_what_the_course_s_cleaning_gives():
    """book/figures/cleaning_and_fasttext.svg: each step's line is the code's output."""
    import xml.etree.ElementTree as ET

    from course_lib.data.preprocessing import _stemmer, clean_texts, fold, stopwords

    svg = ET.parse(ROOT / "book" / "figures" / "cleaning_and_fasttext.svg").getroot()
    shown = {e.get("id"): e.text for e in svg.iter() if e.get("id")}
    folded = fold(shown["input"])
    kept = [word for word in folded.split() if len(word) > 1 and word not in stopwords()]
    assert shown["folded"] == folded
    assert shown["kept"] == " ".join(kept)
    assert shown["cleaned"] == " ".join(_stemmer().stem(w) for w in kept)
    assert shown["cleaned"] == clean_texts([shown["input"]])[0]


def _leaves(tree: object, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """Every leaf of a parsed YAML document, by its path of keys."""
    if isinstance(tree, dict):
        found: dict[tuple[str, ...], object] = {}
        for key, value in tree.items():
            found |= _leaves(value, (*path, str(key)))
        return found
    return {path: tree}


@pytest.mark.slow
def test_the_mlmodel_file_chapter_1_shows_is_a_real_one_abridged(small_model):
    """Every line of chapter 1's MLmodel excerpt is in the file a training run logs, with
    the same value, apart from the two ids and Python's patch version (which the chapter
    says vary)."""
    import mlflow
    import yaml

    start = CH1.index("```yaml\nflavors:")
    shown = yaml.safe_load(CH1[start + len("```yaml\n") : CH1.index("```", start + 7)])
    logged = mlflow.get_logged_model(small_model.model_uri.removeprefix("models:/"))
    local = mlflow.artifacts.download_artifacts(f"{logged.artifact_location}/MLmodel")
    real = _leaves(yaml.safe_load(Path(local).read_text(encoding="utf-8")))
    varying = {("model_id",), ("run_id",), ("flavors", "python_function", "python_version")}
    for path, value in _leaves(shown).items():
        assert path in real, f"chapter 1 shows {'.'.join(path)}, which the MLmodel file lacks"
        if path not in varying:
            name = ".".join(path)
            assert real[path] == value, f"{name}: chapter 1 {value!r}, real {real[path]!r}"
    assert str(real[("flavors", "python_function", "python_version")]).startswith("3.11.")
    assert str(real[("model_id",)]).startswith("m-")
