"""fastText: training and top-k prediction on cleaned texts.

fastText learns a bag of words, word n-grams and character n-grams; with the
one-vs-all loss (``ova``) each code gets an independent probability, which
reads naturally as "how sure is the model of this code".  Every function here
works on *cleaned* texts (:mod:`course_lib.data.preprocessing`); the MLflow wrapper
is what accepts raw descriptions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import fasttext
import numpy as np

LABEL_PREFIX = "__label__"


class Loss(StrEnum):
    """fastText's losses: one-vs-all (independent probabilities), softmax, and its two
    approximations for many labels (hierarchical softmax, negative sampling)."""

    ova = "ova"
    softmax = "softmax"
    hs = "hs"
    ns = "ns"


@dataclass(frozen=True)
class Hyperparameters:
    """fastText options as the course names them (fastText's own spelling).

    Defaults train the 200,000-row default corpus in well under a minute
    (see the benchmark in README) while keeping accuracy near what larger
    settings reach.  ``thread=1`` makes training reproducible: fastText's
    threads update the model without locks, so with two or more the same
    data and seed give a slightly different model, and accuracy on the 212
    real rows moves by about ±0.015 from run to run.
    """

    dim: int = 50
    lr: float = 0.4
    epoch: int = 5
    wordNgrams: int = 2
    minn: int = 3
    maxn: int = 5
    minCount: int = 1
    bucket: int = 200_000
    thread: int = 1
    loss: str = Loss.ova.value

    def as_dict(self) -> dict[str, int | float | str]:
        return asdict(self)


def train(
    texts: Sequence[str], labels: Sequence[str], params: Hyperparameters, progress: bool = False
) -> fasttext.FastText._FastText:
    """Train on cleaned texts; fastText reads its data from a file, so write one.

    ``progress`` shows fastText's own progress line (percent done, loss, ETA)
    on stderr; it redraws in place, so only ask for it on a terminal.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.txt"
        with path.open("w", encoding="utf-8") as handle:
            for label, text in zip(labels, texts, strict=True):
                handle.write(f"{LABEL_PREFIX}{label} {text}\n")
        verbose = 2 if progress else 0
        return fasttext.train_supervised(str(path), verbose=verbose, **params.as_dict())


def predict_top_k(
    model: fasttext.FastText._FastText, texts: Sequence[str], k: int = 1
) -> tuple[list[list[str]], list[np.ndarray]]:
    """Codes and probabilities of the ``k`` best labels per cleaned text.

    Always a list to fastText (one string at a time trips its numpy 2
    bindings).  Texts must be single-line: newlines are fastText's separator.
    """
    labels, probabilities = model.predict([t.replace("\n", " ") for t in texts], k=k)
    codes = [[label.removeprefix(LABEL_PREFIX) for label in row] for row in labels]
    return codes, [np.minimum(p, 1.0) for p in probabilities]


def load(path: Path | str) -> fasttext.FastText._FastText:
    """Read a model saved with ``save_model``."""
    return fasttext.load_model(str(path))
