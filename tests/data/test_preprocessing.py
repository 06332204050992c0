import pandas as pd
import pytest

from course_lib.data import preprocessing
from course_lib.data.corpus import generate_corpus
from course_lib.data.preprocessing import clean_text, clean_texts, reference_clean


def test_invariance_coiffeur():
    assert clean_text("COIFFEUR") == clean_text("coiffeur, & 98789") == "coiffeur"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BOULANGERIE PÂTISSERIE", "boulanger patisser"),
        ("Vente d'huîtres", "vent huitr"),  # accents, apostrophe, stemming
        ("A B 12 VTC", "vtc"),  # one-letter words and digits dropped
        ("la vente et le conseil de la", "vent conseil"),  # stopwords
        ("GROS ŒUVRE", "gros oeuvr"),  # ligature spelt out
        ("loueur en meublé non professionnel", "loueur meubl non professionnel"),
        ("", ""),
        ("123 & -- !!", ""),
    ],
)
def test_cleaning_steps(raw, expected):
    assert clean_text(raw) == expected


def test_non_strings_clean_to_empty():
    assert clean_texts([None, float("nan"), 3, "taxi"]) == ["", "", "", "tax"]


def test_fast_path_gives_exactly_the_reference_tokens():
    """The cached, per-distinct-token path must match the plain per-word nltk version."""
    texts = generate_corpus(6_000, seed=7, progress=False)["text"]
    texts = pd.concat([texts, pd.Series(["Élève-ingénieur: œnologie!", "ÇA  ", "x"])])
    preprocessing._token_cache.clear()
    assert clean_texts(texts) == reference_clean(texts).tolist()
    assert clean_texts(texts) == reference_clean(texts).tolist()  # warm cache too
