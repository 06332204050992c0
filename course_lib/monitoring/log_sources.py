"""Where the ETL finds prediction logs: a local folder (read recursively) or an ``s3://`` prefix.

Which files are logs: ``*.jsonl`` (the API's current file, ``course
traffic``'s day files), ``*.jsonl.N`` (the API's rotated files) and either
compressed as ``.gz``.  Hidden files are skipped: that is where writers keep
their half-written temporary files (``.traffic-….tmp``).

A local file is opened once and read through that open handle, so a
rotation that renames it meanwhile changes nothing; and the folder is listed
again after each pass until a pass finds no file it has not opened yet, so
a file renamed between listing and opening is found under its new name
(:meth:`LocalSource.each`).  S3 has no rename, only new objects: one listing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol

from course_lib.data.reading import storage_options, why_unreadable
from course_lib.errors import CourseError

LOG_NAME = re.compile(r"[^.].*\.jsonl(\.[0-9]+)?(\.gz)?")
ROTATED = re.compile(r".*\.jsonl\.[0-9]+(\.gz)?")
CURRENT_GRACE_S = 600.0
"""A ``*.jsonl`` file changed this recently may still be written: an unfinished last
line in it is left for the next run.  Older, it is finished, and such a line is
``truncated``."""
LISTINGS = 5
"""Local listings per run at most (a file renamed on every pass cannot hold a run)."""
S3_BLOCK_BYTES = 1 << 20
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def s3_root(url: str) -> str:
    """``bucket/prefix`` of ``s3://bucket/prefix``, or a CourseError saying what is wrong."""
    root = url.strip().removeprefix("s3://").strip("/")
    bucket = root.split("/", 1)[0]
    if not _BUCKET.fullmatch(bucket):
        raise CourseError(
            f"{url} names no valid bucket: write s3://bucket/prefix (bucket names are 3 to 63 "
            "lowercase letters, digits, '.' and '-')"
        )
    return root


def s3_errors() -> tuple[type[BaseException], ...]:
    """What s3fs may raise when S3 cannot be reached or refuses (botocore's own included)."""
    from botocore.exceptions import BotoCoreError

    return (OSError, ValueError, BotoCoreError)


@dataclass(frozen=True)
class LogFile:
    """One log file as listed (or, once opened, as its open handle says it is)."""

    url: str
    """Its absolute path, or ``s3://bucket/key``: what a reject reports."""
    name: str
    """Its path under the source, for status lines."""
    size: int
    mtime: float
    ident: str
    """Changes whenever the content may have: device, inode, size and mtime, or S3's ETag."""
    inode: tuple[int, int] | None = None

    @property
    def compressed(self) -> bool:
        return self.url.endswith(".gz")

    def maybe_current(self, now: float) -> bool:
        """May a writer still be appending to it (the unrotated ``*.jsonl``, changed lately)?"""
        rotated = self.compressed or ROTATED.fullmatch(self.name)
        return not rotated and now - self.mtime < CURRENT_GRACE_S


class Source(Protocol):
    label: str

    def list(self) -> list[LogFile]: ...

    def each(
        self, skip: Callable[[LogFile], bool], unreadable: Callable[[LogFile, str], object]
    ) -> Iterator[tuple[LogFile, IO[bytes]]]: ...


def open_source(source: str | Path, exclude: Path | str | None = None) -> Source:
    """The source at ``source``: a local folder or file, or ``s3://bucket/prefix``.

    ``exclude`` (a local folder, or an S3 ``bucket/prefix``) is never read: the
    destination, when it lies inside the source, holds ``.jsonl`` rejects files.
    """
    text = str(source).strip()
    if text.startswith("s3://"):
        return S3Source(text, exclude if isinstance(exclude, str) else None)
    if re.match(r"[a-z][a-z0-9+.-]*://", text):
        raise CourseError(
            f"cannot read logs from {text}: give a local folder or an s3://bucket/prefix"
        )
    if not text:
        raise CourseError("the log source is empty: give a folder or an s3://bucket/prefix")
    return LocalSource(Path(text).expanduser(), exclude if isinstance(exclude, Path) else None)


def _local_ident(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


class LocalSource:
    """Log files under a local folder (or one file)."""

    def __init__(self, root: Path, exclude: Path | None = None) -> None:
        self.root = root.absolute()
        self.exclude = exclude.absolute() if exclude else None
        self.label = str(root)

    @property
    def missing(self) -> bool:
        return not self.root.exists()

    def list(self) -> list[LogFile]:
        """The log files now under the folder, sorted by name."""
        if self.root.is_file():
            return [f for f in [self._entry(self.root, self.root.name)] if f]
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            here = Path(folder)
            if self.exclude and (here == self.exclude or self.exclude in here.parents):
                dirs[:] = []
                continue
            for name in sorted(names):
                if LOG_NAME.fullmatch(name):
                    entry = self._entry(here / name, str((here / name).relative_to(self.root)))
                    if entry:
                        found.append(entry)
        return found

    def _entry(self, path: Path, name: str) -> LogFile | None:
        try:
            stat = path.stat()
        except FileNotFoundError:  # gone since the folder was read
            return None
        return LogFile(
            url=str(path),
            name=name,
            size=stat.st_size,
            mtime=stat.st_mtime,
            ident=_local_ident(stat),
            inode=(stat.st_dev, stat.st_ino),
        )

    def each(
        self, skip: Callable[[LogFile], bool], unreadable: Callable[[LogFile, str], object]
    ) -> Iterator[tuple[LogFile, IO[bytes]]]:
        """Each file once, opened, with its size and identity from the open handle.

        ``skip(file)`` says a file need not be opened (unchanged since the last
        run); ``unreadable(file, why)`` hears of a file that cannot be opened
        (permissions), which the others do not wait for.  The caller reads the
        handle and closes it.
        """
        seen: set[tuple[int, int]] = set()
        for _ in range(LISTINGS):
            fresh = False
            for listed in self.list():
                if listed.inode in seen:
                    continue
                if skip(listed):
                    seen.add(listed.inode)
                    continue
                try:
                    handle = open(listed.url, "rb")  # noqa: SIM115 - the caller closes it
                except FileNotFoundError:  # renamed since listed: the next listing has it
                    fresh = True
                    continue
                except OSError as exc:
                    seen.add(listed.inode)
                    unreadable(listed, exc.strerror or str(exc))
                    continue
                stat = os.fstat(handle.fileno())
                inode = (stat.st_dev, stat.st_ino)
                if inode in seen:
                    handle.close()
                    continue
                seen.add(inode)
                fresh = True
                yield (
                    replace(
                        listed,
                        size=stat.st_size,
                        mtime=stat.st_mtime,
                        ident=_local_ident(stat),
                        inode=inode,
                    ),
                    handle,
                )
            if not fresh:
                return


class S3Source:
    """Log files under an ``s3://bucket/prefix``, read through s3fs with bounded waits."""

    def __init__(self, url: str, exclude: str | None = None) -> None:
        import fsspec

        self.exclude = exclude
        self.root = s3_root(url)
        self.url = f"s3://{self.root}"
        self.label = self.url
        self.fs: Any = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options(url))

    def list(self) -> list[LogFile]:
        try:
            found = self.fs.find(self.root, detail=True)
        except s3_errors() as exc:
            why = why_unreadable(exc, self.url)
            raise CourseError(f"cannot list the logs in {self.url}: {why}") from exc
        files = []
        for key, info in sorted(found.items()):
            if self.exclude and key.startswith(f"{self.exclude}/"):
                continue
            name = key.removeprefix(self.root).lstrip("/") or key.rsplit("/", 1)[-1]
            parts = name.split("/")
            if any(p.startswith(".") for p in parts) or not LOG_NAME.fullmatch(parts[-1]):
                continue
            files.append(_s3_file(key, name, info))
        return files

    def each(
        self, skip: Callable[[LogFile], bool], unreadable: Callable[[LogFile, str], object]
    ) -> Iterator[tuple[LogFile, IO[bytes]]]:
        for listed in self.list():
            if skip(listed):
                continue
            key = listed.url.removeprefix("s3://")
            try:
                handle = self.fs.open(key, "rb", block_size=S3_BLOCK_BYTES, cache_type="readahead")
            except FileNotFoundError:  # deleted since listed (log retention)
                continue
            except PermissionError as exc:
                unreadable(listed, why_unreadable(exc, listed.url))
                continue
            except s3_errors() as exc:
                why = why_unreadable(exc, listed.url)
                raise CourseError(f"cannot read {listed.url}: {why}") from exc
            yield _s3_file(key, listed.name, handle.details), handle


def _s3_file(key: str, name: str, info: dict[str, Any]) -> LogFile:
    modified = info.get("LastModified")
    mtime = modified.timestamp() if hasattr(modified, "timestamp") else 0.0
    etag = str(info.get("ETag", "")).strip('"')
    size = int(info.get("size", info.get("Size", 0)))
    return LogFile(url=f"s3://{key}", name=name, size=size, mtime=mtime, ident=f"s3:{etag}:{size}")
