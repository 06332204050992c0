"""A synthetic but realistic training corpus of French activity descriptions.

Real labelled descriptions (Sirene) are not open data at the row level, so the
course generates its own: phrases from :mod:`course_lib.data.sources`,
wrapped the way declarants write (statute openings, several activities in one
line), then roughened by :mod:`course_lib.data.noise`.  The class mix follows a
prior of new registrations (a few codes very frequent, a long tail) with every
subclass present.  Deterministic for a seed.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain bars: tqdm.auto wants ipywidgets in notebooks

from course_lib.data import noise
from course_lib.data.nomenclature import load_nomenclature
from course_lib.data.sources import phrase_pools, registration_mix, strip_article
from course_lib.settings import DEFAULT_ROWS, DEFAULT_SEED

GENERATOR_VERSION = 5
"""Bump when the output for a given seed changes: it names the cache file."""

_TAIL_SHARE_PER_CODE = 0.012
"""Prior share (%) of a code missing from the registration mix before scaling."""
_FLOOR_SHARE = 0.15
"""Fraction of the corpus reserved to give every subclass a minimum of rows."""

_SOURCE_WEIGHTS = {"lexicon": 0.62, "notes": 0.20, "labels": 0.18}

_OPENINGS = (
    "la société a pour objet {p}",
    "la société a pour objet en France et à l'étranger : {p}",
    "activité de {p}",
    "activité principale : {p}",
    "toutes activités de {p}",
    "l'exercice de l'activité de {p}",
    "{p} et toutes activités annexes",
    "{p} et activités connexes",
    "{p}, et plus généralement toutes opérations se rattachant directement "
    "ou indirectement à l'objet social",
    "micro-entreprise {p}",
    "{p} (auto-entrepreneur)",
)
_JOINERS = (" et ", ", ", " - ", " / ", "  ", " + ")


def class_mix() -> pd.Series:
    """Probability of each of the 732 subclasses in a generated corpus.

    Codes in the registration prior keep their share; the others share a
    small, slowly decaying tail (a fixed pseudo-random order, so the tail is
    not alphabetical).
    """
    codes = load_nomenclature().codes
    prior = registration_mix().reindex(codes)
    tail = prior.isna()
    decay = np.random.default_rng(2008).lognormal(mean=0.0, sigma=0.8, size=int(tail.sum()))
    prior[tail] = _TAIL_SHARE_PER_CODE * decay
    return prior / prior.sum()


def code_counts(n_rows: int) -> pd.Series:
    """Rows per code: the class mix plus a floor so every subclass is learnt.

    The floor (up to 30 rows a code) takes about 15 % of the corpus, and at
    least one row a code: every subclass is present from 1,464 rows (two per
    code) up.  Below that there is no floor and rare codes may be absent.
    """
    mix = class_mix()
    floor = int(min(30, max(1, n_rows * _FLOOR_SHARE // len(mix))))
    if n_rows < 2 * len(mix):
        floor = 0
    rest = n_rows - floor * len(mix)
    counts = np.floor(mix * rest).astype(int) + floor
    shortfall = n_rows - int(counts.sum())
    order = mix.sort_values(ascending=False).index[:shortfall]
    counts[order] += 1
    return counts


def _pick_phrase(code: str, rng: random.Random) -> str:
    """A phrase for ``code``: a source by weight, then any phrase of its pool.

    Phrases are drawn uniformly, not weighted toward the usual wording: the
    register repeats its usual wordings far more than this (see
    :mod:`course_lib.data.calibration`), but weighting the draw to reproduce that
    gave the model fewer distinct phrasings to learn from and cost about two
    points of accuracy on real descriptions.
    """
    pools = phrase_pools()
    available = {s: w for s, w in _SOURCE_WEIGHTS.items() if getattr(pools, s).get(code)}
    source = rng.choices(list(available), weights=list(available.values()))[0]
    return rng.choice(getattr(pools, source)[code])


def compose(code: str, rng: random.Random, division_codes: list[str]) -> str:
    """One clean description for ``code``: a phrase, maybe joined and wrapped."""
    text = _pick_phrase(code, rng)
    roll = rng.random()
    if roll < 0.12:
        text = f"{text}{rng.choice(_JOINERS)}{strip_article(_pick_phrase(code, rng))}"
    elif roll < 0.16 and len(division_codes) > 1:
        other = rng.choice(division_codes)
        text = f"{text}{rng.choice(_JOINERS)}{strip_article(_pick_phrase(other, rng))}"
    if rng.random() < 0.6:
        text = strip_article(text)
    if rng.random() < 0.09:
        text = rng.choice(_OPENINGS).format(p=text)
    return text


def roughen(text: str, code: str, rng: random.Random) -> str:
    """Apply the noise of real declarations (see :mod:`course_lib.data.noise`)."""
    if rng.random() < 0.08:
        text = noise.abbreviate(text, rng, rate=0.5)
    if rng.random() < 0.96:
        text = noise.strip_accents(text)
    if rng.random() < 0.96:
        text = noise.punctuation_to_spaces(text, rng)
    if rng.random() < 0.18:
        text = noise.add_typos(text, rng, rate=0.15)
    if rng.random() < 0.025:
        text = noise.embed_code(text, code, rng)
    if rng.random() < 0.015:
        text = f"{text} {rng.randint(1, 99999)}"
    case = rng.random()
    if case < 0.95:
        text = text.upper()
    elif case < 0.97:
        text = text.lower()
    return noise.cut(text)


def generate_corpus(
    n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, progress: bool = True
) -> pd.DataFrame:
    """``n_rows`` labelled descriptions, columns ``nace`` (compact code) and ``text``."""
    counts = code_counts(n_rows)
    codes = np.repeat(counts.index.to_numpy(), counts.to_numpy())
    np.random.default_rng(seed).shuffle(codes)
    rng = random.Random(seed)
    divisions = load_nomenclature().subclasses["division"]
    by_division = divisions.groupby(divisions).groups
    texts = [
        roughen(compose(code, rng, list(by_division[divisions[code]])), code, rng)
        for code in tqdm(
            codes, desc="generating corpus", unit="row", disable=None if progress else True
        )
    ]
    return pd.DataFrame({"nace": codes.astype(str), "text": texts})
