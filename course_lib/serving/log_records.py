"""The prediction log's records: one JSON object per line, the contract of chapter 4.

The API writes them (see :mod:`course_lib.serving.prediction_log`), ``course
traffic`` writes simulated ones with the same functions, and the ETL
(:mod:`course_lib.monitoring.etl`) reads them back.  Every line carries
``"schema": "nace-api-log/1"``: a reader can tell our lines from anything else
that lands in the same stream (uvicorn's access log, a stack trace), and a
later format can change the number rather than break old readers.

Two events:

``prediction``
    one line per description, with the batch's request id and the
    description's ``position`` in it: a batch of 500 is 500 lines, so every
    query counts predictions, not requests.
``refused``
    one line per request the API answered with an error (status and reason,
    never the body, which may be huge, binary or personal).

The description itself is logged as written, as a hash, or not at all
(:class:`TextPolicy`, ``API_LOG_TEXT``): sole traders register under their own
name, so "JEAN DUPONT PLOMBIER" is personal data the moment it is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCHEMA = "nace-api-log/1"
TEXT_POLICY_ENV = "API_LOG_TEXT"
HASH_PREFIX = "sha256:"


class Event(StrEnum):
    PREDICTION = "prediction"
    REFUSED = "refused"


class TextPolicy(StrEnum):
    """What the log keeps of each description."""

    RAW = "raw"
    """The description as sent: what the lab reads, and what a data scientist needs
    to see why the model hesitates."""
    HASH = "hash"
    """SHA-256 of the description: identical descriptions can be counted, the text is
    not stored. A pseudonym, not anonymity: a short text can be found again by
    hashing guesses (a list of surnames and trades), so the log is still personal
    data."""
    OMIT = "omit"
    """Nothing: the log keeps the description's length and word counts only."""

    @classmethod
    def from_env(cls) -> TextPolicy:
        """``API_LOG_TEXT`` (raw, hash or omit; unset means raw)."""
        raw = os.environ.get(TEXT_POLICY_ENV, "").strip().lower() or cls.RAW.value
        try:
            return cls(raw)
        except ValueError:
            choices = ", ".join(policy.value for policy in cls)
            raise ValueError(f"{TEXT_POLICY_ENV}={raw!r} is not one of {choices}") from None


WordCounter = Callable[[str], tuple[int, int]]
"""``text -> (words, unknown_words)``: cleaned words, and those the model never saw."""


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: sortable as text, parsed by DuckDB."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(UTC)


def logged_text(text: str, policy: TextPolicy) -> str | None:
    """The description as the log keeps it under ``policy``."""
    if policy is TextPolicy.RAW:
        return text
    if policy is TextPolicy.HASH:
        return HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return None


@dataclass(frozen=True)
class Served:
    """One request the model answered, as the API hands it to the log writer.

    It holds the request's texts and predictions as they are: turning them into
    lines (hashing, counting words, JSON) happens in the writer's thread, off
    the request's path.
    """

    request_id: str
    route: str
    model_name: str
    model_version: str
    texts: Sequence[str]
    predictions: Sequence[Sequence[dict[str, Any]]]
    """Per description, ``[{"nace": "5610A", "probability": 0.93}, ...]`` in rank order."""
    latency_ms: float
    timestamp: datetime = field(default_factory=now_utc)
    simulated: bool = False

    def records(
        self, policy: TextPolicy, count_words: WordCounter | None = None
    ) -> list[dict[str, Any]]:
        """One record per description, in the batch's order."""
        stamp = iso_utc(self.timestamp)
        size = len(self.texts)
        records = []
        for position, (text, ranked) in enumerate(zip(self.texts, self.predictions, strict=True)):
            words, unknown = count_words(text) if count_words else (None, None)
            records.append(
                {
                    "schema": SCHEMA,
                    "event": Event.PREDICTION.value,
                    "timestamp": stamp,
                    "request_id": self.request_id,
                    "route": self.route,
                    "model_name": self.model_name,
                    "model_version": self.model_version,
                    "position": position,
                    "batch_size": size,
                    "text_policy": policy.value,
                    "text": logged_text(text, policy),
                    "text_chars": len(text),
                    "words": words,
                    "unknown_words": unknown,
                    "predictions": [
                        {"nace": p["nace"], "probability": round(float(p["probability"]), 6)}
                        for p in ranked
                    ],
                    "latency_ms": round(self.latency_ms, 3),
                    "simulated": self.simulated,
                }
            )
        return records


@dataclass(frozen=True)
class Refused:
    """One request the API answered with an error: why, never the body."""

    request_id: str
    route: str
    status: int
    reason: str
    model_name: str
    model_version: str
    latency_ms: float
    timestamp: datetime = field(default_factory=now_utc)
    simulated: bool = False

    def records(
        self, policy: TextPolicy, count_words: WordCounter | None = None
    ) -> list[dict[str, Any]]:
        """The one record of this refusal (same signature as :meth:`Served.records`)."""
        return [
            {
                "schema": SCHEMA,
                "event": Event.REFUSED.value,
                "timestamp": iso_utc(self.timestamp),
                "request_id": self.request_id,
                "route": self.route,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "status": self.status,
                "reason": self.reason[:REASON_CHARS],
                "latency_ms": round(self.latency_ms, 3),
                "simulated": self.simulated,
            }
        ]


REASON_CHARS = 300
"""A refusal's reason is the API's own message, cut: it never grows with the input."""


def json_line(record: dict[str, Any]) -> str:
    """One record as one line: UTF-8 as is (French reads as French), no spaces, newline-ended.

    ``json.dumps`` escapes every newline inside a string, so a description can
    never split a record over two lines.
    """
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
