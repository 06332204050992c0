"""The NAF rév. 2 nomenclature (Insee): five levels, codes, parents and labels.

The model predicts subclasses (732 codes such as ``5610A``); people read codes
with dots (``56.10A``) and think in sections ("I – Hébergement et
restauration").  This module converts between the two spellings and answers
"what is the division / section of this subclass" for evaluation at every
level.  Data: Insee, NAF rév. 2 (Licence Ouverte 2.0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pandas as pd

from course_lib.errors import CourseError
from course_lib.resources import resource_path

LEVELS: tuple[str, ...] = ("section", "division", "group", "class", "subclass")

_COMPACT = re.compile(r"^(\d{2})(\d)?(\d)?([A-Z])?$")


def normalize_code(code: object) -> str:
    """Compact form of any NAF code: ``'56.10A'``, ``' 5610a '`` → ``'5610A'``.

    Sections (one letter) stay as they are.  Raises :class:`CourseError` for
    something that is not shaped like a NAF code at all.
    """
    text = str(code).strip().upper().replace(".", "").replace(" ", "")
    if len(text) == 1 and text.isalpha():
        return text
    if not _COMPACT.match(text):
        raise CourseError(
            f"{code!r} is not a NAF rév. 2 code: expected a subclass such as 5610A or "
            "56.10A (or a shorter code: 56, 56.1, 56.10, or a section letter)."
        )
    return text


def dotted_code(code: object) -> str:
    """Official spelling with the dot: ``'5610A'`` → ``'56.10A'``, ``'561'`` → ``'56.1'``."""
    compact = normalize_code(code)
    if len(compact) <= 2:
        return compact
    return f"{compact[:2]}.{compact[2:]}"


@dataclass(frozen=True)
class Nomenclature:
    """All levels of NAF rév. 2, indexed by compact code."""

    subclasses: pd.DataFrame
    """One row per subclass (index: compact code) with the code of each level."""
    labels: pd.DataFrame
    """One row per code of every level (index: compact code): level, label, label_65, label_40."""

    @property
    def codes(self) -> list[str]:
        """The 732 subclass codes, compact, in nomenclature order."""
        return list(self.subclasses.index)

    def parent(self, code: object, level: str) -> str:
        """Code at ``level`` (section … subclass) of a subclass code."""
        if level not in LEVELS:
            raise CourseError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
        compact = normalize_code(code)
        if compact not in self.subclasses.index:
            raise CourseError(f"{code!r} is not one of the 732 NAF rév. 2 subclasses")
        return str(self.subclasses.at[compact, level])

    def label(self, code: object, short: int | None = None) -> str:
        """Label of a code at any level; ``short=65`` or ``40`` for Insee's abbreviations."""
        compact = normalize_code(code)
        if compact not in self.labels.index:
            raise CourseError(f"{code!r} is not a NAF rév. 2 code")
        column = {None: "label", 65: "label_65", 40: "label_40"}.get(short)
        if column is None:
            raise CourseError(f"short={short!r}: choose None, 65 or 40")
        return str(self.labels.at[compact, column])

    def at_level(self, codes: pd.Series, level: str) -> pd.Series:
        """Vectorised :meth:`parent`: codes of a whole column at ``level``.

        Codes that are not subclasses map to NaN, so an unknown prediction
        counts as wrong rather than raising in the middle of an evaluation.
        """
        return codes.map(self.subclasses[level])


@cache
def load_nomenclature() -> Nomenclature:
    """Read the shipped Insee files once per process."""
    raw = pd.read_csv(resource_path("naf", "naf2008_subclasses.csv"), dtype=str)
    subclasses = pd.DataFrame(
        {
            "section": raw["section_code"],
            "division": raw["division_code"].map(normalize_code),
            "group": raw["group_code"].map(normalize_code),
            "class": raw["class_code"].map(normalize_code),
            "subclass": raw["code_compact"],
        }
    ).set_index(raw["code_compact"].rename("code"))
    levels = pd.read_csv(resource_path("naf", "naf2008_all_levels.csv"), dtype=str)
    labels = levels.assign(code=levels["code"].map(normalize_code)).set_index("code")[
        ["level", "label", "label_65", "label_40"]
    ]
    return Nomenclature(subclasses=subclasses, labels=labels)
