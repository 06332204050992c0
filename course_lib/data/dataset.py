"""Training data: one loader for a local file, an https URL or an S3 object.

The default is the course's generated corpus, cached as parquet in the state
folder on first use.  Any other source is read through fsspec (local path,
``https://…``, ``s3://bucket/key`` with the endpoint of ``$AWS_S3_ENDPOINT``
as on SSP Cloud), then checked against the contract: columns ``nace`` and
``text``, codes normalised (``56.10A`` → ``5610A``), unknown codes and empty
texts dropped *and counted*.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from course_lib import settings
from course_lib.data.corpus import GENERATOR_VERSION, generate_corpus
from course_lib.data.nomenclature import load_nomenclature
from course_lib.data.reading import Unreadable, read_frame
from course_lib.errors import CourseError
from course_lib.settings import DEFAULT_ROWS, DEFAULT_SEED, DEFAULT_TEST_SIZE

REQUIRED_COLUMNS = ("nace", "text")


@dataclass(frozen=True)
class LoadReport:
    """What loading did to the rows, to print and to log with the run."""

    source: str
    rows_read: int
    unknown_codes: int
    empty_texts: int

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.unknown_codes - self.empty_texts

    def summary(self) -> str:
        dropped = self.unknown_codes + self.empty_texts
        text = f"{self.rows_kept:,} rows from {self.source}"
        if dropped:
            text += (
                f" ({dropped:,} dropped: {self.unknown_codes:,} with a code that is not a "
                f"NAF rév. 2 subclass, {self.empty_texts:,} with an empty text)"
            )
        return text


def default_corpus_path(n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> Path:
    """Cache file of a generated corpus; its name says how it was made."""
    return settings.data_dir() / f"corpus-v{GENERATOR_VERSION}-n{n_rows}-seed{seed}.parquet"


def ensure_generated(
    n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, progress: bool = True
) -> Path:
    """Generate the corpus unless the cache already holds it; return its path."""
    path = default_corpus_path(n_rows, seed)
    if not path.exists():
        write_parquet_atomically(generate_corpus(n_rows, seed=seed, progress=progress), path)
    return path


def write_parquet_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write under a name no other process uses, then rename into place.

    Two commands generating the same corpus at once shared one ``.tmp`` name:
    one renamed it away under the other (``FileNotFoundError``).  With a
    unique name each writes its own file and the last rename wins, whole.
    """
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.to_parquet(partial, index=False)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


TO_CLASSIFY_SEED = 2024
"""Not the training seed: the file to classify holds descriptions the model has not seen."""


def data_to_classify(rows: int = 1_000, seed: int = TO_CLASSIFY_SEED) -> Path:
    """A parquet of unlabelled descriptions (``id``, ``text``), generated once and cached.

    The corpus generator with another seed stands in for next month's
    registrations: same kind of text, no code attached.
    """
    path = settings.data_dir() / f"to-classify-n{rows}-seed{seed}.parquet"
    if not path.exists():
        frame = generate_corpus(rows, seed=seed, progress=False)
        write_parquet_atomically(frame.drop(columns="nace").rename_axis("id").reset_index(), path)
    return path


def validate(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, LoadReport]:
    """Enforce the data contract; return the clean rows and what was dropped."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CourseError(
            f"{source} has no column {', '.join(repr(c) for c in missing)}: expected columns "
            f"'nace' (NAF subclass code such as 5610A) and 'text' (the description); "
            f"found {', '.join(map(repr, frame.columns)) or 'none'}."
        )
    nace = frame["nace"].astype("string").str.upper().str.replace(r"[.\s]", "", regex=True)
    text = frame["text"].astype("string").str.strip()
    known = nace.isin(load_nomenclature().subclasses.index).fillna(False)
    non_empty = text.fillna("").str.len() > 0
    clean = pd.DataFrame({"nace": nace[known & non_empty], "text": text[known & non_empty]})
    report = LoadReport(
        source=source,
        rows_read=len(frame),
        unknown_codes=int((~known).sum()),
        empty_texts=int((known & ~non_empty).sum()),
    )
    return clean.astype(str).reset_index(drop=True), report


def _read(source: str | None, n_rows: int, seed: int) -> tuple[pd.DataFrame, str]:
    """The raw table and its name; a message that says whose file is at fault."""
    if source is None:
        cache = ensure_generated(n_rows, seed)
        try:
            return read_frame(str(cache)), str(cache)
        except Unreadable as exc:
            raise CourseError(
                f"the course's cached corpus {cache} is damaged ({exc}): delete it "
                f"(rm {cache}) and run the command again; it is generated anew"
            ) from exc
    try:
        return read_frame(source), source
    except Unreadable as exc:
        kind = "CSV" if source.lower().split("?")[0].endswith(".csv") else "parquet"
        raise CourseError(
            f"cannot read {source} as {kind}: {exc}. Check the path or URL; the data must be a "
            "parquet or CSV file with columns 'nace' and 'text'."
        ) from exc


def load_dataset(
    source: str | None = None, n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame, LoadReport]:
    """Labelled descriptions from ``source`` (default: the generated corpus)."""
    frame, report = validate(*_read(source, n_rows, seed))
    if frame.empty:
        raise CourseError(
            f"no usable row in {source}: {report.rows_read:,} read, {report.unknown_codes:,} "
            f"with a code that is not a NAF rév. 2 subclass, {report.empty_texts:,} with an "
            "empty text. Check that 'nace' holds subclass codes such as 5610A."
        )
    return frame, report


def train_test_split(
    frame: pd.DataFrame, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified by code: each code keeps its share in both parts.

    A code with a single row stays in the training part (``sample`` rounds
    its share of the test part down to zero).
    """
    if not 0 < test_size < 1:
        raise CourseError(f"test_size={test_size}: choose a fraction between 0 and 1, e.g. 0.2")
    test = frame.groupby("nace", group_keys=False).sample(frac=test_size, random_state=seed)
    train = frame.drop(test.index).sample(frac=1.0, random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)
