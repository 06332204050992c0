"""What the simulated traffic asks the model: ordinary descriptions, then a change.

Before the change, descriptions are drawn from the course's own corpus
generator (:func:`course_lib.data.corpus.generate_corpus`) with a seed that no
training run uses, so they read like the register (section mix, wording,
upper case, abbreviations, typos) without being training rows.

From the change day on, growing over :data:`RAMP_DAYS` days to full strength,
the gig economy arrives in town:

1. **a new activity**: shared e-scooter operators recruit *juicers*, people
   who collect scooters at night, charge them at home and put them back in
   the morning, and who register as micro-entrepreneurs.  The training data
   has no such activity, and the model scatters them over unrelated codes
   with low probabilities (:data:`NEW_ACTIVITY`, in many wordings);
2. **a shift of the section mix**: delivery riders and drivers register more,
   shops less (section H, transport, more frequent; G, trade, less);
3. **short, noisy descriptions**: most of the newcomers sign up on their
   phone: one or two words, lower case, typos;

so that (4) more answers come with a low top probability: what the
dashboard's confidence chart and the alert are there to catch.  The change
never takes the whole traffic: ordinary registrations go on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from course_lib.data import noise
from course_lib.data.corpus import generate_corpus
from course_lib.data.nomenclature import load_nomenclature
from course_lib.data.preprocessing import fold, stopwords

POOL_ROWS = 10_000
"""Descriptions generated for the ordinary traffic (half a second; drawn with repeats,
as the register repeats its usual wordings)."""
POOL_SEED = 4_000_000
"""Added to the plan's seed: not a training seed (0, 1, 2…) nor the to-classify one (2024)."""

RAMP_DAYS = 3
"""The change reaches full strength on its third day (a third, two thirds, all)."""
NEW_ACTIVITY_SHARE = 0.12
"""Share of descriptions from the new activity at full strength."""
NEW_ACTIVITY_TRICKLE = 0.002
"""…and before the change: a few pioneers, so the activity is not unseen on day one."""
SHORT_SHARE = 0.30
"""Share of the other descriptions typed in one or two words at full strength."""
SECTION_SHIFT = {"H": 2.5, "G": 0.6}
"""Weight of a section's descriptions at full strength (others 1): more transport, less trade."""

NEW_ACTIVITY = (
    "recharge de trottinettes électriques",
    "recharge de trottinettes électriques en libre-service",
    "juicer",
    "juicer trottinettes",
    "juicer Lime",
    "juicer pour Lime et Dott",
    "chargeur de trottinettes",
    "chargeur de trottinettes électriques à domicile",
    "collecte et recharge de trottinettes électriques",
    "collecte recharge et redéploiement de trottinettes en libre-service",
    "rechargement de trottinettes à domicile",
    "ramassage et recharge de trottinettes la nuit",
    "recharge de trottinettes et vélos électriques partagés",
    "micro-entrepreneur recharge de trottinettes",
    "prestataire de recharge pour opérateur de trottinettes",
    "recharge de batteries de trottinettes en free floating",
    "hunter de trottinettes",
    "recharge trottinettes",
)
"""The new activity in the words of people registering it (accents and case as typed;
noise is added per description)."""

_FILLER = frozenset(
    {
        "activite", "activites", "societe", "objet", "principale", "principal", "toutes",
        "tous", "exercice", "micro", "entreprise", "auto", "entrepreneur", "plus",
        "generalement", "france", "etranger", "autres", "annexes", "connexes", "ape",
    }
)  # fmt: skip
"""Words people leave out when they type one or two words of their activity."""
_WORD = re.compile(r"[^\W\d_]{3,}")


@cache
def _dropped_words() -> frozenset[str]:
    return _FILLER | stopwords()


def change_strength(day_index: int, change_day: int) -> float:
    """0 before ``change_day``, then 1/3, 2/3 and 1 from the third day on."""
    if day_index < change_day:
        return 0.0
    return min(1.0, (day_index - change_day + 1) / RAMP_DAYS)


def short_form(text: str, rng: random.Random) -> str:
    """One or two meaningful words: ``"LOCATION DE GITES RURAUX"`` → ``"LOCATION GITES"``."""
    words = [w for w in _WORD.findall(text) if fold(w).strip() not in _dropped_words()]
    if not words:
        return text
    return " ".join(words[: 1 if rng.random() < 0.6 else 2])


def typed_on_a_phone(text: str, rng: random.Random) -> str:
    """Lower case mostly, accents often dropped, typos sometimes: a form filled in on a phone."""
    if rng.random() < 0.7:
        text = noise.strip_accents(text)
    text = text.lower() if rng.random() < 0.8 else text.upper()
    if rng.random() < 0.5:
        text = noise.add_typos(text, rng, rate=0.35)
    return noise.cut(text)


@dataclass(frozen=True)
class Descriptions:
    """The ordinary descriptions and their sections, and how a day draws from them."""

    texts: tuple[str, ...]
    sections: np.ndarray

    @classmethod
    def generate(cls, seed: int, rows: int = POOL_ROWS) -> Descriptions:
        """Generated by the course's corpus generator, with a seed training never uses."""
        corpus = generate_corpus(rows, seed=POOL_SEED + seed, progress=False)
        section = load_nomenclature().subclasses["section"]
        return cls(tuple(corpus["text"]), corpus["nace"].map(section).to_numpy())

    def _weights(self, strength: float) -> np.ndarray:
        factor = np.ones(len(self.texts))
        for section, shift in SECTION_SHIFT.items():
            factor[self.sections == section] = 1 + strength * (shift - 1)
        return factor / factor.sum()

    def draw(self, count: int, strength: float, rng: np.random.Generator) -> list[str]:
        """``count`` descriptions as the day's traffic sends them, at ``strength`` of the change."""
        ordinary = rng.choice(len(self.texts), size=count, p=self._weights(strength))
        new_share = NEW_ACTIVITY_TRICKLE + strength * (NEW_ACTIVITY_SHARE - NEW_ACTIVITY_TRICKLE)
        kind = rng.random(count)
        wording = rng.integers(0, len(NEW_ACTIVITY), count)
        typing = random.Random(int(rng.integers(0, 2**63)))
        texts = []
        for index, draw in enumerate(ordinary.tolist()):
            if kind[index] < new_share:
                texts.append(typed_on_a_phone(NEW_ACTIVITY[wording[index]], typing))
            elif kind[index] < new_share + strength * SHORT_SHARE * (1 - new_share):
                texts.append(typed_on_a_phone(short_form(self.texts[draw], typing), typing))
            else:
                texts.append(self.texts[draw])
        return texts
