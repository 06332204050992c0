"""``course etl``: prediction logs to the two parquet datasets, incrementally and idempotently.

One run:

1. lists the log files (:mod:`.log_sources`: a local folder, recursively, or
   an ``s3://`` prefix) and, for each, finds where the last run stopped
   (:mod:`.etl_state`); unchanged files are not even opened;
2. copies the new bytes of each into local pieces (:mod:`.log_staging`):
   bounded lines, valid UTF-8, an unfinished last line of a file still being
   written left for the next run;
3. classifies and parses every line in DuckDB (:mod:`.log_parsing`, rules in
   :mod:`.log_lines`): good records become typed rows, the others are counted
   by kind and kept aside in ``<dest>/rejects/rejects-<UTC stamp>-<run>.jsonl``;
4. drops rows whose key (:data:`~.datasets.PREDICTION_KEY`,
   :data:`~.datasets.REFUSED_KEY`) is already in the dataset or earlier in
   the batch, so logs read twice (a rotated file under its new name, a lost
   state file) add nothing;
5. writes each day's new rows as one more ``part-….parquet`` in the
   day's folder, built in a work folder and renamed (or uploaded) into place;
6. records how far each file was read, last: a run killed before that is
   redone by the next one, and step 4 skips what it had already written.

Locally, two runs take turns (a lock file in the destination, waited for at
most :data:`~.etl_store.LOCK_TIMEOUT_S`).  On S3 there is no lock: the
CronJob's ``concurrencyPolicy: Forbid`` is what keeps one run at a time.
"""

from __future__ import annotations

import gzip
import os
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from course_lib import settings
from course_lib.monitoring.datasets import (
    PARTITION,
    PREDICTION_COLUMNS,
    PREDICTION_KEY,
    PREDICTIONS,
    REFUSED,
    REFUSED_COLUMNS,
    REFUSED_KEY,
    REJECTS,
)
from course_lib.monitoring.etl_state import STATE_FILE, EtlState, Progress
from course_lib.monitoring.etl_store import LOCK_TIMEOUT_S, Store, open_store
from course_lib.monitoring.log_lines import MAX_LINE_BYTES, Reject
from course_lib.monitoring.log_parsing import (
    RECORDS,
    Piece,
    classify,
    connect,
    load_lines,
    rejects_sql,
)
from course_lib.monitoring.log_sources import LocalSource, LogFile, Source, open_source
from course_lib.monitoring.log_staging import (
    HEAD_BYTES,
    TAIL_BYTES,
    digest,
    last_line_end,
    read_range,
    stage,
)

MAX_REJECTS_KEPT = 10_000
"""Rejected lines written to a run's rejects file at most (all are counted)."""
START_HINT = "start `course serve` and send requests, or run `course traffic`"
DATASETS = {
    PREDICTIONS: ("prediction", PREDICTION_COLUMNS, PREDICTION_KEY),
    REFUSED: ("refused", REFUSED_COLUMNS, REFUSED_KEY),
}


@dataclass(frozen=True)
class EtlReport:
    """What one run did; :meth:`summary` is the line ``course etl`` prints."""

    source: str
    dest: str
    files_listed: int = 0
    files_read: int = 0
    """Files with new lines read this run."""
    files_unchanged: int = 0
    lines_read: int = 0
    new_rows: dict[str, int] = field(default_factory=lambda: {PREDICTIONS: 0, REFUSED: 0})
    """New rows per dataset."""
    duplicates: int = 0
    """Good records not written because their key was already in the dataset or the batch."""
    rejects: dict[str, int] = field(default_factory=dict)
    """Rejected lines per kind (:class:`~.log_lines.Reject`)."""
    rejects_file: str | None = None
    rejects_kept: int = 0
    days: tuple[str, ...] = ()
    """Days (UTC, ``YYYY-MM-DD``) that received new rows."""
    pending_lines: int = 0
    """Unfinished last lines of files still being written, left for the next run."""
    missing_source: bool = False
    unreadable: tuple[str, ...] = ()
    """Files that could not be read (permissions, damaged gzip); the next run tries again."""

    @property
    def new_predictions(self) -> int:
        return self.new_rows[PREDICTIONS]

    @property
    def new_refused(self) -> int:
        return self.new_rows[REFUSED]

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())

    def summary(self) -> str:
        if not self.files_listed:
            why = " (no such folder)" if self.missing_source else ""
            return f"no log files in {self.source}{why}: {START_HINT}"
        if not self.files_read:
            text = (
                f"nothing new: {_count(self.files_unchanged, 'log file')} in {self.source} "
                "unchanged since the last run"
            )
            if self.pending_lines:
                text += f" ({_count(self.pending_lines, 'unfinished line')} waiting)"
            if self.unreadable:
                text += f"; {_count(len(self.unreadable), 'file')} unreadable (see above)"
            return text
        files = _count(self.files_read, "file")
        if self.files_unchanged:
            files += f" ({self.files_unchanged:,} unchanged)"
        parts = [
            f"{_count(self.new_predictions, 'new prediction')} and "
            f"{_count(self.new_refused, 'refusal')} in {_count(len(self.days), 'day')} "
            f"from {files}",
            self._rejects_part(),
            f"{_count(self.duplicates, 'duplicate')} skipped",
        ]
        if self.pending_lines:
            parts.append(f"{_count(self.pending_lines, 'unfinished line')} left for the next run")
        if self.unreadable:
            parts.append(f"{_count(len(self.unreadable), 'file')} unreadable (see above)")
        return "; ".join(parts)

    def _rejects_part(self) -> str:
        if not self.rejected:
            return "no line rejected"
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in self.rejects.items())
        text = f"{_count(self.rejected, 'line')} rejected ({kinds})"
        if self.rejects_file:
            text += f" → {_shown(self.rejects_file)}"
            if self.rejects_kept < self.rejected:
                text += f" (the first {self.rejects_kept:,})"
        return text


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _shown(path: str) -> str:
    """A local path relative to the current folder when it is under it."""
    if not path.startswith("s3://") and Path(path).is_relative_to(Path.cwd()):
        return os.path.relpath(path)
    return path


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_etl(
    source: str | Path | None = None,
    dest: str | Path | None = None,
    status: Callable[[str], object] = print,
    *,
    lock_timeout: float = LOCK_TIMEOUT_S,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_rejects_kept: int = MAX_REJECTS_KEPT,
) -> EtlReport:
    """Parse the new lines of the logs at ``source`` into the datasets at ``dest``.

    ``source``: a folder (default ``.course/logs``: ``api/`` and
    ``simulated/``), one file, or ``s3://bucket/prefix``; ``dest``: a folder
    (default ``.course/monitoring``) or ``s3://bucket/prefix``.  Progress
    (files read) goes to ``status``.  Raises :class:`~course_lib.errors.CourseError`
    when a location cannot be read or written.
    """
    source_text = str(source) if source is not None else str(settings.logs_dir())
    open_source(source_text)  # a mistaken source is reported before anything is created
    store = open_store(str(dest) if dest is not None else str(settings.monitoring_dir()))
    logs = open_source(source_text, store.root)
    with store.lock(lock_timeout, status), store.workdir() as work:
        return _Run(logs, store, work, status, max_line_bytes, max_rejects_kept).run()


@dataclass
class _Staged:
    file: LogFile
    progress: Progress | None
    replaces: list[Progress]
    pieces: list[Piece]
    pending: bool


class _Run:
    def __init__(
        self,
        logs: Source,
        store: Store,
        work: Path,
        status: Callable[[str], object],
        max_line_bytes: int,
        max_rejects_kept: int,
    ) -> None:
        self.logs, self.store, self.work, self.status = logs, store, work, status
        self.max_line_bytes, self.max_rejects_kept = max_line_bytes, max_rejects_kept
        self.now = datetime.now(UTC)
        self.today = self.now.date().isoformat()
        self.run_name = f"{self.now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"

    def run(self) -> EtlReport:
        state = EtlState.load(self.store.read(STATE_FILE))
        if state.damaged:
            self.status(
                f"the ETL's state file in {self.store.label} was damaged: reading every log "
                "file again (rows already in the datasets are skipped)"
            )
        elif state.entries and not self.store.has_rows():
            self.status(f"the datasets in {self.store.label} are empty: reading every log again")
            state = EtlState()
        unchanged = 0

        def skip(file: LogFile) -> bool:
            nonlocal unchanged
            entry = state.unchanged(file)
            if entry is not None:
                state.touch(entry, file, self.today)
                unchanged += 1
            return entry is not None

        unreadable: list[str] = []

        def cannot_read(file: LogFile, why: str) -> None:
            self.status(f"cannot read {file.url}: {why}; skipped (the next run tries again)")
            unreadable.append(file.url)

        staged_dir = self.work / "staged"
        staged_dir.mkdir()
        files: list[_Staged] = []
        for file, handle in self.logs.each(skip, cannot_read):
            with handle:
                try:
                    files.append(self._stage(file, handle, state, staged_dir, len(files)))
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    for piece in staged_dir.glob(f"{len(files):06d}-*"):
                        piece.unlink()  # the next file takes this index
                    cannot_read(file, f"damaged gzip file ({exc})")
        read = [f for f in files if f.pieces]
        report = EtlReport(
            source=self.logs.label,
            dest=self.store.label,
            files_listed=len(files) + unchanged + len(unreadable),
            missing_source=isinstance(self.logs, LocalSource) and self.logs.missing,
            unreadable=tuple(unreadable),
            files_read=len(read),
            files_unchanged=len(files) + unchanged - len(read),
            pending_lines=sum(f.pending for f in files),
        )
        if not report.files_listed:
            return report
        if read:
            report = self._parse_and_write(files, report)
        for f in files:
            if f.progress is not None:
                state.record(f.progress, f.replaces)
        state.prune(self.now)
        self.store.write(STATE_FILE, state.dump())
        return report

    def _stage(
        self, file: LogFile, handle: IO[bytes], state: EtlState, folder: Path, index: int
    ) -> _Staged:
        """Copy what is new in one file; where it resumes and where it stops."""
        stream: IO[bytes] = gzip.GzipFile(fileobj=handle) if file.compressed else handle
        head = read_range(stream, 0, HEAD_BYTES)
        start, lines, replaces = 0, 0, []
        size = None if file.compressed else file.size
        for entry in state.candidates(head):
            if entry.done == 0 or (size is not None and entry.done > size):
                continue
            before = read_range(stream, max(0, entry.done - TAIL_BYTES), entry.done)
            if len(before) == min(TAIL_BYTES, entry.done) and digest(before) == entry.tail:
                start, lines, replaces = entry.done, entry.lines, [entry]
                break
        end, pending = size, False
        if size is not None and file.maybe_current(time.time()):
            end = last_line_end(stream, start, size)
            pending = end < size
        staged = stage(
            stream, folder, index, start=start, end=end, lines=lines,
            max_line_bytes=self.max_line_bytes,
        )  # fmt: skip
        new_lines = staged.lines - lines + staged.open_line
        if staged.pieces:
            where = f" from line {lines + 1:,}" if start else ""
            left = ", its unfinished last line left for the next run" if pending else ""
            self.status(f"read {file.name}{where}: {_count(new_lines, 'line')}{left}")
        progress = None
        if staged.end:
            head_len = min(len(head), staged.end)
            progress = Progress(
                head=digest(head[:head_len]),
                head_len=head_len,
                tail=staged.tail,
                done=staged.end,
                lines=staged.lines,
                ident=file.ident,
                complete=not pending and (size is None or staged.end >= size),
                file=file.url,
                seen=self.today,
            )
        return _Staged(file, progress, replaces, staged.pieces, pending)

    def _parse_and_write(self, files: Sequence[_Staged], report: EtlReport) -> EtlReport:
        con = connect(
            temp_directory=self.work / "duckdb"
        )  # DuckDB spills there when memory is short
        try:
            pieces = [p for f in files for p in f.pieces]
            load_lines(con, pieces, [f.file.url for f in files])
            classify(con, self.max_line_bytes)
            lines = _scalar(
                con,
                f"SELECT count(*) FILTER (WHERE piece = 0) "
                f"+ count(DISTINCT (file_index, line)) FILTER (WHERE piece > 0) FROM {RECORDS}",
            )
            new_rows, duplicates, days = {}, 0, set()
            for dataset, (event, columns, key) in DATASETS.items():
                written, skipped, touched = self._write_dataset(con, dataset, event, columns, key)
                new_rows[dataset], duplicates, days = written, duplicates + skipped, days | touched
            rejects, rejects_file, kept = self._write_rejects(con)
        finally:
            con.close()
        return replace(
            report,
            lines_read=lines,
            new_rows=new_rows,
            duplicates=duplicates,
            days=tuple(sorted(days)),
            rejects=rejects,
            rejects_file=rejects_file,
            rejects_kept=kept,
        )

    def _write_dataset(
        self, con, dataset: str, event: str, columns: dict[str, str], key: tuple[str, ...]
    ) -> tuple[int, int, set[str]]:
        """Write the batch's new rows of one dataset; (rows written, duplicates, days).

        Repeats within the batch, then keys already in the days the batch
        touches, are left out; each check runs only when it can matter.
        """
        keys = ", ".join(key)
        good = f"FROM {RECORDS} WHERE kind IS NULL AND event = '{event}'"
        day = "strftime(timestamp, '%Y-%m-%d')"
        [(total, distinct)] = con.execute(
            f"SELECT count(*), count(DISTINCT ({keys})) {good}"
        ).fetchall()
        if not total:
            return 0, 0, set()
        days = {found for (found,) in con.execute(f"SELECT DISTINCT {day} {good}").fetchall()}
        typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in columns.items())
        rows = f'SELECT {typed}, {day} AS "{PARTITION}" {good}'
        if distinct < total:
            rows += (
                f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY file_index, line, piece)"
                " = 1"
            )
        existing = self.store.existing(dataset, days, self.work)
        if existing:
            listed = "[" + ", ".join(_sql_text(p) for p in existing) + "]"
            rows = (
                f"SELECT * FROM ({rows}) ANTI JOIN (SELECT DISTINCT {keys} FROM "
                f"read_parquet({listed}, hive_partitioning = false)) USING ({keys})"
            )
        out = self.work / "out" / dataset
        out.parent.mkdir(exist_ok=True)
        [(written,)] = con.execute(
            f"COPY ({rows}) TO {_sql_text(str(out))} "
            f"(FORMAT parquet, PARTITION_BY (\"{PARTITION}\"), FILENAME_PATTERN 'part-{{uuid}}')"
        ).fetchall()
        touched = set()
        for number, path in enumerate(sorted(out.glob(f"{PARTITION}=*/*.parquet"))):
            relative = f"{dataset}/{path.parent.name}/part-{self.run_name}-{number:04d}.parquet"
            self.store.publish(path, relative)
            touched.add(path.parent.name.removeprefix(f"{PARTITION}="))
        if written:
            self.status(f"{dataset}: {_count(written, 'new row')} in {_count(len(touched), 'day')}")
        return written, total - written, touched

    def _write_rejects(self, con) -> tuple[dict[str, int], str | None, int]:
        counts = dict(
            con.execute(
                f"SELECT kind, count(*) FROM {RECORDS} WHERE kind IS NOT NULL GROUP BY kind"
            ).fetchall()
        )
        ordered = {kind.value: counts[kind.value] for kind in Reject if kind.value in counts}
        total = sum(ordered.values())
        kept = min(total, self.max_rejects_kept)
        if not kept:
            return ordered, None, 0
        local = self.work / "rejects.jsonl"
        con.execute(
            f"COPY (SELECT * FROM ({rejects_sql()}) LIMIT {kept}) TO {_sql_text(str(local))} "
            "(FORMAT json)"
        )
        path = self.store.publish(local, f"{REJECTS}/rejects-{self.run_name}.jsonl")
        return ordered, path, kept


def _scalar(con, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0] or 0)
