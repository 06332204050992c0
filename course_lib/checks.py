"""Automatic checks that end every exercise of the labs.

Each check is a small function a lab calls on the trainee's answer.  It
prints one line starting with ✔ when the answer is right, and raises
:class:`CheckFailed` with what was expected and what was found otherwise, so
a trainee reads "expected 9 runs in experiment 'grid', found 3", not an
opaque ``AssertionError``.  The tests run every lab as generated (stubs in
place of the solutions) and require each check to raise ``CheckFailed``.
"""

from __future__ import annotations

from typing import Any

from course_lib.nomenclature import load_nomenclature


class CheckFailed(AssertionError):
    """The trainee's answer is not right yet; the message says why."""


def _passed(message: str) -> None:
    print(f"✔ {message}")


def _is_stub(value: Any) -> bool:
    return value is Ellipsis or value is None


def _require(value: Any, what: str) -> None:
    if _is_stub(value):
        raise CheckFailed(f"{what} is not set yet: replace the ... with your answer")


def check_tracking_uri(uri: Any) -> None:
    """App 0: the URI of the tracking server the notebook talks to, and it answers."""
    from course_lib.tracking import is_healthy

    _require(uri, "tracking_uri")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise CheckFailed(
            f"tracking_uri should be the http(s) address of a tracking server, got {uri!r}; "
            "mlflow.get_tracking_uri() gives the one in use"
        )
    if not is_healthy(uri):
        raise CheckFailed(f"nothing answers at {uri}: start one with `uv run course mlflow`")
    _passed(f"the tracking server at {uri} answers")


def check_subclass_count(count: Any) -> None:
    """App 0: how many subclasses the nomenclature has."""
    _require(count, "n_subclasses")
    expected = len(load_nomenclature().codes)
    if count != expected:
        raise CheckFailed(f"expected {expected} subclasses, found {count!r}")
    _passed(f"{expected} subclasses in NAF rév. 2")


def check_section_of(code: Any, section: Any) -> None:
    """App 0: the section a subclass belongs to."""
    _require(section, "section")
    expected = load_nomenclature().parent(code, "section")
    if section != expected:
        raise CheckFailed(f"{code} belongs to section {expected!r}, not {section!r}")
    _passed(f"{code} is in section {expected}: {load_nomenclature().label(expected)}")
