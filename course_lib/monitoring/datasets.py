"""The parquet datasets the ETL writes and everything after it reads: names, layout, columns.

Two datasets side by side under the monitoring folder, each partitioned by
day in the hive layout (``predictions/date=2026-11-30/part-….parquet``), so a
query on a week reads seven folders and an old month is dropped by deleting
folders:

``predictions``
    one row per description the API classified (DESIGN.md §4's parsed logs).
``refused``
    one row per request the API refused (status and reason).

The wide ``prediction_1, proba_1, …`` columns keep the dashboard's queries
plain SQL (``WHERE proba_1 > 0.8``) rather than list indexing; a request that
asked for fewer codes leaves the later ranks null, and ranks beyond
:data:`RANKS` are not kept.
"""

from __future__ import annotations

from pathlib import Path

PREDICTIONS = "predictions"
REFUSED = "refused"
REJECTS = "rejects"
"""Folder of the lines the ETL could not use, one JSON-lines file per run."""
PARTITION = "date"
"""The hive partition column: the UTC day of the record's timestamp."""
RANKS = 5
"""Ranked codes kept per prediction (``prediction_1`` … ``prediction_5``)."""

PREDICTION_COLUMNS: dict[str, str] = {
    "timestamp": "TIMESTAMPTZ",
    "request_id": "VARCHAR",
    "position": "INTEGER",
    "batch_size": "INTEGER",
    "route": "VARCHAR",
    "model_name": "VARCHAR",
    "model_version": "VARCHAR",
    "text": "VARCHAR",
    "text_policy": "VARCHAR",
    "text_chars": "INTEGER",
    "words": "INTEGER",
    "unknown_words": "INTEGER",
    **{
        column: kind
        for rank in range(1, RANKS + 1)
        for column, kind in ((f"prediction_{rank}", "VARCHAR"), (f"proba_{rank}", "DOUBLE"))
    },
    "latency_ms": "DOUBLE",
    "simulated": "BOOLEAN",
}
"""Column -> DuckDB type of the ``predictions`` dataset (plus the ``date`` partition)."""
PREDICTION_KEY = ("request_id", "position")
"""What makes a prediction row unique: the ETL never writes the same key twice."""

REFUSED_COLUMNS: dict[str, str] = {
    "timestamp": "TIMESTAMPTZ",
    "request_id": "VARCHAR",
    "route": "VARCHAR",
    "model_name": "VARCHAR",
    "model_version": "VARCHAR",
    "status": "INTEGER",
    "reason": "VARCHAR",
    "latency_ms": "DOUBLE",
    "simulated": "BOOLEAN",
}
REFUSED_KEY = ("request_id",)


def dataset_glob(root: Path | str, name: str) -> str:
    """The glob DuckDB reads a dataset with: ``read_parquet(glob, hive_partitioning = true)``."""
    return f"{str(root).rstrip('/')}/{name}/*/*.parquet"
