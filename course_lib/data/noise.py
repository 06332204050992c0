"""The noise of real declarations, applied to clean generated phrases.

Descriptions typed into the company register are mostly upper case without
accents, with punctuation turned into spaces, sometimes abbreviated
("FAB.", "CCE"), misspelt, prefixed with the activity code, and cut at 140
characters by the form.  A model trained on clean nomenclature labels only
transfers badly to them; these functions make the generated corpus look like
the real thing.  Each takes a ``random.Random`` so the corpus is
deterministic for a seed.
"""

from __future__ import annotations

import random
import re
import unicodedata

MAX_LENGTH = 140
"""The register's form keeps the first 140 characters of a description."""

ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "fabrication": ("fab", "fab.", "fabric"),
    "commerce": ("cce", "com", "comm"),
    "services": ("sces", "serv"),
    "service": ("sce", "serv"),
    "vente": ("vte", "vt"),
    "réparation": ("rép", "repar"),
    "installation": ("install", "instal"),
    "entretien": ("entr", "entret"),
    "travaux": ("trvx", "trav"),
    "transport": ("transp", "trans"),
    "société": ("sté", "ste"),
    "location": ("loc",),
    "maintenance": ("maint",),
    "bâtiment": ("bat", "bât", "bati"),
    "produits": ("pdts", "prod"),
    "prestations": ("prest", "presta"),
    "matériel": ("mat", "matl"),
    "matériels": ("mat", "matls"),
    "équipements": ("équip", "equipts"),
    "automobiles": ("auto", "autos"),
    "véhicules": ("véh", "vehic"),
    "alimentaires": ("alim",),
    "alimentaire": ("alim",),
    "import-export": ("imp exp", "import exp"),
    "détail": ("det", "dét"),
    "gros": ("grs",),
    "et": ("&", "+"),
    "conseil": ("cons",),
    "informatique": ("info", "infor"),
    "immobilier": ("immo",),
    "immobilière": ("immo",),
    "immobilières": ("immo",),
    "restauration": ("resto", "restau"),
    "traditionnelle": ("trad", "tradi"),
    "professionnel": ("pro", "prof"),
    "non professionnel": ("np", "non pro"),
}

_KEYBOARD_NEIGHBOURS = {
    "a": "zqs",
    "z": "aes",
    "e": "zrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "olm",
    "q": "asw",
    "s": "qdz",
    "d": "sfe",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "j": "hku",
    "k": "jli",
    "l": "kmo",
    "m": "lp",
    "w": "xq",
    "x": "wcs",
    "c": "xvd",
    "v": "cbf",
    "b": "vng",
    "n": "bmh",
}


def strip_accents(text: str) -> str:
    """``"Pâtisserie œuvre"`` → ``"Patisserie oeuvre"``: what many forms and keyboards do."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def punctuation_to_spaces(text: str, rng: random.Random) -> str:
    """Punctuation as the register stores it: as spaces, apostrophes often glued.

    ``"l'achat, la vente"`` → ``"l achat  la vente"`` or ``"lachat  la vente"``.
    """
    glue = rng.random() < 0.3
    text = re.sub(r"[’']", "" if glue else " ", text)
    return re.sub(r"[^\w\s&]", " ", text)


def typo(word: str, rng: random.Random) -> str:
    """One keyboard slip in a word of four letters or more."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.35:
        return word[:i] + word[i + 1 :]
    if kind < 0.6:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind < 0.8:
        return word[:i] + word[i] + word[i:]
    near = _KEYBOARD_NEIGHBOURS.get(word[i].lower())
    if not near:
        return word
    return word[:i] + rng.choice(near) + word[i + 1 :]


def add_typos(text: str, rng: random.Random, rate: float) -> str:
    """Misspell each word with probability ``rate``."""
    return " ".join(typo(w, rng) if rng.random() < rate else w for w in text.split(" "))


def abbreviate(text: str, rng: random.Random, rate: float) -> str:
    """Replace known long words by a usual abbreviation, each with probability ``rate``."""
    words = text.split(" ")
    out = []
    for word in words:
        choices = ABBREVIATIONS.get(word.lower())
        out.append(rng.choice(choices) if choices and rng.random() < rate else word)
    return " ".join(out)


def embed_code(text: str, code: str, rng: random.Random) -> str:
    """Prefix the activity code the declarant copied from an earlier form."""
    spelled = rng.choice([code, f"{code[:2]}.{code[2:]}", f"APE {code}", f"{code} -"])
    return f"{spelled} {text}" if rng.random() < 0.85 else f"{text} {spelled}"


def cut(text: str, limit: int = MAX_LENGTH) -> str:
    """The form's hard cut, in the middle of a word if it falls there."""
    return text[:limit]
