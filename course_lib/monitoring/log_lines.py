"""What the ETL makes of one line of a prediction log: a row, or a reject of a named kind.

The rules live here once, as data, and two readers apply them: the DuckDB
path the ETL runs (:mod:`course_lib.monitoring.log_parsing`) and the plain
Python one it is benchmarked against (:mod:`course_lib.monitoring.etl_baseline`).
A test feeds both every kind of line and expects the same rows.

Kinds of rejected lines, checked in this order:

``too_long``
    more than :data:`MAX_LINE_BYTES` bytes (the ETL's copy of the line is cut
    just past the limit while it is read, so a hostile line never sits whole
    in memory).
``blank``
    empty, or only spaces, tabs and carriage returns.
``truncated``
    a JSON object cut off: not valid JSON, starts with ``{`` and either opens
    more objects or lists than it closes (``{`` and ``[`` counted against
    ``}`` and ``]``, quoted ones included), or is the last line of a file and
    has no newline (a crash mid-write), or is followed on the same line by the
    start of another of our records (the writer restarted and appended after
    the cut; that record is read on its own).
``malformed``
    starts like JSON (``{`` or ``[``) but is not valid JSON, and is not cut off.
``foreign``
    not one of our records: valid JSON without ``"schema": "nace-api-log/1"``,
    or text that is not JSON at all (uvicorn's access log, a traceback).
``invalid``
    one of our records with a field missing or of the wrong type or range
    (a probability that is not a number from 0 to 1, a position that is not a
    whole number, an event other than ``prediction``/``refused``...).

A line in progress (no newline yet at the end of a file still being written)
is not a reject: the ETL leaves it for its next run.

Field rules (:data:`PREDICTION_FIELDS`, :data:`REFUSED_FIELDS`): a field is a
JSON string, whole number, number, boolean or timestamp; required fields
must be present and not null, optional ones may be missing or null; numbers
are finite; a timestamp is ISO 8601 with seconds and an offset
(``2026-11-30T09:15:02.123Z``), from 1900 to 2099.  ``predictions`` must be a
list of ``{"nace": string, "probability": number from 0 to 1}``; the first
:data:`~course_lib.monitoring.datasets.RANKS` fill ``prediction_k``/``proba_k``.
Unknown keys are ignored (a later writer may add some); when a key appears
twice the first one counts (DuckDB's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from course_lib.monitoring.datasets import PARTITION, PREDICTION_COLUMNS, REFUSED_COLUMNS
from course_lib.serving.log_records import SCHEMA

MAX_LINE_BYTES = 1_000_000
"""Longest line read (1 MB): the API cuts descriptions far below this."""
REJECT_TEXT_CHARS = 1_000
"""Characters of a rejected line kept in the rejects file."""
RECORD_OPENING = '{"schema":"' + SCHEMA + '"'
"""How every line our writer produces begins (``json_line``: compact, schema first).
Inside a JSON string a quote is always escaped, so this text can only appear
where a record starts: two of them on one line mean a record was cut off."""
WHITESPACE = " \t\r"
"""What a blank line may hold (JSON's whitespace; the newline separates lines)."""
TIMESTAMP_PATTERN = (
    r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
"""ISO 8601 as the API writes it, with the offset required: a timestamp without
one cannot be put on a UTC day.  ``[0-9]`` rather than ``\\d``, which matches
other scripts' digits in Python."""
INT32_MAX = 2**31 - 1


class Reject(StrEnum):
    """Why a line was set aside (see the module's docstring for each rule)."""

    TOO_LONG = "too_long"
    BLANK = "blank"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    FOREIGN = "foreign"
    INVALID = "invalid"


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Field:
    """One key of a record: its JSON kind, whether it must be there, its range."""

    name: str
    kind: Kind
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    non_empty: bool = False


def _int(name: str, required: bool = False, minimum: int = 0) -> Field:
    return Field(name, Kind.INTEGER, required, minimum, INT32_MAX)


def _text(name: str, required: bool = False) -> Field:
    return Field(name, Kind.STRING, required, non_empty=required)


_COMMON_HEAD = (
    Field("timestamp", Kind.TIMESTAMP, required=True),
    Field("request_id", Kind.STRING, required=True, non_empty=True),
)
_COMMON_TAIL = (
    Field("latency_ms", Kind.NUMBER, minimum=0.0),
    Field("simulated", Kind.BOOLEAN),
)

PREDICTION_FIELDS: tuple[Field, ...] = (
    *_COMMON_HEAD,
    _int("position", required=True),
    _int("batch_size", minimum=1),
    _text("route"),
    _text("model_name"),
    _text("model_version"),
    _text("text"),
    _text("text_policy"),
    _int("text_chars"),
    _int("words"),
    _int("unknown_words"),
    *_COMMON_TAIL,
)
"""The scalar fields of a ``prediction`` record (``predictions`` is checked apart)."""

REFUSED_FIELDS: tuple[Field, ...] = (
    *_COMMON_HEAD,
    _text("route"),
    _text("model_name"),
    _text("model_version"),
    Field("status", Kind.INTEGER, required=True, minimum=100, maximum=599),
    _text("reason"),
    *_COMMON_TAIL,
)

RANKED = "predictions"
"""The list of ranked codes; required in a ``prediction`` record (it may be empty)."""
RANK_CODE = Field("nace", Kind.STRING, required=True)
RANK_PROBABILITY = Field("probability", Kind.NUMBER, required=True, minimum=0.0, maximum=1.0)
REJECT_COLUMNS: dict[str, str] = {
    "file": "VARCHAR",
    "line": "BIGINT",
    "kind": "VARCHAR",
    "text": "VARCHAR",
}
"""A rejected line as reported: where it was, why, and its first characters."""


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of a dataset's rows (DuckDB types as the parquet files hold them)."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns.items()])


_ARROW = {
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
PREDICTION_ROWS = arrow_schema({**PREDICTION_COLUMNS, PARTITION: "VARCHAR"})
"""A parsed prediction: the dataset's columns, then its UTC day (``YYYY-MM-DD``)."""
REFUSED_ROWS = arrow_schema({**REFUSED_COLUMNS, PARTITION: "VARCHAR"})
REJECT_ROWS = arrow_schema(REJECT_COLUMNS)


@dataclass(frozen=True)
class ParsedLogs:
    """What a reader made of some log files: rows of each dataset and the lines set aside.

    Rows come in no particular order; compare them sorted by their key.
    """

    predictions: pa.Table
    refused: pa.Table
    rejects: pa.Table

    def reject_counts(self) -> dict[str, int]:
        """Rejected lines per kind (kinds with none left out)."""
        kinds = self.rejects.column("kind").to_pylist()
        return {kind.value: kinds.count(kind.value) for kind in Reject if kind.value in kinds}
