"""Classifying a file of descriptions through the API (the course's ``predict_api`` step).

Two clients with the same output: :func:`classify_row_by_row`, the loop of
``GET /predict`` everyone writes first, and :func:`classify_in_batches`, which
sends ``POST /predict`` in chunks.  Both return the input table with the
ranked predictions joined to it, row for row, so nothing is lost: a blank or
missing description is not sent and its ``problem`` column says why.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tqdm import tqdm  # plain bars: tqdm.auto wants ipywidgets in notebooks

from course_lib.errors import CourseError
from course_lib.serving.limits import DEFAULT_API_URL, DEFAULT_CHUNK_SIZE, MAX_DESCRIPTION_CHARS

TIMEOUT_S = 60.0
"""Longest wait for one answer: a batch of 1,000 takes well under a second."""
CHECK_TIMEOUT_S = 10.0
"""``GET /`` answers at once when the API is up."""


def read_descriptions(source: str | Path, column: str = "text") -> pd.DataFrame:
    """A parquet or CSV file with a ``column`` of descriptions, every row kept.

    A CSV is read as text (identifiers such as a SIREN keep their leading
    zeros) and its blank lines stay rows, marked as blank in the results
    rather than silently dropped.
    """
    path = Path(source)
    if not path.is_file():
        raise CourseError(f"no file {path}: give a parquet or CSV file of descriptions")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError as exc:
        raise CourseError(f"{path} is empty: give a file with a {column!r} column") from exc
    except UnicodeDecodeError as exc:
        raise CourseError(
            f"{path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at position {exc.start}): "
            "save it as CSV UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`)"
        ) from exc
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        kind = "parquet" if path.suffix == ".parquet" else "CSV"
        detail = " ".join(str(exc).split())[:200]
        raise CourseError(f"cannot read {path} as {kind}: {detail}") from exc
    if column not in frame.columns:
        raise CourseError(
            f"{path} has no {column!r} column (columns: {', '.join(map(str, frame.columns))}); "
            "name the column of descriptions with --column"
        )
    return frame


def _sendable(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """(texts to send, problem per row): blanks are kept back, long texts trimmed."""
    texts = frame[column].astype("string").str.slice(0, MAX_DESCRIPTION_CHARS)
    blank = texts.isna() | (texts.fillna("").str.strip() == "")
    problems = pd.Series("", index=frame.index, dtype="string")
    problems[blank] = "blank description: not sent"
    return texts[~blank], problems


def _answer(response: requests.Response, url: str) -> dict[str, Any]:
    """The JSON body, or the API's own message for anything but a 200."""
    if response.status_code == 200:
        return response.json()
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text[:300]
    raise CourseError(f"the API at {url} answered {response.status_code}: {message}")


def _request(
    session: requests.Session, method: str, url: str, timeout: float | None = None, **kwargs: Any
) -> dict[str, Any]:
    wait = timeout or TIMEOUT_S
    try:
        response = session.request(method, url, timeout=wait, **kwargs)
    except requests.Timeout as exc:
        raise CourseError(
            f"the API at {url} did not answer within {wait:g} s: it may be overloaded or "
            "stuck; see its log (and its /ready), or send smaller batches (--chunk-size)"
        ) from exc
    except requests.ConnectionError as exc:
        raise CourseError(
            f"the API at {url} does not answer: start it with `uv run course serve` "
            "(or check the address)"
        ) from exc
    return _answer(response, url)


def _join(
    frame: pd.DataFrame, ranked: dict[Any, list[dict[str, Any]]], problems: pd.Series, k: int
) -> pd.DataFrame:
    """The input with ``prediction_i``, ``label_i``, ``proba_i`` for i = 1..k, and ``problem``."""
    columns: dict[str, list[Any]] = {}
    for rank in range(k):
        for key, name in (("code", "prediction"), ("label", "label"), ("probability", "proba")):
            columns[f"{name}_{rank + 1}"] = [
                row[rank][key] if len(row := ranked.get(i, [])) > rank else None
                for i in frame.index
            ]
    out = frame.copy()
    for name, values in columns.items():
        out[name] = values
    unreadable = [i for i in frame.index if i in ranked and not ranked[i]]
    problems = problems.copy()
    problems[unreadable] = "no word the model can read"
    out["problem"] = problems.replace("", pd.NA)
    return out


def check_api(api_url: str, session: requests.Session | None = None) -> dict[str, Any]:
    """``GET /``: which model the API serves; a clear error when it is down or not ready."""
    info = _request(
        session or requests.Session(), "GET", f"{api_url.rstrip('/')}/", CHECK_TIMEOUT_S
    )
    if not info.get("ready"):
        raise CourseError(
            f"the API at {api_url} is up but its model is not loaded yet: see {api_url}/ready"
        )
    return info


def classify_row_by_row(
    frame: pd.DataFrame,
    api_url: str = DEFAULT_API_URL,
    column: str = "text",
    k: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """One ``GET /predict`` per description: simple, and slow (see the benchmark)."""
    texts, problems = _sendable(frame, column)
    url = f"{api_url.rstrip('/')}/predict"
    ranked: dict[Any, list[dict[str, Any]]] = {}
    with requests.Session() as session:
        for index, text in tqdm(
            texts.items(), total=len(texts), desc="GET /predict", unit="row", disable=not progress
        ):
            answer = _request(session, "GET", url, params={"description": text, "nb_echoes_max": k})
            ranked[index] = answer["predictions"]
    return _join(frame, ranked, problems, k)


def chunks(series: pd.Series, size: int) -> Iterator[pd.Series]:
    for start in range(0, len(series), size):
        yield series.iloc[start : start + size]


def classify_in_batches(
    frame: pd.DataFrame,
    api_url: str = DEFAULT_API_URL,
    column: str = "text",
    k: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
) -> pd.DataFrame:
    """``POST /predict`` with ``chunk_size`` descriptions at a time (one model call each)."""
    if chunk_size < 1:
        raise CourseError(f"chunk size {chunk_size}: give at least 1 description per request")
    texts, problems = _sendable(frame, column)
    url = f"{api_url.rstrip('/')}/predict"
    ranked: dict[Any, list[dict[str, Any]]] = {}
    with (
        requests.Session() as session,
        tqdm(total=len(texts), desc="POST /predict", unit="row", disable=not progress) as bar,
    ):
        for chunk in chunks(texts, chunk_size):
            body = {"descriptions": chunk.tolist(), "nb_echoes_max": k}
            answer = _request(session, "POST", url, json=body)
            for index, result in zip(chunk.index, answer["results"], strict=True):
                ranked[index] = result["predictions"]
            bar.update(len(chunk))
    return _join(frame, ranked, problems, k)


@dataclass(frozen=True)
class Classified:
    """A file classified through the API, as ``course classify`` reports it."""

    result: pd.DataFrame
    model_uri: str
    seconds: float
    out: Path | None

    @property
    def problems(self) -> int:
        return int(self.result["problem"].notna().sum())

    def summary(self) -> str:
        rate = len(self.result) / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"{len(self.result):,} descriptions classified by {self.model_uri} in "
            f"{self.seconds:.1f} s ({rate:,.0f}/s), {self.problems} with a problem"
            + (f"; results in {self.out}" if self.out else "")
        )


def classify_file(
    source: str | Path,
    api_url: str = DEFAULT_API_URL,
    column: str = "text",
    k: int = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    row_by_row: bool = False,
    out: Path | None = None,
    progress: bool = True,
) -> Classified:
    """Read ``source``, classify it through the API (batches, or one GET per row), save it.

    ``out`` ending in ``.parquet`` is written as parquet, anything else as CSV;
    its folder is checked first, not after every row has been classified.
    """
    if out is not None and not (out.parent.is_dir() and os.access(out.parent, os.W_OK)):
        raise CourseError(
            f"cannot write {out}: the folder {out.parent} does not exist or is not writable; "
            "create it or choose another --out"
        )
    frame = read_descriptions(source, column)
    info = check_api(api_url)
    started = time.perf_counter()
    if row_by_row:
        result = classify_row_by_row(frame, api_url, column, k, progress=progress)
    else:
        result = classify_in_batches(frame, api_url, column, k, chunk_size, progress=progress)
    seconds = time.perf_counter() - started
    if out is not None and out.suffix == ".parquet":
        result.to_parquet(out, index=False)
    elif out is not None:
        result.to_csv(out, index=False)
    return Classified(result, info["model_uri"], seconds, out)
