"""Tasks for the worker pool's tests: importable by name, since workers are spawned
(a fresh interpreter imports the task; a test's local function would not pickle)."""

from __future__ import annotations

import os
import signal
import time

from course_lib.errors import CourseError


def square(n: int) -> int:
    return n * n


def square_or_fail(n: int) -> int:
    """Fails on 3 with a user-facing error, on 4 with a bug, dies on 5 (as the kernel's
    out-of-memory killer would kill it)."""
    if n == 3:
        raise CourseError("three is not allowed")
    if n == 4:
        raise ZeroDivisionError("division by zero")
    if n == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
