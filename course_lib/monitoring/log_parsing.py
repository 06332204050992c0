"""Log lines to typed rows in DuckDB SQL: read as text, classify, then parse the good ones.

Why this shape:

- Files are read whole as text (``read_text``) and split on newlines in SQL,
  so every line keeps its number and one bad line never makes a JSON reader
  reject its file.  The ETL hands over its staged copies, which are valid
  UTF-8 with no line longer than the limit (see :mod:`.log_staging`).
- Each valid line is parsed once (``from_json``) into a struct whose leaves
  are left as JSON text: the first character tells a string from a number
  from a boolean, so ``"probability": "0.9"`` is refused rather than quietly
  converted (``from_json`` with SQL types would cast it).  That single parse
  is most of the cost: 1,000,000 lines take seconds, against a minute for
  ``json.loads`` and ``pandas.json_normalize``
  (:mod:`.etl_baseline`, the same rules in Python).
- The rules themselves (fields, kinds, ranges) are data in :mod:`.log_lines`;
  this module only turns them into SQL.

Two DuckDB leniencies remain and are documented rather than fought: its
JSON reader accepts trailing commas (``[1,]``) and any nesting depth, where
Python's refuses them; our writer produces neither.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

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

LINES = "log_lines"
"""The raw lines: ``file_index, line, piece, text, unterminated, cut``."""
RECORDS = "log_records"
"""Table of classified lines: ``file_index, line, piece, unterminated``, ``kind`` (NULL
when good), ``event``, every typed column and ``line_text`` (rejects only)."""
FILES = "log_files"
"""Table of the files read: ``file_index, file`` (the name reported)."""


@dataclass(frozen=True)
class Piece:
    """A local UTF-8 file of whole lines: log file ``file_index`` from line ``first_line``."""

    path: str
    file_index: int
    first_line: int = 1


def connect(memory_limit: str | None = None, temp_directory: Path | None = None):
    """A DuckDB connection for the ETL: UTC, no extension ever downloaded, no progress bar."""
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET TimeZone = 'UTC'")
    # Status lines are ours to print. In Jupyter without ipywidgets DuckDB refuses to
    # touch the setting at all (and draws no bar there anyway): carry on.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    return con


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_BLANK_CLASS = "[" + WHITESPACE.replace("\t", "\\t").replace("\r", "\\r") + "]"
_NOT_BLANK = "[^" + _BLANK_CLASS[1:]
_STARTS_OBJECT = "^" + _BLANK_CLASS + "*\\{"
_STARTS_ARRAY = "^" + _BLANK_CLASS + "*\\["


def _unclosed(text: str) -> str:
    """SQL: ``text`` opens more objects or lists than it closes (quoted ones included)."""

    def count(char: str) -> str:
        return f"(strlen({text}) - strlen(replace({text}, '{char}', '')))"

    return f"({count('{')} > {count('}')} OR {count('[')} > {count(']')})"


def _typed(leaf: str, kind: Kind) -> str:
    """SQL: the value of the JSON text ``leaf`` when it is of ``kind``, else NULL.

    ``leaf`` is a value as DuckDB's JSON reader writes it back: a string keeps
    its quotes, a number is digits (``.``/``e`` when not whole), or ``NaN``
    and ``Infinity``, which the range checks refuse as not finite.
    """
    if kind is Kind.STRING:
        return f"CASE WHEN starts_with({leaf}, '\"') THEN json_extract_string({leaf}, '$') END"
    if kind is Kind.TIMESTAMP:
        text = _typed(leaf, Kind.STRING)
        return (
            f"CASE WHEN regexp_full_match({text}, {_quote(TIMESTAMP_PATTERN)}) "
            f"THEN TRY_CAST({text} AS TIMESTAMPTZ) END"
        )
    if kind is Kind.INTEGER:
        fractional = f"contains({leaf}, '.') OR contains({leaf}, 'e') OR contains({leaf}, 'E')"
        return f"CASE WHEN NOT ({fractional}) THEN TRY_CAST({leaf} AS BIGINT) END"
    if kind is Kind.NUMBER:
        return f"TRY_CAST({leaf} AS DOUBLE)"
    return f"CASE WHEN {leaf} IN ('true', 'false') THEN {leaf} = 'true' END"


def _in_range(value: str, field: Field) -> str:
    """SQL: the typed ``value`` (not NULL) is acceptable for ``field``."""
    checks = ["true"]
    if field.kind is Kind.NUMBER:
        checks.append(f"isfinite({value})")
    if field.minimum is not None:
        checks.append(f"{value} >= {field.minimum!r}")
    if field.maximum is not None:
        checks.append(f"{value} <= {field.maximum!r}")
    if field.non_empty:
        checks.append(f"{value} <> ''")
    return " AND ".join(checks)


def _field_ok(field: Field) -> str:
    """SQL: the field is absent and optional, or of its kind and in its range."""
    absent = "false" if field.required else "true"
    leaf, value = _leaf(field.name), field.name
    return (
        f"(CASE WHEN {leaf} IS NULL THEN {absent} "
        f"ELSE coalesce({value} IS NOT NULL AND {_in_range(value, field)}, false) END)"
    )


def _leaf(name: str) -> str:
    return f"j_{name}"


def _all_fields() -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for field in (*PREDICTION_FIELDS, *REFUSED_FIELDS):
        fields.setdefault(field.name, field)
    return fields


def _structure() -> str:
    """from_json's target: every key we read, each left as JSON text."""
    shape: dict[str, object] = {"schema": "JSON", "event": "JSON"}
    shape.update({name: "JSON" for name in _all_fields()})
    shape[RANKED] = [{RANK_CODE.name: "JSON", RANK_PROBABILITY.name: "JSON"}]
    return json.dumps(shape)


def _ranks() -> str:
    """SQL: the ranked codes as a list of typed ``{nace, probability}`` (NULL fields when wrong)."""
    code = _typed(f"CAST(x.{RANK_CODE.name} AS VARCHAR)", RANK_CODE.kind)
    probability = _typed(f"CAST(x.{RANK_PROBABILITY.name} AS VARCHAR)", RANK_PROBABILITY.kind)
    return (
        f"list_transform(ranked, lambda x: "
        f"{{'{RANK_CODE.name}': {code}, '{RANK_PROBABILITY.name}': {probability}}})"
    )


def _ranks_ok() -> str:
    code, probability = (f"x.{RANK_CODE.name}", f"x.{RANK_PROBABILITY.name}")
    item = (
        f"{code} IS NOT NULL AND {_in_range(code, RANK_CODE)} AND {probability} IS NOT NULL "
        f"AND {_in_range(probability, RANK_PROBABILITY)}"
    )
    every = f"list_bool_and(list_transform(ranks, lambda x: coalesce({item}, false)))"
    return f"(ranks IS NOT NULL AND coalesce({every}, true))"


def records_sql(source: str, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    """SQL selecting one row per line of ``source`` (see :data:`RECORDS`).

    ``source`` has ``file_index, line, piece, text, unterminated, cut``;
    ``cut`` marks a fragment followed by another record on its line.
    """
    opening = _quote(RECORD_OPENING)
    fields = _all_fields()
    leaves = ",\n        ".join(
        f"CAST(r.{name} AS VARCHAR) AS {_leaf(name)}" for name in ["schema", "event", *fields]
    )
    values = ",\n        ".join(
        f"{_typed(_leaf(name), field.kind)} AS {name}" for name, field in fields.items()
    )
    ranks = ",\n      ".join(
        f"ranks[{k}].{RANK_CODE.name} AS prediction_{k}, "
        f"ranks[{k}].{RANK_PROBABILITY.name} AS proba_{k}"
        for k in range(1, RANKS + 1)
    )
    prediction_ok = " AND ".join([*(_field_ok(f) for f in PREDICTION_FIELDS), _ranks_ok()])
    refused_ok = " AND ".join(_field_ok(f) for f in REFUSED_FIELDS)
    dropped = ", ".join(["raw", "cut", "text_kind", "ours", "ranks", *map(_leaf, fields)])
    return f"""
    WITH measured AS (
      SELECT file_index, line, piece, text AS raw, unterminated, cut,
             strlen(text) > {max_line_bytes} AS too_long,
             CASE WHEN starts_with(text, '{{') THEN true
                  ELSE regexp_matches(text, {_quote(_STARTS_OBJECT)}) END AS object
      FROM {source}
    ), parsed AS (
      -- One parse per line: try() is NULL when the object is not valid JSON.
      SELECT *, CASE WHEN object AND NOT too_long THEN try(from_json(raw, {_quote(_structure())}))
                END AS r
      FROM measured
    ), textual AS (
      SELECT * EXCLUDE (object),
        CASE
          WHEN too_long THEN '{Reject.TOO_LONG}'
          WHEN r IS NOT NULL THEN NULL
          WHEN object THEN
            CASE WHEN cut OR unterminated OR {_unclosed("raw")}
                 THEN '{Reject.TRUNCATED}' ELSE '{Reject.MALFORMED}' END
          WHEN NOT regexp_matches(raw, {_quote(_NOT_BLANK)}) THEN '{Reject.BLANK}'
          WHEN regexp_matches(raw, {_quote(_STARTS_ARRAY)}) AND NOT json_valid(raw)
            THEN '{Reject.MALFORMED}'
          ELSE '{Reject.FOREIGN}'
        END AS text_kind,
        CASE
          WHEN too_long OR r IS NOT NULL THEN false
          WHEN object THEN strpos(raw[2:], {opening}) > 0
          ELSE strpos(raw, {opening}) > 0 AND NOT json_valid(raw)
        END AS several
      FROM parsed
    ), leaves AS (
      SELECT * EXCLUDE (r), r.{RANKED} AS ranked,
        {leaves}
      FROM textual
    ), typed AS (
      SELECT file_index, line, piece, raw, unterminated, cut, text_kind, several,
        coalesce(starts_with(j_schema, '"')
                 AND json_extract_string(j_schema, '$') = {_quote(SCHEMA)}, false) AS ours,
        {_typed(_leaf("event"), Kind.STRING)} AS event,
        {values},
        {_ranks()} AS ranks,
        {", ".join(_leaf(name) for name in fields)}
      FROM leaves
    ), judged AS (
      SELECT *,
        CASE
          WHEN text_kind IS NOT NULL THEN text_kind
          WHEN NOT ours THEN '{Reject.FOREIGN}'
          WHEN event = 'prediction' THEN
            CASE WHEN {prediction_ok} THEN NULL ELSE '{Reject.INVALID}' END
          WHEN event = 'refused' THEN
            CASE WHEN {refused_ok} THEN NULL ELSE '{Reject.INVALID}' END
          ELSE '{Reject.INVALID}'
        END AS kind
      FROM typed
    )
    SELECT * EXCLUDE ({dropped}),
      {ranks},
      CASE WHEN several THEN raw WHEN kind IS NOT NULL THEN left(raw, {REJECT_TEXT_CHARS}) END
        AS line_text
    FROM judged
    """


def _fragments_sql() -> str:
    """SQL: the records of lines holding several (``several``), one row per fragment."""
    opening = _quote(RECORD_OPENING)
    return f"""
    SELECT file_index, line, k AS piece,
           CASE WHEN k = 1 THEN part ELSE {opening} || part END AS text,
           unterminated AND k = n AS unterminated, k = 1 AS cut
    FROM (SELECT file_index, line, unterminated, len(parts) AS n,
                 generate_subscripts(parts, 1) AS k, unnest(parts) AS part
          FROM (SELECT *, string_split(line_text, {opening}) AS parts
                FROM {RECORDS} WHERE several))
    WHERE k > 1 OR regexp_matches(part, {_quote(_NOT_BLANK)})
    """


def load_lines(con, pieces: Sequence[Piece], names: Sequence[str]) -> None:
    """Create :data:`LINES` from the staged ``pieces`` and :data:`FILES` from ``names``
    (``names[file_index]`` is what a reject reports as its file).

    A file is split into lines by one thread.  With at least two pieces per
    thread, the lines stream into the parse (a view); with fewer, say one
    big file, they are stored first (a table) so that every thread parses.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {FILES} (file_index INTEGER, file VARCHAR)")
    con.executemany(f"INSERT INTO {FILES} VALUES (?, ?)", list(enumerate(names)))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE log_pieces "
        "(path VARCHAR, file_index INTEGER, first_line BIGINT)"
    )
    con.executemany(
        "INSERT INTO log_pieces VALUES (?, ?, ?)",
        [(p.path, p.file_index, p.first_line) for p in pieces],
    )
    if not pieces:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {LINES} AS SELECT 0 AS file_index, 0::BIGINT AS line, "
            "0 AS piece, ''::VARCHAR AS text, false AS unterminated, false AS cut WHERE false"
        )
        return
    paths = "[" + ", ".join(_quote(p.path) for p in pieces) + "]"
    [(threads,)] = con.execute("SELECT current_setting('threads')").fetchall()
    kind = "VIEW" if len(pieces) >= 2 * int(threads) else "TABLE"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP {kind} {LINES} AS
        WITH content AS (
          SELECT m.file_index, m.first_line, string_split(t.content, chr(10)) AS parts,
                 ends_with(t.content, chr(10)) AS terminated
          FROM read_text({paths}) t JOIN log_pieces m ON t.filename = m.path
          WHERE t.content <> ''
        ), numbered AS (
          SELECT file_index, first_line, terminated, len(parts) AS n,
                 generate_subscripts(parts, 1) AS k, unnest(parts) AS text
          FROM content
        )
        SELECT file_index, first_line + k - 1 AS line, 0 AS piece, text,
               (k = n AND NOT terminated) AS unterminated, false AS cut
        FROM numbered
        WHERE NOT (terminated AND k = n)
        """
    )


def classify(con, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """Create :data:`RECORDS` from :data:`LINES`: every line classified, good ones typed.

    A line holding several records (rare: a writer that restarted after a
    cut) is classified as a whole first, then replaced by its fragments.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS} AS {records_sql(LINES, max_line_bytes)}")
    [(several,)] = con.execute(f"SELECT count(*) FROM {RECORDS} WHERE several").fetchall()
    if several:
        con.execute(f"CREATE OR REPLACE TEMP TABLE log_fragments AS {_fragments_sql()}")
        con.execute(f"DELETE FROM {RECORDS} WHERE several")
        con.execute(f"INSERT INTO {RECORDS} {records_sql('log_fragments', max_line_bytes)}")


def prediction_rows_sql(source: str = RECORDS) -> str:
    """SQL: the good predictions of ``source`` with the dataset's columns, then the day."""
    return _rows_sql(source, "prediction", PREDICTION_COLUMNS)


def refused_rows_sql(source: str = RECORDS) -> str:
    return _rows_sql(source, "refused", REFUSED_COLUMNS)


def _rows_sql(source: str, event: str, columns: dict[str, str]) -> str:
    typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in columns.items())
    return (
        f"SELECT {typed}, strftime(timestamp, '%Y-%m-%d') AS {PARTITION} "
        f"FROM {source} WHERE kind IS NULL AND event = '{event}'"
    )


def rejects_sql(source: str = RECORDS) -> str:
    """SQL: the rejected lines (file, line, kind, first characters), in file and line order."""
    return (
        f"SELECT f.file, r.line, r.kind, left(r.line_text, {REJECT_TEXT_CHARS}) AS text "
        f"FROM {source} r JOIN {FILES} f USING (file_index) "
        "WHERE r.kind IS NOT NULL ORDER BY r.file_index, r.line, r.piece"
    )


def parse_lines_duckdb(
    paths: Sequence[str | Path], max_line_bytes: int = MAX_LINE_BYTES
) -> ParsedLogs:
    """Every line of the UTF-8 files ``paths`` as rows and rejects (the benchmark's entry point).

    Lines are numbered from 1 in each file; the last line of a file without
    a newline is taken as finished (the ETL leaves in-progress lines out
    before it gets here).
    """
    con = connect()
    try:
        names = [str(p) for p in paths]
        load_lines(con, [Piece(name, index) for index, name in enumerate(names)], names)
        classify(con, max_line_bytes)
        return ParsedLogs(
            predictions=con.sql(prediction_rows_sql()).to_arrow_table().cast(PREDICTION_ROWS),
            refused=con.sql(refused_rows_sql()).to_arrow_table().cast(REFUSED_ROWS),
            rejects=con.sql(rejects_sql()).to_arrow_table().cast(REJECT_ROWS),
        )
    finally:
        con.close()


def convert_logs_duckdb(
    paths: Sequence[str | Path], out_dir: Path | str, max_line_bytes: int = MAX_LINE_BYTES
) -> dict[str, int]:
    """Parse the UTF-8 files ``paths`` and write both datasets under ``out_dir`` by day,
    all in DuckDB; rows written per dataset and lines rejected (the benchmark's full path)."""
    con = connect()
    try:
        names = [str(p) for p in paths]
        load_lines(con, [Piece(name, index) for index, name in enumerate(names)], names)
        classify(con, max_line_bytes)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        counts = {}
        for name, sql in (("predictions", prediction_rows_sql()), ("refused", refused_rows_sql())):
            counts[name] = con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
            if counts[name]:
                target = _quote(str(Path(out_dir) / name))
                con.execute(
                    f"COPY ({sql}) TO {target} (FORMAT parquet, PARTITION_BY ({PARTITION}), "
                    "OVERWRITE_OR_IGNORE)"
                )
        counts["rejects"] = con.execute(
            f"SELECT count(*) FROM {RECORDS} WHERE kind IS NOT NULL"
        ).fetchall()[0][0]
        return counts
    finally:
        con.close()
