"""How far the ETL has read each log file, so a run reads only what is new.

Files are renamed (``predictions.jsonl`` becomes ``.1``, then ``.2``) and may
be compressed, so a file is known by its first bytes rather than its name:
the digest of its first :data:`~.log_staging.HEAD_BYTES` (a record holds a
unique request id, so two files never share them).  Before resuming at the
offset recorded, the bytes just before it are checked too: a file that was
rewritten rather than appended to is read again from the start.

This is an economy, not what keeps the datasets free of duplicates: the ETL
also skips every row whose key is already there.  A lost or damaged state
file costs one full read (and rejects reported again), never a duplicate.
Without it, every daily run would read every log file ever kept and report
the same bad lines again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta

from course_lib.monitoring.log_sources import LogFile
from course_lib.monitoring.log_staging import digest

STATE_FILE = "etl-state.json"
VERSION = 1
KEEP_DAYS = 35
"""Entries of files not seen for this long are dropped (the logs were deleted)."""
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Progress:
    """What was read of one file."""

    head: str
    """Digest of its first ``head_len`` bytes."""
    head_len: int
    tail: str
    """Digest of the bytes just before ``done``."""
    done: int
    """Bytes read (uncompressed)."""
    lines: int
    """Newlines in those bytes."""
    ident: str
    """The file's identity when read; the same identity and ``complete``: nothing new."""
    complete: bool
    """Read to its end (no unfinished line left)."""
    file: str
    seen: str
    """Day (UTC) the file was last listed."""


class EtlState:
    """The progress of every file read, keyed by its first bytes (and found by identity)."""

    def __init__(self, entries: Iterable[Progress] = (), damaged: bool = False) -> None:
        self.damaged = damaged
        self._entries: dict[tuple[str, int], Progress] = {}
        for entry in entries:
            self._entries[(entry.head, entry.head_len)] = entry

    @property
    def entries(self) -> list[Progress]:
        return list(self._entries.values())

    @classmethod
    def load(cls, data: bytes | None) -> EtlState:
        """The state in ``data`` (None: first run); a damaged file is an empty state."""
        if not data:
            return cls()
        try:
            document = json.loads(data)
            if document.get("version") != VERSION:
                raise ValueError(document.get("version"))
            names = [f.name for f in fields(Progress)]
            entries = [Progress(**{k: e[k] for k in names}) for e in document["files"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(damaged=True)
        return cls(entries)

    def dump(self) -> bytes:
        document = {"version": VERSION, "files": [asdict(e) for e in self._entries.values()]}
        return json.dumps(document, indent=0).encode("utf-8")

    def unchanged(self, file: LogFile) -> Progress | None:
        """The entry of a file read to its end and not changed since."""
        return next(
            (e for e in self._entries.values() if e.ident == file.ident and e.complete), None
        )

    def candidates(self, head: bytes) -> list[Progress]:
        """Entries whose file began as ``head`` does, furthest read first."""
        lengths = {length for (_, length) in self._entries if length <= len(head)}
        found = [self._entries.get((digest(head[:length]), length)) for length in lengths]
        return sorted((e for e in found if e), key=lambda e: e.done, reverse=True)

    def record(self, progress: Progress, replaces: Iterable[Progress] = ()) -> None:
        """Add what was read of a file, dropping the entries it supersedes."""
        for old in replaces:
            self._entries.pop((old.head, old.head_len), None)
        self._entries[(progress.head, progress.head_len)] = progress

    def touch(self, entry: Progress, file: LogFile, today: str) -> None:
        """Mark an unchanged file as seen today (under its current name)."""
        self.record(replace(entry, file=file.url, seen=today), replaces=[entry])

    def prune(self, now: datetime | None = None) -> None:
        today = (now or datetime.now(UTC)).date()
        oldest = (today - timedelta(days=KEEP_DAYS)).isoformat()
        kept = sorted((e for e in self._entries.values() if e.seen >= oldest), key=lambda e: e.seen)
        self._entries = {(e.head, e.head_len): e for e in kept[-MAX_ENTRIES:]}
