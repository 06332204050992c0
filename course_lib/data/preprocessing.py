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

The token stems are kept between calls in a module-level cache that the API
reads from several threads at once (its routes run in a thread pool).  So a
call never indexes the shared dict: it copies what it needs into a local
mapping, stems the missing tokens there, and only then publishes them, under a
lock for writers.  A full cache is replaced by a new dict, never cleared in
place, so a thread still reading the old one is not disturbed; the limit keeps
the cache within what a small pod can afford.

Both use nltk's French Snowball stemmer.  PyStemmer (the C build of Snowball)
was tried: it is barely faster per distinct token and implements a later
revision of the algorithm ("bijoux" → "bijou" where nltk keeps "bijoux"), so
the two paths would not give the same tokens.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import cache
from itertools import islice

import pandas as pd
from nltk.stem.snowball import FrenchStemmer

from course_lib.resources import resource_path

_NOT_LETTER = re.compile(r"[^a-z]+")
_SEP = "\x00"
_KEEP_LETTERS_AND_SEP = bytes(
    c if (97 <= c <= 122 or c == 0) else 32 for c in range(256)
)  # bytes.translate table: a-z and NUL kept, every other byte a space
# A full cache of 200,000 entries (random 8-letter tokens and their stems)
# measured 31 MB with tracemalloc, 40 MB of RSS: affordable in a 1 GiB pod, and
# eight times the 25,000 distinct tokens of the 200,000-row training corpus.
_TOKEN_CACHE_LIMIT = 200_000

# token -> stem, '' for a dropped token.  Readers only ever `.get` from it;
# writers rebind it to a new dict (never `.clear()`) under the lock.
_token_cache: dict[str, str] = {}
_token_cache_lock = threading.Lock()


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


def reset_token_cache() -> None:
    """Start from a cold cache (benchmarks, tests) without disturbing current readers."""
    global _token_cache
    with _token_cache_lock:
        _token_cache = {}


def _clean_tokens(tokens: Iterable[str]) -> dict[str, str]:
    """Stems of ``tokens`` ('' for a dropped one), in a mapping private to the caller.

    The shared cache is read once, with ``.get``, and new tokens are stemmed
    completely before they are published: another thread may replace the
    cache at any moment, and must never see a token as dropped ('') just
    because its stem is not computed yet.
    """
    get = _token_cache.get  # bound once: one consistent dict for this call
    local: dict[str, str] = {}
    new: list[str] = []
    for token in tokens:
        known = get(token)
        if known is None:
            new.append(token)
        else:
            local[token] = known
    if not new:
        return local
    drop = stopwords()
    stem = _stemmer().stem
    computed = {t: stem(t) if len(t) > 1 and t not in drop else "" for t in new}
    local.update(computed)
    _publish(computed)
    return local


def _publish(computed: dict[str, str]) -> None:
    """Add fully computed stems to the shared cache, keeping it within its limit.

    Only writers take the lock (readers just ``.get``).  Past the limit the
    cache is rebound to a new dict, filled before it is published, so a
    reader holding the old one keeps a consistent view and the old dict is
    freed as soon as the last such reader is done.
    """
    global _token_cache
    with _token_cache_lock:
        if len(_token_cache) + len(computed) <= _TOKEN_CACHE_LIMIT:
            _token_cache.update(computed)
        else:
            _token_cache = dict(islice(computed.items(), _TOKEN_CACHE_LIMIT))


def clean_texts(texts: Iterable[object]) -> list[str]:
    """Clean a whole column of descriptions; returns one string per input.

    Non-string entries (None, NaN, numbers) clean to ``""`` here; callers that
    must refuse them (the model wrapper) check before calling.
    """
    values = [t if isinstance(t, str) else "" for t in texts]
    distinct = list(dict.fromkeys(values))
    folded = _fold_all(distinct)
    stems = _clean_tokens({t for words in folded for t in words})
    stem_of = stems.__getitem__  # '' for a dropped token, filtered out below
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
