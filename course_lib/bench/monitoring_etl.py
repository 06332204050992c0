"""The ETL benchmark: DuckDB against ``json.loads`` + ``pandas.json_normalize`` on the same logs.

The lines are made with the API's own record functions
(:mod:`course_lib.serving.log_records`), so they are byte for byte what the
API writes: realistic descriptions from the corpus generator, batches of mixed
sizes (most requests are one description, a few are hundreds), 1 to 5 ranked
codes, a few refused requests, a week of timestamps (seven date partitions),
split over files the size of rotated ones.  They are written once into a
temporary folder and every repeat of both paths reads the same files.

Each path runs end to end, parse and write parquet, into its own folder; the
two folders are then read back and compared row for row (``same_rows``): a
fast path that drops or alters rows must not look like a win.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.bench.suites import MONITORING_TARGETS
from course_lib.bench.timing import best_of
from course_lib.monitoring.datasets import PREDICTION_KEY, PREDICTIONS, REFUSED, REFUSED_KEY
from course_lib.serving.log_records import Refused, Served, TextPolicy, json_line

EtlPath = Callable[[Path, Path], object]
"""``(log folder, output folder)``: parse every line, write the parquet datasets there."""

LINES_PER_FILE = 100_000
"""About 45 MB of lines: a rotated file of a busy API."""
FIRST_DAY = datetime(2026, 11, 23, tzinfo=UTC)
DAYS = 7
REFUSED_SHARE = 0.02
"""Requests answered with an error (one ``refused`` line each), as ``course traffic`` has."""
BATCH_SIZES: tuple[tuple[float, int, int], ...] = (
    (0.50, 1, 1),
    (0.35, 2, 20),
    (0.12, 21, 200),
    (0.03, 201, 1_000),
)
"""(share of requests, smallest, largest batch): single GETs mostly, a few big POSTs."""
TEXTS = 10_000
"""Corpus descriptions the lines draw from (about 7,500 distinct ones)."""
DIFFERENCE_CHARS = 500
"""How much of the first difference between the two outputs the JSON keeps."""


def _batch_size(rng: random.Random) -> int:
    draw = rng.random()
    for share, low, high in BATCH_SIZES:
        if draw < share:
            return rng.randint(low, high)
        draw -= share
    return 1


def _ranked(rng: random.Random, codes: Sequence[str], k: int) -> list[dict[str, Any]]:
    """``k`` distinct codes with decreasing probabilities summing to at most 1."""
    weights = sorted((rng.random() ** 3 for _ in range(k + 1)), reverse=True)
    total = sum(weights)
    return [
        {"nace": code, "probability": weight / total}
        for code, weight in zip(rng.sample(codes, k), weights, strict=False)
    ]


def _word_counts(text: str) -> tuple[int, int]:
    """Words, and a deterministic stand-in for the model's unknown words (no model needed)."""
    words = len(text.split())
    return words, min(words, zlib.crc32(text.encode()) % 3)


def log_lines(
    lines: int, texts: Sequence[str], codes: Sequence[str], seed: int = 0,
    refused_share: float = REFUSED_SHARE,
) -> Iterator[str]:  # fmt: skip
    """``lines`` lines of a week of API traffic, as the API writes them (same seed, same lines)."""
    if lines < 1 or not texts or not codes:
        raise ValueError("log_lines needs at least one line, one text and one code")
    rng = random.Random(seed)
    step = timedelta(days=DAYS) / lines
    written = 0
    while written < lines:
        moment = FIRST_DAY + step * written
        request_id = f"{rng.getrandbits(64):016x}"
        if rng.random() < refused_share:
            event: Served | Refused = Refused(
                request_id, "POST /predict", 422, "the description is blank: give the activity "
                "in words", "fasttext", "3", latency_ms=rng.uniform(0.3, 2), timestamp=moment,
            )  # fmt: skip
        else:
            size = min(_batch_size(rng), lines - written)
            k = rng.randint(1, min(5, len(codes)))
            batch = [rng.choice(texts) for _ in range(size)]
            event = Served(
                request_id=request_id,
                route="GET /predict" if size == 1 and rng.random() < 0.8 else "POST /predict",
                model_name="fasttext",
                model_version="3",
                texts=batch,
                predictions=[_ranked(rng, codes, k) for _ in batch],
                latency_ms=rng.uniform(0.8, 3.0) + 0.02 * size,
                timestamp=moment,
            )
        for record in event.records(TextPolicy.RAW, _word_counts):
            yield json_line(record)
            written += 1


def write_log_files(
    folder: Path, lines: Iterable[str], lines_per_file: int = LINES_PER_FILE
) -> list[Path]:  # fmt: skip
    """The lines in files named as rotation leaves them, oldest first in the list returned.

    ``predictions.jsonl`` holds the newest lines, ``predictions.jsonl.1`` the
    ones before, and so on.  Streamed: a million lines never sit in memory at once.
    """
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    remaining = iter(lines)
    while chunk := list(islice(remaining, lines_per_file)):
        part = folder / f".part-{len(parts):04d}"
        with part.open("w", encoding="utf-8", newline="\n") as out:
            out.writelines(chunk)
        parts.append(part)
    paths = []
    for age, part in enumerate(reversed(parts)):
        path = folder / ("predictions.jsonl" + (f".{age}" if age else ""))
        part.rename(path)
        paths.append(path)
    return paths[::-1]


def generate_logs(folder: Path, lines: int, seed: int = 0) -> list[Path]:
    """``lines`` log lines over corpus descriptions and the 732 subclass codes, in ``folder``."""
    from course_lib.data.dataset import data_to_classify
    from course_lib.data.nomenclature import load_nomenclature

    texts = pd.read_parquet(data_to_classify(TEXTS))["text"].tolist()
    return write_log_files(folder, log_lines(lines, texts, load_nomenclature().codes, seed))


def log_files(folder: Path) -> list[Path]:
    """The log files of ``folder`` by the ETL's own naming rule (``*.jsonl``, ``*.jsonl.N``)."""
    from course_lib.monitoring.log_sources import LOG_NAME

    return sorted(p for p in folder.iterdir() if p.is_file() and LOG_NAME.fullmatch(p.name))


def duckdb_etl(folder: Path, out_dir: Path) -> None:
    """``course etl``: staged copies, DuckDB's parse, parquet by day, rejects and state."""
    from course_lib.monitoring.etl import run_etl

    run_etl(folder, out_dir, status=lambda _: None)


def python_etl(folder: Path, out_dir: Path) -> None:
    """What most people write first: ``json.loads`` per line, ``json_normalize``, ``to_parquet``."""
    from course_lib.monitoring.etl_baseline import parse_lines_python, write_parquet_python

    write_parquet_python(parse_lines_python(log_files(folder)), out_dir)


def _dataset(root: Path, name: str, key: Sequence[str]) -> pd.DataFrame:
    """A hive-partitioned dataset as a DataFrame sorted by its key, columns in name order.

    Values are compared, not storage types: the two writers may store a column
    of whole numbers with gaps as integers or as floats.
    """
    folder = root / name
    if not folder.is_dir():
        return pd.DataFrame()
    frame = pd.read_parquet(folder)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):  # the hive partition column
            frame[column] = frame[column].astype(str)
    return frame[sorted(frame.columns)].sort_values(list(key)).reset_index(drop=True)


def compare_outputs(first: Path, second: Path) -> str | None:
    """None when both output folders hold the same rows; otherwise the first difference."""
    for name, key in ((PREDICTIONS, PREDICTION_KEY), (REFUSED, REFUSED_KEY)):
        a, b = _dataset(first, name, key), _dataset(second, name, key)
        if list(a.columns) != list(b.columns):
            return f"{name}: columns {list(a.columns)} against {list(b.columns)}"
        try:
            pd.testing.assert_frame_equal(
                a, b, check_dtype=False, check_exact=False, rtol=1e-12, check_index_type=False
            )
        except AssertionError as exc:
            return f"{name}: " + " ".join(str(exc).split())[:DIFFERENCE_CHARS]
    return None


def bench_etl(
    folder: Path,
    fast: EtlPath = duckdb_etl,
    simple: EtlPath = python_etl,
    repeat: int = 3,
    simple_repeat: int = 1,
) -> dict[str, Any]:
    """Both paths end to end on the log files of ``folder``, each run into a fresh folder.

    The DuckDB path is the course's whole ETL (:func:`~course_lib.monitoring.etl.run_etl`),
    which also stages its input, skips rows already written and records its
    progress: it does more than the plain path, not less.
    """
    paths = log_files(folder)
    lines = 0
    for path in paths:
        with path.open("rb") as handle:
            lines += sum(1 for _ in handle)
    work = Path(tempfile.mkdtemp(prefix="course-bench-etl-"))
    try:
        runs = {"fast": 0, "simple": 0}

        def run(path: EtlPath, label: str) -> Path:
            runs[label] += 1
            out = work / f"{label}-{runs[label]}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            path(folder, out)
            return out

        fast_s, fast_out = best_of(repeat, lambda: run(fast, "fast"))
        simple_s, simple_out = best_of(simple_repeat, lambda: run(simple, "simple"))
        difference = compare_outputs(fast_out, simple_out)
        rows = len(_dataset(fast_out, PREDICTIONS, PREDICTION_KEY))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "lines": lines,
        "files": len(paths),
        "prediction_rows": rows,
        "python_s": simple_s,
        "duckdb_s": fast_s,
        "python_lines_per_s": lines / simple_s,
        "duckdb_lines_per_s": lines / fast_s,
        "speedup": simple_s / fast_s,
        "same_rows": difference is None,
        "difference": difference,
        "repeats": {"duckdb": repeat, "python": simple_repeat},
        "meets_target": (
            difference is None and simple_s / fast_s >= MONITORING_TARGETS["etl_speedup_min"]
        ),
    }
