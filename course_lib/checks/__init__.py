"""Automatic checks that end every exercise of the labs, one module per application.

Each check is a small function a lab calls on the trainee's answer.  It
prints one line starting with ✔ when the answer is right, and raises
:class:`CheckFailed` with what was expected and what was found otherwise, so
a trainee reads "expected 9 runs in experiment 'grid', found 3", not an
opaque ``AssertionError``.  The tests run every lab as generated (stubs in
place of the solutions) and require each check to raise ``CheckFailed``.
"""

from __future__ import annotations

from typing import Any


class CheckFailed(AssertionError):
    """The trainee's answer is not right yet; the message says why."""


def passed(message: str) -> None:
    print(f"✔ {message}")


def is_stub(value: Any) -> bool:
    return value is Ellipsis or value is None


def require(value: Any, what: str) -> None:
    """Fail with "not set yet" while the trainee has left the stub's ``...``."""
    if is_stub(value):
        raise CheckFailed(f"{what} is not set yet: replace the ... with your answer")
