"""Which words of a description the model knows: the "unknown words" drift indicator.

fastText keeps a vocabulary of the cleaned words it saw in training (at least
``minCount`` times).  A description whose words are mostly outside it is
classified from subword pieces and the few known words, so a rising share of
unknown words in production is an early sign that people describe their
activity in ways the training data did not cover.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from course_lib.data.preprocessing import clean_text


def vocabulary(model: Any) -> frozenset[str]:
    """The fastText vocabulary of a loaded pyfunc model (or of the wrapper itself)."""
    wrapper = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return frozenset(wrapper.model.get_words())


def word_counter(model: Any) -> Callable[[str], tuple[int, int]]:
    """``text -> (words, unknown_words)`` after the model's own cleaning.

    The cleaning is the one the model applies (same function, same token
    cache), so a word counts as known exactly when the model would find it.
    """
    known = vocabulary(model)

    def count(text: str) -> tuple[int, int]:
        words = clean_text(text).split()
        return len(words), sum(1 for word in words if word not in known)

    return count
