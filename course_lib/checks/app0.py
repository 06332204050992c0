"""Checks of Application 0 (environment)."""

from __future__ import annotations

from typing import Any

from course_lib.checks import CheckFailed, passed, require
from course_lib.data.nomenclature import load_nomenclature


def check_tracking_uri(uri: Any) -> None:
    """App 0: the URI of the tracking server the notebook talks to, and it answers."""
    from course_lib.tracking.server import is_healthy

    require(uri, "tracking_uri")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise CheckFailed(
            f"tracking_uri should be the http(s) address of a tracking server, got {uri!r}; "
            "mlflow.get_tracking_uri() gives the one in use"
        )
    if not is_healthy(uri):
        raise CheckFailed(f"nothing answers at {uri}: start one with `uv run course mlflow`")
    passed(f"the tracking server at {uri} answers")


def check_subclass_count(count: Any) -> None:
    """App 0: how many subclasses the nomenclature has."""
    require(count, "n_subclasses")
    expected = len(load_nomenclature().codes)
    if count != expected:
        raise CheckFailed(f"expected {expected} subclasses, found {count!r}")
    passed(f"{expected} subclasses in NAF rév. 2")


def check_section_of(code: Any, section: Any) -> None:
    """App 0: the section a subclass belongs to."""
    require(section, "section")
    expected = load_nomenclature().parent(code, "section")
    if section != expected:
        raise CheckFailed(f"{code} belongs to section {expected!r}, not {section!r}")
    passed(f"{code} is in section {expected}: {load_nomenclature().label(expected)}")
