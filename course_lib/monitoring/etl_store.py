"""Where the ETL writes: a local folder (locked, files renamed into place) or an ``s3://`` prefix.

Readers never see half a file.  Locally every file is written in a work
folder inside the destination (same filesystem) and renamed into place; a
run killed halfway leaves only its work folder, which no dataset glob
matches and the next run removes.  On S3 each object is uploaded whole by
one PUT, which S3 makes visible at once or not at all.

Two local runs take turns: the second waits for the lock file, at most
:data:`LOCK_TIMEOUT_S`, then runs (and finds nothing new).  S3 has no lock:
what keeps one run at a time there is the Kubernetes CronJob's
``concurrencyPolicy: Forbid``; two runs started by hand at once on the same
prefix may both add the same new rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from course_lib.data.reading import storage_options, why_unreadable
from course_lib.errors import CourseError
from course_lib.monitoring.datasets import PARTITION, PREDICTIONS, REFUSED
from course_lib.monitoring.log_sources import s3_errors, s3_root

LOCK_FILE = ".etl.lock"
WORK_PREFIX = ".etl-tmp-"
LOCK_TIMEOUT_S = 300.0
LOCK_POLL_S = 0.2
DATASETS = (PREDICTIONS, REFUSED)


class Store(Protocol):
    label: str
    root: Path | str
    """A local folder, or ``bucket/prefix`` on S3."""

    def lock(
        self, timeout: float, status: Callable[[str], object]
    ) -> contextlib.AbstractContextManager[None]: ...

    def workdir(self) -> contextlib.AbstractContextManager[Path]: ...

    def existing(self, dataset: str, days: Iterable[str], into: Path) -> list[str]: ...

    def has_rows(self) -> bool: ...

    def publish(self, local: Path, relative: str) -> str: ...

    def read(self, relative: str) -> bytes | None: ...

    def write(self, relative: str, data: bytes) -> None: ...


def open_store(dest: str | Path) -> Store:
    text = str(dest).strip()
    if text.startswith("s3://"):
        return S3Store(text)
    if "://" in text or not text:
        raise CourseError(
            f"cannot write the datasets to {text!r}: give a local folder or an s3://bucket/prefix"
        )
    return LocalStore(Path(text).expanduser())


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.label = str(root)
        if self.root.exists() and not self.root.is_dir():
            raise CourseError(f"{root} is a file: --dest must be a folder (or s3://bucket/prefix)")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CourseError(f"cannot create {root}: {exc.strerror or exc}") from None
        if not os.access(self.root, os.W_OK):
            raise CourseError(f"cannot write to {root}: permission denied")

    @contextlib.contextmanager
    def lock(self, timeout: float, status: Callable[[str], object]) -> Iterator[None]:
        """Hold the folder's lock, waiting at most ``timeout`` seconds for another run."""
        with (self.root / LOCK_FILE).open("a") as handle:
            deadline = time.monotonic() + timeout
            waiting = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:
                        status(
                            f"another `course etl` is writing to {self.label}: "
                            f"waiting for it (at most {timeout:g} s)…"
                        )
                        waiting = True
                    if time.monotonic() >= deadline:
                        raise CourseError(
                            f"another `course etl` has been writing to {self.label} for more "
                            f"than {timeout:g} s: let it finish, then run again"
                        ) from None
                    time.sleep(LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def workdir(self) -> Iterator[Path]:
        """A fresh work folder in the destination; those of killed runs are removed first
        (the caller holds the lock, so no other run is using one)."""
        for stale in self.root.glob(f"{WORK_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.root))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def existing(self, dataset: str, days: Iterable[str], into: Path) -> list[str]:
        """The dataset's files for these days (read in place)."""
        return [
            str(path)
            for day in sorted(days)
            for path in sorted((self.root / dataset / f"{PARTITION}={day}").glob("*.parquet"))
        ]

    def has_rows(self) -> bool:
        """Does either dataset hold a file?"""
        return any(next((self.root / dataset).glob("*/*.parquet"), None) for dataset in DATASETS)

    def publish(self, local: Path, relative: str) -> str:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(local, target)
        return str(target)

    def read(self, relative: str) -> bytes | None:
        path = self.root / relative
        return path.read_bytes() if path.is_file() else None

    def write(self, relative: str, data: bytes) -> None:
        handle, partial = tempfile.mkstemp(prefix=WORK_PREFIX, dir=self.root)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(partial, self.root / relative)
        finally:
            Path(partial).unlink(missing_ok=True)


class S3Store:
    """Datasets under ``s3://bucket/prefix``: files built locally, then uploaded one by one."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.root = s3_root(url)
        self.url = f"s3://{self.root}"
        self.label = self.url
        self.fs: Any = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options(url))

    def _fail(self, doing: str, exc: BaseException) -> CourseError:
        return CourseError(f"cannot {doing} {self.url}: {why_unreadable(exc, self.url)}")

    @contextlib.contextmanager
    def lock(self, timeout: float, status: Callable[[str], object]) -> Iterator[None]:
        """No lock on S3: the CronJob's ``concurrencyPolicy: Forbid`` keeps one run at a time."""
        yield

    @contextlib.contextmanager
    def workdir(self) -> Iterator[Path]:
        work = Path(tempfile.mkdtemp(prefix="course-etl-"))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def existing(self, dataset: str, days: Iterable[str], into: Path) -> list[str]:
        """Local copies of the dataset's files for these days."""
        wanted = {f"{PARTITION}={day}" for day in days}
        try:
            found = self.fs.find(f"{self.root}/{dataset}")
        except FileNotFoundError:
            return []
        except s3_errors() as exc:
            raise self._fail("list", exc) from exc
        local = []
        for key in sorted(found):
            parts = key.split("/")
            if key.endswith(".parquet") and len(parts) >= 2 and parts[-2] in wanted:
                path = into / "existing" / dataset / parts[-2] / parts[-1]
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.fs.get_file(key, str(path))
                except s3_errors() as exc:
                    raise self._fail("read", exc) from exc
                local.append(str(path))
        return local

    def has_rows(self) -> bool:
        """Does either dataset hold a day (a folder on S3 exists only through its files)?"""
        for dataset in DATASETS:
            try:
                if self.fs.ls(f"{self.root}/{dataset}", refresh=True):
                    return True
            except FileNotFoundError:
                continue
            except s3_errors() as exc:
                raise self._fail("list", exc) from exc
        return False

    def publish(self, local: Path, relative: str) -> str:
        key = f"{self.root}/{relative}"
        try:
            self.fs.put_file(str(local), key)
        except s3_errors() as exc:
            raise self._fail("write to", exc) from exc
        return f"s3://{key}"

    def read(self, relative: str) -> bytes | None:
        try:
            return self.fs.cat_file(f"{self.root}/{relative}")
        except FileNotFoundError:
            return None
        except s3_errors() as exc:
            raise self._fail("read", exc) from exc

    def write(self, relative: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(f"{self.root}/{relative}", data)
        except s3_errors() as exc:
            raise self._fail("write to", exc) from exc
