"""Where the generated corpus gets its phrases, code by code.

Three pools per NAF subclass:

- ``labels``: Insee's official label and its 65- and 40-character
  abbreviations (the vocabulary of the nomenclature itself);
- ``notes``: Eurostat's explanatory note items ("comprend …", "comprend
  également …"), list headers combined with their items ("la culture de
  baies:" + "framboises" → "culture de framboises"), and the exclusion items
  of *other* classes routed to the code they point to ("la fabrication de
  biscottes, voir 10.72" teaches 10.72Z, not the class it is written under);
- ``lexicon``: hand-written phrases in the words of real declarants
  (``resources/declarations/phrases_*.csv``), written for this course from
  knowledge of French business activities, never from evaluation rows.

Notes stop at the 4-digit class while the model predicts 5-character
subclasses: an item of a class split into several subclasses goes to the
subclass whose label and lexicon share the most stems with it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

import pandas as pd

from course_lib.data.nomenclature import load_nomenclature, normalize_code
from course_lib.data.preprocessing import clean_texts
from course_lib.resources import resource_path

_ARTICLE = re.compile(r"^(?:la |le |les |l’|l'|un |une |des )", re.IGNORECASE)
_HEADER_TAIL = re.compile(
    r"\s*(?:,?\s*(?:tel|tels|telle|telles) que|notamment|comme|suivants|suivantes|:)\s*$",
    re.IGNORECASE,
)
_ACTION_HEAD = re.compile(r"^((?:[\w’'-]+ ){1,3}?(?:de |d’|d'|du |des |en ))", re.IGNORECASE)


@dataclass(frozen=True)
class PhrasePools:
    """Phrases per compact subclass code, by source."""

    labels: dict[str, list[str]]
    notes: dict[str, list[str]]
    lexicon: dict[str, list[str]]


def strip_article(text: str) -> str:
    """``"la culture de blé"`` → ``"culture de blé"``."""
    return _ARTICLE.sub("", text).strip()


def _label_pool() -> dict[str, list[str]]:
    nomenclature = load_nomenclature()
    pools: dict[str, list[str]] = {}
    for code in nomenclature.codes:
        row = nomenclature.labels.loc[code]
        pools[code] = list(dict.fromkeys([row["label"], row["label_65"], row["label_40"]]))
    return pools


@cache
def load_lexicon() -> pd.DataFrame:
    """All ``code,phrase`` rows of the hand-written declaration lexicon."""
    folder = resource_path("declarations")
    frames = [pd.read_csv(p, dtype=str) for p in sorted(folder.glob("phrases_*.csv"))]
    if not frames:
        return pd.DataFrame({"code": [], "phrase": []}, dtype=str)
    lexicon = pd.concat(frames, ignore_index=True).dropna()
    lexicon["code"] = lexicon["code"].map(normalize_code)
    return lexicon.drop_duplicates()


@cache
def registration_mix() -> pd.Series:
    """Prior share (%) of new registrations for the most frequent subclasses."""
    path = resource_path("declarations", "registration_mix.csv")
    if not path.exists():
        return pd.Series(dtype=float)
    mix = pd.read_csv(path, dtype={"code": str})
    return mix.groupby(mix["code"].map(normalize_code))["share_percent"].sum()


class _Router:
    """Sends a note item of a class (or group) to the best-matching subclass."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        nomenclature = load_nomenclature()
        self.subclasses = nomenclature.subclasses
        labels = _label_pool()
        descriptions = {c: " ".join(labels[c] + lexicon.get(c, [])) for c in labels}
        stems = clean_texts(descriptions.values())
        self.stems = {c: set(s.split()) for c, s in zip(descriptions, stems, strict=True)}
        self.prior = registration_mix()

    def candidates(self, code: str) -> list[str]:
        compact = normalize_code(code)
        level = {2: "division", 3: "group", 4: "class"}.get(len(compact), "subclass")
        return list(self.subclasses.index[self.subclasses[level] == compact])

    def route(self, text_stems: set[str], codes: list[str]) -> str | None:
        candidates = [c for code in codes for c in self.candidates(code)]
        if not candidates:
            return None
        return max(
            candidates,
            key=lambda c: (len(text_stems & self.stems[c]), self.prior.get(c, 0.0), c),
        )


def _compose_list_items(items: pd.DataFrame) -> list[tuple[str, str]]:
    """(source code, phrase) for each item; list items joined to their header."""
    phrases: list[tuple[str, str]] = []
    header: str | None = None
    previous_code = None
    for code, text in zip(items["source_code"], items["text"], strict=True):
        if code != previous_code:  # a list never runs on into the next class
            header, previous_code = None, code
        is_sub_item = header is not None and not _ARTICLE.match(text)
        if text.rstrip().endswith(":"):
            header = _HEADER_TAIL.sub("", text).strip()
            continue
        if is_sub_item and header is not None:
            head = _ACTION_HEAD.match(strip_article(header))
            phrases.append((code, f"{head.group(1)}{text}" if head else f"{header} {text}"))
        else:
            header = None
        phrases.append((code, text))
    return phrases


def _note_pool(lexicon: dict[str, list[str]]) -> dict[str, list[str]]:
    items = pd.read_csv(resource_path("naf", "nace_rev2_note_items_fr.csv"), dtype=str)
    items = items[items["source_level"] == "class"].fillna("")
    router = _Router(lexicon)
    routed: list[tuple[list[str], str]] = []
    for kind in ("includes", "also_includes"):
        block = items[items["kind"] == kind]
        routed += [([code], text) for code, text in _compose_list_items(block)]
    excludes = items[(items["kind"] == "excludes") & (items["see_codes"] != "")]
    routed += [
        (codes.split(), text)
        for codes, text in zip(excludes["see_codes"], excludes["text"], strict=True)
    ]
    texts = [strip_article(t) for _, t in routed]
    stems = clean_texts(texts)
    pools: dict[str, list[str]] = defaultdict(list)
    for (codes, _), text, stem in zip(routed, texts, stems, strict=True):
        target = router.route(set(stem.split()), codes)
        if target and stem:
            pools[target].append(text)
    return {code: list(dict.fromkeys(p)) for code, p in pools.items()}


@cache
def phrase_pools() -> PhrasePools:
    """Build the three pools once per process (about a second)."""
    lexicon_rows = load_lexicon()
    lexicon = lexicon_rows.groupby("code")["phrase"].apply(list).to_dict()
    return PhrasePools(labels=_label_pool(), notes=_note_pool(lexicon), lexicon=lexicon)
