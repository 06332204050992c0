"""Copies of the API's log files on S3, where the nightly ETL (a CronJob) reads them.

A pod's disk goes with the pod, and its stdout is kept only as long as the
cluster's log retention says.  With ``API_LOG_S3=s3://bucket/prefix`` the API
copies its log files to ``<prefix>/<pod name>/``:

- the **current** file, as ``predictions-current.jsonl``, every
  ``API_LOG_S3_EVERY`` seconds (300 by default) and when the API stops;
- each file the rotation closes, as ``predictions-<UTC time>.jsonl``,
  right after the rotation.

An object may hold lines another object also holds (the current file copied
at 10:00, then the same lines rotated at 10:03): the ETL never writes a
prediction twice (its key is the request id and the position), so copying too
much is harmless, while copying too little would lose lines.  A failed copy is
logged and the file stays on the pod's disk; the current file is copied again
at its next turn, a rotated file is not (while S3 is down, its lines are still
in the pod's stdout and on its disk until the rotation deletes it).  Every call
has the connect and read timeouts of :func:`course_lib.data.reading.storage_options`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("course_lib.serving")

CURRENT = "predictions-current.jsonl"


@dataclass(frozen=True)
class ShippingConfig:
    prefix: str
    every_s: float = 300.0

    @classmethod
    def from_env(cls) -> ShippingConfig | None:
        """``API_LOG_S3`` (an ``s3://`` prefix; unset: no copies) and ``API_LOG_S3_EVERY``."""
        prefix = os.environ.get("API_LOG_S3", "").strip().rstrip("/")
        if not prefix:
            return None
        if not prefix.startswith("s3://") or len(prefix) <= len("s3://"):
            raise ValueError(f"API_LOG_S3={prefix!r}: expected s3://bucket/prefix")
        every = os.environ.get("API_LOG_S3_EVERY", "").strip()
        if every and (not every.isdigit() or int(every) < 1):
            raise ValueError(f"API_LOG_S3_EVERY={every!r}: a whole number of seconds (≥ 1)")
        return cls(prefix=prefix, every_s=float(every) if every else cls.every_s)


class LogShipper:
    """Copies files to ``<prefix>/<pod>/``; called from the log's writer thread only."""

    def __init__(self, config: ShippingConfig, pod: str | None = None) -> None:
        import fsspec

        from course_lib.data.reading import storage_options

        self.config = config
        self.folder = f"{config.prefix}/{pod or os.environ.get('HOSTNAME') or socket.gethostname()}"
        self._fs = fsspec.filesystem("s3", **storage_options(config.prefix))
        self._last = time.monotonic()
        self.copies = 0
        self.failures = 0

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.config.every_s

    def current(self, path: Path) -> None:
        """Copy the file being written (it may be copied again, longer, later)."""
        self._last = time.monotonic()
        if path.is_file() and path.stat().st_size:
            self._put(path, f"{self.folder}/{CURRENT}")

    def rotated(self, path: Path) -> None:
        """Copy a file the rotation just closed, under a name of its own."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._put(path, f"{self.folder}/predictions-{stamp}.jsonl")

    def _put(self, path: Path, target: str) -> None:
        try:
            self._fs.put_file(str(path), target)
            self.copies += 1
        except Exception as exc:  # the API keeps serving; the file stays on disk
            self.failures += 1
            log.error("could not copy %s to %s: %s; the file stays on disk", path, target, exc)
