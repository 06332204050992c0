"""What the prediction API accepts, in numbers: shared by the API and its clients.

A client that trims descriptions or sizes its batches must agree with the
server without importing it (the server pulls in MLflow, fastText and nltk),
so the limits live here, with no import heavier than the model's own limits.
"""

from __future__ import annotations

from course_lib.model.limits import MAX_K, MAX_TEXT_CHARS

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_PORT",
    "MAX_DESCRIPTION_CHARS",
    "MAX_K",
    "MAX_TEXT_CHARS",
    "max_body_bytes",
]

DEFAULT_PORT = 8000
DEFAULT_API_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
"""Where ``course serve`` listens by default, as its clients reach it."""
DEFAULT_CHUNK_SIZE = 500
"""Descriptions per ``POST`` a client sends by default: half the default batch limit."""
MAX_DESCRIPTION_CHARS = 5_000
"""A register entry holds 140 characters; 5,000 leaves room for pasted paragraphs
while refusing whole files sent by mistake (the model reads the first 1,000)."""
DEFAULT_MAX_BATCH = 1_000
"""Descriptions per ``POST /predict`` unless ``API_MAX_BATCH`` says otherwise."""


def max_body_bytes(max_batch: int) -> int:
    """A full batch of the longest descriptions, 4 bytes a character, plus room for JSON."""
    return max_batch * MAX_DESCRIPTION_CHARS * 4 + 65_536
