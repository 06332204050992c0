"""The straightforward ETL in plain Python, kept as the yardstick for the DuckDB one.

``json.loads`` on each line, the same rules (:mod:`.log_lines`) in Python,
``pandas.json_normalize`` on the good records, ``DataFrame.to_parquet`` by
day: what most people would write first.  It gives the same rows and the
same rejects as :func:`course_lib.monitoring.log_parsing.parse_lines_duckdb`
(a test checks it on every kind of line), about ten times slower on a
million lines, and it holds every record in memory as Python objects.

It differs from DuckDB's JSON reader only on JSON no writer of ours
produces: DuckDB accepts trailing commas, ``nan``/``inf`` spelt in lower
case and any nesting depth, where ``json.loads`` refuses them, so such a line
is ``invalid`` or ``foreign`` on one side and ``malformed`` on the other.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from course_lib.monitoring.datasets import PARTITION, PREDICTION_COLUMNS, RANKS, REFUSED_COLUMNS
from course_lib.monitoring.log_lines import (
    MAX_LINE_BYTES,
    PREDICTION_FIELDS,
    PREDICTION_ROWS,
    RANK_CODE,
    RANK_PROBABILITY,
    RANKED,
    RECORD_OPENING,
    REFUSED_FIELDS,
    REFUSED_ROWS,
    REJECT_ROWS,
    REJECT_TEXT_CHARS,
    SCHEMA,
    TIMESTAMP_PATTERN,
    WHITESPACE,
    Field,
    Kind,
    ParsedLogs,
    Reject,
)

_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)
_MISSING = object()


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object where a repeated key keeps its first value, as DuckDB does."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


def _load(text: str) -> Any:
    """The JSON value of ``text``, or ``_MISSING`` when it is not valid JSON."""
    try:
        value = json.loads(text, object_pairs_hook=_first_wins)
    except (ValueError, RecursionError):
        return _MISSING
    if _SURROGATE_ESCAPE.search(text):  # "\ud800" alone: Python accepts it, UTF-8 cannot hold it
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return _MISSING
    return value


def _value(value: Any, field: Field) -> tuple[bool, Any]:
    """(acceptable, typed value) of one field, by the rules of :mod:`.log_lines`."""
    if value is None:
        return not field.required, None
    kind = field.kind
    if kind is Kind.STRING:
        ok = isinstance(value, str) and not (field.non_empty and value == "")
        return ok, value
    if kind is Kind.TIMESTAMP:
        if not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
            return False, None
        try:
            return True, datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return False, None
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool), value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False, None
    if kind is Kind.INTEGER and not isinstance(value, int):
        return False, None
    try:
        number = float(value)
    except OverflowError:
        return False, None
    if not math.isfinite(number):
        return False, None
    if field.minimum is not None and number < field.minimum:
        return False, None
    if field.maximum is not None and number > field.maximum:
        return False, None
    return True, value if kind is Kind.INTEGER else number


def _fields(record: dict[str, Any], fields: Sequence[Field]) -> dict[str, Any] | None:
    row = {}
    for field in fields:
        ok, value = _value(record.get(field.name), field)
        if not ok:
            return None
        row[field.name] = value
    return row


def _ranks(ranked: Any) -> dict[str, Any] | None:
    if not isinstance(ranked, list):
        return None
    row: dict[str, Any] = {}
    for rank, item in enumerate(ranked, start=1):
        if not isinstance(item, dict):
            return None
        code_ok, code = _value(item.get(RANK_CODE.name), RANK_CODE)
        probability_ok, probability = _value(item.get(RANK_PROBABILITY.name), RANK_PROBABILITY)
        if not (code_ok and probability_ok):
            return None
        if rank <= RANKS:
            row[f"prediction_{rank}"], row[f"proba_{rank}"] = code, probability
    return row


def _textual_kind(text: str, unterminated: bool, cut: bool) -> Reject:
    """Why a line that is not valid JSON is rejected."""
    if not text.strip(WHITESPACE):
        return Reject.BLANK
    start = text.lstrip(WHITESPACE)
    if start.startswith("{"):
        unclosed = text.count("{") > text.count("}") or text.count("[") > text.count("]")
        return Reject.TRUNCATED if cut or unterminated or unclosed else Reject.MALFORMED
    return Reject.MALFORMED if start.startswith("[") else Reject.FOREIGN


def _pieces(text: str, unterminated: bool) -> list[tuple[str, bool, bool, Any]]:
    """(text, unterminated, cut, JSON value) of the records on one line (see RECORD_OPENING)."""
    value = _load(text)
    if value is not _MISSING or text.find(RECORD_OPENING, 1) < 0:
        return [(text, unterminated, False, value)]
    parts = text.split(RECORD_OPENING)
    pieces = []
    for index, part in enumerate(parts):
        if index == 0 and not part.strip(WHITESPACE):
            continue
        piece = part if index == 0 else RECORD_OPENING + part
        last = unterminated and index == len(parts) - 1
        pieces.append((piece, last, index == 0, _load(piece)))
    return pieces


def _classify(value: Any) -> tuple[str | None, dict[str, Any] | Reject]:
    """(event, record) of a valid JSON value of ours, or (None, why it is rejected)."""
    if not isinstance(value, dict) or value.get("schema") != SCHEMA:
        return None, Reject.FOREIGN
    event = value.get("event")
    if event == "prediction":
        fields, ranks = _fields(value, PREDICTION_FIELDS), _ranks(value.get(RANKED))
        if fields is not None and ranks is not None:
            return event, {**fields, RANKED: ranks}
    elif event == "refused":
        fields = _fields(value, REFUSED_FIELDS)
        if fields is not None:
            return event, fields
    return None, Reject.INVALID


def parse_lines_python(
    paths: Sequence[str | Path], max_line_bytes: int = MAX_LINE_BYTES
) -> ParsedLogs:
    """Every line of the UTF-8 files ``paths`` as rows and rejects, in plain Python."""
    records: dict[str, list[dict[str, Any]]] = {"prediction": [], "refused": []}
    rejects: list[dict[str, Any]] = []
    for path in paths:
        data = Path(path).read_bytes()
        if not data:
            continue
        lines = data.split(b"\n")
        terminated = data.endswith(b"\n")
        if terminated:
            lines.pop()
        for number, raw in enumerate(lines, start=1):
            text = raw.decode("utf-8", "replace")
            unterminated = number == len(lines) and not terminated

            def reject(kind: Reject, line: str, where: tuple[str, int] = (str(path), number)):
                rejects.append(
                    {"file": where[0], "line": where[1], "kind": kind.value,
                     "text": line[:REJECT_TEXT_CHARS]}
                )  # fmt: skip

            if len(raw) > max_line_bytes:
                reject(Reject.TOO_LONG, text)
                continue
            for piece, last, cut, value in _pieces(text, unterminated):
                if value is _MISSING:
                    reject(_textual_kind(piece, last, cut), piece)
                    continue
                event, record = _classify(value)
                if event is None:
                    reject(record, piece)
                else:
                    records[event].append(record)
    return ParsedLogs(
        predictions=_table(records["prediction"], PREDICTION_COLUMNS, PREDICTION_ROWS),
        refused=_table(records["refused"], REFUSED_COLUMNS, REFUSED_ROWS),
        rejects=pa.Table.from_pylist(rejects, schema=REJECT_ROWS),
    )


def _table(records: list[dict[str, Any]], columns: dict[str, str], schema: pa.Schema) -> pa.Table:
    """The records flattened by ``pandas.json_normalize``, in the dataset's columns."""
    if not records:
        return schema.empty_table()
    frame = pd.json_normalize(records, max_level=1)
    frame = frame.rename(columns=lambda name: name.removeprefix(f"{RANKED}."))
    frame = frame.reindex(columns=list(columns))
    frame[PARTITION] = frame["timestamp"].map(lambda moment: moment.strftime("%Y-%m-%d"))
    data = {name: _column(frame[name].tolist(), schema.field(name).type) for name in schema.names}
    return pa.Table.from_pydict(data, schema=schema)


def _column(values: list[Any], kind: pa.DataType) -> list[Any]:
    """pandas' missing values (NaN, NaT) as None, and whole numbers back from floats."""
    whole = pa.types.is_integer(kind)
    return [None if pd.isna(v) else int(v) if whole else v for v in values]


def write_parquet_python(parsed: ParsedLogs, out_dir: Path | str) -> None:
    """Both datasets under ``out_dir``, one folder per day (``DataFrame.to_parquet``)."""
    for name, table in (("predictions", parsed.predictions), ("refused", parsed.refused)):
        if table.num_rows:
            table.to_pandas().to_parquet(Path(out_dir) / name, partition_cols=[PARTITION])


def convert_logs_python(
    paths: Sequence[str | Path], out_dir: Path | str, max_line_bytes: int = MAX_LINE_BYTES
) -> dict[str, int]:
    """:func:`parse_lines_python` then :func:`write_parquet_python`; rows and rejects counted."""
    parsed = parse_lines_python(paths, max_line_bytes)
    write_parquet_python(parsed, out_dir)
    return {
        "predictions": parsed.predictions.num_rows,
        "refused": parsed.refused.num_rows,
        "rejects": parsed.rejects.num_rows,
    }
