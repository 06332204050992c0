"""Classifying a file of descriptions through the API (the course's ``predict_api`` step).

Two clients with the same output: :func:`classify_row_by_row`, the loop of
``GET /predict`` everyone writes first, and :func:`classify_in_batches`, which
sends ``POST /predict`` in chunks.  Both return the input table with the
ranked predictions joined to it, row for row, so nothing is lost: a blank or
missing description is not sent and its ``problem`` column says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tqdm import tqdm  # plain bars: tqdm.auto wants ipywidgets in notebooks

from course_lib import settings
from course_lib.api_schemas import MAX_DESCRIPTION_CHARS
from course_lib.errors import CourseError

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_CHUNK_SIZE = 500
TIMEOUT_S = 60.0
TO_CLASSIFY_SEED = 2024
"""Not the training seed: the file to classify holds descriptions the model has not seen."""


def data_to_classify(rows: int = 1_000, seed: int = TO_CLASSIFY_SEED) -> Path:
    """A parquet of unlabelled descriptions (``id``, ``text``), generated once and cached.

    The corpus generator with another seed stands in for next month's
    registrations: same kind of text, no code attached.
    """
    from course_lib.corpus import generate_corpus

    path = settings.data_dir() / f"to-classify-n{rows}-seed{seed}.parquet"
    if not path.exists():
        frame = generate_corpus(rows, seed=seed, progress=False)
        frame = frame.drop(columns="nace").rename_axis("id").reset_index()
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    return path


def read_descriptions(source: str | Path, column: str = "text") -> pd.DataFrame:
    """A parquet or CSV file with a ``column`` of descriptions."""
    path = Path(source)
    if not path.exists():
        raise CourseError(f"no file {path}: give a parquet or CSV file of descriptions")
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
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


def _request(session: requests.Session, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = session.request(method, url, timeout=TIMEOUT_S, **kwargs)
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
    info = _request(session or requests.Session(), "GET", f"{api_url.rstrip('/')}/")
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
