"""Copy the new part of a log file into local pieces DuckDB can read safely.

A piece is a local file of whole lines, at most about :data:`PIECE_BYTES`,
that is valid UTF-8 and holds no line longer than the limit plus one byte:

- **bounded**: a line longer than the limit is cut while it is copied, so a
  hostile 2 GB line costs a 1 MB block of memory, and DuckDB (which reads a
  piece whole) never holds more than a piece per thread;
- **valid UTF-8**: bytes that are not are replaced (U+FFFD), as Python's
  decoder does, rather than failing the file; DuckDB's own replacement can
  swallow the byte after a bad one, newline included;
- **a snapshot**: only bytes ``[start, end)`` are copied, from a handle
  opened once.  ``end`` stops before an unfinished last line of a file still
  being written (:func:`last_line_end`), which the next run reads whole.

Every step works on blocks (``find``, ``count``, ``decode``), never on
lines one by one: Python stays out of the per-line work DuckDB does.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from course_lib.monitoring.log_lines import MAX_LINE_BYTES
from course_lib.monitoring.log_parsing import Piece

BLOCK_BYTES = 1 << 20
PIECE_BYTES = 16 << 20
"""Size after which a piece ends at the next newline: small enough that DuckDB's
threads share a big file's pieces, and that a piece in memory is cheap."""
HEAD_BYTES = 1024
"""Bytes that identify a file across renames and compression (see :mod:`.etl_state`)."""
TAIL_BYTES = 64
"""Bytes before the resume offset checked before resuming there."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_range(stream: IO[bytes], start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of a seekable stream (fewer if it is shorter)."""
    stream.seek(start)
    return stream.read(max(0, end - start))


def last_line_end(stream: IO[bytes], start: int, size: int) -> int:
    """The offset just past the last newline in ``[start, size)``, or ``start`` if none."""
    end = size
    while end > start:
        begin = max(start, end - BLOCK_BYTES)
        block = read_range(stream, begin, end)
        found = block.rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return start


class _Utf8Repair:
    """Bytes to valid UTF-8, block by block: as they are when they already are (the common
    case, one strict decode), otherwise through a replacing decoder (U+FFFD)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def decode(self, data: bytes, final: bool = False) -> bytes:
        if not self.decoder.getstate()[0]:  # nothing held back from the previous block
            try:
                data.decode("utf-8")
                return data
            except UnicodeDecodeError:  # bad bytes, or a character cut by the block's end
                pass
        return self.decoder.decode(data, final).encode("utf-8")


@dataclass
class _Pieces:
    """Writes output blocks into numbered pieces, starting a new one at a line boundary."""

    folder: Path
    file_index: int
    first_line: int
    limit: int
    pieces: list[Piece] = field(default_factory=list)
    _handle: IO[bytes] | None = None
    newlines: int = 0
    _size: int = 0
    _next_line: int = 0

    def write(self, data: bytes) -> None:
        while data:
            room = self.limit - (self._size if self._handle is not None else 0)
            cut = data.find(b"\n", max(0, room - 1)) if len(data) > room else -1
            if cut < 0:  # fits, or the line at the limit goes on: it stays in this piece
                self._append(data)
                return
            self._append(data[: cut + 1])
            self._close()
            data = data[cut + 1 :]

    def _append(self, data: bytes) -> None:
        if not data:
            return
        if self._handle is None:
            path = self.folder / f"{self.file_index:06d}-{len(self.pieces):04d}.jsonl"
            self._handle = path.open("wb")
            line = self._next_line or self.first_line
            self.pieces.append(Piece(str(path), self.file_index, line))
            self._next_line = line
            self._size = 0
        self._handle.write(data)
        self._size += len(data)
        count = data.count(b"\n")
        self._next_line += count
        self.newlines += count

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def close(self) -> list[Piece]:
        self._close()
        return self.pieces


@dataclass(frozen=True)
class Staged:
    """What was copied from one file: its pieces and where the next run resumes."""

    pieces: list[Piece]
    end: int
    """Offset just past the last byte copied."""
    lines: int
    """Newlines before ``end``: the next line's number is ``lines + 1``."""
    tail: str
    """Digest of the :data:`TAIL_BYTES` before ``end`` (see :func:`tail_digest`)."""
    cut_lines: int
    """Lines cut because they were longer than the limit."""
    open_line: bool
    """The copy ends with a line that has no newline (a finished file's truncated end)."""


def tail_digest(stream: IO[bytes], end: int, recent: bytes = b"") -> str:
    """Digest of the bytes just before ``end``; ``recent`` are the last bytes read, if enough."""
    need = min(TAIL_BYTES, end)
    tail = recent[-need:] if len(recent) >= need else read_range(stream, end - need, end)
    return digest(tail)


def stage(
    stream: IO[bytes],
    folder: Path,
    file_index: int,
    *,
    start: int = 0,
    end: int | None = None,
    lines: int = 0,
    max_line_bytes: int = MAX_LINE_BYTES,
    piece_bytes: int = PIECE_BYTES,
) -> Staged:
    """Copy bytes ``[start, end)`` of ``stream`` (to its end when ``end`` is None) into pieces.

    ``lines`` is the number of newlines before ``start``, so that lines keep
    their number in the file.  Lines longer than ``max_line_bytes`` are cut
    to ``max_line_bytes + 1`` bytes: still too long, and so reported as such.
    """
    block_size = max(1, min(BLOCK_BYTES, max_line_bytes))
    keep = max_line_bytes + 1
    out = _Pieces(folder, file_index, lines + 1, piece_bytes)
    repair = _Utf8Repair()
    stream.seek(start)
    consumed = cut = 0
    run = 0  # bytes of the line in progress read so far
    recent = b""
    try:
        while end is None or start + consumed < end:
            want = block_size if end is None else min(block_size, end - start - consumed)
            block = stream.read(want)
            if not block:
                break
            consumed += len(block)
            recent = (
                block[-TAIL_BYTES:] if len(block) >= TAIL_BYTES else (recent + block)[-TAIL_BYTES:]
            )
            first = block.find(b"\n")
            if first < 0:  # the line in progress goes on
                kept = block[: max(0, keep - run)]
                cut += run < keep <= run + len(block)
                run += len(block)
            else:  # a block is no longer than a line may be: only its ends can be too long
                if run + first < keep:
                    kept = block
                else:
                    kept = block[: max(0, keep - run)] + block[first:]
                    cut += run < keep
                run = len(block) - block.rfind(b"\n") - 1
            out.write(repair.decode(kept))
        out.write(repair.decode(b"", final=True))
    finally:
        pieces = out.close()
    stop = start + consumed
    return Staged(
        pieces=pieces,
        end=stop,
        lines=lines + out.newlines,
        tail=tail_digest(stream, stop, recent),
        cut_lines=cut,
        open_line=consumed > 0 and not recent.endswith(b"\n"),
    )
