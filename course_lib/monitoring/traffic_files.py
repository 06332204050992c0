"""The simulated log folder: day files written whole, one run at a time, one scenario at a time.

- A day's file is written under a unique hidden name (``.traffic-….tmp``, no
  ``.jsonl`` in it, so a reader globbing log files never picks it up) and
  renamed into place: a reader sees the old file or the new one, never half.
- Two ``course traffic`` runs on the same folder take turns (a lock file),
  otherwise each would delete the other's days as stale.
- The folder holds one scenario: once every new day is in place, the day
  files of an earlier run that this run did not write (other dates) are
  removed, along with temporary files a killed run left behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

DAY_FILE = re.compile(r"traffic-\d{4}-\d{2}-\d{2}\.jsonl")
LOCK_FILE = ".traffic.lock"
FILE_MODE = 0o644
_PARTIAL_PREFIX = ".traffic-"
_PARTIAL_SUFFIX = ".tmp"


def day_file(folder: Path, day: date) -> Path:
    return folder / f"traffic-{day.isoformat()}.jsonl"


def write_whole(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` under a unique temporary name in the same folder, then rename."""
    handle, partial = tempfile.mkstemp(
        dir=path.parent, prefix=f"{_PARTIAL_PREFIX}{path.stem}-", suffix=_PARTIAL_SUFFIX
    )
    try:
        os.fchmod(handle, FILE_MODE)  # mkstemp's 0600 would hide the log from a reader's account
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.writelines(lines)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


@contextmanager
def one_run_at_a_time(folder: Path, status: Callable[[str], object]) -> Iterator[None]:
    """Hold the folder's lock; say so when waiting for another run to finish."""
    with (folder / LOCK_FILE).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            status(f"another `course traffic` is writing to {folder}: waiting for it to finish…")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_stale(folder: Path, keep: Iterable[Path]) -> list[Path]:
    """Remove day files not in ``keep`` and leftover temporary files; return what went.

    Only the simulator's own names are touched: anything else in the folder stays.
    Call it holding the lock, so the temporary files are no live run's.
    """
    kept = {path.name for path in keep}
    removed = []
    for path in sorted(folder.iterdir()):
        ours = DAY_FILE.fullmatch(path.name) or (
            path.name.startswith(_PARTIAL_PREFIX) and path.name.endswith(_PARTIAL_SUFFIX)
        )
        if ours and path.name not in kept and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
