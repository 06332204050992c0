"""Is a model's fastText file intact?  Asked before fastText reads it.

fastText trusts the sizes written in its file: a truncated ``model.bin``
made the API's first load die in ``std::bad_alloc`` and the second spin at
100 % CPU while growing to 3.2 GB, with ``/ready`` saying "retrying" for ever.
Models logged by this version carry the file's size and SHA-256 (the pyfunc's
``model_config``), so a damaged copy is named before a byte of it is parsed;
older models are loaded once in a child process, bounded in time and memory.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import psutil

from course_lib.errors import CourseError

CHECK_TIMEOUT_S = 120.0
"""A sound file loads in a second or two; a damaged one must not hold the loader."""
CHILD_BASE_MB = 512
"""Memory a child may use beyond twice the file's size (Python, numpy, fastText)."""


class DamagedModel(CourseError):
    """The model's fastText file is not the one that was logged, or cannot be read."""


def fingerprint(path: Path) -> dict[str, str | int]:
    """Size and SHA-256 of a file, as a model records them at logging time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"fasttext_bytes": path.stat().st_size, "fasttext_sha256": digest.hexdigest()}


def check_fingerprint(path: Path, expected: dict[str, str | int]) -> None:
    """Raise :class:`DamagedModel` unless ``path`` is the file that was logged."""
    if not path.is_file():
        raise DamagedModel(f"the model's fastText file {path} is missing")
    size = path.stat().st_size
    if size != expected["fasttext_bytes"]:
        raise DamagedModel(
            f"the model's fastText file {path.name} has {size:,} bytes, the logged model "
            f"{expected['fasttext_bytes']:,}: the copy is truncated or damaged"
        )
    if fingerprint(path)["fasttext_sha256"] != expected["fasttext_sha256"]:
        raise DamagedModel(
            f"the model's fastText file {path.name} does not match the logged model's "
            "checksum: the copy is damaged"
        )


_LOAD = "import sys, fasttext; fasttext.load_model(sys.argv[1]); print('loaded')"


def check_loads_in_a_child(
    path: Path, timeout: float = CHECK_TIMEOUT_S, max_bytes: int | None = None
) -> None:
    """Load ``path`` with fastText in a child process, killed past a time or memory bound.

    For models logged without a fingerprint (before it was recorded): what a
    damaged file does to fastText (crash, endless loop, runaway memory) then
    happens to a throwaway process, not to the API.  ``max_bytes`` defaults
    to twice the file's size plus :data:`CHILD_BASE_MB`.
    """
    limit = max_bytes or (CHILD_BASE_MB << 20) + 2 * path.stat().st_size
    child = subprocess.Popen(
        [sys.executable, "-c", _LOAD, str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watched = psutil.Process(child.pid)
    deadline = time.monotonic() + timeout
    reason = None
    while child.poll() is None:
        try:
            rss = watched.memory_info().rss
        except psutil.NoSuchProcess:
            break
        if rss > limit:
            reason = f"reading it took more than {limit >> 20:,} MB"
        elif time.monotonic() > deadline:
            reason = f"reading it took more than {timeout:g} s"
        if reason:
            child.kill()
            break
        time.sleep(0.05)
    out, err = child.communicate()
    if reason is None and child.returncode == 0 and "loaded" in out:
        return
    if reason is None:
        last = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        reason = f"fastText could not read it ({last[:200]})"
    raise DamagedModel(f"the model's fastText file {path.name} is damaged: {reason}")
