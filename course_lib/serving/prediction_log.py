"""The API's prediction log: JSON lines to stdout and to a size-rotated file, off the request path.

A request hands one small object (:class:`~course_lib.serving.log_records.Served`
or :class:`~course_lib.serving.log_records.Refused`) to a queue and returns;
a writer thread turns it into lines (one per description: hashing, word
counts, JSON) and writes them in chunks.  So a batch of 1,000 descriptions
costs the request one ``queue.put``, not 1,000 log calls.

Where the lines go:

- **stdout**, which is where a container's logs are collected (``kubectl
  logs``), one JSON object per line;
- **a file** in ``API_LOG_DIR`` (default ``.course/logs/api``),
  ``predictions.jsonl``, rotated by size by the standard library's
  :class:`~logging.handlers.RotatingFileHandler` (``predictions.jsonl.1`` is the
  newest full file).  Lines are written in whole chunks, so a line never
  straddles two files; this is what ``course etl`` reads.

Nothing is dropped: the queue is bounded (a flood cannot grow memory without
limit), and when it is full a request waits for the writer rather than lose
its line.  :meth:`PredictionLog.close` drains the queue and flushes the file;
the API calls it when it shuts down, which uvicorn does on SIGTERM and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from course_lib import settings
from course_lib.serving.log_records import (
    TEXT_POLICY_ENV,
    Refused,
    Served,
    TextPolicy,
    WordCounter,
    json_line,
)
from course_lib.serving.log_shipping import LogShipper, ShippingConfig

log = logging.getLogger("course_lib.serving")

LOG_FILE = "predictions.jsonl"
QUEUE_REQUESTS = 10_000
"""Requests waiting for the writer, at most (a batch is one entry)."""
QUEUE_DRAIN = 1_000
"""Requests the writer takes from the queue at once when it is busy."""
SHIP_CHECK_S = 5.0
"""How often an idle writer wakes to see whether a copy to S3 is due."""
LINGER_S = 0.02
"""How long the writer waits for more requests before writing: a line reaches the
file at most this much later, and a single client's requests no longer each wake
the writer (measured: +13 % on the median GET without it, +1 % with it)."""
CHUNK_CHARS = 64 * 1024
"""Characters written per call: whole lines, so a rotation never splits one."""


@dataclass(frozen=True)
class LogConfig:
    """Where and how the API logs its predictions; every field has an environment variable."""

    enabled: bool = True
    folder: Path | None = None
    """None: ``<state folder>/logs/api``."""
    text_policy: TextPolicy = TextPolicy.RAW
    stdout: bool = True
    max_bytes: int = 10_000_000
    backups: int = 10
    shipping: ShippingConfig | None = None
    """Copies to S3 (``API_LOG_S3``), for the ETL's CronJob; None: the files stay local."""

    @classmethod
    def from_env(cls) -> LogConfig:
        """``API_LOG`` (on/off), ``API_LOG_DIR``, ``API_LOG_TEXT`` (raw/hash/omit),
        ``API_LOG_STDOUT`` (on/off), ``API_LOG_MAX_BYTES``, ``API_LOG_BACKUPS``, and
        ``API_LOG_S3``/``API_LOG_S3_EVERY`` (see :mod:`~course_lib.serving.log_shipping`)."""
        folder = os.environ.get("API_LOG_DIR", "").strip()
        return cls(
            enabled=_switch("API_LOG", True),
            folder=Path(folder).expanduser() if folder else None,
            text_policy=TextPolicy.from_env(),
            stdout=_switch("API_LOG_STDOUT", True),
            max_bytes=_whole("API_LOG_MAX_BYTES", cls.max_bytes, minimum=10_000),
            backups=_whole("API_LOG_BACKUPS", cls.backups, minimum=1),
            shipping=ShippingConfig.from_env(),
        )

    def log_folder(self) -> Path:
        return self.folder or settings.logs_dir() / "api"


def _switch(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "on", "yes"}:
        return True
    if raw in {"0", "false", "off", "no"}:
        return False
    raise ValueError(f"{name}={raw!r}: use on or off")


def _whole(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name}={raw!r}: a whole number of at least {minimum} is expected")
    return int(raw)


_CLOSE = object()


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """The standard rotating handler, telling whoever asks about each closed file."""

    on_rotation: Callable[[Path], None] | None = None

    def doRollover(self) -> None:
        super().doRollover()
        if self.on_rotation is not None:
            self.on_rotation(Path(f"{self.baseFilename}.1"))


class PredictionLog:
    """The writer: a bounded queue, one thread, stdout and a rotating file."""

    def __init__(
        self,
        config: LogConfig,
        count_words: WordCounter | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.config = config
        self.count_words = count_words
        self.model_source: Callable[[], Any] | None = None
        """Where to find the loaded model (None until loaded) to count unknown words."""
        self.lines_written = 0
        self.requests_logged = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_REQUESTS)
        self._stdout = stdout if stdout is not None else sys.stdout
        folder = config.log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOG_FILE
        self._file = _RotatingFile(
            self.path, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
        )
        self.shipper = LogShipper(config.shipping) if config.shipping else None
        self._file.on_rotation = self.shipper.rotated if self.shipper else None
        self._file.terminator = ""  # chunks already end with a newline
        self._file.setFormatter(logging.Formatter("%(message)s"))
        # A chunk is at most a quarter of a file, so no file grows much past max_bytes.
        self._chunk_chars = min(CHUNK_CHARS, config.max_bytes // 4)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._closed = False
        self._thread.start()

    def _word_counter(self) -> WordCounter | None:
        """Built in the writer's thread the first time the model is there (no request waits)."""
        if self.count_words is None and self.model_source is not None:
            model = self.model_source()
            if model is not None:
                from course_lib.model.vocabulary import word_counter

                self.count_words = word_counter(model)
        return self.count_words

    def submit(self, event: Served | Refused) -> None:
        """Queue one request's outcome; waits only if the writer is 10,000 requests behind."""
        if self._closed:
            log.warning("prediction log closed: request %s not logged", event.request_id)
            return
        self._queue.put(event)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, flush, close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_CLOSE)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the prediction log did not drain in %.0f s", timeout)
        self._file.close()
        if self.shipper is not None:
            self.shipper.current(self.path)
        log.info(
            "prediction log closed: %d lines for %d requests in %s",
            self.lines_written,
            self.requests_logged,
            self.path,
        )

    def _run(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=SHIP_CHECK_S if self.shipper else None)]
            except queue.Empty:
                items = []
            if self.shipper is not None and self.shipper.due():
                self._file.flush()
                self.shipper.current(self.path)
            if not items:
                continue
            # Linger a moment for more: one write per 20 ms at most, rather than one
            # wake-up per request competing with the next request for the interpreter.
            deadline = time.monotonic() + LINGER_S
            with contextlib.suppress(queue.Empty):
                while len(items) < QUEUE_DRAIN and items[-1] is not _CLOSE:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            done = items[-1] is _CLOSE
            events = [item for item in items if item is not _CLOSE]
            try:
                self._write(events)
            except Exception:  # a full disk, say: keep serving, say why lines are missing
                log.exception("could not write %d prediction log entries", len(events))
            if done:
                return

    def _write(self, events: list[object]) -> None:
        count_words = self._word_counter()
        chunk: list[str] = []
        size = 0
        for event in events:
            try:
                assert isinstance(event, Served | Refused)
                lines = [json_line(r) for r in event.records(self.config.text_policy, count_words)]
            except Exception:  # one bad event must not cost the others their lines
                log.exception("could not log request %s", getattr(event, "request_id", "?"))
                continue
            for line in lines:
                chunk.append(line)
                size += len(line)
                if size >= self._chunk_chars:
                    self._emit(chunk)
                    chunk, size = [], 0
            self.requests_logged += 1
        if chunk:
            self._emit(chunk)

    def _emit(self, lines: list[str]) -> None:
        """Write whole lines at once: the file rotates between chunks, never inside one."""
        text = "".join(lines)
        self._file.emit(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))
        if self.config.stdout:
            self._stdout.write(text)
            self._stdout.flush()
        self.lines_written += len(lines)


def open_prediction_log(config: LogConfig | None = None) -> PredictionLog | None:
    """The API's log from the environment, or None when ``API_LOG=off``."""
    config = config or LogConfig.from_env()
    if not config.enabled:
        return None
    opened = PredictionLog(config)
    log.info(
        "logging predictions to %s and %s (text: %s; %s=raw|hash|omit)",
        opened.path,
        "stdout" if config.stdout else "no stdout",
        config.text_policy.value,
        TEXT_POLICY_ENV,
    )
    return opened


def read_prediction_log(
    path: Path, wait_for: Iterable[str] = (), timeout: float = 10.0
) -> pd.DataFrame:
    """The log's lines as a table, once the lines of the ``wait_for`` request ids are in.

    The writer thread writes a moment after the answer is sent, so a notebook
    that reads the file right after a request may not find it yet: this waits
    (up to ``timeout`` seconds) instead of sleeping an arbitrary time.
    """
    wanted = set(wait_for)
    deadline = time.monotonic() + timeout
    while True:
        table = _read_lines(path)
        found = set(table["request_id"]) if "request_id" in table else set()
        if wanted <= found:
            return table
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(wanted - found))
            raise TimeoutError(f"no line for request(s) {missing} in {path} after {timeout:g} s")
        time.sleep(0.1)


def _read_lines(path: Path) -> pd.DataFrame:
    return pd.DataFrame.from_records(log_records(path)) if path.is_file() else pd.DataFrame()


def log_records(path: Path) -> list[dict[str, Any]]:
    """Every whole JSON line of a log file (a line still being written is skipped)."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
