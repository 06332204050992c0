"""The monitoring queries: plain SQL over the parsed prediction logs, run by DuckDB.

Every query reads two tables, ``predictions`` and ``refused`` (the parquet
datasets of :mod:`course_lib.monitoring.datasets`, one row per description
classified and one per request refused), and ``naf``, the nomenclature
(``code``, ``section``, ``label``), so that each one reads like the question it
answers::

    SELECT count(*) FILTER (WHERE proba_1 > 0.8) / count(*) AS share
    FROM predictions

:func:`run` opens a fresh in-memory DuckDB connection per call (DuckDB
connections are not shared between threads; a new one costs about a
millisecond), bounded in threads and memory, and makes those three tables
views over the files.  A dataset with no file yet is an empty table with the
right columns, so every query answers "nothing" (zero rows, a count of 0)
instead of DuckDB's "No files found".

Values that change (the confidence cut, the number of codes) are named
parameters (``$high_confidence``) with defaults from
:mod:`course_lib.monitoring.thresholds`; :func:`run` fills them.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from course_lib import settings
from course_lib.data.nomenclature import load_nomenclature
from course_lib.data.reading import storage_options
from course_lib.errors import CourseError
from course_lib.monitoring import thresholds
from course_lib.monitoring.datasets import (
    PARTITION,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    REFUSED,
    REFUSED_COLUMNS,
    dataset_glob,
)

THREADS = 2
"""DuckDB threads per query: the dashboard's queries are small aggregations, and the
API or the ETL may be running on the same machine."""
MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit per connection; beyond it, it spills to a private temporary
folder (removed after the query) up to :data:`SPILL_LIMIT`, then fails cleanly."""
SPILL_LIMIT = "4GB"
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Query:
    """One named query: what it answers in plain words, and its SQL."""

    name: str
    doc: str
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    """Default values of the query's ``$named`` parameters."""

    def __str__(self) -> str:
        return self.sql


PREDICTION_COUNT = Query(
    "prediction_count",
    "How many descriptions the API classified: a batch of 500 descriptions counts 500.",
    """
    SELECT count(*) AS predictions
    FROM predictions
    """,
)

HIGH_CONFIDENCE_SHARE = Query(
    "high_confidence_share",
    """Share of predictions whose top probability is above 0.8.

    Over predictions (every description, ``count(*)``), not over requests, and on
    the top-ranked code (``proba_1``): the other ranks' probabilities say how the
    rest of the answer is spread, not how sure the model is of its answer.  No
    prediction gives NaN (0 / 0), not 0 %.""",
    """
    SELECT count(*) FILTER (WHERE proba_1 > $high_confidence) / count(*) AS share
    FROM predictions
    """,
    {"high_confidence": thresholds.HIGH_CONFIDENCE},
)

OVERVIEW = Query(
    "overview",
    """The whole history in one row: predictions, requests, first and last day, and
    whether any of it is simulated traffic (``course traffic``).""",
    """
    SELECT count(*) AS predictions,
           count(DISTINCT request_id) AS requests,
           min(date) AS first_day,
           max(date) AS last_day,
           coalesce(bool_or(simulated), false) AS simulated
    FROM predictions
    """,
)

MODEL_VERSIONS = Query(
    "model_versions",
    "Which model name and version answered, on which days and how often.",
    """
    SELECT model_name, model_version,
           min(date) AS first_day, max(date) AS last_day,
           count(*) AS predictions
    FROM predictions
    GROUP BY model_name, model_version
    ORDER BY first_day, model_name, model_version
    """,
)

DAILY_MODELS = Query(
    "daily_models",
    "Per day, which model name and version answered and how many predictions each.",
    """
    SELECT date, model_name, model_version, count(*) AS predictions
    FROM predictions
    GROUP BY date, model_name, model_version
    ORDER BY date, model_name, model_version
    """,
)

DAILY_VOLUME = Query(
    "daily_volume",
    "Predictions and requests per day (a batch is one request and many predictions).",
    """
    SELECT date,
           count(*) AS predictions,
           count(DISTINCT request_id) AS requests
    FROM predictions
    GROUP BY date
    ORDER BY date
    """,
)

DAILY_HIGH_CONFIDENCE = Query(
    "daily_high_confidence",
    "Per day, the share of predictions whose top probability is above 0.8.",
    """
    SELECT date,
           count(*) AS predictions,
           count(*) FILTER (WHERE proba_1 > $high_confidence) / count(*) AS share
    FROM predictions
    GROUP BY date
    ORDER BY date
    """,
    {"high_confidence": thresholds.HIGH_CONFIDENCE},
)

LATENCY_SUMMARY = Query(
    "latency_summary",
    """Median and 99th percentile of the API's latency over the whole history, per request.

    A batch's latency is repeated on each of its descriptions' rows; taking it
    once per ``request_id`` keeps a batch of 500 from counting 500 times.""",
    """
    WITH requests AS (
        SELECT request_id, any_value(latency_ms) AS latency_ms
        FROM predictions
        GROUP BY request_id
    )
    SELECT count(*) AS requests,
           quantile_cont(latency_ms, 0.5) AS p50_ms,
           quantile_cont(latency_ms, 0.99) AS p99_ms
    FROM requests
    """,
)

DAILY_LATENCY = Query(
    "daily_latency",
    """Per day, the median (p50) and 99th percentile (p99) of the latency per request.

    One value per request, as in ``latency_summary``: the p99 is the latency that
    one request in a hundred exceeds, whatever the size of the batches.""",
    """
    WITH requests AS (
        SELECT date, request_id, any_value(latency_ms) AS latency_ms
        FROM predictions
        GROUP BY date, request_id
    )
    SELECT date,
           count(*) AS requests,
           quantile_cont(latency_ms, 0.5) AS p50_ms,
           quantile_cont(latency_ms, 0.99) AS p99_ms
    FROM requests
    GROUP BY date
    ORDER BY date
    """,
)

DAILY_REFUSED = Query(
    "daily_refused",
    "Refused requests per day and HTTP status (422 invalid, 413 too large, 503 not ready…).",
    """
    SELECT date, status, count(*) AS refused
    FROM refused
    GROUP BY date, status
    ORDER BY date, status
    """,
)

TOP_CODES = Query(
    "top_codes",
    """The codes predicted most often (top-ranked code), with their share and label.

    A code the nomenclature does not know keeps a null label rather than being
    dropped: a model that answers codes outside NAF rév. 2 is worth seeing.""",
    """
    SELECT prediction_1 AS code,
           naf.label AS label,
           count(*) AS predictions,
           count(*) / sum(count(*)) OVER () AS share
    FROM predictions
    LEFT JOIN naf ON naf.code = predictions.prediction_1
    GROUP BY prediction_1, naf.label
    ORDER BY predictions DESC, code
    LIMIT $limit
    """,
    {"limit": 15},
)

CONFIDENCE_HISTOGRAM = Query(
    "confidence_histogram",
    """How many predictions fall in each band of top probability (0–0.05, 0.05–0.1, …).

    The bands are computed in SQL, so the dashboard draws 20 bars, not every
    row; a probability of exactly 1 goes in the last band.""",
    """
    SELECT least(floor(proba_1 / $bin), 1 / $bin - 1) * $bin AS bin_start,
           count(*) AS predictions
    FROM predictions
    WHERE proba_1 IS NOT NULL
    GROUP BY bin_start
    ORDER BY bin_start
    """,
    {"bin": thresholds.CONFIDENCE_BIN},
)

DAILY_SECTION_MIX = Query(
    "daily_section_mix",
    """Per day, how many predictions fall in each section (A … U) of NAF rév. 2.

    The section is that of the top-ranked code; a code that is not a NAF
    subclass counts under ``?``.  The drift score compares these mixes.""",
    """
    SELECT date,
           coalesce(naf.section, '?') AS section,
           count(*) AS predictions
    FROM predictions
    LEFT JOIN naf ON naf.code = predictions.prediction_1
    GROUP BY date, section
    ORDER BY date, section
    """,
)

DAILY_INDICATORS = Query(
    "daily_indicators",
    """Per day, what the drift check compares with the reference week.

    ``low_confidence``: predictions whose top probability is under 0.5;
    ``typical_chars``: the descriptions' typical length, their geometric mean
    (``exp(avg(ln(chars)))``), which a single pasted page of text does not move
    the way it moves the plain average ``mean_chars``;
    ``unknown_share``: words the model never saw over all words (a ratio of sums,
    so a one-word description weighs one word, not as much as a long one).
    The sums (and sums of squares, ``_sq``) come along so that days can be pooled
    into the reference and the sampling noise of each indicator estimated.""",
    """
    SELECT date,
           count(*) AS predictions,
           count(*) FILTER (WHERE proba_1 < $low_confidence) AS low_confidence,
           count(*) FILTER (WHERE proba_1 < $low_confidence) / count(*) AS low_confidence_share,
           exp(avg(ln(greatest(text_chars, 1)))) AS typical_chars,
           avg(text_chars) AS mean_chars,
           avg(words) AS mean_words,
           sum(unknown_words) / sum(words) AS unknown_share,
           sum(ln(greatest(text_chars, 1))) AS log_chars,
           sum(ln(greatest(text_chars, 1)) ^ 2) AS log_chars_sq,
           sum(words) AS words,
           sum(unknown_words) AS unknown_words,
           sum(words * words::DOUBLE) AS words_sq,
           sum(unknown_words * unknown_words::DOUBLE) AS unknown_words_sq,
           sum(unknown_words * words::DOUBLE) AS unknown_x_words
    FROM predictions
    GROUP BY date
    ORDER BY date
    """,
    {"low_confidence": thresholds.LOW_CONFIDENCE},
)

QUERIES: dict[str, Query] = {
    query.name: query
    for query in (
        PREDICTION_COUNT,
        HIGH_CONFIDENCE_SHARE,
        OVERVIEW,
        MODEL_VERSIONS,
        DAILY_MODELS,
        DAILY_VOLUME,
        DAILY_HIGH_CONFIDENCE,
        LATENCY_SUMMARY,
        DAILY_LATENCY,
        DAILY_REFUSED,
        TOP_CODES,
        CONFIDENCE_HISTOGRAM,
        DAILY_SECTION_MIX,
        DAILY_INDICATORS,
    )
}
"""Every query by name, for the lab's checks and for ``run("daily_volume", root)``."""


def data_root(data: Path | str | None) -> Path | str:
    """Where the datasets are: a local folder (default: the state's monitoring folder) or an
    ``s3://bucket/prefix`` (kept as text: a Path would fold its ``//``)."""
    if data is None:
        return settings.monitoring_dir()
    text = str(data)
    return text.rstrip("/") if text.startswith("s3://") else Path(data)


def run(query: Query | str, root: Path | str, **params: Any) -> pd.DataFrame:
    """Run one query (a :class:`Query`, a name from :data:`QUERIES`, or SQL) on ``root``.

    ``root`` is the monitoring folder holding ``predictions/`` and ``refused/``,
    or the ``s3://bucket/prefix`` the ETL wrote them to (read through s3fs, with
    the endpoint of ``$AWS_S3_ENDPOINT``).  Keyword arguments fill ``$named``
    parameters over the query's defaults.  A damaged parquet file or SQL that
    does not run is a :class:`CourseError` that names the problem.
    """
    if isinstance(query, str):
        query = QUERIES.get(query) or Query("sql", "", query)
    root = data_root(root)
    if isinstance(root, Path) and root.exists() and not root.is_dir():
        raise CourseError(f"{root} is a file: give the folder the ETL writes (course etl --dest)")
    values = {**query.params, **params}
    named = set(_PARAMETER.findall(query.sql))
    missing = named - set(values)
    if missing:
        raise CourseError(f"query {query.name!r} needs a value for ${min(missing)}")
    used = {name: value for name, value in values.items() if name in named}
    with tempfile.TemporaryDirectory(prefix="course-duckdb-") as spill:
        connection = duckdb.connect(
            ":memory:",
            config={
                "threads": THREADS,
                "memory_limit": MEMORY_LIMIT,
                "temp_directory": spill,
                "max_temp_directory_size": SPILL_LIMIT,
            },
        )
        try:
            _attach(connection, root)
            return connection.execute(query.sql, used or None).df()
        except duckdb.Error as exc:
            raise CourseError(_explain(query, root, exc)) from None
        finally:
            connection.close()


def _attach(connection: duckdb.DuckDBPyConnection, root: Path | str) -> None:
    """Make ``predictions``, ``refused`` and ``naf`` tables of ``connection``."""
    remote = _s3(root, connection) if isinstance(root, str) else None
    for name, columns in ((PREDICTIONS, PREDICTION_COLUMNS), (REFUSED, REFUSED_COLUMNS)):
        if _has_files(root, name, remote):
            glob = dataset_glob(root, name).replace("'", "''")
            connection.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', "
                f"hive_partitioning = true, hive_types = {{'{PARTITION}': DATE}}, "
                "union_by_name = true)"
            )
        else:
            typed = ", ".join(f'"{column}" {kind}' for column, kind in columns.items())
            connection.execute(f'CREATE TABLE {name} ({typed}, "{PARTITION}" DATE)')
    connection.register("naf", _naf_table())


def _s3(url: str, connection: duckdb.DuckDBPyConnection) -> Any:
    """s3fs for ``url``, registered with DuckDB (its own httpfs would be downloaded at run
    time, which the course never does)."""
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options(url))
    connection.register_filesystem(fs)
    return fs


def _has_files(root: Path | str, name: str, remote: Any = None) -> bool:
    """Whether the dataset's glob matches a file: DuckDB raises on a glob that matches none."""
    if remote is not None:
        try:
            return bool(remote.glob(dataset_glob(root, name)))
        except Exception as exc:  # botocore, aiohttp, fsspec: their errors share no base
            raise CourseError(
                f"cannot list {root}/{name}: {type(exc).__name__}: {str(exc)[:200]}. "
                "Check the bucket, AWS_S3_ENDPOINT and the credentials."
            ) from None
    folder = Path(root) / name
    return folder.is_dir() and next(folder.glob("*/*.parquet"), None) is not None


@cache
def _naf_table() -> pd.DataFrame:
    """The nomenclature as a table: subclass ``code`` (compact), ``section``, ``label``."""
    naf = load_nomenclature()
    labels = naf.labels["label"]
    return pd.DataFrame(
        {
            "code": naf.subclasses.index,
            "section": naf.subclasses["section"].to_numpy(),
            "label": labels.reindex(naf.subclasses.index).to_numpy(),
        }
    )


def section_labels() -> dict[str, str]:
    """Section letter → its label ("H" → "Transports et entreposage"), for legends."""
    labels = load_nomenclature().labels
    sections = labels[labels["level"] == "section"]
    return {str(code): str(label) for code, label in sections["label"].items()}


def _explain(query: Query, root: Path | str, exc: duckdb.Error) -> str:
    """A DuckDB error as one message: the query, what broke, what to do."""
    text = str(exc).strip().splitlines()[0][:300]
    if isinstance(exc, duckdb.IOException | duckdb.InvalidInputException):
        return (
            f"query {query.name!r} could not read the datasets under {root}: {text}. "
            "A parquet file there is damaged or not parquet: delete that day's folder "
            "and run course etl again (it rebuilds from the logs)."
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return (
            f"query {query.name!r} needs more than {MEMORY_LIMIT} of memory and "
            f"{SPILL_LIMIT} of disk: {text}. Query fewer days (drop old date= folders)."
        )
    return f"query {query.name!r} failed: {text}"
