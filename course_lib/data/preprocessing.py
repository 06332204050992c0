"""Text cleaning shared by training and prediction.

The model must see the same cleaning at training time and in production, so
the MLflow wrapper calls :func:`clean_texts` too (``"COIFFEUR"`` and
``"coiffeur, & 98789"`` must reach fastText as the same tokens).

Steps: lower-case, accents and ligatures folded to ASCII, everything but
letters turned into spaces (punctuation, digits), one-letter words dropped,
French stopwords dropped, French Snowball stemming.

Speed: the work is done once per *distinct text* and once per *distinct
token* (a corpus of 200,000 descriptions holds a few tens of thousands of
words), instead of once per word occurrence.  :func:`reference_clean` is the
plain per-word version kept to prove, in the tests and the benchmark, that the
fast path changes nothing but the speed.

Both use nltk's French Snowball stemmer.  PyStemmer (the C build of Snowball)
was tried: it is barely faster per distinct token and implements a later
revision of the algorithm ("bijoux" → "bijou" where nltk keeps "bijoux"), so
the two paths would not give the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

import pandas as pd
from nltk.stem.snowball import FrenchStemmer

from course_lib.resources import resource_path

_NOT_LETTER = re.compile(r"[^a-z]+")
_SEP = "\x00"
_KEEP_LETTERS_AND_SEP = bytes(
    c if (97 <= c <= 122 or c == 0) else 32 for c in range(256)
)  # bytes.translate table: a-z and NUL kept, every other byte a space
_TOKEN_CACHE_LIMIT = 2_000_000

_token_cache: dict[str, str] = {}


def fold(text: str) -> str:
    """Lower-case ASCII letters only: ``"Pâtisserie, œufs & 2"`` → ``"patisserie  oeufs    "``.

    Accents are dropped (NFKD then ASCII), ligatures spelt out, anything that
    is not a letter becomes a space.
    """
    text = _spell_ligatures(text.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_LETTER.sub(" ", text)


def _spell_ligatures(lowered: str) -> str:
    """œ, æ, ß have no accent to strip: NFKD keeps them, so spell them out."""
    return lowered.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")


def _fold_all(texts: list[str]) -> list[list[str]]:
    """:func:`fold` then split, for many texts in one pass over one joined string.

    Each step of :func:`fold` is local to a character, so folding the texts
    joined by NUL and splitting afterwards gives the same words as folding
    them one by one, with the per-call overhead paid once.
    """
    joined = _spell_ligatures(_SEP.join(t.replace(_SEP, " ") for t in texts).lower())
    ascii_bytes = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore")
    letters = ascii_bytes.translate(_KEEP_LETTERS_AND_SEP).decode("ascii")
    return [part.split() for part in letters.split(_SEP)]


@cache
def stopwords() -> frozenset[str]:
    """The shipped French stopword list, folded like the texts it filters."""
    lines = resource_path("stopwords_fr.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(fold(w).strip() for w in lines if w.strip() and not w.startswith("#"))


@cache
def _stemmer() -> FrenchStemmer:
    return FrenchStemmer()


def _clean_tokens(tokens: Iterable[str]) -> dict[str, str]:
    """Fill the token cache for new tokens; '' marks a token that is dropped."""
    new = [t for t in set(tokens) if t not in _token_cache]
    if not new:
        return _token_cache
    if len(_token_cache) + len(new) > _TOKEN_CACHE_LIMIT:
        _token_cache.clear()
    drop = stopwords()
    kept = [t for t in new if len(t) > 1 and t not in drop]
    _token_cache.update(dict.fromkeys(new, ""))
    stem = _stemmer().stem
    _token_cache.update((t, stem(t)) for t in kept)
    return _token_cache


def clean_texts(texts: Iterable[object]) -> list[str]:
    """Clean a whole column of descriptions; returns one string per input.

    Non-string entries (None, NaN, numbers) clean to ``""`` here; callers that
    must refuse them (the model wrapper) check before calling.
    """
    values = [t if isinstance(t, str) else "" for t in texts]
    distinct = list(dict.fromkeys(values))
    folded = _fold_all(distinct)
    cache_ = _clean_tokens({t for words in folded for t in words})
    stem_of = cache_.__getitem__  # '' for a dropped token, filtered out below
    cleaned = {
        raw: " ".join(filter(None, map(stem_of, words)))
        for raw, words in zip(distinct, folded, strict=True)
    }
    return [cleaned[v] for v in values]


def clean_text(text: str) -> str:
    """Clean one description (convenience for labs and the API)."""
    return clean_texts([text])[0]


def reference_clean(texts: pd.Series) -> pd.Series:
    """The plain version: ``Series.apply`` and nltk's stemmer, word by word.

    Slow on purpose (no cache, pure-Python stemmer): it is the specification
    the fast path is tested and benchmarked against.
    """
    stemmer = FrenchStemmer()
    drop = stopwords()

    def one(text: object) -> str:
        if not isinstance(text, str):
            return ""
        words = fold(text).split()
        return " ".join(stemmer.stem(w) for w in words if len(w) > 1 and w not in drop)

    return texts.apply(one)
