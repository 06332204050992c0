import random
import string
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from nltk.stem.snowball import FrenchStemmer

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
    preprocessing.reset_token_cache()
    assert clean_texts(texts) == reference_clean(texts).tolist()
    assert clean_texts(texts) == reference_clean(texts).tolist()  # warm cache too


# --- The token cache under concurrency (the API cleans from a thread pool) ---

KNOWN_WORDS = "boulangerie coiffure taxi"


def _random_words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 10))) for _ in range(n)]


class _InterleavingStemmer:
    """nltk's stemmer that runs ``interleave`` once, at its first call.

    Stands for another request being served while this one is still
    stemming its new tokens: the interleaving is deterministic, no threads or
    sleeps needed.
    """

    def __init__(self, interleave: Callable[[], None]) -> None:
        self._stem = FrenchStemmer().stem
        self._interleave: Callable[[], None] | None = interleave

    def stem(self, word: str) -> str:
        interleave, self._interleave = self._interleave, None
        if interleave is not None:
            interleave()
        return self._stem(word)


def test_concurrent_requests_never_fail_nor_drop_known_words(monkeypatch):
    """8 threads x 200 calls, each with new words overflowing a small cache."""
    limit = 500
    monkeypatch.setattr(preprocessing, "_TOKEN_CACHE_LIMIT", limit)
    preprocessing.reset_token_cache()
    rng = random.Random(0)
    batches = [
        [f"{KNOWN_WORDS.upper()} " + " ".join(_random_words(rng, 25)) for _ in range(200)]
        for _ in range(8)
    ]
    sizes: list[int] = []

    def serve(descriptions: list[str]) -> list[str]:
        out = []
        for description in descriptions:
            out.append(clean_text(description))
            sizes.append(len(preprocessing._token_cache))
        return out

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(serve, batches))  # re-raises any worker exception
    finally:
        sys.setswitchinterval(switch_interval)

    for descriptions, cleaned in zip(batches, results, strict=True):
        assert cleaned == reference_clean(pd.Series(descriptions)).tolist()
        assert all(c.startswith("boulanger coiffur tax ") for c in cleaned)
    assert max(sizes) <= limit


def test_a_token_being_stemmed_is_not_seen_as_dropped(monkeypatch):
    """A request reading a token another one has not finished stemming gets its stem."""
    preprocessing.reset_token_cache()
    seen: list[str] = []
    stemmer = _InterleavingStemmer(lambda: seen.append(clean_text(KNOWN_WORDS)))
    monkeypatch.setattr(preprocessing, "_stemmer", lambda: stemmer)
    assert clean_text(f"{KNOWN_WORDS} vente") == "boulanger coiffur tax vent"
    assert seen == ["boulanger coiffur tax"]


def test_a_cache_overflow_during_a_call_loses_none_of_its_tokens(monkeypatch):
    """Another request filling the cache mid-call must not make this one fail."""
    monkeypatch.setattr(preprocessing, "_TOKEN_CACHE_LIMIT", 50)
    preprocessing.reset_token_cache()
    flood = " ".join(_random_words(random.Random(1), 60))
    stemmer = _InterleavingStemmer(lambda: clean_text(flood))
    monkeypatch.setattr(preprocessing, "_stemmer", lambda: stemmer)
    description = f"la {KNOWN_WORDS} et le conseil"
    assert clean_text(description) == reference_clean(pd.Series([description]))[0]
    assert len(preprocessing._token_cache) <= 50


def test_a_full_cache_is_replaced_not_cleared_in_place(monkeypatch):
    monkeypatch.setattr(preprocessing, "_TOKEN_CACHE_LIMIT", 10)
    preprocessing.reset_token_cache()
    clean_text(KNOWN_WORDS)
    held_by_a_reader = preprocessing._token_cache
    before = dict(held_by_a_reader)
    clean_text(" ".join(_random_words(random.Random(2), 30)))  # overflows the limit
    assert (
        held_by_a_reader
        == before
        == {"boulangerie": "boulanger", "coiffure": "coiffur", "taxi": "tax"}
    )
    assert preprocessing._token_cache is not held_by_a_reader
    assert len(preprocessing._token_cache) <= 10


def test_reset_token_cache_empties_it_without_touching_a_held_reference():
    clean_text(KNOWN_WORDS)
    held_by_a_reader = preprocessing._token_cache
    assert "taxi" in held_by_a_reader
    preprocessing.reset_token_cache()
    assert preprocessing._token_cache == {}
    assert held_by_a_reader["taxi"] == "tax"
    assert clean_text(KNOWN_WORDS) == "boulanger coiffur tax"
